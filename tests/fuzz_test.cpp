// Property-based fuzzing of whole runs (label fuzz; runner/fuzz.h): for every scenario family,
// "every invariant holds for any tolerated fault plan". RapidCheck generates the plans
// (every fault kind the family's nemesis draws, aimed at any node or role, at any time,
// within max_down and the power-loss budget) and shrinks a failure to a small plan; the
// failure message carries the plan in its text form and the `faultline run --plan` line
// that replays it, and RapidCheck prints its RC_PARAMS="reproduce=..." string. Each run is
// isolated in a child process, as in sweeps. The budget is RapidCheck's (RC_PARAMS
// max_success, 100 by default); `faultline fuzz --for 10m` is the long form.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <ostream>

#include <fmt/format.h>

#include "reports/summary.h"
#include "runner/fuzz.h"
#include "runner/isolate.h"

namespace faultline {

// How RapidCheck shows a counterexample: the plan's own text form.
void showValue(const FaultPlan& plan, std::ostream& os) { os << "\n" << plan.to_text(); }

namespace {

const RunResult::PlanSpace& space_of(const std::string& scenario) {
  static std::map<std::string, RunResult::PlanSpace> spaces;  // computed once per scenario
  auto it = spaces.find(scenario);
  if (it == spaces.end()) {
    RunRequest base;
    base.scenario = scenario;
    it = spaces.emplace(scenario, *plan_space(base)).first;
  }
  return it->second;
}

// One isolated run of `scenario` seed `seed` with `plan`; the property holds if it passes.
void holds(const std::string& scenario, uint64_t seed, const FaultPlan& plan) {
  RunRequest req;
  req.scenario = scenario;
  req.seed = seed;
  req.plan_text = plan.to_text();
  RunResult result;
  run_isolated({req}, IsolationOptions(1, 300'000), [&](size_t, const RunResult& r, int64_t) { result = r; });
  RC_ASSERT(result.input_error.empty());
  if (result.verdict != Verdict::kPass) {
    RC_FAIL(fmt::format("{} seed {}: {}\nreplay: write the plan above to p.plan and run\n  faultline run --scenario {} "
                        "--seed {} --plan p.plan",
                        scenario, seed, describe(result), scenario, seed));
  }
}

void fuzz_family(const std::string& scenario) {
  const auto seed = *rc::gen::inRange<uint64_t>(0, 1'000'000);
  const FaultPlan plan = *gen_plan(space_of(scenario));
  holds(scenario, seed, plan);
}

RC_GTEST_PROP(Fuzz, BrokerCrashHoldsForAnyToleratedPlan, ()) { fuzz_family("broker-crash"); }
RC_GTEST_PROP(Fuzz, CascadeHoldsForAnyToleratedPlan, ()) { fuzz_family("cascade"); }
RC_GTEST_PROP(Fuzz, PartitionHoldsForAnyToleratedPlan, ()) { fuzz_family("partition"); }
RC_GTEST_PROP(Fuzz, S3OutageHoldsForAnyToleratedPlan, ()) { fuzz_family("s3-outage"); }
RC_GTEST_PROP(Fuzz, DiskStallHoldsForAnyToleratedPlan, ()) { fuzz_family("disk-stall"); }

// The generator itself: plans parse back from their text, stay in the space's window and
// kinds, and keep within max_down and the power-loss budget.
RC_GTEST_PROP(FuzzGen, PlansStayWithinTheSpaceAndRoundTrip, ()) {
  const RunResult::PlanSpace& space = space_of("broker-crash");
  const FaultPlan plan = *gen_plan(space);
  std::string error;
  const auto back = FaultPlan::parse(plan.to_text(), &error);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == plan);
  RC_ASSERT(validate_plan(plan, space.topology).empty());
  uint32_t lossy = 0;
  for (const FaultEvent& e : plan.events) {
    RC_ASSERT(std::find(space.kinds.begin(), space.kinds.end(), e.kind) != space.kinds.end() ||
              e.kind == FaultKind::kKill);
    RC_ASSERT(e.at >= space.start);
    lossy += e.kind == FaultKind::kPowerLoss || e.kind == FaultKind::kDiskReplace;
  }
  RC_ASSERT(lossy <= space.max_power_losses);
}

}  // namespace
}  // namespace faultline
