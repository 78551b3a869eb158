// The sweep summary's coverage: per mark, the runs that reached it of the runs that declared
// it; the marks no run reached; the same in the text and in the JSON, whatever the order in
// which results arrive.
#include <gtest/gtest.h>

#include "reports/json.h"
#include "reports/summary.h"
#include "scenarios/registry.h"

namespace faultline {
namespace {

RunResult with_marks(uint64_t seed, std::map<std::string, uint64_t> marks, Verdict verdict = Verdict::kPass) {
  RunResult r;
  r.scenario = "kafka";
  r.seed = seed;
  r.verdict = verdict;
  r.marks = std::move(marks);
  return r;
}

// Two runs: one reaches C8 (three times), neither reaches C9; only the second declares D1.
std::vector<RunResult> two_runs() {
  return {with_marks(1, {{"C8.offset-out-of-range", 3}, {"C9.truncate-blocked", 0}}),
          with_marks(2, {{"C8.offset-out-of-range", 0}, {"C9.truncate-blocked", 0}, {"D1.promoted", 1}})};
}

TEST(SweepSummaryMarks, ReachCountsRunsThatReachedOfRunsThatDeclared) {
  SweepSummary s;
  for (const RunResult& r : two_runs()) s.add(r, 5, "replay");
  const auto reach = s.mark_reach();
  ASSERT_EQ(reach.size(), 3u);
  EXPECT_EQ(reach.at("C8.offset-out-of-range"), std::make_pair(uint64_t{1}, uint64_t{2}));
  EXPECT_EQ(reach.at("C9.truncate-blocked"), std::make_pair(uint64_t{0}, uint64_t{2}));
  EXPECT_EQ(reach.at("D1.promoted"), std::make_pair(uint64_t{1}, uint64_t{1}));
  EXPECT_EQ(s.never_reached(), std::vector<std::string>{"C9.truncate-blocked"});
}

TEST(SweepSummaryMarks, TextHasACoverageLinePerMarkAndTheNeverReachedList) {
  SweepSummary s;
  for (const RunResult& r : two_runs()) s.add(r, 5, "replay");
  const std::string text = s.text(1000);
  EXPECT_NE(text.find("\n  C8.offset-out-of-range   1/2 runs (50.0%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  C9.truncate-blocked      0/2 runs (0.0%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  D1.promoted              1/1 runs (100.0%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnever reached (1): C9.truncate-blocked\n"), std::string::npos) << text;
  // Sorted by name, after the metrics and before the verdict line.
  EXPECT_LT(text.find("C8.offset"), text.find("C9.truncate"));
  EXPECT_LT(text.find("C9.truncate"), text.find("D1.promoted"));
  EXPECT_LT(text.find("never reached"), text.find("RESULT: PASS"));
}

TEST(SweepSummaryMarks, EveryMarkReachedAndNoMarksAtAll) {
  SweepSummary reached;
  reached.add(with_marks(1, {{"A.one", 1}, {"B.two", 2}}), 1, "r");
  EXPECT_TRUE(reached.never_reached().empty());
  EXPECT_NE(reached.text(1000).find("\nevery mark reached\n"), std::string::npos);

  // A scenario without a catalogue has no coverage section.
  SweepSummary none;
  none.add(with_marks(1, {}), 1, "r");
  EXPECT_TRUE(none.mark_reach().empty());
  EXPECT_EQ(none.text(1000).find("coverage"), std::string::npos);
  EXPECT_EQ(none.text(1000).find("never reached"), std::string::npos);
}

TEST(SweepSummaryMarks, RarelyReachedMarkNeverReadsAsZeroPercent) {
  SweepSummary s;
  for (uint64_t seed = 1; seed <= 3000; ++seed) s.add(with_marks(seed, {{"R.rare", seed == 42 ? 1u : 0u}}), 1, "r");
  EXPECT_NE(s.text(1000).find("  R.rare   1/3000 runs (<0.1%)\n"), std::string::npos) << s.text(1000);
}

TEST(SweepSummaryMarks, IndependentOfCompletionOrder) {
  std::vector<RunResult> runs = two_runs();
  runs.push_back(with_marks(3, {{"C9.truncate-blocked", 4}}, Verdict::kFail));
  runs.back().violations.push_back(Violation{"S1", InvariantKind::kSafety, "lost", Instant::zero(), false, {}});
  SweepSummary forward, backward;
  for (const RunResult& r : runs) forward.add(r, 5, "replay");
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) backward.add(*it, 5, "replay");
  EXPECT_EQ(forward.text(1000), backward.text(1000));
  EXPECT_EQ(forward.json("kafka"), backward.json("kafka"));
  EXPECT_TRUE(forward.never_reached().empty());
}

TEST(SweepSummaryMarks, JsonHasVerdictsInvariantsMarksAndNeverReached) {
  SweepSummary s;
  for (const RunResult& r : two_runs()) s.add(r, 5, "replay");
  RunResult failed = with_marks(3, {{"C8.offset-out-of-range", 1}, {"C9.truncate-blocked", 0}}, Verdict::kFail);
  failed.violations.push_back(Violation{"S2", InvariantKind::kSafety, "diverged", Instant::zero(), false, {}});
  failed.violations.push_back(Violation{"L1", InvariantKind::kLiveness, "slow", Instant::zero(), true, "faults"});
  s.add(failed, 5, "replay");
  EXPECT_EQ(s.json("kafka \"x\""),
            "{\"scenario\":\"kafka \\\"x\\\"\",\"runs\":3,"
            "\"verdicts\":{\"pass\":2,\"fail\":1,\"liveness\":0,\"crash\":0},"
            "\"by_invariant\":{\"S2\":1},\"excused\":{\"L1\":1},"
            "\"marks\":{\"C8.offset-out-of-range\":{\"reached\":2,\"runs\":3},"
            "\"C9.truncate-blocked\":{\"reached\":0,\"runs\":3},"
            "\"D1.promoted\":{\"reached\":1,\"runs\":1}},"
            "\"never_reached\":[\"C9.truncate-blocked\"],\"guards_not_tripped\":[]}");

  SweepSummary none;
  none.add(with_marks(1, {}), 1, "r");
  EXPECT_EQ(none.json("ping"),
            "{\"scenario\":\"ping\",\"runs\":1,\"verdicts\":{\"pass\":1,\"fail\":0,\"liveness\":0,\"crash\":0},"
            "\"by_invariant\":{},\"excused\":{},\"marks\":{},\"never_reached\":[],\"guards_not_tripped\":[]}");
}

// A guard (a refusal a correct model never needs) is not a hole in the sweep: it is listed
// apart, and a tripped guard is an ordinary reached mark.
TEST(SweepSummaryMarks, GuardsAreListedApartFromTheMarksNeverReached) {
  SweepSummary s;
  s.set_guards({"C9.truncate-blocked", "H3.rejected"});
  for (const RunResult& r : two_runs()) s.add(r, 5, "replay");
  s.add(with_marks(3, {{"H3.rejected", 0}, {"H3.applied", 0}}), 5, "replay");
  EXPECT_EQ(s.never_reached(), (std::vector<std::string>{"H3.applied"}));
  EXPECT_EQ(s.guards_not_tripped(), (std::vector<std::string>{"C9.truncate-blocked", "H3.rejected"}));
  const std::string text = s.text(1000);
  EXPECT_NE(text.find("\nnever reached (1): H3.applied\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nguards not tripped, as in a correct model (2): C9.truncate-blocked, H3.rejected\n"),
            std::string::npos)
      << text;
  EXPECT_NE(s.json("k").find(",\"never_reached\":[\"H3.applied\"],\"guards_not_tripped\":[\"C9.truncate-blocked\","
                             "\"H3.rejected\"]}"),
            std::string::npos)
      << s.json("k");
  s.add(with_marks(4, {{"H3.rejected", 2}}), 5, "replay");  // tripped (by a --bug run, say)
  EXPECT_EQ(s.guards_not_tripped(), (std::vector<std::string>{"C9.truncate-blocked"}));
}

// The real catalogues declare their guards.
TEST(SweepSummaryMarks, TheKafkaCataloguesDeclareTheirGuards) {
  const std::set<std::string> guards = guard_marks();
  EXPECT_TRUE(guards.contains("H3.transition-rejected"));
  EXPECT_TRUE(guards.contains("C2.offset-out-of-range-above-end"));
  EXPECT_FALSE(guards.contains("H3.upload-fenced"));
}

TEST(RunJson, MarksListEveryDeclaredMarkWithZeros) {
  const RunResult r = with_marks(7, {{"C8.offset-out-of-range", 2}, {"C9.truncate-blocked", 0}});
  const std::string json = run_to_json(r, 3, "replay");
  EXPECT_NE(json.find(",\"marks\":{\"C8.offset-out-of-range\":2,\"C9.truncate-blocked\":0},\"replay\":\"replay\"}"),
            std::string::npos)
      << json;
  EXPECT_NE(run_to_json(with_marks(7, {}), 3, "r").find(",\"marks\":{},"), std::string::npos);
}

}  // namespace
}  // namespace faultline
