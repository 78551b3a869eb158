// scenarios/kafka/dc_loss_scenario.cpp
// `dc-loss`: a multi-region cluster loses a whole datacenter (semantics.md G1-G4).
//
// Topology, the "2.5 DC" layout of G4 by default: dc1 and dc2 hold `sync_per_dc` +
// `observers_per_dc` brokers each, and every partition has that many sync replicas and
// observers in each of them (models/kafka/placement.h; preferred leaders alternate between
// the two). The controller, the quorum's tie-breaker, sits in dc3. The clients sit in a
// site of their own ("apps") so that losing either datacenter leaves them running: one
// producer per partition (acks=all; like a real producer's per-partition batches, a request
// stuck on a dead leader holds up only its own partition) and one consumer.
//
// Faults: one datacenter (dc1, dc2, or drawn) is lost at a moment drawn in
// [loss_at_min, loss_at_max]: every node there loses power, or the datacenter is cut off
// from the rest (drawn, or fixed by `loss_kind`). It comes back after a drawn time in
// [down_min, down_max] (log-uniform: blips as likely as long outages), or (returns=no, or the draw says so) only at the final heal. The
// plan is an ordinary fault plan: `faultline plan` prints it and --plan replays or edits it.
//
// What must hold: S1-S13 for every replica and observer (ReplicationChecker), S8 and L5 for
// observers (ObserverChecker); after the heal, convergence within `convergence_bound`: one
// leader per partition, ISR = all sync replicas with observers demoted, every replica and
// observer at the leader's LEO, every acknowledged record everywhere (L2, L5). The excuse
// budget counts power losses of sync replicas and promoted observers only, so the loss of
// `sync_per_dc` <= min ISR - 1 sync replicas is within it and nothing may be reported.
// Availability figures (time to the first acks=all write after the loss, to a full ISR
// after the return) are run metrics; the sweep summary shows their distribution.
#include <fmt/format.h>

#include "models/kafka/broker.h"
#include "models/kafka/marks.h"
#include "models/kafka/tier/tier_marks.h"
#include "scenarios/kafka/timeline_probe.h"
#include "scenarios/kafka/tier_run.h"
#include "models/kafka/clients.h"
#include "models/kafka/controller.h"
#include "models/kafka/placement.h"
#include "scenarios/kafka/checker.h"
#include "scenarios/kafka/observer_checker.h"
#include "scenarios/registry.h"
#include "sim/fault_control.h"

namespace faultline {

namespace {

using namespace kafka;

constexpr const char* kDcs[] = {"dc1", "dc2"};

// The loss as drawn from the seed, before it becomes fault plan events.
struct DcLoss {
  std::string dc;
  bool power = true;     // else isolation
  Duration at;           // since the start of the run
  Duration down;         // zero: until the final heal
};

// A duration in [lo, hi], log-uniform by octaves: first an octave [lo*2^k, lo*2^(k+1)) of
// the range, uniformly, then a point in it. Outages of a few seconds (a power blip: the
// datacenter is back before the controller has even fenced its brokers) are then as likely
// as minute-long ones, where a uniform draw would make them rare.
Duration draw_spread(Prng& prng, Duration lo, Duration hi) {
  uint64_t octaves = 1;
  for (Duration d = lo; d * 2 < hi && octaves < 40; d = d * 2) ++octaves;
  const uint64_t k = prng.below(octaves);
  const Duration a = lo * (int64_t{1} << k);
  return prng.uniform(a, std::min(hi, a * 2));
}

// Every value is drawn whatever the parameters say, so fixing one parameter never shifts
// the draws of the others.
DcLoss draw_loss(const Params& p, Prng prng) {
  DcLoss loss;
  const std::string drawn_dc = kDcs[prng.below(2)];
  const bool drawn_power = prng.chance(Ratio{1, 2});
  const bool drawn_returns = prng.chance(Ratio{1, 2});
  loss.at = prng.uniform(p.duration("loss_at_min"), p.duration("loss_at_max"));
  const Duration down = draw_spread(prng, p.duration("down_min"), p.duration("down_max"));
  loss.dc = p.choice("fail_dc") == "random" ? drawn_dc : p.choice("fail_dc");
  loss.power = p.choice("loss_kind") == "random" ? drawn_power : p.choice("loss_kind") == "power";
  const bool returns = p.choice("returns") == "random" ? drawn_returns : p.choice("returns") == "yes";
  loss.down = returns ? down : Duration::zero();
  return loss;
}

// Cross-parameter checks that Params cannot express; "" when the combination can run.
std::string check_params(const Params& p) {
  const int64_t sync = 2 * p.integer("sync_per_dc");
  const int64_t nodes = 2 * (p.integer("sync_per_dc") + p.integer("observers_per_dc")) + 2 + p.integer("partitions");
  if (p.integer("min.insync.replicas") > sync) {
    return fmt::format("min.insync.replicas ({}) exceeds the {} sync replicas of a partition",
                       p.integer("min.insync.replicas"), sync);
  }
  if (nodes > 64) return fmt::format("the topology needs {} nodes, at most 64 are possible", nodes);
  if (p.duration("loss_at_min") > p.duration("loss_at_max")) return "loss_at_min must not exceed loss_at_max";
  if (p.duration("down_min") > p.duration("down_max")) return "down_min must not exceed down_max";
  if (p.duration("loss_at_max") + p.duration("down_max") >= p.duration("duration")) {
    return fmt::format("loss_at_max + down_max ({}) must end before the fault phase (duration {})",
                       format_duration(p.duration("loss_at_max") + p.duration("down_max")),
                       format_duration(p.duration("duration")));
  }
  return {};
}

class DcLossScenario final : public Scenario {
 public:
  void run(RunContext& rc) override {
    Simulation& sim = rc.sim();
    const Params& p = rc.params();
    if (std::string bad = check_params(p); !bad.empty()) throw InputError{bad};
    ReplicationConfig cfg;
    cfg.min_insync_replicas = static_cast<int32_t>(p.integer("min.insync.replicas"));
    cfg.replica_lag_time_max = p.duration("replica.lag.time.max.ms");
    cfg.unclean_leader_election = p.flag("unclean.leader.election.enable");
    cfg.elr = p.flag("elr") && !rc.bugs().on(Bug::kLastReplicaStanding);
    if (p.flag("tiered")) {
      // The multi-region case of tiered storage (H with G): s3-outage's small segments, hotset
      // and retention, so that archiving, local deletion and remote retention happen all run.
      cfg.tiered = true;
      cfg.segment_bytes = 16 * 1024;
      cfg.hotset_bytes = 32 * 1024;
      cfg.retention_bytes = 256 * 1024;
      cfg.retention_check_interval = Duration::seconds(2);
    }
    const auto sync_per_dc = static_cast<uint32_t>(p.integer("sync_per_dc"));
    const auto observers_per_dc = static_cast<uint32_t>(p.integer("observers_per_dc"));
    const auto partitions = static_cast<PartitionId>(p.integer("partitions"));

    // Brokers b0.. in dc1, then dc2, one rack per datacenter.
    PlacementPolicy policy;
    policy.promotion = *promotion_policy_from_string(p.choice("promotion_policy"));
    std::vector<BrokerSite> sites;
    for (const char* dc : kDcs) {
      policy.dcs.push_back({dc, sync_per_dc, observers_per_dc});
      for (uint32_t i = 0; i < sync_per_dc + observers_per_dc; ++i) {
        sites.push_back({static_cast<BrokerId>(sites.size()), dc});
      }
    }
    std::string error;
    const auto placement = place(policy, sites, partitions, &error);
    if (!placement) throw InputError{error};
    std::map<NodeId, std::vector<PartitionId>> hosted;
    for (const PartitionState& st : *placement) {
      for (BrokerId b : st.replicas) hosted[b].push_back(st.partition);
      for (BrokerId b : st.observers) hosted[b].push_back(st.partition);
    }
    std::vector<NodeId> broker_ids;
    for (const BrokerSite& s : sites) broker_ids.push_back(s.broker);
    const auto ctl_id = static_cast<NodeId>(sites.size());
    base_ = std::make_unique<ReplicationChecker>(rc, cfg, broker_ids, ctl_id);
    observers_ = std::make_unique<ObserverChecker>(rc, *base_, cfg, ctl_id, p.duration("promotion_bound"));
    broker_hooks_ = base_->broker_hooks();
    controller_hooks_ = base_->controller_hooks();
    if (cfg.tiered) {
      tier_ = std::make_unique<TierRun>(rc, *base_, cfg, ctl_id);
      controller_hooks_.on_tier_event = [this](PartitionId part, const TierEvent& e, const TierState::Result& r,
                                               const TierState& after) { tier_->checker().on_tier_event(part, e, r, after); };
      broker_hooks_.on_local_deletion = [this, &sim, ctl_id](NodeId b, PartitionId part, int64_t from, int64_t to) {
        tier_->checker().on_local_deletion(sim.process_ptr<Controller>(ctl_id), b, part, from, to);
      };
      sim.coverage().declare(tier_mark_catalogue());
    }

    const BugSet& bugs = rc.bugs();
    for (const BrokerSite& s : sites) {
      BrokerConfig bc;
      bc.replication = cfg;
      bc.controller = ctl_id;
      bc.partitions = hosted[s.broker];
      sim.add_node({fmt::format("b{}", s.broker), s.dc, s.dc}, [this, bc, &bugs](NodeContext& ctx) {
        auto broker = std::make_shared<Broker>(ctx, bc, bugs, broker_hooks_);
        broker->start();
        return broker;
      });
    }
    ControllerConfig cc;
    cc.replication = cfg;
    cc.initial = *placement;
    cc.bug_any_replica_election = bugs.on(Bug::kAnyReplicaElection);
    cc.bug_last_replica_standing = bugs.on(Bug::kLastReplicaStanding);
    cc.bug_elect_fenced_last_known_leader = bugs.on(Bug::kElectFencedLastKnownLeader);
    sim.add_node({"ctl", "dc3"}, [this, cc, &bugs](NodeContext& ctx) {
      auto ctl = std::make_shared<Controller>(ctx, cc, bugs, controller_hooks_);
      ctl->start();
      return ctl;
    });
    ProducerConfig pc;
    pc.acks = -1;
    pc.interval = p.duration("produce_interval");
    pc.max_batch = static_cast<uint32_t>(p.integer("max_batch"));
    pc.request_timeout = p.duration("request.timeout.ms");
    pc.idempotence = p.flag("enable.idempotence");  // B6
    std::vector<PartitionId> all_partitions;
    for (PartitionId i = 0; i < partitions; ++i) {
      all_partitions.push_back(i);
      sim.add_node({fmt::format("producer-p{}", i), "apps"}, [this, pc, ctl_id, i, cfg](NodeContext& ctx) {
        auto prod = std::make_shared<Producer>(ctx, pc, ctl_id, std::vector<PartitionId>{i}, base_->producer_hooks(),
                                               cfg.metadata_poll_interval);
        prod->start();
        return prod;
      });
    }
    sim.add_node({"consumer", "apps"}, [this, ctl_id, all_partitions, cfg](NodeContext& ctx) {
      auto cons = std::make_shared<Consumer>(ctx, ctl_id, all_partitions, base_->consumer_hooks(),
                                             cfg.metadata_poll_interval);
      cons->start();
      return cons;
    });
    sim.coverage().declare(mark_catalogue());
    rc.set_counter_probe(replica_counters(sim, broker_ids, partitions));  // for a timeline
    for (NodeId n = 0; n < sim.node_count(); ++n) sim.start(n);
    if (tier_) {
      // The late reader, from offset 0 halfway through the fault phase (H5, S16, L4), in the
      // applications' site like the other clients.
      tier_->add_reader(sim, ctl_id, all_partitions, cfg.metadata_poll_interval,
                        Instant::zero() + p.duration("duration") / 2, "apps");
    }

    // The loss, as a fault plan (or the one given with --plan).
    const Duration fault_window = p.duration("duration");
    const DcLoss loss = draw_loss(p, Prng(sim.seed(), "dc-loss"));
    FaultPlan drawn;
    if (loss.power) {
      for (const BrokerSite& s : sites) {
        if (s.dc != loss.dc) continue;
        FaultEvent e;
        e.at = loss.at;
        e.kind = FaultKind::kPowerLoss;
        e.duration = loss.down;
        e.a = {sim.spec(s.broker).name};
        drawn.events.push_back(e);
      }
    } else {
      FaultEvent e;
      e.at = loss.at;
      e.kind = FaultKind::kIsolateDc;
      e.duration = loss.down;
      e.dc = loss.dc;
      drawn.events.push_back(e);
    }
    if (tier_) {
      // The object store has a bad day of its own around the loss (I2): 503 and 500 bursts,
      // slow answers, ambiguous timeouts and outages, from a stream of their own.
      const FaultPlan s3 = TierRun::draw_object_store_faults(sim.topology(), sim.seed(), Duration::seconds(5),
                                                            fault_window, 4);
      drawn.events.insert(drawn.events.end(), s3.events.begin(), s3.events.end());
      drawn.sort();
    }
    FaultControl faults(sim);
    // Power losses count toward the excuse budget, charged to the node hit, right before it
    // goes down (so the checker still sees its logs).
    faults.set_crash_listener([this](NodeId node, CrashKind kind) {
      if (kind == CrashKind::kPowerLoss) base_->note_power_loss_except_observers(node);
    });
    const FaultPlan plan = rc.fault_plan(sim.topology(), std::move(drawn));
    sim.note("dc-loss", {{"dc", loss.dc}, {"kind", loss.power ? "power" : "isolate"}, {"at", loss.at},
                         {"down", loss.down}, {"policy", p.choice("promotion_policy")}});
    schedule_checker_clocks(sim, plan, fault_window);
    faults.schedule(plan);
    if (tier_) tier_->note_outages(plan, fault_window);
    for (Instant t = sim.now();;) {
      t = std::min(t + Duration::millis(500), Instant::zero() + fault_window);
      if (!rc.run_until(t)) return;
      observers_->sample();
      if (t >= Instant::zero() + fault_window) break;
    }

    faults.heal_all();
    const Instant healed_at = sim.now();
    base_->healed(healed_at);
    observers_->dc_returned(healed_at);
    const bool converged = rc.await_convergence(p.duration("convergence_bound"), Duration::millis(500),
                                                [&]() -> RunContext::Pending {
                                                  if (auto o = observers_->unconverged()) return o;
                                                  if (auto b = base_->unconverged()) return b;
                                                  return observers_->observers_behind();
                                                });
    if (converged) observers_->verify_acked_everywhere();
    if (converged && tier_) {
      // Quiescence for S18 and L4, as in s3-outage.
      if (!tier_->await_quiescence(sim)) return;
    }
    if (converged && p.choice("promotion_policy") != "none") {
      // Fencing the lost brokers, then a request to a lost leader timing out, then metadata
      // and a retry; 2s for the AlterPartition and the fetches that commit the write.
      const ProducerConfig defaults;
      observers_->check_write_availability(cfg.broker_session_timeout + p.duration("request.timeout.ms") +
                                           Duration::seconds(1) + cfg.metadata_poll_interval + defaults.retry_backoff +
                                           Duration::seconds(2));
    }
    base_->report_metrics();
    rc.metric("faults_applied", static_cast<int64_t>(faults.applied()));
    observers_->report_metrics();
  }

 private:
  // The checkers' view of the plan: the loss starts at the last event's start (the nemesis
  // strikes a whole datacenter at one moment, so that is its moment; a plan of staggered
  // faults, from faultline fuzz or an edited plan, interrupts writes again with each one,
  // and the availability bound (G4, L5) counts from the last: counting from the first made
  // two power losses 5 s apart a false L5, found by faultline fuzz of dc-loss) and ends
  // when the last window closes (or at the final heal if a window lasts until then).
  // Object-store faults are not the loss: they are skipped.
  void schedule_checker_clocks(Simulation& sim, const FaultPlan& plan, Duration fault_window) {
    std::vector<FaultEvent> loss;
    for (const FaultEvent& e : plan.events) {
      if (!is_object_store_fault(e.kind)) loss.push_back(e);
    }
    if (loss.empty()) return;
    Duration start = loss.front().at;
    Duration last = Duration::zero();
    bool until_heal = false;
    for (const FaultEvent& e : loss) {
      start = std::max(start, e.at);
      if (e.duration == Duration::zero()) until_heal = true;
      last = std::max(last, e.at + e.duration);
    }
    sim.scheduler().at(Instant::zero() + start, [this, &sim] { observers_->dc_lost(sim.now()); });
    if (!until_heal && last < fault_window) {
      sim.scheduler().at(Instant::zero() + last, [this, &sim] { observers_->dc_returned(sim.now()); });
    }
  }

  std::unique_ptr<ReplicationChecker> base_;
  std::unique_ptr<TierRun> tier_;
  BrokerHooks broker_hooks_;
  ControllerHooks controller_hooks_;
  std::unique_ptr<ObserverChecker> observers_;
};

// Duration parameters stop at one day: the checks add two of them, far from overflow.
constexpr int64_t kMaxDuration = kMaxDurationParam;

std::vector<ParamSpec> dc_loss_params() {
  return {
      {"sync_per_dc", ParamType::kInt, "2", "sync replicas of every partition in each of dc1 and dc2", 1, 8, {}},
      {"observers_per_dc", ParamType::kInt, "1", "observers of every partition in each of dc1 and dc2", 0, 8, {}},
      {"partitions", ParamType::kInt, "3", "number of partitions (one producer each)", 1, 16, {}},
      {"min.insync.replicas", ParamType::kInt, "3", "min.insync.replicas (at most the sync replicas)", 1, 16, {}},
      {"promotion_policy", ParamType::kChoice, "under-min-isr", "observer promotion policy (G2); none disables it", 0, 0,
       promotion_policy_names()},
      {"fail_dc", ParamType::kChoice, "random", "the datacenter that is lost (random: drawn from the seed)", 0, 0,
       {"dc1", "dc2", "random"}},
      {"loss_kind", ParamType::kChoice, "random",
       "power: every node there loses power; isolate: the datacenter is cut off; random: drawn", 0, 0,
       {"power", "isolate", "random"}},
      {"returns", ParamType::kChoice, "random",
       "whether the datacenter returns during the fault phase (no: only at the final heal; random: drawn)", 0, 0,
       {"yes", "no", "random"}},
      {"loss_at_min", ParamType::kDuration, "10s", "earliest moment of the loss", 1'000'000, kMaxDuration, {}},
      {"loss_at_max", ParamType::kDuration, "40s", "latest moment of the loss", 1'000'000, kMaxDuration, {}},
      {"down_min", ParamType::kDuration, "2s", "shortest time the datacenter stays lost when it returns", 1'000'000,
       kMaxDuration, {}},
      {"down_max", ParamType::kDuration, "60s", "longest time the datacenter stays lost when it returns", 1'000'000,
       kMaxDuration, {}},
      {"duration", ParamType::kDuration, "120s", "length of the fault phase; everything heals at its end",
       5'000'000'000, kMaxDuration, {}},
      {"replica.lag.time.max.ms", ParamType::kDuration, "10s", "replica.lag.time.max.ms (D1)", 1'000'000, kMaxDuration, {}},
      {"unclean.leader.election.enable", ParamType::kBool, "false", "allow unclean leader election (E1)", 0, 1, {}},
      {"elr", ParamType::kBool, "true", "eligible leader replicas, KIP-966 (D4)", 0, 1, {}},
      {"request.timeout.ms", ParamType::kDuration, "30s", "the producer's request.timeout.ms", 1'000'000, kMaxDuration, {}},
      {"produce_interval", ParamType::kDuration, "50ms", "time between one producer's requests", 1'000'000, kMaxDuration,
       {}},
      {"max_batch", ParamType::kInt, "4", "records per produce request: 1..max_batch", 1, 1000, {}},
      {"enable.idempotence", ParamType::kBool, "true",
       "idempotent producer (B6): producer id, epoch and sequences for every partition's batches", 0, 1, {}},
      {"tiered", ParamType::kBool, "false",
       "tiered storage (H) with s3-outage's 16-record segments, 32 KiB hotset and 256 KiB retention", 0, 1, {}},
      {"promotion_bound", ParamType::kDuration, "10s",
       "L5: longest a caught-up observer waits for promotion, or a promoted one for demotion", 1'000'000, kMaxDuration, {}},
      {"convergence_bound", ParamType::kDuration, "60s", "time allowed to converge after the heal", 0, kMaxDuration, {}},
  };
}

}  // namespace

ScenarioInfo dc_loss_scenario_info() {
  return ScenarioInfo{
      "dc-loss",
      "The 2.5 DC layout (G4): dc1 and dc2 with two sync replicas and one observer of every partition each, min ISR "
      "3, the controller as tie-breaker in dc3, producers (acks=all) and a consumer in a client site; a whole "
      "datacenter loses power or is cut off at a random moment for a random time. Observers are promoted under min "
      "ISR (G2) and demoted when it returns (G3); checks S1-S13, S8, L5 and convergence, and measures the time to "
      "the first write after the loss.",
      dc_loss_params(),
      // The table's S1 / S6; S8 is the precursor this checker sees when the promoted
      // observer's log is already past the true HW but not yet at the leader's LESO.
      // A returning datacenter's replicas catch up toward a leader elected while they were
      // gone, whose HW may trail its LESO: KAFKA-7128's lagging-HW expansion.
      {{Bug::kIsrJoinWithoutLeso, {"S1", "S6", "D2"}},
       {Bug::kPromoteLaggingObserver, {"S1", "S6", "S8", "D2"}}},
      [] { return std::make_unique<DcLossScenario>(); },
  };
}

}  // namespace faultline
