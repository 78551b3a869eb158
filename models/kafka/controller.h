// models/kafka/controller.h
// The KRaft controller (rules A1, A4, D1-D4, E1, G1-G3): one of the voters of the metadata
// quorum (quorum.h), after Kafka's QuorumController.
//
// A4, as QuorumController does it: only the active controller (the quorum's leader) answers
// requests; the others say NOT_CONTROLLER. It decides on its in-memory state, which already
// holds its own uncommitted records, appends each change as a metadata record, and answers
// only once its records are committed (a request whose records never commit is answered
// NOT_CONTROLLER). Every controller applies committed records, in order, to its committed
// image: metadata is served from it and checkers read it. Taking over, a controller rebuilds
// its state by replaying its whole log (the uncommitted records of older epochs it holds
// commit with its first record); losing leadership, it drops what it had not committed
// (QuorumController.renounce reverts to the last committed offset). Broker sessions (last
// heartbeats), reported logs and controlled shutdowns are in memory, as in Kafka's
// BrokerHeartbeatManager: a new active controller starts every registered broker's session
// afresh. With one voter (the default of most scenarios) records commit as they are
// appended, and the controller behaves as the single reliable node it used to be.
//
// What it owns: broker registrations (epoch, fenced or not, last heartbeat) and, per
// partition, leader, leader epoch, partition epoch, ISR and ELR. Brokers reach it through
// four RPCs (RegisterBroker, Heartbeat, Metadata, AlterPartition); a fencing fiber expires
// brokers whose heartbeats stopped.
//
// Invariants, asserted on every partition change:
//   (1) ISR and ELR are sorted, duplicate-free and disjoint; the ELR is within the sync
//       replicas, the ISR within the sync replicas plus promoted observers (S8).
//   (2) A leader, if any, is a live (registered, unfenced) member of the ISR. A replica
//       elected from the ELR or uncleanly joins the ISR as its only member.
//   (3) Every change bumps the partition epoch by one; every leader change (including to
//       and from "no leader") bumps the leader epoch by one, so leader epochs are unique.
//   (4) With ELR: the ELR is empty whenever |ISR| >= min ISR. Without ELR: the ELR is
//       always empty and the ISR never becomes empty (it freezes at its last member, D3).
//
// ISR/ELR rules (D3, D4, after Kafka's PartitionChangeBuilder and KIP-966):
//   - A broker leaves every ISR when it is fenced (session expired) or re-registers (its
//     old incarnation is gone). If it led, it loses leadership even with no successor.
//   - With ELR, after any ISR change: if |new ISR| >= min ISR the ELR is cleared, else
//     ELR = (old ELR + old ISR) - new ISR. Members dropped while the ISR is below min ISR
//     keep every committed record (B4 holds the HW), so they stay electable.
//   - A broker re-registering after an unclean shutdown leaves every ELR (and ISR).
//   - Without ELR, removing the last ISR member leaves the ISR as {that member}.
// Election (E1), when a partition has no live leader, in replica preference order: a live
// ISR member; else (ELR) a live ELR member, ISR := {it}; else (unclean election) any live
// replica, ISR := {it}, ELR := {}; else no leader (offline). Offline partitions are retried
// whenever a broker unfences.
//
// Observers (G1-G3): they are carried in every PartitionState with the partition's promotion
// policy. AlterPartition lets an observer into the ISR only while that policy holds on the
// state the request meets (G2), plus the same D2 checks as any joining member. A promoted
// observer is a full ISR member: it counts toward min ISR and may be elected, after every
// live sync ISR member (E1); unclean elections also try observers last. It never enters the
// ELR: leaving the ISR makes it an ordinary observer again. If an observer leads once
// demotion is due (G3: the sync replicas of the ISR alone satisfy the policy), leadership
// moves to a live sync ISR member (kWhyObserverHandOff); that leader then demotes promoted
// observers without an election.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "models/bugs.h"
#include "models/kafka/config.h"
#include "models/kafka/quorum.h"
#include "models/kafka/quorum_marks.h"
#include "models/kafka/tier/tier_rpc.h"
#include "models/kafka/types.h"
#include "sim/node_context.h"

namespace faultline::kafka {

struct ControllerConfig {
  // min ISR, ELR, unclean election, heartbeat interval and session timeout.
  ReplicationConfig replication;
  // Placement per partition: `partition`, `replicas` (preference order) and `observers`.
  // The controller fills in the rest: ISR = all replicas, no ELR, no leader, epochs 0.
  // The first live ISR member becomes leader (leader epoch 1) once it registers and
  // heartbeats.
  std::vector<PartitionState> initial;
  // Bug switches owned by this model; the scenario sets them from the BugSet.
  // any-replica-election: E1 takes the first live replica, in or out of the ISR, although
  // unclean election is off.
  bool bug_any_replica_election = false;
  // last-replica-standing: run without ELR whatever `replication.elr` says.
  bool bug_last_replica_standing = false;
  // elect-fenced-last-known-leader (KAFKA-19522): the last known leader is elected while it
  // is still fenced.
  bool bug_elect_fenced_last_known_leader = false;
  // reassign-without-catch-up: a reassignment's new replicas enter the ISR at once.
  bool bug_reassign_without_catch_up = false;
  // A4: the metadata quorum. Empty voters: this controller alone. `disk` holds the quorum's
  // durable state and must survive the process (the scenario keeps it); null: a private one.
  QuorumConfig quorum;
  std::shared_ptr<QuorumDisk> disk;
};

// The state the metadata log carries (A1, A4), as replaying records builds it.
struct MetadataImage {
  std::map<PartitionId, PartitionState> partitions;
  std::map<BrokerId, BrokerInfo> brokers;
  std::map<BrokerId, uint64_t> incarnations;  // of each broker's registration (D3)
  std::map<PartitionId, TierState> tiers;
  int64_t next_broker_epoch = 1;
  int64_t offset = 0;  // records applied: the metadata version brokers see
};

// Observer hooks for checkers (style.md, example 9). Called synchronously, after the change
// is applied; they must not block or call back into the controller.
struct ControllerHooks {
  // A4/S22: `controller` committed the record at `offset` and applies it. Returns whether the
  // other hooks should hear of it: true the first time any controller commits that offset
  // (the checker's ledger decides). Unset: every committed record is reported.
  std::function<bool(NodeId controller, int64_t offset, const QuorumEntry&)> on_committed;
  // `why` is one of the kWhy* strings below: what caused the change. An unclean election
  // is reported as kWhyUncleanElection whatever triggered it, so a checker can excuse it.
  std::function<void(const PartitionState& before, const PartitionState& after, const char* why)>
      on_partition_change;
  // `why`: "registered", "fenced" (session expired) or "unfenced" (first heartbeat).
  std::function<void(const BrokerInfo&, const char* why)> on_broker_change;
  // A tier event reached the partition's tier-state log (H3): its outcome, and the state
  // after it (unchanged unless applied).
  std::function<void(PartitionId, const TierEvent&, const TierState::Result&, const TierState& after)> on_tier_event;
  // A4: `controller` became the active controller in quorum epoch `epoch`.
  std::function<void(NodeId controller, Epoch epoch)> on_activated;
};

// The causes of partition changes, as passed to on_partition_change and traced.
inline constexpr const char* kWhyBrokerFenced = "broker-fenced";
inline constexpr const char* kWhyBrokerReregistered = "broker-reregistered";
inline constexpr const char* kWhyUncleanShutdown = "unclean-shutdown";
inline constexpr const char* kWhyElection = "election";  // a live replica came back
inline constexpr const char* kWhyUncleanElection = "unclean-election";
// KIP-966 "Balanced" unclean recovery: ISR and ELR are empty because every eligible replica
// went through an unclean shutdown; once every replica is back, the longest log leads.
inline constexpr const char* kWhyUncleanRecovery = "unclean-recovery";
// KIP-966's last known leader (PartitionChangeBuilder.canElectLastKnownLeader): with ISR and
// ELR empty, the broker that led when the partition became leaderless leads again. Kafka
// counts it as an unclean election (ElectionResult.unclean), and so do the checkers.
inline constexpr const char* kWhyLastKnownLeader = "last-known-leader";
inline constexpr const char* kWhyAlterPartition = "alter-partition";
inline constexpr const char* kWhyControlledShutdown = "controlled-shutdown";
// G3: a promoted observer led when the sync replicas returned; a sync ISR member takes over.
inline constexpr const char* kWhyObserverHandOff = "observer-hand-off";
// An operator's (or auto.leader.rebalance's) preferred-replica election (E1).
inline constexpr const char* kWhyPreferredElection = "preferred-election";
// An operator's partition reassignment began (KIP-455); its completion is part of the change
// that brought the last adding replica into the ISR.
inline constexpr const char* kWhyReassignment = "reassignment";

// `bugs` and `hooks` are borrowed: they must outlive the controller.
class Controller {
 public:
  Controller(NodeContext& ctx, ControllerConfig config, const BugSet& bugs, const ControllerHooks& hooks);
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Registers the RPC handlers, spawns the fencing fiber and starts the quorum.
  void start();

  // What this controller knows is committed (A4): ground truth for checkers and tests.
  const std::map<PartitionId, PartitionState>& partitions() const { return committed_.partitions; }
  // Every broker that holds a replica or observer, plus any other that registered.
  const std::map<BrokerId, BrokerInfo>& brokers() const { return committed_.brokers; }
  // Every partition's tier-state log (H3), materialised.
  const std::map<PartitionId, TierState>& tiers() const { return committed_.tiers; }
  // Records committed and applied here: bumped on every partition, broker or tier change.
  uint64_t metadata_version() const { return static_cast<uint64_t>(committed_.offset); }
  // Whether this controller is the active one (it leads the quorum).
  bool active() const { return active_; }
  NodeId id() const { return ctx_.id(); }
  const Quorum& quorum() const { return *quorum_; }
  // Whether ELR is in effect (replication.elr, unless last-replica-standing turns it off).
  bool elr_enabled() const;

 private:
  RegisterBrokerResponse on_register(NodeId from, const RegisterBrokerRequest& req);
  HeartbeatResponse on_heartbeat(NodeId from, const HeartbeatRequest& req);
  MetadataResponse on_metadata(const MetadataRequest& req) const;
  AlterPartitionResponse on_alter_partition(NodeId from, const AlterPartitionRequest& req);
  // D3: fences the broker for good (until it registers again), moves its leaderships away
  // and takes it out of every ISR; a clean shutdown leaves it eligible in the ELR (D4).
  ControlledShutdownResponse on_controlled_shutdown(NodeId from, const ControlledShutdownRequest& req);
  // H3: appends a tier event from a registered broker to the partition's tier-state log
  // (controller_tier.cpp). Fencing is the tier epoch's: a leader of an older epoch is fenced.
  TierAppendResponse on_tier_append(NodeId from, const TierAppendRequest& req);
  TierDescribeResponse on_tier_describe(const TierDescribeRequest& req) const;
  struct AlterVerdict {
    Errc error;
    const char* reason;  // for the trace of a rejection
  };
  // Checks an AlterPartition against the current state; kNone if it may be applied.
  AlterVerdict validate_alter(NodeId from, const AlterPartitionRequest& req, const PartitionState& p) const;

  void fencer();
  void fence_expired();
  void set_fenced(BrokerId b, bool fenced, const char* why);

  bool live(BrokerId b) const;
  // D3/D4: `b`'s previous incarnation is gone: it leaves every ISR (and every ELR if
  // `left_elr`); partitions it led elect again.
  void remove_broker(BrokerId b, bool left_elr, const char* why);
  // E1 for every partition without a leader.
  void elect_offline(const char* why);
  // `current` with its ISR replaced and its ELR recomputed by the D4 rule.
  PartitionState with_isr(const PartitionState& current, std::vector<BrokerId> isr) const;
  // Elects a leader into `next` if it has none; returns kWhyUncleanElection if the
  // election was unclean, else nullptr.
  const char* elect(PartitionState& next) const;
  // Coverage only: marks an election among live candidates whose reported logs differ.
  void note_candidates(const PartitionState& next) const;
  // Bumps the epochs, checks the invariants, stores, traces and reports `next` (unless it
  // equals the current state).
  void commit(PartitionState next, const char* why);
  // G3: moves leadership from a promoted observer to a live sync ISR member once demotion
  // is due.
  void hand_off_from_observer(PartitionId partition);

 public:
  // A preferred-replica election for every partition (kafka-leader-election.sh --election-type
  // PREFERRED, or auto.leader.rebalance.enable): each partition whose first replica is a live
  // ISR member, and not its leader, is led by it in a new leader epoch. Returns how many
  // partitions changed leader.
  size_t elect_preferred_leaders();
  // KIP-455, kafka-reassign-partitions.sh (ReplicationControlManager.alterPartitionReassignments):
  // moves `partition` to the replicas `target` (preference order). The replica set becomes
  // target + the replicas leaving; the new ones catch up and join the ISR through D2; once
  // every one has, the replica set becomes `target`, the ISR and ELR lose the leaving ones
  // and, if the leader left, a target ISR member is elected (completeReassignmentIfNeeded).
  // A target equal to the current replicas cancels a reassignment in progress. Returns
  // false (changing nothing) when not active, for an unknown partition, a bad target
  // (empty, duplicates, an observer), or a reassignment already in progress to elsewhere.
  bool reassign(PartitionId partition, std::vector<BrokerId> target);

 private:
  void check_invariants(const PartitionState& p) const;
  // KIP-455: completes `next`'s reassignment once every adding replica is in its ISR.
  void maybe_complete_reassignment(PartitionState& next) const;
  void broker_changed(BrokerId b, const char* why);

  // A4: the answer of a controller that is not (or no longer) active.
  template <typename Resp>
  Resp not_controller() const {
    cover(ctx_, QuorumMark::kNotController);
    Resp r{};
    r.error = Errc::kNotController;
    return r;
  }
  // A4: appends a change to the metadata log (the active controller only).
  void record(MetadataRecord r);
  // A4: waits until every record appended so far is committed; false if this controller
  // stopped being active first (the caller answers NOT_CONTROLLER).
  bool settle();
  // The quorum's listener: a committed record, leadership won and lost.
  void on_commit(int64_t offset, const QuorumEntry& entry);
  void activate(Epoch epoch);
  void deactivate();

  NodeContext& ctx_;
  ControllerConfig config_;
  const BugSet& bugs_;  // no controller bug is a BugSet switch yet; see ControllerConfig
  const ControllerHooks& hooks_;
  MetadataImage bootstrap_;  // the initial placement, before any record
  MetadataImage working_;    // as active: committed plus its own uncommitted records
  MetadataImage committed_;  // committed records applied
  std::shared_ptr<QuorumDisk> disk_;
  std::unique_ptr<Quorum> quorum_;
  bool active_ = false;
  Epoch active_epoch_ = 0;
  std::map<BrokerId, Instant> last_heartbeat_;  // registered brokers only
  // Brokers in controlled shutdown: a heartbeat still in flight does not unfence them.
  std::set<BrokerId> shutting_down_;
  // Replica logs as the brokers last reported them, with the broker epoch they came from.
  std::map<std::pair<BrokerId, PartitionId>, std::pair<int64_t, ReplicaLogInfo>> log_info_;
};

// Replays one record onto `image` (every controller's committed image, and an activating
// controller's whole log). Returns what the hooks report: a PartitionRecord's previous state
// and a TierRecord's outcome.
struct AppliedRecord {
  PartitionState before;
  TierState::Result tier;
};
AppliedRecord apply_record(MetadataImage& image, const QuorumEntry& entry);

}  // namespace faultline::kafka
