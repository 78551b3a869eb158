// The world around the models: nodes, crash and restart, and the message network.
#include <gtest/gtest.h>

#include <vector>

#include "sim/simulation.h"

namespace faultline {
namespace {

using namespace literals;

struct Recorder {
  std::vector<int> got;
  int boots = 0;
};

// A process that records every int message it receives.
Simulation::BootFn recording_process(Recorder& r) {
  return [&r](NodeContext& ctx) {
    ++r.boots;
    ctx.spawn("rx", [&ctx, &r] {
      for (;;) {
        auto env = ctx.inbox().recv();
        r.got.push_back(*env->body.get<int>());
      }
    });
    return std::shared_ptr<void>();
  };
}

Simulation::BootFn idle_process() {
  return [](NodeContext&) { return std::shared_ptr<void>(); };
}

TEST(Network, PerConnectionFifoDespiteRandomLatency) {
  Simulation sim(1);
  Recorder r;
  const NodeId a = sim.add_node({"a", "dc1"}, idle_process());
  const NodeId b = sim.add_node({"b", "dc2"}, recording_process(r));
  sim.start(a);
  sim.start(b);
  for (int i = 0; i < 200; ++i) {
    sim.scheduler().at(Instant::zero() + Duration::micros(10 * i), [&sim, a, b, i] { sim.node(a).send(b, i); });
  }
  sim.scheduler().run_until(Instant::zero() + 1_s);
  ASSERT_EQ(r.got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(r.got[i], i);
}

TEST(Network, CrossDatacenterIsSlowerThanSameDatacenter) {
  Simulation sim(2);
  Recorder near_r, far_r;
  const NodeId a = sim.add_node({"a", "dc1"}, idle_process());
  const NodeId near = sim.add_node({"near", "dc1"}, recording_process(near_r));
  const NodeId far = sim.add_node({"far", "dc2"}, recording_process(far_r));
  for (NodeId n : {a, near, far}) sim.start(n);
  sim.scheduler().at(Instant::zero(), [&] {
    sim.node(a).send(near, 1);
    sim.node(a).send(far, 1);
  });
  sim.scheduler().run_until(Instant::zero() + 2_ms);
  EXPECT_EQ(near_r.got.size(), 1u);  // ~0.2 ms
  EXPECT_EQ(far_r.got.size(), 0u);   // >= 8 ms
  sim.scheduler().run_until(Instant::zero() + 100_ms);
  EXPECT_EQ(far_r.got.size(), 1u);
}

TEST(Network, MessagesInFlightToACrashedNodeAreDropped) {
  Simulation sim(3);
  Recorder r;
  const NodeId a = sim.add_node({"a", "dc1"}, idle_process());
  const NodeId b = sim.add_node({"b", "dc2"}, recording_process(r));
  sim.start(a);
  sim.start(b);
  sim.scheduler().at(Instant::zero() + 1_ms, [&] { sim.node(a).send(b, 1); });  // in flight ~8 ms
  sim.scheduler().at(Instant::zero() + 3_ms, [&] { sim.crash(b); });
  sim.scheduler().at(Instant::zero() + 5_ms, [&] { sim.restart(b); });  // back before it would arrive
  sim.scheduler().at(Instant::zero() + 20_ms, [&] { sim.node(a).send(b, 2); });
  sim.scheduler().run_until(Instant::zero() + 1_s);
  EXPECT_EQ(r.got, (std::vector<int>{2}));  // the old connection died with the old process
  EXPECT_EQ(r.boots, 2);
  EXPECT_EQ(sim.network().dropped(), 1u);
  EXPECT_EQ(sim.node(b).incarnation(), 1u);
}

TEST(SimulationNodes, CrashUnwindsTheProcessAndDropsItsState) {
  Simulation sim(4);
  auto destroyed = std::make_shared<int>(0);
  struct State {
    explicit State(std::shared_ptr<int> d) : destroyed(std::move(d)) {}
    ~State() { ++*destroyed; }
    std::shared_ptr<int> destroyed;
  };
  const NodeId n = sim.add_node({"n"}, [destroyed](NodeContext& ctx) {
    auto st = std::make_shared<State>(destroyed);
    ctx.spawn("loop", [&ctx, st] {
      for (;;) ctx.sleep_for(1_ms);
    });
    return std::static_pointer_cast<void>(st);
  });
  sim.start(n);
  sim.scheduler().run_until(Instant::zero() + 10_ms);
  EXPECT_EQ(sim.scheduler().live_fibers(n), 1u);
  EXPECT_NE(sim.process<State>(n), nullptr);
  sim.crash(n);
  EXPECT_EQ(sim.scheduler().live_fibers(n), 0u);
  EXPECT_EQ(sim.process<State>(n), nullptr);
  EXPECT_EQ(*destroyed, 1);
  EXPECT_FALSE(sim.is_up(n));
}

TEST(SimulationNodes, NodeStreamsDependOnNameNotOrderOfCreation) {
  Simulation s1(9), s2(9);
  const NodeId x1 = s1.add_node({"x"}, idle_process());
  s2.add_node({"other"}, idle_process());
  const NodeId x2 = s2.add_node({"x"}, idle_process());
  EXPECT_EQ(s1.node(x1).prng().next(), s2.node(x2).prng().next());
}

}  // namespace
}  // namespace faultline
