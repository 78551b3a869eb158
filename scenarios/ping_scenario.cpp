// scenarios/ping_scenario.cpp
// `ping`: the sample scenario. Nodes spread over datacenters ping each other while random
// nodes crash and restart; then everything heals and every node must hear from every peer.
//
// Invariants (ghost state kept here, fed by PingHooks):
//   P1 per-connection order: pings from one sender incarnation arrive in increasing seq.
//   P2 no phantoms: nobody receives a ping its sender has not sent.
//   P3 (liveness) after the heal, every node gets a pong from every peer within the bound.
#include <fmt/format.h>

#include <map>
#include <tuple>

#include "models/ping/ping.h"
#include "scenarios/registry.h"

namespace faultline {

namespace {

class PingScenario final : public Scenario {
 public:
  void run(RunContext& rc) override {
    Simulation& sim = rc.sim();
    const Params& p = rc.params();
    const auto nodes = static_cast<NodeId>(p.integer("nodes"));
    const int64_t dcs = p.integer("dcs");

    hooks_.on_ping_sent = [this](NodeId from, uint64_t inc, uint64_t seq) { sent_[{from, inc}] = seq; };
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

    // Fault phase: crashes at random times, each followed by a restart.
    const Duration fault_window = p.duration("duration");
    const Duration restart_max = p.duration("restart_delay_max");
    for (int64_t k = 0; k < p.integer("crashes"); ++k) {
      const Instant when = Instant::zero() + sim.prng().uniform(Duration::seconds(1), fault_window);
      const auto victim = static_cast<NodeId>(sim.prng().below(nodes));
      const Duration down_for = sim.prng().uniform(Duration::millis(100), restart_max);
      sim.scheduler().at(when, [&sim, victim, down_for] {
        if (!sim.is_up(victim)) return;  // overlapping crash of a node already down
        sim.crash(victim, "fault");
        sim.scheduler().after(down_for, [&sim, victim] {
          if (!sim.is_up(victim)) sim.restart(victim);
        });
      });
    }
    if (!rc.run_until(Instant::zero() + fault_window)) return;

    // Heal: everyone up, then require convergence.
    sim.note("heal");
    for (NodeId i = 0; i < nodes; ++i) {
      if (!sim.is_up(i)) sim.restart(i);
    }
    const Instant healed_at = sim.now();
    rc.await_convergence(p.duration("convergence_bound"), Duration::millis(100), "P3",
                         "every node hears a pong from every peer after the heal", [&] {
                           for (NodeId a = 0; a < nodes; ++a) {
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
  }

 private:
  PingHooks hooks_;
  std::map<std::pair<NodeId, uint64_t>, uint64_t> sent_;
  std::map<std::tuple<NodeId, NodeId, uint64_t>, uint64_t> last_seq_;
  std::map<std::pair<NodeId, NodeId>, Instant> last_pong_;
  uint64_t pings_received_ = 0;
};

}  // namespace

ScenarioInfo ping_scenario_info() {
  return ScenarioInfo{
      "ping",
      "Sample: nodes across datacenters ping each other while random nodes crash and restart; "
      "checks per-connection order (P1), no phantom messages (P2) and recovery after the heal (P3).",
      {
          {"nodes", ParamType::kInt, "3", "number of nodes", 2, 64, {}},
          {"dcs", ParamType::kInt, "2", "datacenters the nodes are spread over, round robin", 1, 8, {}},
          {"interval", ParamType::kDuration, "100ms", "time between rounds of pings (at least 1ms)", 1'000'000, INT64_MAX, {}},
          {"duration", ParamType::kDuration, "20s", "length of the fault phase", 0, INT64_MAX, {}},
          {"crashes", ParamType::kInt, "3", "crashes drawn in the fault phase", 0, 1000, {}},
          {"restart_delay_max", ParamType::kDuration, "2s", "longest a crashed node stays down", 0, INT64_MAX, {}},
          {"convergence_bound", ParamType::kDuration, "5s", "time allowed to converge after the heal", 0, INT64_MAX, {}},
      },
      {{Bug::kPingUnorderedSend, {"P1"}}},
      [] { return std::make_unique<PingScenario>(); },
  };
}

}  // namespace faultline
