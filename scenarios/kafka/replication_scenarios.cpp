// scenarios/kafka/replication_scenarios.cpp
// `broker-crash` and `partition`: a three-broker cluster (RF 3, min ISR 2 by default) with a
// controller in a third site, a producer and a consumer, under crashes or network faults.
//
// Topology: brokers b0..bN-1 in dc1 (one rack each), the controller `ctl` in dc3 (the
// quorum's tie-breaker site), clients in dc2. Every partition is replicated on `rf` brokers.
// Phases: faults for `duration`, then heal everything and require convergence (L1-L3, L6)
// within `convergence_bound`.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "models/kafka/broker.h"
#include "models/kafka/broker_set.h"
#include "models/kafka/marks.h"
#include "models/kafka/clients.h"
#include "models/kafka/controller.h"
#include "models/kafka/quorum_marks.h"
#include "models/kafka/tier/tier_marks.h"
#include "scenarios/kafka/checker.h"
#include "scenarios/kafka/tier_run.h"
#include "scenarios/kafka/timeline_probe.h"
#include "scenarios/registry.h"
#include "sim/fault_control.h"
#include "sim/prng.h"

namespace faultline {

namespace {

using namespace kafka;

enum class Flavor { kBrokerCrash, kCascade, kPartition, kS3Outage, kDiskStall, kControllerFailover, kReassignment };

class ReplicationScenario final : public Scenario {
 public:
  explicit ReplicationScenario(Flavor flavor) : flavor_(flavor) {}

  void run(RunContext& rc) override {
    Simulation& sim = rc.sim();
    const Params& p = rc.params();
    ReplicationConfig cfg;
    cfg.min_insync_replicas = static_cast<int32_t>(p.integer("min.insync.replicas"));
    cfg.replica_lag_time_max = p.duration("replica.lag.time.max.ms");
    cfg.unclean_leader_election = p.flag("unclean.leader.election.enable");
    cfg.elr = p.flag("elr") && !rc.bugs().on(Bug::kLastReplicaStanding);
    cfg.hw_requires_min_isr = p.flag("hw_requires_min_isr");
    cfg.retention_bytes = p.integer("retention.bytes");
    cfg.recovery_point_checkpoint_interval = p.duration("log.flush.offset.checkpoint.interval.ms");
    cfg.tiered = p.flag("tiered");
    cfg.segment_bytes = static_cast<uint64_t>(p.integer("segment.bytes"));
    cfg.hotset_bytes = p.integer("hotset.bytes");
    cfg.retention_check_interval = Duration::seconds(2);
    const auto brokers = static_cast<NodeId>(p.integer("brokers"));
    const auto partitions = static_cast<PartitionId>(p.integer("partitions"));
    const auto rf = static_cast<uint32_t>(std::min<int64_t>(p.integer("rf"), brokers));
    // A min ISR above the replicas makes every acks=all write fail, and the checkers would
    // judge a cluster that cannot work: bad input, as dc-loss says too.
    if (cfg.min_insync_replicas > static_cast<int32_t>(rf)) {
      throw InputError{fmt::format("min.insync.replicas ({}) exceeds the {} replicas of a partition (rf, capped at the "
                                   "broker count)",
                                   cfg.min_insync_replicas, rf)};
    }

    // Placement: partition i on brokers i, i+1, ... (mod brokers), preferred leader first.
    std::vector<PartitionState> placement;
    std::map<NodeId, std::vector<PartitionId>> hosted;
    for (PartitionId i = 0; i < partitions; ++i) {
      PartitionState st;
      st.partition = i;
      for (uint32_t k = 0; k < rf; ++k) {
        const NodeId b = static_cast<NodeId>((i + k) % brokers);
        st.replicas.push_back(b);
        hosted[b].push_back(i);
      }
      st.isr = st.replicas;
      placement.push_back(st);
    }
    std::vector<NodeId> broker_ids;
    for (NodeId b = 0; b < brokers; ++b) broker_ids.push_back(b);
    // A4: the controllers follow the brokers; with more than one they form a KRaft quorum.
    const auto controllers = static_cast<NodeId>(p.integer("controllers"));
    const NodeId ctl_id = brokers;
    std::vector<NodeId> ctl_vec;
    for (NodeId c = 0; c < controllers; ++c) ctl_vec.push_back(ctl_id + c);
    const ControllerIds ctl_ids(ctl_vec);
    checker_ = std::make_unique<ReplicationChecker>(rc, cfg, broker_ids, ctl_ids);
    checker_->report_rule_violations(p.flag("rule_checks"));

    // The checker's broker hooks, plus the takeovers that armed faults wait for: a broker
    // that has just begun its term as leader (A3 done), as seen by the broker itself.
    broker_hooks_ = checker_->broker_hooks();
    broker_hooks_.on_become_leader = [this](NodeId b, PartitionId partition, Epoch epoch) {
      checker_->broker_hooks().on_become_leader(b, partition, epoch);
      fire(fmt::format("next-leader:p{}", partition), b);
    };
    // Protocol moments that armed faults wait for (NemesisOptions::disk_moments and
    // crash_moments): a follower told to truncate, a broker back from a restart.
    broker_hooks_.on_diverging = [this, &sim](NodeId b, PartitionId partition) {
      fire(fmt::format("diverging:p{}", partition), b);
      fire("diverging", b);
      // The leader that answered, as the follower knows it.
      const auto follower = sim.process<Broker>(b);
      const Replica* r = follower ? follower->replica(partition) : nullptr;
      if (r != nullptr && r->meta.leader != kNoBroker) fire("diverging-leader", r->meta.leader);
    };
    broker_hooks_.on_local_deletion = [this, &sim, ctl_ids](NodeId b, PartitionId part, int64_t from, int64_t to) {
      if (tier_) tier_->checker().on_local_deletion(freshest_controller(sim, ctl_ids).get(), b, part, from, to);
    };
    broker_hooks_.on_registered = [this](NodeId b, int64_t broker_epoch) {
      checker_->broker_hooks().on_registered(b, broker_epoch);
      fire("next-registered", b);
    };
    for (NodeId b = 0; b < brokers; ++b) {
      BrokerConfig bc;
      bc.replication = cfg;
      bc.controller = ctl_ids;
      bc.partitions = hosted[b];
      const BugSet& bugs = rc.bugs();
      sim.add_node({fmt::format("b{}", b), "dc1", fmt::format("r{}", b)}, [this, bc, &bugs](NodeContext& ctx) {
        auto broker = std::make_shared<Broker>(ctx, bc, bugs, broker_hooks_);
        broker->start();
        return broker;
      });
    }
    // The controller's hooks: the replication checker's, and the tier checker's (H3).
    controller_hooks_ = checker_->controller_hooks();
    if (cfg.tiered) {
      tier_ = std::make_unique<TierRun>(rc, *checker_, cfg, ctl_ids);
      controller_hooks_.on_tier_event = [this](PartitionId part, const TierEvent& e, const TierState::Result& r,
                                               const TierState& after) { tier_->checker().on_tier_event(part, e, r, after); };
      sim.coverage().declare(tier_mark_catalogue());
    }
    ControllerConfig cc;
    cc.replication = cfg;
    cc.initial = placement;
    cc.bug_any_replica_election = rc.bugs().on(Bug::kAnyReplicaElection);
    cc.bug_last_replica_standing = rc.bugs().on(Bug::kLastReplicaStanding);
    cc.bug_elect_fenced_last_known_leader = rc.bugs().on(Bug::kElectFencedLastKnownLeader);
    cc.bug_reassign_without_catch_up = rc.bugs().on(Bug::kReassignWithoutCatchUp);
    // The scenario's faults may aim at whichever controller has just become active.
    controller_hooks_.on_activated = [this](NodeId controller, Epoch) { fire("next-active-controller", controller); };
    if (controllers == 1) {
      sim.add_node({"ctl", "dc3"}, [this, cc, &rc](NodeContext& ctx) {
        auto ctl = std::make_shared<Controller>(ctx, cc, rc.bugs(), controller_hooks_);
        ctl->start();
        return ctl;
      });
    } else {
      // A quorum spread over the three sites, one voter each (more voters share dc3); each
      // keeps its metadata log and vote on a QuorumDisk that outlives its process.
      sim.coverage().declare(quorum_mark_catalogue());
      cc.quorum.voters = ctl_vec;
      cc.quorum.bug_vote_without_log_check = rc.bugs().on(Bug::kVoteWithoutLogCheck);
      for (NodeId c = 0; c < controllers; ++c) {
        cc.disk = quorum_disks_.emplace_back(std::make_shared<QuorumDisk>());
        const char* dc = c == 0 ? "dc1" : c == 1 ? "dc2" : "dc3";
        sim.add_node({fmt::format("ctl{}", c), dc}, [this, cc, &rc](NodeContext& ctx) {
          auto ctl = std::make_shared<Controller>(ctx, cc, rc.bugs(), controller_hooks_);
          ctl->start();
          return ctl;
        });
      }
    }
    std::vector<PartitionId> all_partitions;
    for (PartitionId i = 0; i < partitions; ++i) all_partitions.push_back(i);
    ProducerConfig pc;
    pc.acks = static_cast<int>(p.integer("acks"));
    pc.interval = p.duration("produce_interval");
    pc.max_batch = static_cast<uint32_t>(p.integer("max_batch"));
    pc.max_in_flight = static_cast<uint32_t>(p.integer("max.in.flight.requests.per.connection"));
    pc.idempotence = p.flag("enable.idempotence");  // B6
    sim.add_node({"producer", "dc2"}, [this, pc, ctl_ids, all_partitions, cfg](NodeContext& ctx) {
      auto prod = std::make_shared<Producer>(ctx, pc, ctl_ids, all_partitions, checker_->producer_hooks(),
                                             cfg.metadata_poll_interval);
      prod->start();
      return prod;
    });
    sim.add_node({"consumer", "dc2"}, [this, ctl_ids, all_partitions, cfg](NodeContext& ctx) {
      auto cons = std::make_shared<Consumer>(ctx, ctl_ids, all_partitions, checker_->consumer_hooks(),
                                             cfg.metadata_poll_interval);
      cons->start();
      return cons;
    });
    sim.coverage().declare(mark_catalogue());
    rc.set_counter_probe(replica_counters(sim, broker_ids, partitions));  // for a timeline
    for (NodeId n = 0; n < sim.node_count(); ++n) sim.start(n);
    if (cfg.tiered) {
      // A consumer that starts from offset 0 halfway through, after the hotset has deleted
      // the oldest segments everywhere: it must read every committed record, in order, from
      // the object store first (H5; S16 for a gap, L4 if it never catches up).
      tier_->add_reader(sim, ctl_ids, all_partitions, cfg.metadata_poll_interval,
                        Instant::zero() + p.duration("duration") / 2, "dc2");
    }

    // Faults.
    const Duration fault_window = p.duration("duration");
    NemesisOptions nemesis;
    nemesis.start = Duration::seconds(5);
    nemesis.end = fault_window;
    nemesis.max_faults = static_cast<uint32_t>(p.integer("faults"));
    nemesis.max_power_losses = static_cast<uint32_t>(p.integer("power_losses"));
    nemesis.mean_duration = Duration::seconds(8);
    nemesis.max_duration = Duration::seconds(30);
    for (NodeId b = 0; b < brokers; ++b) nemesis.crashable.push_back(sim.spec(b).name);
    // Stay within what the cluster tolerates: at most RF - 1 brokers down at once.
    nemesis.max_down = std::max<uint32_t>(1, rf - 1);
    nemesis.rejoin_grace = cfg.replica_lag_time_max + Duration::seconds(5);
    if (flavor_ == Flavor::kDiskStall) {
      // Disks of leaders and followers stall or slow down (F4), alone, around leader changes
      // (kills aimed at leaders, stalls armed on the follower told to truncate) and during
      // S3 outages: flushes lag, so the recovery point and with it what is tierable (H1) lag,
      // and the hotset must wait for the archive (H4). Controlled restarts and one-way
      // partitions move leadership away from live leaders mid-upload (H2, H3); ambiguous PUT
      // timeouts leave objects whose existence nobody knows (I2).
      nemesis.kinds = {FaultKind::kDiskStall, FaultKind::kDiskSlow, FaultKind::kKill,    FaultKind::kS3Outage,
                       FaultKind::kS3Ambiguous, FaultKind::kRestart, FaultKind::kPartitionOneWay};
      for (PartitionId i = 0; i < partitions; ++i) {
        nemesis.successors.emplace_back(fmt::format("leader:p{}", i), fmt::format("next-leader:p{}", i));
      }
      nemesis.successor_wait = cfg.broker_session_timeout + Duration::seconds(3);
    } else if (flavor_ == Flavor::kS3Outage) {
      // The object store fails in every way S3 does (I2) while leaders archive, and leaders
      // die mid-upload (crashes aimed at leader:pN strike whoever is uploading); disk stalls
      // hold flushes, so the recovery point (H1) lags.
      nemesis.kinds = {FaultKind::kS3Errors, FaultKind::kS3Latency,  FaultKind::kS3Outage,
                       FaultKind::kS3Ambiguous, FaultKind::kKill, FaultKind::kPowerLoss,
                       FaultKind::kDiskStall, FaultKind::kRestart, FaultKind::kPartitionOneWay,
                       FaultKind::kPartition, FaultKind::kDropConnections};
      nemesis.successor_wait = cfg.broker_session_timeout + Duration::seconds(3);
    } else if (flavor_ == Flavor::kBrokerCrash || flavor_ == Flavor::kCascade) {
      // Restarts are controlled shutdowns (D3); a disk replacement is a lossy crash within
      // the power-loss budget (cascade has none, so it draws none).
      // (cascade keeps to kills: a restart hands leadership over cleanly, which is not the
      // cascade it is after.)
      nemesis.kinds = {FaultKind::kKill, FaultKind::kPowerLoss, FaultKind::kDiskStall};
      // broker-crash also moves leadership while nothing is broken: preferred-replica
      // elections hand partitions back to their first replica (issue 13).
      if (flavor_ == Flavor::kBrokerCrash) nemesis.kinds.push_back(FaultKind::kRestart);
      if (flavor_ == Flavor::kBrokerCrash) nemesis.kinds.push_back(FaultKind::kElectPreferred);
      if (nemesis.max_power_losses > 0) nemesis.kinds.push_back(FaultKind::kDiskReplace);
      // cascade: every crash aimed at a leader is chained to one of its successor, as far as
      // the fault budget and max_down allow.
      if (flavor_ == Flavor::kCascade) nemesis.successor_per_two = 2;
      // Cascades: the broker that takes over a crashed leader's partition may die early in
      // its term, before the other replicas have fetched from it; the elections that follow
      // pick among logs that diverged in different epochs (KIP-101, KIP-279, KAFKA-7128).
      for (PartitionId i = 0; i < partitions; ++i) {
        nemesis.successors.emplace_back(fmt::format("leader:p{}", i), fmt::format("next-leader:p{}", i));
      }
      nemesis.successor_wait = cfg.broker_session_timeout + Duration::seconds(3);
    } else if (flavor_ == Flavor::kReassignment) {
      // KIP-455 while brokers crash: operators move replicas between brokers (the new one
      // catches up and joins the ISR, then the old one leaves and deletes its log; a leader
      // moved off hands over), preferred-replica elections follow the new preference, and
      // leaders, followers, replicas being added and replicas being removed are killed, lose
      // power or restart meanwhile.
      nemesis.kinds = {FaultKind::kKill,     FaultKind::kPowerLoss, FaultKind::kRestart,       FaultKind::kDiskStall,
                       FaultKind::kReassign, FaultKind::kReassign,  FaultKind::kElectPreferred};
      for (PartitionId i = 0; i < partitions; ++i) {
        nemesis.successors.emplace_back(fmt::format("leader:p{}", i), fmt::format("next-leader:p{}", i));
      }
      nemesis.successor_wait = cfg.broker_session_timeout + Duration::seconds(3);
    } else if (flavor_ == Flavor::kControllerFailover) {
      // A4: the active controller is killed, restarted or loses power (its metadata log is
      // durable, quorum.h), and the controller that takes over may be killed early in its
      // term; partitions cut controllers from each other and from the brokers; brokers
      // crash too, so that fencing, elections and ISR changes need the quorum while it
      // fails over.
      nemesis.kinds = {FaultKind::kKill, FaultKind::kPowerLoss, FaultKind::kRestart, FaultKind::kPartition,
                       FaultKind::kPartitionOneWay, FaultKind::kDropConnections, FaultKind::kLinkDelay};
      for (NodeId c = 0; c < controllers; ++c) nemesis.crashable.push_back(sim.spec(ctl_id + c).name);
      nemesis.crashable.push_back("active-controller");
      nemesis.crashable.push_back("active-controller");  // twice: aimed at the leader as often as not
      nemesis.successors.emplace_back("active-controller", "next-active-controller");
      for (PartitionId i = 0; i < partitions; ++i) {
        nemesis.successors.emplace_back(fmt::format("leader:p{}", i), fmt::format("next-leader:p{}", i));
      }
      nemesis.successor_wait = cfg.broker_session_timeout + Duration::seconds(3);
    } else {
      // Network faults, plus at most `power_losses` power losses: a leader cut off from its
      // followers shrinks the ISR to itself, and then losing its page cache is what tells a
      // frozen ISR (ELR off) from KIP-966's eligible leader replicas.
      // Disk stalls here are what isolating a leader sets up: the old leader's tail diverges,
      // and a stall armed on the moment it is told to truncate (NemesisOptions::
      // disk_moments) holds that truncation while leadership moves on.
      nemesis.kinds = {FaultKind::kPartition, FaultKind::kPartitionOneWay, FaultKind::kDropConnections,
                       FaultKind::kLinkDelay, FaultKind::kPowerLoss, FaultKind::kRestart, FaultKind::kDiskStall};
    }
    // The nemesis may also aim at whoever leads a partition when the fault strikes.
    Topology topology = sim.topology();
    for (PartitionId i = 0; i < partitions; ++i) {
      topology.roles.push_back(fmt::format("leader:p{}", i));
      nemesis.crashable.push_back(topology.roles.back());
      topology.roles.push_back(fmt::format("next-leader:p{}", i));
      nemesis.delay_moments.push_back(topology.roles.back());  // partition: slow links around an election
      topology.roles.push_back(fmt::format("diverging:p{}", i));
    }
    if (controllers > 1) {
      topology.roles.push_back("active-controller");
      topology.roles.push_back("next-active-controller");
    }
    // "diverging": the next follower of any partition told to truncate.
    topology.roles.push_back("diverging");
    nemesis.disk_moments.push_back("diverging");
    topology.roles.push_back("diverging-leader");  // the leader that answered it
    nemesis.moment_followups.emplace_back("diverging", "diverging-leader");
    topology.roles.push_back("next-registered");
    nemesis.crash_moments.push_back("next-registered");
    nemesis.max_moment_delay = Duration::seconds(3);
    FaultControl faults(sim);
    faults.set_watch_deadline(nemesis.successor_wait);
    faults.set_watcher([this, partitions](const std::string& role, std::function<void(NodeId)> taken) {
      int partition = -1;
      const bool known = role == "next-registered" || role == "diverging" || role == "diverging-leader" ||
                         role == "next-active-controller" ||
                         ((std::sscanf(role.c_str(), "next-leader:p%d", &partition) == 1 ||
                           std::sscanf(role.c_str(), "diverging:p%d", &partition) == 1) &&
                          partition >= 0 && static_cast<PartitionId>(partition) < partitions);
      if (!known) return false;
      waiting_[role].push_back(std::move(taken));
      return true;
    });
    faults.set_shutdown_handler([&sim, brokers](NodeId node, std::function<void()> stopped) {
      if (node >= brokers) return false;  // the controller and the clients have no graceful path
      auto broker = sim.process<Broker>(node);
      if (!broker) return false;
      broker->shutdown(std::move(stopped));
      return true;
    });
    faults.set_crash_listener([this, brokers](NodeId node, CrashKind kind) {
      if (kind == CrashKind::kPowerLoss && node < brokers) checker_->note_power_loss(node);
    });
    // elect-preferred: an operator's preferred-replica election, at the controller (E1).
    faults.set_operation_handler([&sim, ctl_ids, brokers](const FaultEvent& e) {
      const auto ctl = active_controller(sim, ctl_ids);
      if (!ctl) return false;  // no controller is active: nobody to ask
      if (e.kind == FaultKind::kElectPreferred) {
        ctl->elect_preferred_leaders();
        return true;
      }
      if (e.kind != FaultKind::kReassign) return false;
      return reassign(*ctl, e, brokers);
    });
    auto resolve = [&sim, ctl_ids](const std::string& role) -> std::optional<NodeId> {
      if (role == "active-controller") {
        const auto active = active_controller(sim, ctl_ids);
        return active ? std::optional<NodeId>(active->id()) : std::nullopt;
      }
      const auto ctl = freshest_controller(sim, ctl_ids);
      int partition = -1;
      if (!ctl || std::sscanf(role.c_str(), "leader:p%d", &partition) != 1) return std::nullopt;
      auto it = ctl->partitions().find(partition);
      if (it == ctl->partitions().end() || it->second.leader == kNoBroker) return std::nullopt;
      return it->second.leader;
    };
    faults.set_resolver(resolve);
    const FaultPlan plan = rc.fault_plan(topology, nemesis);
    faults.schedule(plan);
    if (tier_) tier_->note_outages(plan, fault_window);
    if (!rc.run_until(Instant::zero() + fault_window)) return;

    faults.heal_all();
    waiting_.clear();
    const Instant healed_at = sim.now();
    checker_->healed(healed_at);
    rc.await_convergence(p.duration("convergence_bound"), Duration::millis(500),
                         [&] { return checker_->unconverged(); });
    checker_->report_metrics();
    rc.metric("faults_applied", static_cast<int64_t>(faults.applied()));
    if (tier_) {
      // Quiescence for S18 and L4: every write in flight has landed, GC's grace has run out
      // for whatever was fenced until now, and the archivers have had time to catch up.
      if (!tier_->await_quiescence(sim)) return;
    }
  }

 private:
  // A `reassign` event (KIP-455): which partition moves, and from which broker to which, is
  // drawn from the event's own time, so the plan alone decides it (replay and shrinking
  // keep it). One replica is replaced by a broker that holds none of the partition, in its
  // place in the preference order. Skipped while the partition is being reassigned.
  static bool reassign(Controller& ctl, const FaultEvent& e, NodeId brokers) {
    uint64_t h = static_cast<uint64_t>(e.at.ns());
    const auto& parts = ctl.partitions();
    if (parts.empty()) return false;
    auto it = parts.begin();
    std::advance(it, static_cast<long>(splitmix64(h) % parts.size()));
    const PartitionState& st = it->second;
    std::vector<BrokerId> spare;
    for (NodeId b = 0; b < brokers; ++b) {
      if (!broker_set::contains(st.replicas, b) && !broker_set::contains(st.observers, b)) spare.push_back(b);
    }
    if (spare.empty() || st.replicas.empty()) return false;
    std::vector<BrokerId> target = st.replicas;
    target[splitmix64(h) % target.size()] = spare[splitmix64(h) % spare.size()];
    return ctl.reassign(st.partition, std::move(target));
  }

  // A protocol moment came (a broker took over a partition, was told to truncate, registered
  // again): fire the faults waiting for it.
  void fire(const std::string& role, NodeId broker) {
    auto it = waiting_.find(role);
    if (it == waiting_.end()) return;
    std::vector<std::function<void(NodeId)>> fire = std::move(it->second);
    waiting_.erase(it);
    for (auto& taken : fire) taken(broker);
  }

  Flavor flavor_;
  std::unique_ptr<ReplicationChecker> checker_;
  std::unique_ptr<TierRun> tier_;
  std::vector<std::shared_ptr<QuorumDisk>> quorum_disks_;  // A4: the controllers' durable state
  ControllerHooks controller_hooks_;
  BrokerHooks broker_hooks_;
  std::map<std::string, std::vector<std::function<void(NodeId)>>> waiting_;  // future role -> armed faults
};

std::vector<ParamSpec> replication_params(const char* duration, const char* faults, const char* power_losses,
                                          const char* retention_bytes, const char* tiered = "false",
                                          const char* segment_bytes = "65536", const char* controllers = "1",
                                          const char* brokers = "3") {
  return {
      {"brokers", ParamType::kInt, brokers, "number of brokers", 1, 32, {}},
      {"controllers", ParamType::kInt, controllers,
       "controllers (A4): 1 is a single reliable controller; more form a KRaft quorum with a replicated metadata log",
       1, 7, {}},
      {"partitions", ParamType::kInt, "3", "number of partitions", 1, 64, {}},
      {"rf", ParamType::kInt, "3", "replication factor (capped at the broker count)", 1, 32, {}},
      {"min.insync.replicas", ParamType::kInt, "2", "min.insync.replicas", 1, 32, {}},
      {"replica.lag.time.max.ms", ParamType::kDuration, "10s", "replica.lag.time.max.ms (D1)", 1'000'000, kMaxDurationParam, {}},
      {"unclean.leader.election.enable", ParamType::kBool, "false", "allow unclean leader election (E1)", 0, 1, {}},
      {"elr", ParamType::kBool, "true", "eligible leader replicas, KIP-966 (D4)", 0, 1, {}},
      {"hw_requires_min_isr", ParamType::kBool, "true", "the HW never advances below min ISR (B4)", 0, 1, {}},
      {"retention.bytes", ParamType::kInt, retention_bytes,
       "retention.bytes per partition, 1 KiB a record (-1: unlimited); small enough that log start offsets move and "
       "a returning follower falls below its leader's (C8)", -1, INT64_MAX, {}},
      {"tiered", ParamType::kBool, tiered, "tiered storage: leaders archive rolled, committed segments to the object store (H)",
       0, 1, {}},
      {"segment.bytes", ParamType::kInt, segment_bytes, "segment.bytes, 1 KiB a record", 1024, INT64_MAX, {}},
      {"hotset.bytes", ParamType::kInt, "32768",
       "with tiering, archived local segments beyond this many bytes are deleted (H4), 1 KiB a record", 0, INT64_MAX, {}},
      {"log.flush.offset.checkpoint.interval.ms", ParamType::kDuration, "10s",
       "how often the recovery point is checkpointed (Kafka: 60s; shorter here so that recovery from a checkpoint "
       "happens within a run)", 1'000'000, kMaxDurationParam, {}},
      {"acks", ParamType::kInt, "-1", "producer acks: 0, 1 or -1 (all)", -1, 1, {}},
      {"produce_interval", ParamType::kDuration, "100ms", "time between produce requests of one partition", 1'000'000, kMaxDurationParam, {}},
      {"max.in.flight.requests.per.connection", ParamType::kInt, "5", "produce requests of one partition outstanding at once", 1, 100, {}},
      {"max_batch", ParamType::kInt, "4", "records per produce request: 1..max_batch", 1, 1000, {}},
      {"rule_checks", ParamType::kBool, "true",
       "report the numbered rules judged at each step (B3, B6, C2, ...; rule_checker.h); false leaves the invariants "
       "(S1-S21, L1-L7) to catch what they can by themselves", 0, 1, {}},
      {"enable.idempotence", ParamType::kBool, "true",
       "idempotent producer (B6): producer id, epoch and sequences; only with acks=-1 and at most 5 in flight", 0, 1, {}},
      {"duration", ParamType::kDuration, duration, "length of the fault phase", 5'000'000'000, kMaxDurationParam, {}},
      {"faults", ParamType::kInt, faults, "fault budget of the nemesis", 0, 1000, {}},
      {"power_losses", ParamType::kInt, power_losses, "most power losses the nemesis draws", 0, 1000, {}},
      {"convergence_bound", ParamType::kDuration, "60s", "time allowed to converge after the heal", 0, kMaxDurationParam, {}},
  };
}

}  // namespace

ScenarioInfo broker_crash_scenario_info() {
  return ScenarioInfo{
      "broker-crash",
      "Three brokers, RF 3, min ISR 2, a producer (acks=all) and a consumer while leaders and followers are "
      "killed or lose power, rolling and overlapping, and preferred-replica elections move leadership while nothing is "
      "broken; checks S1-S13 continuously and convergence after the heal.",
      // Retention keeps about ten seconds of a partition's records: a follower killed for
      // longer comes back below its leader's log start offset.
      replication_params("60s", "6", "1", "262144"),
      // The table's invariants first; where this model trips an earlier invariant on the
      // way to the loss (a truncated ISR member, S6; an ack a member lacks, S10), that
      // precursor is listed too, since the run stops at the first violation.
      {{Bug::kTruncateToHw, {"S1", "S2", "S6"}},
       {Bug::kHwFromCommittedIsr, {"S1", "S7", "S10"}},
       {Bug::kAckBelowMinIsr, {"S10", "S1"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kBrokerCrash); },
  };
}

ScenarioInfo cascade_scenario_info() {
  return ScenarioInfo{
      "cascade",
      "broker-crash with failures that cascade: crashes of a partition's leader are followed (within the fault budget "
      "and RF - 1 brokers down) by a kill of the broker that takes over, early in its term, before the other replicas have fetched from it; more crashes, "
      "process kills only by default. Elections then choose among logs that diverged in different epochs.",
      replication_params("60s", "20", "0", "-1"),
      // C3 first: the rule checker sees the wrong answer itself, before a log diverges.
      {{Bug::kEpochNextOffset, {"S2", "S3", "S9", "C3"}},
       // C7 first: the stale truncation completes in a new epoch; S6 when the new leader had
       // counted the longer log for the HW first.
       {Bug::kFollowerTruncationRace, {"C7", "S6", "S1"}},
       // E1's rule check: an elected leader is live. In the model the fenced leader only
       // keeps the partition waiting for it, as the fixed code would; no invariant sees more.
       {Bug::kElectFencedLastKnownLeader, {"E1"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kCascade); },
  };
}

ScenarioInfo s3_outage_scenario_info() {
  return ScenarioInfo{
      "s3-outage",
      "broker-crash with tiered storage (H): leaders archive 16-record segments to the object store while it answers "
      "503 and 500, slows down, goes away for seconds and times out ambiguously (I2), and leaders are killed or lose "
      "power mid-upload; checks S1-S13, S15, S19, S20 on every tier event and convergence after the heal.",
      // Retention keeps about 10 seconds of records (256 KiB) across local and archived data.
      replication_params("60s", "8", "1", "262144", "true", "16384"),
      {{Bug::kTierAboveHw, {"S15"}},
       {Bug::kKeepFailedUploads, {"S18", "L4"}},
       {Bug::kDeleteBeforeUploadComplete, {"S14", "S16"}},
       {Bug::kCountIncompleteUploads, {"S16", "S17"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kS3Outage); },
  };
}

ScenarioInfo disk_stall_scenario_info() {
  return ScenarioInfo{
      "disk-stall",
      "Tiered storage under disk trouble: leader and follower disks stall or slow down, alone, around leader changes "
      "(kills aimed at leaders and their successors, stalls armed on the follower told to truncate) and during "
      "object-store outages; checks S1-S20 as s3-outage does.",
      replication_params("60s", "10", "0", "262144", "true", "16384"),
      {},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kDiskStall); },
  };
}

ScenarioInfo controller_failover_scenario_info() {
  return ScenarioInfo{
      "controller-failover",
      "A KRaft quorum of three controllers, one per site, with three brokers (RF 3, min ISR 2), a producer (acks=all) "
      "and a consumer: the active controller is killed, restarted or loses power, its successor may be killed early "
      "in its term, partitions cut the controllers apart, and brokers crash meanwhile; checks S1-S13, S21 and S22 "
      "(no committed metadata lost across a failover, brokers apply committed metadata only) and convergence after "
      "the heal.",
      replication_params("60s", "8", "1", "262144", "false", "65536", "3"),
      {{Bug::kVoteWithoutLogCheck, {"S22"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kControllerFailover); },
  };
}

ScenarioInfo reassignment_scenario_info() {
  return ScenarioInfo{
      "reassignment",
      "Four brokers, RF 3, min ISR 2, a producer (acks=all) and a consumer while operators reassign partitions "
      "(KIP-455: a new replica catches up and joins the ISR, then an old one leaves and deletes its log, moving the "
      "leader if it was the one) and run preferred-replica elections, and brokers are killed, lose power or restart "
      "cleanly; checks S1-S13 and S21 and convergence after the heal.",
      replication_params("60s", "10", "1", "262144", "false", "65536", "1", "4"),
      {{Bug::kReassignWithoutCatchUp, {"S6", "S1", "S2", "S10"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kReassignment); },
  };
}

ScenarioInfo partition_scenario_info() {
  return ScenarioInfo{
      "partition",
      "Three brokers, RF 3, min ISR 2, a producer (acks=all) and a consumer while the network isolates leaders, "
      "followers or the controller, one way or both, and flaps, with at most one power loss; checks S1-S13 and "
      "convergence after the heal.",
      replication_params("60s", "6", "1", "524288"),
      {{Bug::kAnyReplicaElection, {"S1", "S6", "E1"}},
       // S11 first: the frozen last ISR member is still in the ISR when it re-registers
       // after losing its unflushed tail, before its re-election makes the loss visible.
       {Bug::kLastReplicaStanding, {"S1", "S11"}},
       {Bug::kHwBeforeTruncation, {"S3", "S13", "S2"}},
       {Bug::kNoHwAfterShrink, {"L1", "L3"}},
       // B6 first: the rule checker sees the out-of-sequence append; S21 once the duplicate
       // commits (alone with rule_checks=false).
       {Bug::kNoSequenceCheck, {"S21", "B6"}}},
      [] { return std::make_unique<ReplicationScenario>(Flavor::kPartition); },
  };
}

}  // namespace faultline
