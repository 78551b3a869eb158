// scenarios/kafka/rule_checker.h
// Rule-level checks: the numbered rules of semantics.md judged on the events they govern,
// each reported under its own name ("C2", "C7", "D2", ...), beside the end-state invariants
// of the ReplicationChecker (S1-S13). Defence in depth hides a broken rule when some other
// check happens to cover its consequence, or when no run reaches the consequence at all;
// judging the rule where it applies catches the break itself, at the moment it happens.
//
// Each check recomputes what the rule demands from ground truth (the answering broker's
// replica, the follower's log, the controller's states before and after a change) in its own
// code, never by calling the model's decision functions. Checked here:
//   B3  a produce request answered NOT_ENOUGH_REPLICAS appended nothing, then or later
//       (judged per attempt: an idempotent retry resends the same records, and what an
//       earlier or a later attempt appended is not the refused request's doing);
//   B6  a leader appends an idempotent producer's batch only in sequence: right after the
//       producer's previous batch in the same epoch, and never a batch it already holds;
//   C2  a fetch answer's error follows the rule's order: fenced or unknown leader epoch,
//       not leader, out of range below the log start;
//   C3  records are served only where the follower's last fetched epoch agrees with the
//       leader's epoch cache up to the fetch offset; a diverging answer names the largest
//       epoch <= the follower's and that epoch's end offset in the leader's cache;
//   C7  a follower completes a truncation only while it still follows the epoch whose
//       leader asked for it (no truncation point from a leader of another epoch);
//   D1  a leader never proposes removing a follower that fetched at the leader's LEO within
//       replica.lag.time.max of the proposal (availability);
//   D2  a member the controller adds to the ISR holds, at that moment, at least the leader's
//       HW and LESO;
//   E1  a clean election picks a member of the ISR, or of the ELR when no ISR member is live;
//   S5  log start <= HW <= LEO on every replica after every change.
// The number of events each rule judged is reported as run metrics ("rule_checks_C2", ...),
// so a sweep shows that every rule was exercised, not only that none was broken.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/kafka/broker.h"
#include "models/kafka/controller.h"
#include "scenarios/kafka/controllers.h"
#include "scenarios/kafka/dense_tables.h"
#include "scenarios/scenario.h"

namespace faultline::kafka {

class RuleChecker {
 public:
  using Report = std::function<void(const std::string& rule, PartitionId p, const std::string& message)>;
  RuleChecker(RunContext& rc, const ReplicationConfig& config, ControllerIds controller, Report report);

  void on_fetch_answered(NodeId broker, const FetchRequest& req, const FetchResponse& resp);
  void on_follower_truncated(NodeId follower, PartitionId p, int64_t offset, Epoch fetched_in);
  // C6: after a fetch response, the follower's HW is min(response HW, its LEO), kept within
  // [log start, LEO], whether that raises or lowers it.
  void on_follower_hw(NodeId follower, PartitionId p, int64_t response_hw);
  void on_isr_proposed(NodeId leader, PartitionId p, const std::vector<BrokerId>& isr);
  void on_partition_change(const PartitionState& before, const PartitionState& after, const char* why);
  void on_append(NodeId broker, PartitionId p, const std::vector<LogEntry>& entries);
  void on_produce_attempt(uint64_t record_id) { ++attempts_[record_id]; }
  void on_produce_appended(const ProduceRequest& req);
  void on_produce_result(PartitionId p, uint64_t record_id, Errc error);
  // S5 on `broker`'s replica of `p` (after an append, truncation or HW move).
  void check_bounds(NodeId broker, PartitionId p);

  // Writes the per-rule event counts as run metrics.
  void report_counts() const;

 private:
  const Broker* broker(NodeId b) const;
  // Rules are string literals: found by address first (one per call site), by text after.
  void judged(const char* rule) {
    for (auto& [name, n] : judged_) {
      if (name == rule || std::strcmp(name, rule) == 0) {
        ++n;
        return;
      }
    }
    judged_.emplace_back(rule, 1);
  }

  RunContext& rc_;
  ReplicationConfig config_;
  ControllerIds controller_;
  Report report_;
  std::vector<std::pair<const char*, uint64_t>> judged_;
  // D1: when each follower last fetched at its leader's LEO, per (leader, partition, leader
  // epoch, follower), from the answers themselves.
  std::map<std::tuple<NodeId, PartitionId, Epoch, BrokerId>, Instant> caught_up_at_;
  // B6 at a leader append.
  void check_sequence(NodeId broker, PartitionId p, const std::vector<LogEntry>& entries);

  // B3, per attempt (record id, attempt number): what a leader appended for that request,
  // and the attempts answered NOT_ENOUGH_REPLICAS; and how many attempts each record had.
  struct Attempts {  // a set of attempt numbers: a bit each below 64, a list above
    uint64_t low = 0;
    std::vector<uint32_t> high;
    bool contains(uint32_t a) const;
    void insert(uint32_t a);
  };
  RecordTable<Attempts> appended_;
  RecordTable<Attempts> refused_;
  RecordTable<uint32_t> attempts_;
};

}  // namespace faultline::kafka
