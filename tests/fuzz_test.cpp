// Property-based fuzzing of whole runs (label fuzz; runner/fuzz.h): for every scenario family,
// "every invariant holds for any tolerated configuration and fault plan". RapidCheck
// generates the configuration and workload (runner/fuzz_config.h), then the plan (every
// fault kind the family's nemesis draws, aimed at any node, role or moment, at any time,
// within max_down and the power-loss budget) and shrinks a failure to a small case; the
// failure message carries the plan in its text form and the `faultline run --plan` line
// that replays it, and RapidCheck prints its RC_PARAMS="reproduce=..." string. Each run is
// isolated in a child process, as in sweeps. The budget is RapidCheck's (RC_PARAMS
// max_success, 100 by default); `faultline fuzz --for 10m` is the long form.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>
#include <ostream>

#include <fmt/format.h>

#include "reports/summary.h"
#include "runner/fuzz.h"
#include "runner/isolate.h"

namespace faultline {

// How RapidCheck shows a counterexample: the plan's own text form.
void showValue(const FaultPlan& plan, std::ostream& os) { os << "\n" << plan.to_text(); }
void showValue(const FuzzCase& c, std::ostream& os) {
  os << "\nseed " << c.seed << "\n";
  for (const auto& [k, v] : c.sets) os << "--set " << k << "=" << v << "\n";
  os << c.plan.to_text();
}

namespace {

std::shared_ptr<PlanSpaceCache> cache_of(const std::string& scenario) {
  static std::map<std::string, std::shared_ptr<PlanSpaceCache>> caches;  // one per scenario
  auto& c = caches[scenario];
  if (!c) {
    RunRequest base;
    base.scenario = scenario;
    c = std::make_shared<PlanSpaceCache>(base);
  }
  return c;
}

// One isolated run of a generated case; the property holds if it passes.
void holds(const std::string& scenario, const FuzzCase& c) {
  RunRequest base;
  base.scenario = scenario;
  const RunRequest req = case_request(base, c);
  RunResult result;
  run_isolated({req}, IsolationOptions(1, 300'000), [&](size_t, const RunResult& r, int64_t) { result = r; });
  RC_ASSERT(result.input_error.empty());
  if (result.verdict != Verdict::kPass) {
    std::string sets;
    for (const auto& [k, v] : c.sets) sets += fmt::format(" --set {}={}", k, v);
    RC_FAIL(fmt::format("{} seed {}: {}\nreplay: write the plan above to p.plan and run\n  faultline run --scenario {} "
                        "--seed {}{} --plan p.plan",
                        scenario, c.seed, describe(result), scenario, c.seed, sets));
  }
}

void fuzz_family(const std::string& scenario) {
  const FuzzCase c = *gen_case(cache_of(scenario), /*vary_config=*/true);
  holds(scenario, c);
}

RC_GTEST_PROP(Fuzz, BrokerCrashHoldsForAnyToleratedPlan, ()) { fuzz_family("broker-crash"); }
RC_GTEST_PROP(Fuzz, CascadeHoldsForAnyToleratedPlan, ()) { fuzz_family("cascade"); }
RC_GTEST_PROP(Fuzz, PartitionHoldsForAnyToleratedPlan, ()) { fuzz_family("partition"); }
RC_GTEST_PROP(Fuzz, S3OutageHoldsForAnyToleratedPlan, ()) { fuzz_family("s3-outage"); }
RC_GTEST_PROP(Fuzz, DiskStallHoldsForAnyToleratedPlan, ()) { fuzz_family("disk-stall"); }

// The generator itself: plans parse back from their text, stay in the space's window and
// kinds, and keep within max_down and the power-loss budget.
RC_GTEST_PROP(FuzzGen, PlansStayWithinTheSpaceAndRoundTrip, ()) {
  const RunResult::PlanSpace& space = *cache_of("broker-crash")->get({});
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

// The configuration generator: every configuration it draws, for every Kafka family, is one
// the scenario accepts (min ISR within RF and the brokers, dc-loss's within its sync
// replicas), has a plan space, and comes with a non-empty plan.
RC_GTEST_PROP(FuzzGen, EveryGeneratedConfigurationRuns, ()) {
  const std::string scenario = *rc::gen::elementOf(
      std::vector<std::string>{"broker-crash", "cascade", "partition", "s3-outage", "disk-stall", "dc-loss"});
  const FuzzCase c = *gen_case(cache_of(scenario), /*vary_config=*/true);
  RunRequest base;
  base.scenario = scenario;
  RC_ASSERT(validate(case_request(base, c)) == std::string());
  RC_ASSERT(cache_of(scenario)->get(c.sets).has_value());
  RC_ASSERT(!c.plan.events.empty());
  const ScenarioInfo* info = find_scenario(scenario);
  for (const auto& [k, v] : c.sets) {
    RC_ASSERT(std::any_of(info->params.begin(), info->params.end(), [&](const ParamSpec& p) { return p.name == k; }));
  }
}

// Run seeds do not shrink with RapidCheck's size: at size 0 every seed used to be 0, and the
// results database (one row per seed) kept one of those runs.
TEST(FuzzGen, SeedsAreSpreadAtEverySize) {
  std::set<uint64_t> seeds;
  for (uint64_t i = 0; i < 50; ++i) seeds.insert(gen_case(cache_of("broker-crash"), true)(rc::Random(i + 1), 0).value().seed);
  EXPECT_EQ(seeds.size(), 50u);
}

// At full size, faults span the whole window and last up to 30 s: a resize around the event
// container once generated every time and window at 12% of its range, so no broker session
// (9 s) ever expired in 30,000 fuzz runs.
TEST(FuzzGen, AtFullSizeFaultsSpanTheWindowAndLastLong) {
  const RunResult::PlanSpace& space = *cache_of("broker-crash")->get({});
  Duration latest, longest;
  for (uint64_t i = 0; i < 50; ++i) {
    for (const FaultEvent& e : gen_plan(space)(rc::Random(i + 1), 100).value().events) {
      latest = std::max(latest, e.at);
      longest = std::max(longest, e.duration);
    }
  }
  EXPECT_GT(latest, space.start + (space.end - space.start) / 2);
  EXPECT_GT(longest, Duration::seconds(15));
}

// A pinned --set is never generated.
RC_GTEST_PROP(FuzzGen, PinnedSetsStayPinned, ()) {
  RunRequest base;
  base.scenario = "broker-crash";
  base.sets["rf"] = "3";
  base.sets["acks"] = "-1";
  const auto sets = *gen_config(base);
  RC_ASSERT(!sets.contains("rf"));
  RC_ASSERT(!sets.contains("acks"));
}

}  // namespace
}  // namespace faultline
