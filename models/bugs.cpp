#include "models/bugs.h"

namespace faultline {

namespace {
constexpr BugInfo kCatalogue[] = {
    {Bug::kPingUnorderedSend, "ping-unordered-send",
     "the ping sample sends through a pool of fibers, so one connection's pings leave out of order",
     "synthetic (harness self-test)"},
    {Bug::kTruncateToHw, "truncate-to-hw",
     "a follower truncates to its own HW on restart and leader change instead of using leader epochs",
     "KAFKA-1211, KIP-101"},
    {Bug::kEpochNextOffset, "epoch-next-offset",
     "a leader lacking the requested epoch answers with the next epoch's start; the follower truncates once",
     "KAFKA-6361, KIP-279"},
    {Bug::kIsrJoinWithoutLeso, "isr-join-without-leso", "ISR expansion skips the LEO >= LESO check", "KAFKA-7128"},
    {Bug::kHwFromCommittedIsr, "hw-from-committed-isr",
     "the HW is computed over the committed ISR, ignoring a pending expansion", "KIP-497"},
    {Bug::kAnyReplicaElection, "any-replica-election",
     "leader election takes any live replica although unclean election is off", "Jepsen 2013 Kafka"},
    {Bug::kLastReplicaStanding, "last-replica-standing",
     "ELR off: the ISR freezes at its last member, re-elected after a power loss took its unflushed tail", "KIP-966"},
    {Bug::kHwBeforeTruncation, "hw-before-truncation",
     "a follower applies the response HW before handling the diverging epoch", "KAFKA-14704"},
    {Bug::kNoHwAfterShrink, "no-hw-after-shrink", "the HW is not recomputed when an ISR shrink is answered",
     "KAFKA-13091"},
    {Bug::kAckBelowMinIsr, "ack-below-min-isr", "acks=all is answered with success while |ISR| < min ISR",
     "synthetic"},
    {Bug::kPromoteLaggingObserver, "promote-lagging-observer",
     "the leader promotes an observer into the ISR without the D2 checks (caught up, fetched in this epoch)",
     "synthetic"},
    {Bug::kFollowerTruncationRace, "follower-truncation-race",
     "a leader change starts a new fetcher while the old one's divergence truncation is blocked on the disk; "
     "the stale truncation then cuts a log the new leader already counted in the ISR",
     "Faultline issue 9 (this model's own race; Kafka serialises makeFollower with truncation)"},
    {Bug::kTierAboveHw, "tier-above-hw", "the archiver uploads rolled segments that reach above the HW", "synthetic"},
    {Bug::kKeepFailedUploads, "keep-failed-uploads", "fenced and failed uploads are never cleaned up", "KAFKA-17428"},
    {Bug::kDeleteBeforeUploadComplete, "delete-before-upload-complete",
     "hotset deletion trusts UploadInitiate instead of UploadComplete", "synthetic"},
    {Bug::kCountIncompleteUploads, "count-incomplete-uploads",
     "remote retention counts in-progress uploads as archived bytes", "KAFKA-17062"},
    {Bug::kNoSequenceCheck, "no-sequence-check",
     "the leader appends an idempotent producer's batch without checking its sequence or looking for a duplicate",
     "synthetic (B6)"},
    {Bug::kElectFencedLastKnownLeader, "elect-fenced-last-known-leader",
     "with ISR and ELR empty, the controller elects the partition's last known leader while that broker is still "
     "fenced",
     "KAFKA-19522"},
    {Bug::kVoteWithoutLogCheck, "vote-without-log-check",
     "a metadata-quorum voter grants its vote without comparing logs, so a controller missing committed metadata "
     "records can be elected and overwrite them",
     "synthetic (A4; Raft's election restriction, KafkaRaftClient.handleVoteRequest)"},
    {Bug::kReassignWithoutCatchUp, "reassign-without-catch-up",
     "a partition reassignment puts its new replicas straight into the ISR and completes at once, removing the old "
     "replicas before the new ones have caught up",
     "synthetic (KIP-455: completeReassignmentIfNeeded waits for the adding replicas to join the ISR)"},
};
static_assert(std::size(kCatalogue) == static_cast<size_t>(Bug::kCount), "every Bug needs a catalogue entry");
}  // namespace

std::span<const BugInfo> bug_catalogue() { return kCatalogue; }

std::optional<Bug> bug_by_name(std::string_view name) {
  for (const auto& b : kCatalogue) {
    if (name == b.name) return b.bug;
  }
  return std::nullopt;
}

const char* bug_name(Bug b) { return kCatalogue[static_cast<size_t>(b)].name; }

std::vector<std::string> BugSet::names() const {
  std::vector<std::string> out;
  for (const auto& b : kCatalogue) {
    if (on(b.bug)) out.emplace_back(b.name);
  }
  return out;
}

}  // namespace faultline
