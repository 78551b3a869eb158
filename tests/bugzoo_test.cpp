// The known-bug gate (label bugzoo): every --bug switch is caught by the scenario the registry
// says catches it (the data `faultline list --json` prints), with one of the invariants it
// expects, within a bounded sweep; and every catching scenario's sweep with every switch off
// finds nothing. Runs are isolated in child processes, two at a time, in seed order; a
// bug's sweep stops at its first finding.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "models/bugs.h"
#include "runner/isolate.h"
#include "scenarios/registry.h"
#include "scenarios/scenario.h"

namespace faultline {
namespace {

constexpr uint64_t kBugSeeds = 500;    // the slowest switch (last-replica-standing) is first caught at 336
constexpr uint64_t kCleanSeeds = 100;  // per catching scenario, every switch off

struct Finding {
  uint64_t seed = 0;
  std::string invariant;  // first unexcused, or the crash
  std::string message;
};

// Seeds 1..limit of `scenario` with `bugs`, in order, two at a time; stops handing out seeds
// at the first run that does not pass. Returns the lowest failing seed's finding, if any.
std::optional<Finding> sweep(const std::string& scenario, const std::vector<std::string>& bugs, uint64_t limit) {
  uint64_t next = 1;
  bool found = false;
  std::optional<Finding> first;
  run_isolated_stream(
      [&]() -> std::optional<RunRequest> {
        if (found || next > limit) return std::nullopt;
        RunRequest r;
        r.scenario = scenario;
        r.seed = next++;
        r.bugs = bugs;
        return r;
      },
      IsolationOptions(2, 600'000),
      [&](size_t, const RunRequest&, const RunResult& r, int64_t) {
        if (r.verdict == Verdict::kPass) return;
        found = true;
        Finding f{r.seed, r.crash.empty() ? "" : "crash", r.crash};
        for (const Violation& v : r.violations) {
          if (!v.excused) {
            f.invariant = v.invariant;
            f.message = v.message;
            break;
          }
        }
        if (!first || f.seed < first->seed) first = f;
      });
  return first;
}

struct Case {
  std::string bug;
  std::string scenario;
  std::vector<std::string> expects;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const BugInfo& b : bug_catalogue()) {
    for (const ScenarioInfo& s : all_scenarios()) {
      for (const BugCatch& c : s.catches) {
        if (c.bug == b.bug) out.push_back({b.name, s.name, c.expects});
      }
    }
  }
  return out;
}

// Test names and failure messages show the switch, not the bytes of the struct.
[[maybe_unused]] void PrintTo(const Case& c, std::ostream* os) { *os << c.bug << " in " << c.scenario; }

class BugzooGate : public ::testing::TestWithParam<Case> {};

TEST_P(BugzooGate, IsCaughtWithAnExpectedInvariant) {
  const Case& c = GetParam();
  const std::optional<Finding> f = sweep(c.scenario, {c.bug}, kBugSeeds);
  ASSERT_TRUE(f.has_value()) << "--bug " << c.bug << " was not caught in " << kBugSeeds << " seeds of " << c.scenario;
  EXPECT_NE(std::find(c.expects.begin(), c.expects.end(), f->invariant), c.expects.end())
      << "--bug " << c.bug << " in " << c.scenario << " seed " << f->seed << " tripped " << f->invariant
      << ", not one of the expected invariants: " << f->message;
  std::cout << "[bugzoo] " << c.bug << ": " << c.scenario << " seed " << f->seed << ", " << f->invariant << "\n";
}

INSTANTIATE_TEST_SUITE_P(Switches, BugzooGate, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           std::string name = p.param.bug;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Every switch that a scenario lists has something to catch there: the ping sample's switch
// belongs to the ping scenario, and every Kafka switch is listed by some scenario.
TEST(BugzooRegistry, EverySwitchHasACatchingScenario) {
  for (const BugInfo& b : bug_catalogue()) {
    bool listed = false;
    for (const Case& c : cases()) listed |= c.bug == b.name;
    EXPECT_TRUE(listed) << "--bug " << b.name << " is caught by no scenario";
  }
}

class CleanGate : public ::testing::TestWithParam<std::string> {};

TEST_P(CleanGate, EverySwitchOffFindsNothing) {
  const std::optional<Finding> f = sweep(GetParam(), {}, kCleanSeeds);
  EXPECT_FALSE(f.has_value()) << GetParam() << " seed " << f->seed << ": " << f->invariant << ": " << f->message;
}

std::vector<std::string> catching_scenarios() {
  std::vector<std::string> out;
  for (const ScenarioInfo& s : all_scenarios()) {
    if (!s.catches.empty()) out.push_back(s.name);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, CleanGate, ::testing::ValuesIn(catching_scenarios()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace faultline
