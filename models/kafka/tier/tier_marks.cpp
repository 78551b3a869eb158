#include "models/kafka/tier/tier_marks.h"

#include <iterator>

namespace faultline::kafka {

namespace {
constexpr MarkSpec kTierMarks[] = {
    {"H3.init-leader", "a new leader opened its tier epoch"},
    {"H2.upload-complete", "an archived segment reached UploadComplete"},
    {"H3.upload-fenced", "a new leader's InitLeader fenced an upload in progress"},
    {"H3.idempotent-repeat", "a tier event arrived twice and the repeat changed nothing"},
    {"H3.stale-epoch-fenced", "a tier event from an older tier epoch was fenced"},
    // A guard: every writer of a tier-state log is its partition's current leader, which
    // learns the tier end from the log's own answers, so only a broken archiver is refused.
    {"H3.transition-rejected", "the tier-state machine refused a transition", /*guard=*/true},
    {"H2.put-retried", "an archiver PUT was retried after 503 or 500"},
    {"H2.ambiguous-put", "an archiver PUT timed out: the object may or may not exist"},
    {"H2.upload-abandoned", "an upload was abandoned when leadership moved mid-upload"},
    {"H2.resumed-from-tier-state", "a new leader continued archiving from a tier end it did not write"},
    {"H3.gc-deleted", "GC deleted a fenced or failed upload's objects and completed its deletion"},
    {"H2.delete-retried", "a GC DELETE was retried after 503, 500 or a timeout"},
    {"H5.remote-read", "a consumer below the local log start was served from the object store"},
    {"H5.remote-read-failed", "a remote read met an object-store error and was answered KAFKA_STORAGE_ERROR"},
    {"H5.follower-moved-to-tiered", "a follower below its leader's local log start restarted there, its epoch from the store"},
    {"H6.remote-retention", "retention raised the log start offset past an archived segment and deleted it"},
    {"H6.lineage-fenced", "after an unclean election, archived segments the new leader's log does not hold left the archive"},
};
static_assert(std::size(kTierMarks) == static_cast<size_t>(TierMark::kCount), "every TierMark needs an entry");
}  // namespace

MarkCatalogue tier_mark_catalogue() { return {kTierMarkCatalogue, kTierMarks}; }

}  // namespace faultline::kafka
