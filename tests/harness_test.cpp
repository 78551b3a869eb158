// The harness: one verdict per run, parameters validated, bug switches caught, and results
// that survive the trip through the runner's pipe.
#include <gtest/gtest.h>

#include "runner/isolate.h"
#include "scenarios/scenario.h"

namespace faultline {
namespace {

RunRequest request(std::string scenario, uint64_t seed, std::map<std::string, std::string> sets = {},
                   std::vector<std::string> bugs = {}) {
  RunRequest r;
  r.scenario = std::move(scenario);
  r.seed = seed;
  r.sets = std::move(sets);
  r.bugs = std::move(bugs);
  return r;
}

TEST(Harness, SelftestModesEndInTheirVerdicts) {
  const std::pair<const char*, Verdict> cases[] = {
      {"pass", Verdict::kPass},           {"fail", Verdict::kFail},
      {"liveness", Verdict::kLiveness},   {"deadlock", Verdict::kLiveness},
      {"crash-assert", Verdict::kCrash},  {"crash-exception", Verdict::kCrash},
  };
  for (const auto& [mode, verdict] : cases) {
    const RunResult r = execute(request("selftest", 1, {{"mode", mode}}));
    EXPECT_EQ(r.verdict, verdict) << mode;
  }
  const RunResult dead = execute(request("selftest", 1, {{"mode", "deadlock"}}));
  ASSERT_EQ(dead.violations.size(), 1u);
  EXPECT_EQ(dead.violations[0].invariant, "deadlock");
  EXPECT_NE(dead.violations[0].message.find("world/waiter on never-set"), std::string::npos);
  const RunResult crash = execute(request("selftest", 1, {{"mode", "crash-assert"}}));
  EXPECT_NE(crash.crash.find("selftest_scenario.cpp"), std::string::npos) << crash.crash;
  EXPECT_NE(crash.crash.find("(expected, actual = 1, 2)"), std::string::npos) << crash.crash;
}

TEST(Harness, SafetyViolationStopsTheRunWhereItHappened) {
  const RunResult r = execute(request("selftest", 1, {{"mode", "fail"}}));
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].invariant, "T1");
  EXPECT_EQ(r.violations[0].at, Instant::zero() + Duration::seconds(1));
  EXPECT_EQ(r.sim_time_ns, Duration::seconds(1).ns());
}

TEST(Harness, SameSeedSameTraceHashDifferentSeedDifferentHash) {
  const RunResult a = execute(request("ping", 7));
  const RunResult b = execute(request("ping", 7));
  const RunResult c = execute(request("ping", 8));
  EXPECT_EQ(a.verdict, Verdict::kPass);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.events, b.events);
  EXPECT_NE(a.trace_hash, c.trace_hash);
}

TEST(Harness, ParametersChangeTheRun) {
  const RunResult a = execute(request("ping", 7));
  const RunResult b = execute(request("ping", 7, {{"nodes", "5"}}));
  EXPECT_NE(a.trace_hash, b.trace_hash);
  EXPECT_EQ(b.params.at("nodes"), "5");
}

TEST(Harness, PingSweepPassesWithBugsOff) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const RunResult r = execute(request("ping", seed));
    EXPECT_EQ(r.verdict, Verdict::kPass) << "seed " << seed << ": " << (r.violations.empty() ? r.crash : r.violations[0].message);
  }
}

TEST(Harness, UnorderedSendBugIsCaughtAsP1) {
  int caught = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const RunResult r = execute(request("ping", seed, {}, {"ping-unordered-send"}));
    if (r.verdict == Verdict::kFail) {
      ++caught;
      EXPECT_EQ(r.violations.front().invariant, "P1");
    }
  }
  EXPECT_GE(caught, 10);
}

TEST(Harness, BadInputIsRejectedWithOneLine) {
  EXPECT_EQ(validate(request("ping", 1)), "");
  EXPECT_NE(validate(request("nope", 1)).find("unknown scenario 'nope'"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {{"nodez", "3"}})).find("unknown parameter 'nodez'"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {{"nodes", "three"}})).find("wants an integer"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {{"nodes", "1"}})).find("must be in [2, 64]"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {{"interval", "fast"}})).find("wants a duration"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {{"interval", "0s"}})).find("must be in"), std::string::npos);
  EXPECT_NE(validate(request("selftest", 1, {{"mode", "explode"}})).find("must be one of"), std::string::npos);
  EXPECT_NE(validate(request("ping", 1, {}, {"no-such-bug"})).find("unknown bug 'no-such-bug'"), std::string::npos);
  for (const RunRequest& bad : {request("nope", 1), request("ping", 1, {{"nodes", "x"}}), request("ping", 1, {}, {"?"})}) {
    const std::string msg = validate(bad);
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;  // one line
  }
}

TEST(Isolation, ResultsSurviveThePipeEncoding) {
  RunResult r = execute(request("selftest", 3, {{"mode", "fail"}}));
  r.metrics["x"] = -5;
  r.crash = "quote \" and newline \n";
  RunResult back;
  ASSERT_TRUE(decode_result(encode_result(r), &back));
  EXPECT_EQ(back.trace_hash, r.trace_hash);
  EXPECT_EQ(back.verdict, r.verdict);
  EXPECT_EQ(back.violations.size(), r.violations.size());
  EXPECT_EQ(back.violations[0].at, r.violations[0].at);
  EXPECT_EQ(back.metrics, r.metrics);
  EXPECT_EQ(back.params, r.params);
  EXPECT_EQ(back.crash, r.crash);
  std::string truncated = encode_result(r);
  truncated.pop_back();
  EXPECT_FALSE(decode_result(truncated, &back));
}

TEST(Isolation, SignalsAndHangsBecomeCrashResultsAndOthersSurvive) {
  std::vector<RunRequest> reqs = {
      request("selftest", 1, {{"mode", "crash-signal"}}),
      request("selftest", 2, {{"mode", "hang"}}),
      request("selftest", 3, {{"mode", "pass"}}),
      request("selftest", 4, {{"mode", "fail"}}),
  };
  std::map<uint64_t, RunResult> got;
  run_isolated(reqs, IsolationOptions{2, 1500}, [&](size_t, const RunResult& r, int64_t) { got[r.seed] = r; });
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].verdict, Verdict::kCrash);
  // Plain builds die of the signal; under ASan its handler reports and exits non-zero.
  EXPECT_TRUE(got[1].crash.find("signal 11") != std::string::npos ||
              got[1].crash.find("exited with status") != std::string::npos)
      << got[1].crash;
  EXPECT_EQ(got[2].verdict, Verdict::kCrash);
  EXPECT_NE(got[2].crash.find("timeout"), std::string::npos) << got[2].crash;
  EXPECT_EQ(got[3].verdict, Verdict::kPass);
  EXPECT_EQ(got[4].verdict, Verdict::kFail);
  EXPECT_EQ(got[2].params.at("mode"), "hang");  // a killed child's result still says what ran
}

}  // namespace
}  // namespace faultline
