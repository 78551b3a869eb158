// models/kafka/broker.h
// A broker: hosts one replica of each of its partitions, serves produce (B1-B5) and fetch
// (C1-C6), runs replica fetchers toward leaders with divergence handling and truncation
// (C7, C8), shrinks and expands the ISR through the controller (D1, D2), registers and
// heartbeats with a new broker epoch per process (A2), and follows metadata it polls from
// the controller (it may see changes late).
//
// Observers (G1-G3) run the same fetcher as followers and are answered by the same fetch
// code (C1-C8). A leader keeps follower state for them, but they count toward the HW and
// acks=all only while promoted into the ISR. While the partition's promotion policy holds,
// an observer that passes the D2 checks is added through AlterPartition like any joining
// member (G2); once demotion is due, the leader removes promoted observers in one
// AlterPartition, keeping its leader epoch (G3).
//
// Invariants (asserted on exit of anything that changes a log or an ISR):
//   (1) a leader's HW never decreases during its term and never exceeds its LEO;
//   (2) a leader's maximal ISR contains itself and is a superset of the committed ISR
//       while an expansion is pending (KIP-497);
//   (3) at most one AlterPartition is in flight per partition.
// Bug switches (models/bugs.h) change small, marked branches: // BUG(name).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "models/bugs.h"
#include "models/kafka/config.h"
#include "models/kafka/controller_channel.h"
#include "models/kafka/log.h"
#include "models/kafka/tier/archiver.h"
#include "models/kafka/types.h"
#include "sim/node_context.h"
#include "sim/sync.h"

namespace faultline::kafka {

// Observer hooks for checkers (style.md, example 9). Called synchronously; must not block.
struct BrokerHooks {
  // A replica's log gained entries (leader append or follower fetch).
  std::function<void(BrokerId, PartitionId, const std::vector<LogEntry>&)> on_append;
  // The leader appended a produce request's records at `base` (after on_append).
  std::function<void(BrokerId, const ProduceRequest&, int64_t base)> on_produce_appended;
  // A replica's log was truncated to `offset` (C7, C8, or recovery).
  std::function<void(BrokerId, PartitionId, int64_t offset)> on_truncate;
  // A replica's HW moved; `leader` says whether it was the leader's HW.
  std::function<void(BrokerId, PartitionId, int64_t old_hw, int64_t new_hw, bool leader, Epoch epoch)> on_hw;
  // The broker became leader of `partition` in `epoch` (after A3).
  std::function<void(BrokerId, PartitionId, Epoch)> on_become_leader;
  // The leader answered an acks=all produce with success: `maximal_isr` at that moment (S10).
  std::function<void(BrokerId, PartitionId, int64_t last_offset, const std::vector<BrokerId>& maximal_isr)>
      on_ack_all;
  // A consumer fetch was served records up to `upto` (exclusive) with this HW (S13).
  std::function<void(BrokerId, PartitionId, int64_t upto, int64_t hw)> on_consumer_read;
  // A follower was sent records whose epoch is older than the last epoch in its log (S9).
  // A correct leader never does this (C3 checks the follower's last epoch first); real Kafka
  // would append them anyway, leaving a log whose epochs decrease. This model's log cannot
  // hold such a log, so the follower reports the fetch and does not append it.
  std::function<void(BrokerId, PartitionId, int64_t offset, Epoch log_epoch, Epoch fetched_epoch)> on_epoch_regression;
  // The broker registered; its process is live with `broker_epoch`.
  std::function<void(BrokerId, int64_t broker_epoch)> on_registered;
  // A follower was answered with a diverging epoch and is about to truncate (C7).
  std::function<void(BrokerId, PartitionId)> on_diverging;
  // A follower finished the truncation a diverging answer asked for; the fetch (and so the
  // answer) was made in `fetched_in` (C2 rejects any other epoch). The replica's leader
  // epoch is read from the broker: C7 wants them equal (no truncation point from a leader of
  // another epoch).
  std::function<void(BrokerId, PartitionId, int64_t offset, Epoch fetched_in)> on_follower_truncated;
  // A follower applied a fetch response's HW (C6), whatever it did with it.
  std::function<void(BrokerId, PartitionId, int64_t response_hw)> on_follower_hw;
  // The broker answered a fetch (follower or consumer), called as it returns: its replica's
  // state is still the one the answer was computed from (C2, C3, C4).
  std::function<void(BrokerId, const FetchRequest&, const FetchResponse&)> on_fetch_answered;
  // A replica's log start offset rose (retention, following the leader's, or a full
  // truncation, C8).
  std::function<void(BrokerId, PartitionId, int64_t log_start)> on_log_start;
  // The hotset deleted the local segments [from, to) of a replica because they are archived
  // (H4; S14 judges that they are).
  std::function<void(BrokerId, PartitionId, int64_t from, int64_t to)> on_local_deletion;
  // A leader proposed `isr` through AlterPartition (D1, D2), before sending it.
  std::function<void(BrokerId, PartitionId, const std::vector<BrokerId>& isr)> on_isr_proposed;
  // The broker applies metadata of a newer version than it had (S22: it must be committed).
  std::function<void(BrokerId, const MetadataResponse&)> on_metadata_applied;
};

struct BrokerConfig {
  ReplicationConfig replication;
  ControllerIds controller = kWorld;  // one controller, or the quorum's voters (A4)
  std::vector<PartitionId> partitions;  // replicas hosted here
};

// The leader's view of one follower (C4).
struct FollowerState {
  int64_t leo = -1;
  Instant last_fetch;
  Instant last_caught_up;
  int64_t leader_leo_at_last_fetch = -1;
  int64_t broker_epoch = -1;
  Epoch fetched_in_epoch = kNoEpoch;
};

// One hosted replica.
struct Replica {
  explicit Replica(NodeContext& ctx, PartitionId p, const ReplicationConfig& config);
  PartitionId partition;
  PartitionLog log;
  PartitionState meta;  // the latest metadata applied for this partition
  bool leader = false;
  Epoch leader_epoch = kNoEpoch;  // the epoch this broker believes current
  int64_t leso = 0;               // A3: leader epoch start offset
  std::vector<BrokerId> isr;      // committed ISR as this leader knows it
  std::optional<std::vector<BrokerId>> pending_isr;  // proposed, in flight
  bool pending_is_expansion = false;
  std::map<BrokerId, FollowerState> followers;
  bool leader_append_in_flight = false;  // a produce holds the role lock for its append
  WaitQueue changed;  // appends, HW moves, leadership changes
  // Serializes follower appends and truncations with leadership changes: a fetcher that
  // was replaced (or a partition that became leader) must not append after the fact.
  Mutex role;
  uint64_t fetcher_generation = 0;  // bumped to stop the running fetcher
  // KIP-455: a reassignment moved this partition off this broker; its log was deleted. It
  // neither leads nor follows until a later reassignment brings it back.
  bool removed = false;
};

class Broker {
 public:
  Broker(NodeContext& ctx, BrokerConfig config, const BugSet& bugs, const BrokerHooks& hooks);
  // Recovers every log, registers, then spawns the broker's fibers.
  void start();
  // D3, controlled shutdown: stops heartbeating, asks the controller to move leaderships
  // away and take it out of the ISRs (for at most controlled_shutdown_timeout), stops
  // serving and fetching, flushes every log and writes its clean-shutdown marker (F1), then
  // calls `stopped`: the process may end. Later calls do nothing.
  void shutdown(std::function<void()> stopped);
  bool shutting_down() const { return shutting_down_; }

  BrokerId id() const { return ctx_.id(); }
  int64_t broker_epoch() const { return broker_epoch_; }
  bool registered() const { return broker_epoch_ >= 0; }
  // Ground truth for checkers.
  const Replica* replica(PartitionId p) const { return indexed(p); }
  std::vector<BrokerId> maximal_isr(const Replica& r) const;
  // contains(maximal_isr(r), b), without building the list (every fetch asks).
  bool in_maximal_isr(const Replica& r, BrokerId b) const;

 private:
  Replica& rep(PartitionId p);
  // KIP-455: metadata names this broker as a new replica of `p` (a reassignment added it):
  // the replica is created, its log recovered (a restart may have left it on disk).
  Replica& add_replica(PartitionId p);
  // KIP-455: metadata no longer names this broker for `r`'s partition (a completed
  // reassignment removed it): stop leading and fetching, delete the log (StopReplica with
  // delete), as ReplicaManager.stopPartitions does.
  void remove_replica(Replica& r, const PartitionState& st);
  // The leader's follower set follows the assignment (Partition.updateAssignmentAndIsr):
  // replicas a reassignment adds start as never caught up; removed ones are forgotten.
  void sync_followers(Replica& r, const PartitionState& st);
  void main();
  void register_with_controller(bool clean);
  void heartbeat_loop();
  void metadata_loop();
  void isr_expiration_loop();
  // retention.bytes on every hosted replica (Kafka's LogManager.cleanupLogs).
  void retention_loop();
  void enforce_retention(Replica& r);
  // H4: deletes archived local segments beyond the hotset (tiered only).
  void enforce_hotset(Replica& r);
  void apply_metadata(const MetadataResponse& md);
  void become_leader(Replica& r, const PartitionState& st);
  void become_follower(Replica& r, const PartitionState& st);
  void fetcher(PartitionId p, uint64_t generation);
  ProduceResponse handle_produce(NodeId from, const ProduceRequest& req);
  FetchResponse handle_fetch(NodeId from, const FetchRequest& req);
  FetchResponse answer_fetch(NodeId from, const FetchRequest& req);
  // H5: a consumer's fetch below the local log start, served from a Complete archived
  // segment (never from an upload in progress, never across a gap), up to the HW.
  FetchResponse read_remote(const FetchRequest& req, FetchResponse resp);
  // The partition's tier state (without its log) from the controller; nullopt if it did not
  // answer. Blocking.
  std::optional<TierState> describe_tier(PartitionId p);
  // H5 for a follower answered OFFSET_MOVED_TO_TIERED_STORAGE: the epoch in force at
  // `start` - 1, from the epoch object of the archived segment holding it. `covered` false:
  // no Complete segment holds it (retention took it); an epoch missing while covered: it
  // cannot be read now (the fetcher backs off and tries again).
  struct ArchivedEpoch {
    bool covered = false;
    std::optional<Epoch> epoch;
    // The epoch history below the start, merged from the Complete segments' epoch slices
    // (Kafka's remote segment metadata), its last entry the epoch read from the store.
    std::vector<EpochStart> history;
  };
  ArchivedEpoch archived_epoch_before(PartitionId p, int64_t start);
  void update_follower(Replica& r, const FetchRequest& req);
  void maybe_expand_isr(Replica& r, BrokerId follower);
  void maybe_shrink_isr(Replica& r);
  void maybe_demote_observers(Replica& r);
  void propose_isr(Replica& r, std::vector<BrokerId> isr, bool expansion);
  bool maybe_increment_hw(Replica& r);
  void set_hw(Replica& r, int64_t hw);
  void truncate(Replica& r, int64_t offset);
  void start_over_at(Replica& r, int64_t offset);  // C8: truncate fully, restart at `offset`
  bool broker_live(BrokerId b) const;
  int64_t broker_epoch_of(BrokerId b) const;

  NodeContext& ctx_;
  BrokerConfig config_;
  const BugSet& bugs_;
  const BrokerHooks& hooks_;
  ControllerChannel controller_;  // to the active controller (A4)
  std::map<PartitionId, std::unique_ptr<Replica>> replicas_;
  // replicas_ by partition id (nullptr: none), for the lookups of every fetch and hook; a
  // replica is never erased, so only index_replica() writes it.
  std::vector<Replica*> by_partition_;
  void index_replica(PartitionId p);
  Replica* indexed(PartitionId p) const {
    const auto i = static_cast<size_t>(p);
    return p >= 0 && i < by_partition_.size() ? by_partition_[i] : nullptr;
  }
  int64_t broker_epoch_ = -1;
  int64_t previous_broker_epoch_ = -1;  // from the clean-shutdown file (KIP-966), -1 if none
  static constexpr const char* kCleanShutdownEpochFile = "clean-shutdown-broker-epoch";
  uint64_t metadata_version_ = 0;
  std::vector<BrokerInfo> brokers_;  // by broker id, as of the latest metadata
  Archiver archiver_;  // H1, H2: runs per partition while this broker leads it (tiered only)
  bool logs_recovered_ = false;
  bool shutting_down_ = false;
  // Produce handlers between their leadership check and the end of their append: a
  // shutdown waits for them before it closes the logs.
  uint32_t appends_in_flight_ = 0;
};

}  // namespace faultline::kafka
