// models/bugs.h
// Switches that re-introduce known defects into the models (semantics.md, "Known bugs").
//
// Each switch is off by default and guards a small, clearly marked branch in one model:
//   if (bugs.on(Bug::kX)) { /* BUG(x): what the broken code did */ ... }
// Which scenario catches it and which invariants it must trip live with the scenarios
// (scenarios/registry.cpp); this file only names the defects.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace faultline {

enum class Bug : uint32_t {
  // Sample model (models/ping): pings are handed to a pool of sender fibers with no ordering,
  // so one connection's messages leave out of order. A harness self-test, not a Kafka bug.
  kPingUnorderedSend,
  // The replication model's switches: semantics.md, "Known bugs", in table order.
  kTruncateToHw,
  kEpochNextOffset,
  kIsrJoinWithoutLeso,
  kHwFromCommittedIsr,
  kAnyReplicaElection,
  kLastReplicaStanding,
  kHwBeforeTruncation,
  kNoHwAfterShrink,
  kAckBelowMinIsr,
  kPromoteLaggingObserver,
  // Not in semantics.md's table (proposed there): a real race this model had (issue 9).
  kFollowerTruncationRace,
  // Tiered storage (semantics.md's table).
  kTierAboveHw,
  kKeepFailedUploads,
  kDeleteBeforeUploadComplete,
  kCountIncompleteUploads,
  // The idempotent producer (semantics.md's table).
  kNoSequenceCheck,
  // Not in semantics.md's table (proposed there): KIP-966's last-known-leader election.
  kElectFencedLastKnownLeader,
  // Not in semantics.md's table (proposed there): the KRaft quorum's vote (A4, S22).
  kVoteWithoutLogCheck,
  // Not in semantics.md's table (proposed there): partition reassignment (KIP-455).
  kReassignWithoutCatchUp,
  kCount,
};

struct BugInfo {
  Bug bug;
  const char* name;         // the --bug NAME
  const char* description;  // the defect, in one sentence
  const char* origin;       // where it comes from (JIRA, KIP, "synthetic")
};

std::span<const BugInfo> bug_catalogue();
std::optional<Bug> bug_by_name(std::string_view name);
const char* bug_name(Bug b);

class BugSet {
 public:
  bool on(Bug b) const { return (bits_ >> static_cast<uint32_t>(b)) & 1u; }
  void enable(Bug b) { bits_ |= uint64_t{1} << static_cast<uint32_t>(b); }
  bool empty() const { return bits_ == 0; }
  std::vector<std::string> names() const;

 private:
  static_assert(static_cast<uint32_t>(Bug::kCount) <= 64);
  uint64_t bits_ = 0;
};

}  // namespace faultline
