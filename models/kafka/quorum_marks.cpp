#include "models/kafka/quorum_marks.h"

#include <iterator>

namespace faultline::kafka {

namespace {
constexpr MarkSpec kQuorumMarks[] = {
    {"A4.leader-elected", "a controller won a metadata-quorum election"},
    {"A4.election-timed-out", "a candidate's election ended without a majority; it campaigns again"},
    {"A4.follower-timed-out", "a follower heard nothing from its leader for the fetch timeout and campaigned"},
    {"A4.leader-resigned", "a leader not fetched from by a majority resigned (check quorum)"},
    {"A4.leader-deposed", "a leader saw a higher epoch and stepped down"},
    {"A4.leader-inherits-uncommitted", "a new leader held records of older epochs not yet committed"},
    {"A4.follower-truncated", "a follower cut a diverging, uncommitted tail of its metadata log"},
    {"A4.vote-refused-log", "a voter refused a candidate whose log was less up to date"},
    // Guards: only the vote-without-log-check switch takes these.
    {"A4.vote-for-shorter-log", "a voter granted its vote to a less up-to-date log", /*guard=*/true},
    {"A4.committed-truncated", "a follower cut a committed metadata record", /*guard=*/true},
    {"A4.controller-activated", "a controller became active and rebuilt its state from the log"},
    {"A4.uncommitted-reverted", "an active controller lost leadership with changes not yet committed"},
    {"A4.not-controller", "a request reached a controller that is not active: NOT_CONTROLLER"},
    {"A4.answered-after-commit", "a controller's answer waited for its metadata records to commit"},
    {"A4.client-rotated", "a broker or client moved on to another controller"},
};
static_assert(std::size(kQuorumMarks) == static_cast<size_t>(QuorumMark::kCount), "every QuorumMark needs an entry");
}  // namespace

MarkCatalogue quorum_mark_catalogue() { return {kQuorumMarkCatalogue, kQuorumMarks}; }

}  // namespace faultline::kafka
