// scenarios/kafka/checker.h
// The replication checker: ghost state fed by the model's hooks (style.md, example 9), and
// the safety invariants of semantics.md checked as the state changes, plus the convergence
// conditions checked after the heal.
//
// Ghost state per partition:
//   committed[o]  the record at offset o once any leader's HW passed o (the true HW is one
//                 past the highest such offset);
//   bound[o]      the record an acks=all acknowledgement or a consumer read bound to o (S3);
//   acked         every acks=all success: (offset, record id, time);
//   excuses       unclean elections, and lossy crashes of the partition's replicas.
// Checked here: S1 (at every leader change), S2 (every replica's entries below its HW match
// what was committed), S3, S4 (a leader's HW never decreases in its term), S6 (ISR members
// have the committed prefix), S7 (the leader's maximal ISR covers the controller's ISR when
// no change is pending), S9 (leader epochs increase; a follower is never sent records older
// than its last), S10 (at every acks=all success), S11 (a replica that came back from a crash
// with less than it had is not leader, ISR or ELR until the leader re-admits it, D2), S13
// (consumers are served below the HW), S21 (producer_order.h), S22 (metadata_checker.h), L1 (every produce request sent after the heal is
// answered), L2 as a bound (no NOT_ENOUGH_REPLICAS once the healed cluster has had time to
// refill its ISRs) and L3 (the HW catches up after an answered shrink).
// S12 (durable metadata never runs ahead of durable data) is checked on the disk of every
// broker that loses power, as recovery will read it; the log also asserts it in memory.
// S5 is asserted inside the log itself.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "models/kafka/broker.h"
#include "scenarios/kafka/controllers.h"
#include "scenarios/kafka/dense_tables.h"
#include "scenarios/kafka/metadata_checker.h"
#include "models/kafka/clients.h"
#include "models/kafka/controller.h"
#include "scenarios/kafka/producer_order.h"
#include "scenarios/kafka/rule_checker.h"
#include "scenarios/scenario.h"

namespace faultline::kafka {

class ReplicationChecker {
 public:
  ReplicationChecker(RunContext& rc, const ReplicationConfig& config, std::vector<NodeId> brokers, ControllerIds controller);

  BrokerHooks& broker_hooks() { return broker_hooks_; }
  ControllerHooks& controller_hooks() { return controller_hooks_; }
  ProducerHooks& producer_hooks() { return producer_hooks_; }
  ConsumerHooks& consumer_hooks() { return consumer_hooks_; }

  // With false, rule-level findings (rule_checker.h) are counted but not reported, so that
  // a run shows what the invariants catch by themselves (defence in depth, measured).
  void report_rule_violations(bool on) { report_rules_ = on; }

  // The faults healed at `at`: from then on (after a grace for metadata to settle) every
  // produce request must be answered within its timeout (L1).
  void healed(Instant at) { healed_at_ = at; }

  // A power loss of `broker` (a lossy crash): counts toward the excuse budget of every
  // partition it hosts.
  void note_power_loss(NodeId broker);
  // The same, counted only for the partitions where `broker` is a sync replica or (as a
  // promoted observer) a member of the ISR or the leader's maximal ISR. An unpromoted
  // observer holds nothing the HW counted on (G1) and rejoins only through D2, so its lost
  // tail cannot take committed data with it: it does not widen the excuse.
  void note_power_loss_except_observers(NodeId broker);
  // Non-empty when a loss in `p` would be excused (unclean election, lossy crashes beyond
  // the budget): what excuses it.
  std::string excuse(PartitionId p) const { return excuse_for(p); }
  // The record committed at offset `o` of `p` (what a leader's HW passed), if any yet.
  std::optional<uint64_t> committed(PartitionId p, int64_t o) const;
  // The true HW of `p`: one past the highest offset committed.
  int64_t true_high_watermark(PartitionId p) const { return true_hw(p); }

  // After the heal: what has not converged yet, as (invariant, description); nullopt when
  // everything has. Called once per poll: the producers keep writing while the cluster
  // converges, so a log end is a moving target, and under load there may never be a poll at
  // which HW = LEO on every replica at once (fuzzing found dc-loss at 20 ms produce intervals
  // failing L3 in every seed). A partition has converged when, with the full ISR, either
  // HW = LEO on every replica (quiet), or its HW and every replica's LEO have reached the
  // leader's LEO of the previous poll, under the same leader (everything written more than
  // one poll ago is replicated and committed). Without new writes the two are the same.
  std::optional<std::pair<std::string, std::string>> unconverged();
  // The offset below which the last unconverged() call required every replica to hold the
  // leader's log and the HW to have passed (the leader's LEO when quiet); 0 before any call.
  int64_t converged_below(PartitionId p) const;

  // Writes the run metrics every replication scenario reports: acked, consumed,
  // produce_attempts and the rule checkers' event counts (rule_checks_*).
  void report_metrics() const;


 private:
  // Convergence polls (unconverged()): each partition's leader and its LEO at the last poll,
  // and the offset the last poll required.
  std::map<PartitionId, std::pair<BrokerId, int64_t>> poll_leo_;
  std::map<PartitionId, int64_t> converged_below_;

  struct Acked {
    int64_t offset;
    uint64_t record_id;
    Instant at;
  };
  // What happened to one record id (one produce attempt, or an idempotent producer's batch
  // and its resends): for the violation report.
  struct RecordHistory {
    PartitionId partition = 0;
    int acks = -1;
    Instant first_sent_at;
    Instant sent_at;  // the last attempt's
    uint32_t attempts = 0;
    std::optional<Instant> answered_at;
    Errc answer = Errc::kNone;
    int64_t offset = -1;
    bool acked = false;  // an acks=all success (an idempotent resend may be answered twice)
    uint32_t reads = 0;  // times a consumer read it
    std::optional<Instant> first_read_at;
  };
  // What a leader's HW passed at an offset: the record and the leader epoch it was written in.
  // S2 compares both: an idempotent producer resends the same records, so a divergent entry
  // may hold the committed record in another epoch (the write of a leader that lost it).
  struct Committed {
    uint64_t record_id = 0;
    Epoch epoch = kNoEpoch;
    bool operator==(const Committed&) const = default;
  };
  struct PartitionGhost {
    DenseTable<Committed> committed;  // by offset
    DenseTable<uint64_t> bound;       // by offset
    std::vector<Acked> acked;
    std::string excuse;          // non-empty: losses here are excused
    uint32_t lossy_crashes = 0;  // power losses of its replicas
    std::map<std::pair<NodeId, Epoch>, int64_t> leader_hw;  // S4
  };

  void on_become_leader(NodeId broker, PartitionId p, Epoch epoch);
  void on_hw(NodeId broker, PartitionId p, int64_t old_hw, int64_t new_hw, bool leader, Epoch epoch);
  void on_truncate(NodeId broker, PartitionId p, int64_t offset);
  void on_registered(NodeId broker);
  // S11: records what the broker's replicas hold right before a power loss.
  void snapshot_leos(NodeId broker);
  // S12 from the disk: what a power loss leaves for recovery to read.
  void check_durable(NodeId broker);
  void check_rejoin(const PartitionState& before, const PartitionState& after, const char* why);
  void on_ack_all(NodeId broker, PartitionId p, int64_t last, const std::vector<BrokerId>& maximal_isr);
  void on_partition_change(const PartitionState& before, const PartitionState& after, const char* why);
  void on_result(NodeId producer, PartitionId p, uint64_t record_id, int acks, Errc error, int64_t offset);
  void on_read(NodeId consumer, PartitionId p, NodeId from, const LogEntry& e);
  void bind(PartitionId p, int64_t offset, uint64_t record_id, const char* how);
  int64_t true_hw(PartitionId p) const;
  const Broker* broker(NodeId b) const;
  // `records`: the record ids the violation is about; their history is appended.
  void violation(const std::string& invariant, PartitionId p, const std::string& message,
                 const std::vector<uint64_t>& records = {});
  std::string history_of(uint64_t record_id) const;
  std::string excuse_for(PartitionId p) const;

  RunContext& rc_;
  ReplicationConfig config_;
  std::vector<NodeId> brokers_;
  ControllerIds controller_;
  std::map<PartitionId, PartitionGhost> ghosts_;
  RecordTable<RecordHistory> history_;  // every produce attempt of the run
  BrokerHooks broker_hooks_;
  ControllerHooks controller_hooks_;
  ProducerHooks producer_hooks_;
  ConsumerHooks consumer_hooks_;
  uint64_t acked_count_ = 0;
  uint64_t consumed_count_ = 0;
  uint64_t attempts_ = 0;
  // S11: each replica's LEO as the hooks last left it, and the replicas that came back from a
  // crash shorter than that (lost data) and have not been re-admitted through D2 yet.
  std::map<std::pair<NodeId, PartitionId>, int64_t> replica_leo_;
  std::map<std::pair<NodeId, PartitionId>, std::pair<int64_t, int64_t>> lost_data_;  // (had, has)
  std::optional<Instant> healed_at_;
  bool report_rules_ = true;
  // The rule-level checks (rule_checker.h), fed by the same hooks.
  RuleChecker rules_;
  // S21 on what leaders commit (producer_order.h).
  ProducerOrderChecker order_;
  MetadataChecker metadata_;  // S22
};

}  // namespace faultline::kafka
