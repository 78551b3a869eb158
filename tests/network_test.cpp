// The network's fault behaviour and RPC (sim/network.h): partitions block then heal, DC
// isolation, one-way partitions, dropped connections, link delays, and what a caller sees.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/fault_control.h"
#include "sim/simulation.h"

namespace faultline {
namespace {

using namespace literals;

// A cluster of `n` echo servers: each serves "echo" (returns the request + its name) and
// records one-way messages.
struct EchoCluster {
  explicit EchoCluster(std::vector<NodeSpec> specs, uint64_t seed = 1) : sim(seed), faults(sim) {
    for (auto& spec : specs) {
      sim.add_node(spec, [this](NodeContext& ctx) {
        ctx.serve<std::string, std::string>("echo", [&ctx](NodeId, std::string req) { return req + "@" + ctx.name(); });
        ctx.serve<int, int>("slow", [&ctx](NodeId, int ms) {
          ctx.sleep_for(Duration::millis(ms));
          return ms;
        });
        ctx.spawn("rx", [this, &ctx] {
          for (;;) received[ctx.id()].push_back(*ctx.inbox().recv()->body.get<int>());
        });
        return std::shared_ptr<void>();
      });
    }
    for (NodeId i = 0; i < sim.node_count(); ++i) sim.start(i);
  }

  // Runs an RPC from `from` to `to` in a fiber of `from`; returns its status after `wait`.
  RpcResult<std::string> call(NodeId from, NodeId to, Duration timeout = 1_s, Duration wait = 2_s) {
    RpcResult<std::string> out;
    out.status = RpcStatus::kTimeout;
    bool done = false;
    sim.node(from).spawn("caller", [&, from, to, timeout] {
      out = sim.node(from).call<std::string>(to, "echo", std::string("hi"), timeout);
      done = true;
    });
    sim.scheduler().run_for(wait);
    EXPECT_TRUE(done);
    return out;
  }

  Simulation sim;
  FaultControl faults;
  std::map<NodeId, std::vector<int>> received;
};

std::vector<NodeSpec> two_dcs() { return {{"a", "dc1"}, {"b", "dc1"}, {"c", "dc2"}, {"d", "dc2"}}; }

TEST(NetworkFaults, PartitionBlocksThenHeals) {
  EchoCluster t(two_dcs());
  EXPECT_EQ(t.call(0, 1).value, "hi@b");
  const uint64_t rule = t.sim.network().partition({0}, {1}, /*one_way=*/false);
  EXPECT_EQ(t.call(0, 1).status, RpcStatus::kTimeout);
  EXPECT_EQ(t.call(1, 0).status, RpcStatus::kTimeout);
  EXPECT_EQ(t.call(0, 2).value, "hi@c");  // other links unaffected
  t.sim.network().heal(rule);
  EXPECT_EQ(t.call(0, 1).value, "hi@b");
}

TEST(NetworkFaults, OneWayPartitionBlocksOneDirectionOnly) {
  EchoCluster t(two_dcs());
  t.sim.network().partition({0}, {1}, /*one_way=*/true);
  // Messages a -> b are lost, b -> a arrive; an RPC needs both ways, so it times out.
  t.sim.scheduler().at(t.sim.now(), [&] {
    t.sim.node(0).send(1, 1);
    t.sim.node(1).send(0, 2);
  });
  t.sim.scheduler().run_for(100_ms);
  EXPECT_TRUE(t.received[1].empty());
  EXPECT_EQ(t.received[0], (std::vector<int>{2}));
  EXPECT_EQ(t.call(1, 0).status, RpcStatus::kTimeout);
}

TEST(NetworkFaults, IsolatedDatacenterTalksOnlyToItself) {
  EchoCluster t(two_dcs());
  FaultEvent e;
  e.kind = FaultKind::kIsolateDc;
  e.dc = "dc1";
  e.duration = 20_s;
  t.faults.apply(e);
  EXPECT_EQ(t.call(0, 1).value, "hi@b");                     // inside dc1
  EXPECT_EQ(t.call(2, 3).value, "hi@d");                     // inside dc2
  EXPECT_EQ(t.call(0, 2).status, RpcStatus::kTimeout);       // across
  EXPECT_EQ(t.call(3, 1).status, RpcStatus::kTimeout);
  t.sim.scheduler().run_for(20_s);                           // the window ends
  EXPECT_EQ(t.call(0, 2).value, "hi@c");
}

TEST(NetworkFaults, KilledServerResetsConnectionsPowerLostServerIsSilent) {
  EchoCluster t(two_dcs());
  t.sim.crash(1, CrashKind::kKill);
  EXPECT_EQ(t.call(0, 1, 1_s).status, RpcStatus::kDisconnected);
  t.sim.restart(1);
  t.sim.crash(1, CrashKind::kPowerLoss);
  EXPECT_EQ(t.call(0, 1, 1_s).status, RpcStatus::kTimeout);
}

TEST(NetworkFaults, DroppedConnectionFailsCallsInFlight) {
  EchoCluster t(two_dcs());
  RpcResult<int> r;
  Instant finished;
  t.sim.node(0).spawn("caller", [&] {
    r = t.sim.node(0).call<int>(2, "slow", 500, 5_s);
    finished = t.sim.now();
  });
  t.sim.scheduler().run_for(100_ms);
  const Instant dropped_at = t.sim.now();
  t.sim.network().drop_connections({0}, {2});
  t.sim.scheduler().run_for(2_s);
  EXPECT_EQ(r.status, RpcStatus::kDisconnected);
  EXPECT_EQ(finished, dropped_at);
  EXPECT_EQ(t.call(0, 2).value, "hi@c");  // new connections work
}

TEST(NetworkFaults, LinkDelayAddsLatencyUntilHealed) {
  EchoCluster t(two_dcs());
  auto rtt = [&] {
    Instant start, end;
    t.sim.node(0).spawn("caller", [&] {
      start = t.sim.now();
      t.sim.node(0).call<std::string>(1, "echo", std::string("x"), 10_s);
      end = t.sim.now();
    });
    t.sim.scheduler().run_for(5_s);
    return end - start;
  };
  EXPECT_LT(rtt(), 5_ms);
  const uint64_t rule = t.sim.network().add_delay({0}, {1}, 200_ms, 0_ms);
  EXPECT_GE(rtt(), 400_ms);
  t.sim.network().heal(rule);
  EXPECT_LT(rtt(), 5_ms);
}

TEST(NetworkFaults, CallerTimesOutOnASlowHandler) {
  EchoCluster t(two_dcs());
  RpcResult<int> r;
  t.sim.node(0).spawn("caller", [&] { r = t.sim.node(0).call<int>(1, "slow", 2000, 1_s); });
  t.sim.scheduler().run_for(3_s);
  EXPECT_EQ(r.status, RpcStatus::kTimeout);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

using namespace literals;

// A crash aimed at a future role (fault_plan.h, Topology::roles) waits for the scenario to
// report who took the role, strikes its delay later, and heals after its window.
TEST(FaultControlRoles, FutureRoleStrikesItsDelayAfterTheTakeover) {
  EchoCluster t(two_dcs());
  std::function<void(NodeId)> taken;
  t.faults.set_watcher([&](const std::string& role, std::function<void(NodeId)> cb) {
    if (role != "next-leader:p0") return false;
    taken = std::move(cb);
    return true;
  });
  std::vector<NodeId> crashed;
  t.faults.set_crash_listener([&](NodeId n, CrashKind) { crashed.push_back(n); });
  std::string error;
  const auto plan = FaultPlan::parse("0s kill node=next-leader:p0 delay=300ms for=1s", &error);
  ASSERT_TRUE(plan) << error;
  t.faults.apply(plan->events.at(0));
  ASSERT_TRUE(taken);                 // armed, nobody struck yet
  t.sim.scheduler().run_for(2_s);     // no takeover: nothing happens
  EXPECT_TRUE(t.sim.is_up(2));
  taken(2);                           // node c takes the role now
  t.sim.scheduler().run_for(299_ms);
  EXPECT_TRUE(t.sim.is_up(2));
  t.sim.scheduler().run_for(2_ms);
  EXPECT_FALSE(t.sim.is_up(2));       // struck 300ms after the takeover
  EXPECT_EQ(crashed, (std::vector<NodeId>{2}));
  t.sim.scheduler().run_for(1_s);
  EXPECT_TRUE(t.sim.is_up(2));        // and restarted after its window
}

TEST(FaultControlRoles, HealAllDisarmsWhatHasNotStruck) {
  EchoCluster t(two_dcs());
  std::function<void(NodeId)> taken;
  t.faults.set_watcher([&](const std::string&, std::function<void(NodeId)> cb) {
    taken = std::move(cb);
    return true;
  });
  int crashes = 0;
  t.faults.set_crash_listener([&](NodeId, CrashKind) { ++crashes; });
  std::string error;
  const auto plan = FaultPlan::parse("0s kill node=next-leader:p0 delay=1s", &error);  // down until heal_all
  ASSERT_TRUE(plan) << error;
  t.faults.apply(plan->events.at(0));
  taken(1);
  t.sim.scheduler().run_for(500_ms);
  t.faults.heal_all();  // the end of the fault phase, before the strike
  t.sim.scheduler().run_for(2_s);
  EXPECT_EQ(crashes, 0);
  EXPECT_TRUE(t.sim.is_up(1));
}

TEST(FaultControlRoles, ARoleNotTakenBeforeTheDeadlineExpires) {
  EchoCluster t(two_dcs());
  std::function<void(NodeId)> taken;
  t.faults.set_watcher([&](const std::string&, std::function<void(NodeId)> cb) {
    taken = std::move(cb);
    return true;
  });
  t.faults.set_watch_deadline(2_s);
  int crashes = 0;
  t.faults.set_crash_listener([&](NodeId, CrashKind) { ++crashes; });
  std::string error;
  const auto plan = FaultPlan::parse("0s kill node=next-leader:p0 for=1s", &error);
  ASSERT_TRUE(plan) << error;
  t.faults.apply(plan->events.at(0));
  t.sim.scheduler().run_for(2500_ms);
  taken(2);  // too late: the plan counted this crash as over
  t.sim.scheduler().run_for(1_s);
  EXPECT_EQ(crashes, 0);
  EXPECT_TRUE(t.sim.is_up(2));
}

// --- Payload (sim/payload.h): what a message carries ------------------------------------

struct Left {
  int v;
};
struct Right {
  int v;
};

TEST(Payload, HoldsExactlyOneTypeAndMovesItsBoxWithoutCopying) {
  Payload p(std::vector<int>{1, 2, 3});
  ASSERT_TRUE(p.holds<std::vector<int>>());
  EXPECT_EQ(p.get<std::vector<int>>()->size(), 3u);
  EXPECT_EQ(p.get<std::vector<long>>(), nullptr);
  const int* data = p.get<std::vector<int>>()->data();
  Payload q = std::move(p);
  EXPECT_FALSE(p.has_value());  // NOLINT(bugprone-use-after-move): the contract says empty
  ASSERT_NE(q.get<std::vector<int>>(), nullptr);
  EXPECT_EQ(q.get<std::vector<int>>()->data(), data);  // the same box, not a copy
  const std::vector<int> out = std::move(q).take<std::vector<int>>();
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(out.data(), data);  // moved out, not copied
}

TEST(Payload, TypesOfOneLayoutAreNotConfusedAndAWrongTakeIsAModelBug) {
  Payload p(Left{7});
  const Left l{8};
  Payload from_const(l);  // a const lvalue boxes a Left, not a const Left
  EXPECT_TRUE(from_const.holds<Left>());
  EXPECT_EQ(p.get<Right>(), nullptr);
  EXPECT_EQ(p.get<Left>()->v, 7);
  EXPECT_THROW((void)std::move(p).take<Right>(), AssertionFailure);
  EXPECT_FALSE(Payload().has_value());
}

}  // namespace
}  // namespace faultline
