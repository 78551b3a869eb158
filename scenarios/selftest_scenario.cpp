// scenarios/selftest_scenario.cpp
// `selftest`: ends in exactly the outcome its `mode` asks for, so tests can prove that the
// harness and the runner report every kind of ending correctly: that a crashing or hanging
// seed never takes a sweep down and that a deadlock is named. Two ping nodes provide
// ordinary traffic around the chosen outcome, which happens at 1 s of simulated time.
#include <unistd.h>

#include <csignal>
#include <stdexcept>

#include "models/ping/ping.h"
#include "scenarios/registry.h"
#include "sim/assert.h"

namespace faultline {

namespace {

const std::vector<std::string> kModes = {"pass",        "fail",          "liveness",     "deadlock",
                                         "crash-assert", "crash-exception", "crash-signal", "hang"};

class SelftestScenario final : public Scenario {
 public:
  void run(RunContext& rc) override {
    Simulation& sim = rc.sim();
    std::string mode = rc.params().choice("mode");
    if (mode == "mixed") mode = kModes[sim.seed() % kModes.size()];
    sim.note("selftest", {{"mode", mode}});

    if (mode == "deadlock") {
      // One fiber waits for a flag nobody will set; nothing else is scheduled.
      auto flag = std::make_shared<Flag>(sim.scheduler(), "never-set");
      sim.scheduler().spawn(kWorld, "waiter", [flag] { flag->wait(); });
      rc.run_until(Instant::zero() + Duration::seconds(5));
      return;
    }

    for (NodeId i = 0; i < 2; ++i) {
      PingConfig config;
      config.peers = {1 - i};
      const BugSet& bugs = rc.bugs();
      sim.add_node({fmt::format("n{}", i)}, [this, config, &bugs](NodeContext& ctx) {
        auto node = std::make_shared<PingNode>(ctx, config, bugs, hooks_);
        node->start();
        return node;
      });
      sim.start(i);
    }

    const Instant at = Instant::zero() + Duration::seconds(1);
    if (mode == "fail") {
      sim.scheduler().at(at, [&rc] { rc.violation("T1", InvariantKind::kSafety, "selftest: a safety violation"); });
    } else if (mode == "crash-assert") {
      sim.node(0).spawn("asserter", [&sim, at] {
        sim.scheduler().sleep_until(at);
        const int expected = 1;
        const int actual = 2;
        FL_ASSERT(expected == actual, expected, actual);
      });
    } else if (mode == "crash-exception") {
      sim.scheduler().at(at, [] { throw std::runtime_error("selftest: an exception in a callback"); });
    } else if (mode == "crash-signal") {
      sim.scheduler().at(at, [] { std::raise(SIGSEGV); });
    } else if (mode == "nondeterministic") {
      // Deliberately broken: the process id enters the trace, so two processes running the
      // same seed disagree (what sweep --check-determinism must catch). Not in `mixed`.
      sim.scheduler().at(at, [&sim] { sim.note("selftest-process", {{"pid", static_cast<int64_t>(::getpid())}}); });
    } else if (mode == "hang") {
      sim.scheduler().at(at, [] {
        volatile uint64_t spin = 0;
        for (;;) spin = spin + 1;  // an infinite loop inside one event: only a wall timeout ends it
      });
    }
    if (!rc.run_until(Instant::zero() + Duration::seconds(3))) return;
    if (mode == "liveness") {
      rc.await_convergence(Duration::seconds(2), Duration::millis(100), "T2", "selftest: a condition that never holds",
                           [] { return false; });
    }
  }

 private:
  PingHooks hooks_;
};

}  // namespace

ScenarioInfo selftest_scenario_info() {
  std::vector<std::string> choices = kModes;
  choices.push_back("mixed");
  choices.push_back("nondeterministic");
  return ScenarioInfo{
      "selftest",
      "Harness self-test: ends in the outcome chosen by `mode` (mixed: chosen by seed), "
      "to prove that verdicts, crash isolation and timeouts work.",
      {{"mode", ParamType::kChoice, "pass",
        "pass|fail|liveness|deadlock|crash-assert|crash-exception|crash-signal|hang|mixed, or nondeterministic (the "
        "trace depends on the process: only for testing --check-determinism)",
        0, 0, choices}},
      {},
      [] { return std::make_unique<SelftestScenario>(); },
  };
}

}  // namespace faultline
