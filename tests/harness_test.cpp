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
  r.story = "  1.000s b0 crash\n  2.000s violation\n";
  RunResult back;
  ASSERT_TRUE(decode_result(encode_result(r), &back));
  EXPECT_EQ(back.trace_hash, r.trace_hash);
  EXPECT_EQ(back.verdict, r.verdict);
  EXPECT_EQ(back.violations.size(), r.violations.size());
  EXPECT_EQ(back.violations[0].at, r.violations[0].at);
  EXPECT_EQ(back.metrics, r.metrics);
  EXPECT_EQ(back.params, r.params);
  EXPECT_EQ(back.story, r.story);
  EXPECT_EQ(back.crash, r.crash);
  std::string truncated = encode_result(r);
  truncated.pop_back();
  EXPECT_FALSE(decode_result(truncated, &back));
}

TEST(Isolation, CoverageMarksSurviveThePipeEncoding) {
  RunResult r = execute(request("selftest", 3, {{"mode", "pass"}}));
  r.marks = {{"C8.offset-out-of-range", 37}, {"C9.never", 0}, {"S1.big", UINT64_MAX}};
  RunResult back;
  ASSERT_TRUE(decode_result(encode_result(r), &back));
  EXPECT_EQ(back.marks, r.marks);  // zeros included, and counts past INT64_MAX
  EXPECT_EQ(back.marks.at("C9.never"), 0u);
  // The marks come last before the closing magic: cutting into them fails the decode.
  std::string bytes = encode_result(r);
  bytes.resize(bytes.size() - 2 * sizeof(uint64_t));
  EXPECT_FALSE(decode_result(bytes, &back));
  // A run without marks decodes with an empty map.
  r.marks.clear();
  ASSERT_TRUE(decode_result(encode_result(r), &back));
  EXPECT_TRUE(back.marks.empty());
}

TEST(Isolation, SignalsAndHangsBecomeCrashResultsAndOthersSurvive) {
  // The hang is killed by a short wall timeout; the others get a long one, so that a loaded
  // machine (or ASan writing its report of the signal) never turns them into timeouts.
  std::vector<RunRequest> reqs = {
      request("selftest", 1, {{"mode", "crash-signal"}}),
      request("selftest", 3, {{"mode", "pass"}}),
      request("selftest", 4, {{"mode", "fail"}}),
  };
  std::map<uint64_t, RunResult> got;
  run_isolated(reqs, IsolationOptions{2, 120'000}, [&](size_t, const RunResult& r, int64_t) { got[r.seed] = r; });
  run_isolated({request("selftest", 2, {{"mode", "hang"}})}, IsolationOptions{1, 1500},
               [&](size_t, const RunResult& r, int64_t) { got[r.seed] = r; });
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

TEST(Isolation, RequestsSurviveThePipeEncoding) {
  RunRequest r = request("broker-crash", 42, {{"faults", "9"}, {"acks", "1"}}, {"truncate-to-hw"});
  r.plan_text = "1s kill node=b0 for=2s\n";
  RunRequest back;
  ASSERT_TRUE(decode_request(encode_request(r), &back));
  EXPECT_EQ(back.scenario, r.scenario);
  EXPECT_EQ(back.seed, r.seed);
  EXPECT_EQ(back.sets, r.sets);
  EXPECT_EQ(back.bugs, r.bugs);
  EXPECT_EQ(back.plan_text, r.plan_text);
  r.plan_text.reset();
  r.plan_only = true;
  ASSERT_TRUE(decode_request(encode_request(r), &back));
  EXPECT_FALSE(back.plan_text.has_value());
  EXPECT_TRUE(back.plan_only);
  std::string cut = encode_request(r);
  cut.pop_back();
  EXPECT_FALSE(decode_request(cut, &back));
}

// Issue 15: a warm worker runs seed after seed in one process. Every scenario's seeds, run
// each in a fresh child and then all in one reused worker (in two orders, so each run follows
// different runs), give the same trace hashes and verdicts.
TEST(Isolation, ReusedWorkersGiveTheHashesOfFreshProcesses) {
  std::vector<RunRequest> reqs;
  for (const ScenarioInfo& info : all_scenarios()) {
    if (info.name == "selftest") continue;
    reqs.push_back(request(info.name, 1));
    if (info.name == "broker-crash" || info.name == "ping") reqs.push_back(request(info.name, 2));
  }
  auto hashes = [&](const std::vector<RunRequest>& rs, bool reuse) {
    IsolationOptions o{reuse ? 1 : 2, 600'000};
    o.reuse = reuse;
    std::map<std::pair<std::string, uint64_t>, std::pair<uint64_t, Verdict>> out;
    run_isolated(rs, o, [&](size_t, const RunResult& r, int64_t) { out[{r.scenario, r.seed}] = {r.trace_hash, r.verdict}; });
    return out;
  };
  const auto fresh = hashes(reqs, false);
  ASSERT_EQ(fresh.size(), reqs.size());
  EXPECT_EQ(hashes(reqs, true), fresh) << "a reused worker changed a run";
  std::vector<RunRequest> reversed(reqs.rbegin(), reqs.rend());
  EXPECT_EQ(hashes(reversed, true), fresh) << "a reused worker changed a run (reversed order)";
}

TEST(Isolation, AWorkerThatDiesTakesOnlyItsRequest) {
  // One job: the same worker would run all four; the crash takes its own seed, and the seeds
  // after it get a fresh worker.
  std::vector<RunRequest> reqs = {
      request("selftest", 1, {{"mode", "pass"}}),
      request("selftest", 2, {{"mode", "crash-signal"}}),
      request("selftest", 3, {{"mode", "pass"}}),
      request("selftest", 4, {{"mode", "fail"}}),
  };
  std::map<uint64_t, RunResult> got;
  run_isolated(reqs, IsolationOptions{1, 120'000}, [&](size_t, const RunResult& r, int64_t) { got[r.seed] = r; });
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].verdict, Verdict::kPass);
  EXPECT_EQ(got[2].verdict, Verdict::kCrash);
  EXPECT_EQ(got[2].params.at("mode"), "crash-signal");
  EXPECT_EQ(got[3].verdict, Verdict::kPass);
  EXPECT_EQ(got[4].verdict, Verdict::kFail);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// Every fault kind, against the ping scenario's default topology (n0..n2 over dc1, dc2).
const char* kEveryFaultKind = R"(1.5s kill node=n1 for=800ms
2s power-loss node=n2 for=1s
3s partition a=n0,n1 b=n2 for=2s
3.5s partition-one-way from=n0 to=n2 for=2s
4s isolate-dc dc=dc1 for=3s
5s drop-connections a=n1 b=n0,n2
6s link-delay a=n0 b=n1 delay=50ms jitter=10ms for=2s
7s disk-stall node=n1 for=2s
7s disk-slow node=n0 factor=10 for=2s
9s s3-errors slowdown=1/10 internal=1/20 for=3s
9s s3-latency extra=200ms for=3s
10s s3-outage for=4s
12s s3-ambiguous rate=1/2 for=3s
)";

TEST(Harness, PingScenarioTakesEveryFaultKindAndStaysDeterministic) {
  RunRequest req;
  req.scenario = "ping";
  req.seed = 5;
  req.plan_text = kEveryFaultKind;
  const RunResult a = execute(req);
  const RunResult b = execute(req);
  EXPECT_EQ(a.verdict, Verdict::kPass) << (a.violations.empty() ? a.crash : a.violations[0].message);
  EXPECT_EQ(a.metrics.at("faults_applied"), 13);
  EXPECT_GE(a.metrics.at("recoveries"), 5);  // 3 boots + 2 restarts
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.fault_plan, b.fault_plan);
}

TEST(Harness, PlanFromTheNemesisReplaysWithoutIt) {
  for (uint64_t seed : {3, 17, 29}) {
    RunRequest req;
    req.scenario = "ping";
    req.seed = seed;
    const RunResult drawn = execute(req);
    req.plan_text = drawn.fault_plan;
    const RunResult replayed = execute(req);
    EXPECT_EQ(drawn.trace_hash, replayed.trace_hash) << "seed " << seed;
    EXPECT_EQ(drawn.events, replayed.events);
  }
}

}  // namespace
}  // namespace faultline
