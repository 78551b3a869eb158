// scenarios/ping_scenario.cpp
// `ping`: the sample scenario. Nodes spread over datacenters ping each other, keep a durable
// count of their rounds and upload it to the object store, while a swarm nemesis throws every
// fault kind at them (crashes, power losses, partitions, DC isolation, dropped connections,
// link delays, disk stalls and slowness, object-store errors, latency, outages and ambiguous
// timeouts). Then everything heals and the cluster must recover.
//
// Invariants (ghost state kept here, fed by PingHooks):
//   P1 per-connection order: pings from one sender incarnation arrive in increasing seq.
//   P2 no phantoms: nobody receives a ping its sender has not sent.
//   P4 durability: a node recovers at least the last round it fsynced (F1-F3); after a
//      process kill (page cache survives) it recovers exactly the last round it appended.
//   P5 read-after-write: an acknowledged PUT reads back with the same bytes (I1).
//   P3 (liveness) after the heal, every node gets a pong from every peer, and uploads again,
//      within the bound.
#include <fmt/format.h>

#include <map>
#include <tuple>

#include "models/ping/ping.h"
#include "scenarios/registry.h"
#include "sim/fault_control.h"

namespace faultline {

namespace {

class PingScenario final : public Scenario {
 public:
  void run(RunContext& rc) override {
    Simulation& sim = rc.sim();
    const Params& p = rc.params();
    const auto nodes = static_cast<NodeId>(p.integer("nodes"));
    const int64_t dcs = p.integer("dcs");
    install_checkers(rc);

    for (NodeId i = 0; i < nodes; ++i) {
      PingConfig config;
      config.interval = p.duration("interval");
      for (NodeId j = 0; j < nodes; ++j) {
        if (j != i) config.peers.push_back(j);
      }
      const BugSet& bugs = rc.bugs();
      sim.add_node({fmt::format("n{}", i), fmt::format("dc{}", i % dcs + 1)},
                   [this, config, &bugs](NodeContext& ctx) {
                     auto node = std::make_shared<PingNode>(ctx, config, bugs, hooks_);
                     node->start();
                     return node;
                   });
    }
    for (NodeId i = 0; i < nodes; ++i) sim.start(i);

    // Fault phase: the plan given with --plan, or the nemesis's draw for this seed.
    const Duration fault_window = p.duration("duration");
    NemesisOptions nemesis;
    nemesis.start = Duration::seconds(1);
    nemesis.end = fault_window;
    nemesis.max_faults = static_cast<uint32_t>(p.integer("faults"));
    nemesis.max_power_losses = static_cast<uint32_t>(p.integer("power_losses"));
    nemesis.swarm = p.flag("swarm");
    // Every kind but the two that need a model with a controlled shutdown and a checker
    // that knows a disk can come back empty (restart, disk-replace).
    nemesis.kinds = all_fault_kinds();
    std::erase_if(nemesis.kinds, [](FaultKind k) { return k == FaultKind::kRestart || k == FaultKind::kDiskReplace; });
    for (NodeId i = 0; i < nodes; ++i) nemesis.crashable.push_back(sim.spec(i).name);
    FaultControl faults(sim);
    faults.schedule(rc.fault_plan(sim.topology(), nemesis));
    if (!rc.run_until(Instant::zero() + fault_window)) return;

    // Heal: every fault ends, every node is up; then require convergence.
    faults.heal_all();
    const Instant healed_at = sim.now();
    rc.await_convergence(p.duration("convergence_bound"), Duration::millis(100), "P3",
                         "every node hears a pong from every peer and uploads again after the heal", [&] {
                           for (NodeId a = 0; a < nodes; ++a) {
                             auto up = last_upload_.find(a);
                             if (up == last_upload_.end() || up->second < healed_at) return false;
                             for (NodeId b = 0; b < nodes; ++b) {
                               if (a == b) continue;
                               auto it = last_pong_.find({a, b});
                               if (it == last_pong_.end() || it->second < healed_at) return false;
                             }
                           }
                           return true;
                         });
    rc.metric("pings_received", static_cast<int64_t>(pings_received_));
    rc.metric("messages_dropped", static_cast<int64_t>(sim.network().dropped()));
    rc.metric("faults_applied", static_cast<int64_t>(faults.applied()));
    rc.metric("recoveries", static_cast<int64_t>(recoveries_));
    rc.metric("uploads", static_cast<int64_t>(uploads_));
  }

 private:
  void install_checkers(RunContext& rc) {
    Simulation& sim = rc.sim();
    hooks_.on_round = [this](NodeId from, uint64_t inc, uint64_t seq) {
      sent_[{from, inc}] = seq;
      appended_[from] = seq;
    };
    hooks_.on_ping = [this, &rc](NodeId to, NodeId from, uint64_t inc, uint64_t seq) {
      ++pings_received_;
      uint64_t& last = last_seq_[{to, from, inc}];
      if (seq <= last) {
        rc.violation("P1", InvariantKind::kSafety,
                     fmt::format("{} got ping {} from {} (incarnation {}) after ping {}", rc.sim().trace().node_name(to),
                                 seq, rc.sim().trace().node_name(from), inc, last));
      }
      last = seq;
      auto it = sent_.find({from, inc});
      if (it == sent_.end() || it->second < seq) {
        rc.violation("P2", InvariantKind::kSafety, fmt::format("ping {} received but never sent", seq));
      }
    };
    hooks_.on_pong = [this, &sim](NodeId to, NodeId from, uint64_t) { last_pong_[{to, from}] = sim.now(); };
    hooks_.on_fsynced = [this](NodeId node, uint64_t seq) { fsynced_[node] = std::max(fsynced_[node], seq); };
    hooks_.on_recovered = [this, &rc, &sim](NodeId node, uint64_t seq) {
      ++recoveries_;
      const std::string& name = sim.trace().node_name(node);
      if (seq < fsynced_[node]) {
        rc.violation("P4", InvariantKind::kSafety,
                     fmt::format("{} recovered round {} but had fsynced round {}", name, seq, fsynced_[node]));
      }
      // The disk's ground truth tells which crash preceded this boot: after a kill nothing
      // in the page cache may be lost.
      if (last_crash_was_kill(sim, node) && seq != appended_[node]) {
        rc.violation("P4", InvariantKind::kSafety,
                     fmt::format("{} recovered round {} after a process kill, but had appended round {}", name, seq,
                                 appended_[node]));
      }
      appended_[node] = seq;
      fsynced_[node] = std::min(fsynced_[node], seq);
    };
    hooks_.on_uploaded = [this, &rc, &sim](NodeId node, const std::string& key, const std::string& value,
                                           const std::string& read_back) {
      ++uploads_;
      last_upload_[node] = sim.now();
      if (!read_back.empty() && read_back != value) {
        rc.violation("P5", InvariantKind::kSafety,
                     fmt::format("PUT {} = '{}' acknowledged, then GET returned '{}'", key, value, read_back));
      }
    };
  }

  // Whether the node's most recent crash was a process kill. Read from the trace of crash
  // kinds the simulation keeps per node.
  static bool last_crash_was_kill(Simulation& sim, NodeId node) {
    return sim.last_crash(node) == std::optional<CrashKind>(CrashKind::kKill);
  }

  PingHooks hooks_;
  std::map<std::pair<NodeId, uint64_t>, uint64_t> sent_;
  std::map<std::tuple<NodeId, NodeId, uint64_t>, uint64_t> last_seq_;
  std::map<std::pair<NodeId, NodeId>, Instant> last_pong_;
  std::map<NodeId, Instant> last_upload_;
  std::map<NodeId, uint64_t> appended_;
  std::map<NodeId, uint64_t> fsynced_;
  uint64_t pings_received_ = 0;
  uint64_t recoveries_ = 0;
  uint64_t uploads_ = 0;
};

}  // namespace

ScenarioInfo ping_scenario_info() {
  return ScenarioInfo{
      "ping",
      "Sample: nodes across datacenters ping each other, log rounds to disk and upload them to the object store "
      "while a swarm nemesis injects every fault kind; checks order (P1), no phantoms (P2), durability (P4), "
      "read-after-write (P5) and recovery after the heal (P3).",
      {
          {"nodes", ParamType::kInt, "3", "number of nodes", 2, 64, {}},
          {"dcs", ParamType::kInt, "2", "datacenters the nodes are spread over, round robin", 1, 8, {}},
          {"interval", ParamType::kDuration, "100ms", "time between rounds of pings (at least 1ms)", 1'000'000, kMaxDurationParam, {}},
          {"duration", ParamType::kDuration, "20s", "length of the fault phase (at least 2s)", 2'000'000'000, kMaxDurationParam, {}},
          {"faults", ParamType::kInt, "8", "fault budget: most faults the nemesis draws", 0, 1000, {}},
          {"power_losses", ParamType::kInt, "2", "most power losses the nemesis draws", 0, 1000, {}},
          {"swarm", ParamType::kBool, "true", "swarm testing: each seed picks which fault kinds are on", 0, 1, {}},
          {"convergence_bound", ParamType::kDuration, "30s", "time allowed to converge after the heal", 0, kMaxDurationParam, {}},
      },
      {{Bug::kPingUnorderedSend, {"P1"}}},
      [] { return std::make_unique<PingScenario>(); },
  };
}

}  // namespace faultline
