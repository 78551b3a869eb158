// scenarios/kafka/observer_checker.h
// What must hold for observers and automatic observer promotion (semantics.md G1-G4), and
// how available a multi-region cluster stays when a datacenter goes away. It sits beside
// the ReplicationChecker (which keeps checking S1-S13 for every replica, observers
// included) and observes through the same hooks, chained after the base checker's.
//
// Checked:
//   S8  on every partition change: the leader is an ISR member; the ISR is within the sync
//       replicas plus observers; an observer enters the ISR only through AlterPartition
//       while the promotion policy held on the state the change met (G2), and with D2 true
//       of its log at that moment: LEO >= the leader's LESO and HW (ground truth, read from
//       the observer's own log). An unclean election is excused by the base checker.
//   L5  sampled by the scenario: while the policy holds and an observer is caught up
//       (live, fetching from the leader in its epoch, LEO >= the leader's HW and LESO), it
//       is promoted within `promotion_bound`; once demotion is due (the ISR's sync replicas
//       alone satisfy the policy, G3), promoted observers leave within the same bound.
//   L2  for observers, after the heal: promoted observers demoted, every observer at the
//       leader's LEO, every acknowledged record on every replica and observer.
// Measured (availability, reported as run metrics; times in ns, -1 when it never happened):
//   loss_to_first_write_ns            DC loss -> first acks=all success of a request sent
//                                     after the loss
//   loss_to_every_partition_write_ns  ... until every partition has had one
//   return_to_full_isr_ns             the DC's return -> every ISR is all sync replicas,
//                                     observers demoted
//   max_under_min_isr_ns              the longest stretch a partition spent below min ISR
//   dc_down_ns, acked_during_loss, not_enough_replicas_during_loss, observer_promotions,
//   observer_demotions, acked_verified_everywhere
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scenarios/kafka/checker.h"

namespace faultline::kafka {

class ObserverChecker {
 public:
  // Chains its hooks after `base`'s: construct it before the models are built.
  ObserverChecker(RunContext& rc, ReplicationChecker& base, const ReplicationConfig& config, ControllerIds controller,
                  Duration promotion_bound);
  ObserverChecker(const ObserverChecker&) = delete;
  ObserverChecker& operator=(const ObserverChecker&) = delete;

  // The datacenter was lost at `at` / came back at `at` (availability clocks).
  void dc_lost(Instant at);
  void dc_returned(Instant at);

  // L5, and the full-ISR clock: call every poll interval while the run goes on.
  void sample();
  // After the heal, the observers' part of convergence, as (invariant, what) or nullopt.
  // unconverged(): no observer is left in an ISR (L5 when demotion is due, else L2: sync
  // replicas are still missing). Check it before ReplicationChecker::unconverged(), whose
  // "ISR = all replicas" then speaks of sync replicas only.
  std::optional<std::pair<std::string, std::string>> unconverged();
  // observers_behind(): every observer is at its leader's LEO (L2).
  std::optional<std::pair<std::string, std::string>> observers_behind();
  // After convergence: every acknowledged record at its offset on every replica and
  // observer of its partition (S1 as an end state); a violation otherwise.
  void verify_acked_everywhere();
  // Writes the availability figures and counters as run metrics.
  void report_metrics();
  // Availability as an asserted bound (G4 with L5): with a promotion policy, every partition
  // takes an acknowledged write within `bound` of the datacenter loss, derived by the
  // scenario from the timeouts that a loss has to run out (fencing the lost brokers, a
  // producer's request to a lost leader timing out, metadata, backoff). A liveness finding
  // (L5) otherwise.
  void check_write_availability(Duration bound);

  uint64_t promotions() const { return promotions_; }
  uint64_t demotions() const { return demotions_; }

 private:
  struct Acked {
    int64_t offset;
    uint64_t record_id;
  };
  struct PartitionWatch {
    std::optional<Instant> promotion_pending_since;  // L5: policy holds, an observer is caught up
    std::optional<Instant> demotion_pending_since;   // L5: demotion is due
    bool promotion_reported = false;
    bool demotion_reported = false;
    std::optional<Instant> under_min_isr_since;
    Duration longest_under_min_isr;
    std::optional<Instant> first_write_after_loss;
    std::vector<Acked> acked;
    RecordTable<uint8_t> acked_ids;  // membership: the records in `acked`
  };

  void on_partition_change(const PartitionState& before, const PartitionState& after, const char* why);
  void on_attempt(NodeId producer, uint64_t record_id);
  void on_result(NodeId producer, PartitionId p, uint64_t record_id, int acks, Errc error, int64_t offset);
  void check_s8(const PartitionState& before, const PartitionState& after, const char* why);
  void check_full_isr();
  // The first observer of `st` that is caught up and fetching from its leader, or kNoBroker.
  BrokerId caught_up_observer(const PartitionState& st) const;
  const Broker* broker(NodeId b) const;
  std::string name(NodeId b);
  void violation(const std::string& invariant, PartitionId p, const std::string& message);

  RunContext& rc_;
  ReplicationChecker& base_;
  ReplicationConfig config_;
  ControllerIds controller_;
  Duration promotion_bound_;
  std::map<PartitionId, PartitionWatch> watch_;
  std::optional<Instant> lost_at_;
  std::optional<Instant> returned_at_;
  std::optional<Instant> full_isr_at_;
  std::optional<Instant> first_write_after_loss_;
  std::map<NodeId, uint64_t> first_record_after_loss_;  // per producer: ids grow per producer
  uint64_t acked_during_loss_ = 0;
  uint64_t not_enough_replicas_during_loss_ = 0;
  uint64_t promotions_ = 0;
  uint64_t demotions_ = 0;
  uint64_t acked_verified_ = 0;
};

}  // namespace faultline::kafka
