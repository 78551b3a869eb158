// tests/report_test.cpp
// The report's pieces (reports/report_data.h, swimlane.h, report_html.h) on real runs: the
// swimlane of a failing broker-crash seed shows what its trace says (the crashed leader down,
// the fault on the node it struck, leadership terms, LEO/HW lines of the violation's
// partition, the violation at its time); histograms rank like the text summary; runs group
// by what was run, with labels that tell groups apart; the page escapes what it shows and
// carries every chart's spec. The page itself is judged in Chromium by tests/browser.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/json_reader.h"
#include "reports/report_data.h"
#include "reports/report_html.h"
#include "reports/story.h"
#include "reports/timeline.h"
#include "tests/run_fixture.h"

namespace faultline {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Swimlane, FailingBrokerCrashSeedTellsItsStory) {
  // broker-crash seed 1 with truncate-to-hw: b2, leader of p2, is killed at 37.89 s; S6 on
  // partition 0 at 46.33 s (see README's catch table).
  const std::string path = ::testing::TempDir() + "swimlane-broker-crash.json";
  RunRequest req;
  req.scenario = "broker-crash";
  req.seed = 1;
  req.bugs = {"truncate-to-hw"};
  req.observer = timeline_to(path);
  const RunResult r = execute(req);
  ASSERT_EQ(r.verdict, Verdict::kFail) << test::why(r);
  ASSERT_FALSE(r.violations.empty());
  Swimlane s;
  std::string error;
  ASSERT_TRUE(swimlane_from_trace(slurp(path), &s, &error)) << error;

  EXPECT_EQ(s.end_ns, r.sim_time_ns);
  ASSERT_EQ(s.violations.size(), 1u);
  EXPECT_EQ(s.violations[0].at_ns, r.violations[0].at.since_start().ns());
  EXPECT_NE(s.violations[0].label.find("S6"), std::string::npos) << s.violations[0].label;
  EXPECT_EQ(s.line_partitions, std::vector<std::string>{"p0"}) << "lines for the partition the violation names";

  auto bars_of = [&](const std::string& lane_prefix, const std::string& row, const std::string& kind) {
    std::vector<Swimlane::Bar> out;
    for (const auto& b : s.bars) {
      if (b.lane.rfind(lane_prefix, 0) == 0 && b.row == row && b.kind == kind) out.push_back(b);
    }
    return out;
  };
  const auto down = bars_of("b2 ", "process", "down");
  ASSERT_EQ(down.size(), 1u) << "b2 is down once, from its kill to the end";
  EXPECT_EQ(down[0].end_ns, r.sim_time_ns);
  const auto faults = bars_of("b2 ", "faults", "fault");
  ASSERT_FALSE(faults.empty()) << "the kill aimed at leader:p2 is drawn on the node it struck";
  EXPECT_EQ(faults[0].start_ns, down[0].start_ns);
  EXPECT_NE(faults[0].label.find("kill"), std::string::npos);
  const auto led = bars_of("b2 ", "p2", "leader");
  ASSERT_FALSE(led.empty());
  EXPECT_EQ(led.back().end_ns, down[0].start_ns) << "its leadership of p2 ends when it dies";
  EXPECT_FALSE(bars_of("b1 ", "p0", "follower").empty());
  EXPECT_FALSE(bars_of("ctl ", "active", "active").empty());

  // Lines: LEO and HW of p0 on every broker, thinned, in time order per series.
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> series;
  for (const auto& p : s.points) {
    EXPECT_EQ(p.partition, "p0");
    series[{p.node, p.measure}].push_back(p.at_ns);
  }
  for (const char* node : {"b0", "b1", "b2"}) {
    for (const char* measure : {"LEO", "HW"}) {
      const auto& times = series[{node, measure}];
      EXPECT_FALSE(times.empty()) << node << " " << measure;
      EXPECT_LE(times.size(), Swimlane::kMaxPointsPerSeries + 1);
      EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
    }
  }
  // The spec is JSON and names every track.
  const std::string spec = swimlane_spec(s);
  ASSERT_TRUE(JsonReader::parse(spec, &error)) << error;
  EXPECT_NE(spec.find("\"b2 (dc1) process\""), std::string::npos);
}

TEST(Swimlane, RejectsWhatIsNotATimeline) {
  Swimlane s;
  std::string error;
  EXPECT_FALSE(swimlane_from_trace("{\"traceEvents\": 3}", &s, &error));
  EXPECT_FALSE(swimlane_from_trace("[1,2", &s, &error));
  EXPECT_FALSE(error.empty());
}

TEST(Story, TellsThePartitionAndTheAckOfTheRecordTheViolationNames) {
  // partition seed 21 with hw-before-truncation: S2 on partition 0 about record 0x500000007cd,
  // acknowledged at offset 662 (the catch table's first seed).
  RunRequest req;
  req.scenario = "partition";
  req.seed = 21;
  req.bugs = {"hw-before-truncation"};
  const RunResult plain = execute(req);
  req.observer = with_story({});
  const RunResult r = execute(req);
  ASSERT_EQ(r.verdict, Verdict::kFail) << test::why(r);
  EXPECT_EQ(r.trace_hash, plain.trace_hash) << "the story observer changed the run";
  EXPECT_TRUE(plain.story.empty());
  const std::string text = failure_story_text(r);
  EXPECT_NE(text.find("fault plan ("), std::string::npos) << text;
  EXPECT_NE(text.find("story of partition 0 and the cluster"), std::string::npos) << text;
  EXPECT_NE(text.find("ack p0 offset 662 (record 0x500000007cd, acks=all)"), std::string::npos) << text;
  EXPECT_EQ(text.find("partition=1 "), std::string::npos) << "only the violation's partition";
  // Time order, ending at the violation.
  std::vector<double> times;
  std::string last;
  std::istringstream lines(r.story.substr(r.story.find('\n') + 1));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("earlier line") != std::string::npos) continue;
    times.push_back(std::stod(line));
    last = line;
  }
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_LE(times.size(), StoryWriter::kMaxLines);
  EXPECT_NE(last.find("violation invariant=S2"), std::string::npos) << last;
  // A pass has no story.
  req.bugs.clear();
  EXPECT_TRUE(failure_story_text(execute(req)).empty());
}

TEST(Histogram, RanksLikeTheSummaryWithNeverLast) {
  const Histogram h = histogram_of({3'000'000'000, 1'000'000'000, -1, 2'000'000'000}, 3);
  EXPECT_EQ(h.runs, 4u);
  EXPECT_EQ(h.never, 1u);
  ASSERT_TRUE(h.p50);
  EXPECT_DOUBLE_EQ(*h.p50, 2.0);  // nearest rank 2 of [1, 2, 3, never]
  EXPECT_FALSE(h.p99) << "rank 4 is a never";
  EXPECT_FALSE(h.max);
  ASSERT_EQ(h.bins.size(), 3u);
  uint64_t counted = 0;
  for (const auto& b : h.bins) counted += b.count;
  EXPECT_EQ(counted, 3u);
  EXPECT_DOUBLE_EQ(h.bins.back().hi, 3.0);
  // Bins are [lo, hi), the last one closed: 1 s in [1, 2), 2 s and 3 s in [2, 3].
  EXPECT_EQ(h.bins[0].count, 0u);
  EXPECT_EQ(h.bins[1].count, 1u);
  EXPECT_EQ(h.bins[2].count, 2u) << "the largest value falls in the last bin";
  EXPECT_TRUE(histogram_of({}).bins.empty());
}

ReportRun stored(int64_t id, int64_t sweep, const RunResult& r) { return ReportRun{id, sweep, r, 20, "faultline run ..."}; }

TEST(BuildReport, GroupsByWhatWasRunAndListsFailures) {
  const RunResult pass = test::run_scenario("ping", 1);
  RunResult fail = test::run_scenario("ping", 2);
  fail.verdict = Verdict::kFail;
  fail.violations.push_back(Violation{"P1", InvariantKind::kSafety, "lost <b>&", Instant::zero(), false, ""});
  const std::vector<ReportSweep> sweeps = {
      {1, "sweep", "ping", {{"nodes", "3"}}, "", "bin", "2026-12-02T10:00:00Z", "2026-12-02T10:00:10Z"},
      {2, "sweep", "ping", {{"nodes", "5"}}, "", "bin", "2026-12-02T11:00:00Z", "2026-12-02T11:00:05Z"},
      {3, "sweep", "ping", {{"nodes", "3"}}, "", "bin", "2026-12-02T12:00:00Z", "2026-12-02T12:00:10Z"},
      {4, "sweep", "ping", {{"nodes", "3"}}, "ping-unordered-send", "bin", "2026-12-02T13:00:00Z", ""}};
  const std::vector<ReportRun> runs = {stored(1, 1, pass), stored(2, 1, fail), stored(3, 2, pass), stored(4, 3, pass),
                                       stored(5, 4, fail)};
  const Report report = build_report("r.db", sweeps, runs, {});
  ASSERT_EQ(report.groups.size(), 3u) << "sweeps 1 and 3 ran the same thing";
  EXPECT_EQ(report.groups[0].label, "ping [nodes=3]");
  EXPECT_EQ(report.groups[1].label, "ping [nodes=5]");
  EXPECT_EQ(report.groups[2].label, "ping, bug ping-unordered-send");
  EXPECT_EQ(report.groups[0].summary.runs(), 3u);
  EXPECT_EQ(report.groups[0].sweep_wall_s, 20);
  EXPECT_EQ(report.groups[2].sweep_wall_s, 0) << "an unfinished sweep has no wall time";
  ASSERT_EQ(report.failures.size(), 2u);
  EXPECT_EQ(report.failures[0].group, 0u);
  EXPECT_EQ(report.failures[0].invariant, "P1");
  EXPECT_EQ(pick_timelines(report, 10), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(pick_timelines(report, 1), (std::vector<size_t>{0}));

  const std::string html = report_html(report);
  EXPECT_NE(html.find("lost &lt;b&gt;&amp;"), std::string::npos) << "a message is shown, not interpreted";
  EXPECT_EQ(html.find("lost <b>"), std::string::npos);
  // The data block parses and holds a spec per chart div.
  const std::string tag = "<script type=\"application/json\" id=\"faultline-data\">";
  const size_t at = html.find(tag);
  ASSERT_NE(at, std::string::npos);
  const size_t end = html.find("</script>", at);
  std::string error;
  const auto data = JsonReader::parse(html.substr(at + tag.size(), end - at - tag.size()), &error);
  ASSERT_TRUE(data) << error;
  size_t divs = 0;
  for (size_t pos = html.find("data-chart=\""); pos != std::string::npos; pos = html.find("data-chart=\"", pos + 1)) {
    const size_t close = html.find('"', pos + 12);
    EXPECT_TRUE(data->at("charts").has(html.substr(pos + 12, close - pos - 12))) << html.substr(pos, 40);
    ++divs;
  }
  EXPECT_EQ(divs, data->at("charts").object().size());
  EXPECT_GE(divs, 1u + 3u) << "the verdicts and a wall-time histogram per group at least";
}

TEST(ReportHtml, ScriptDataCannotCloseItsElement) {
  Report report;
  ReportGroup g;
  g.label = "</script><script>alert(1)</script> <!--<script>";
  report.groups.push_back(std::move(g));
  const std::string html = report_html(report);
  const size_t data = html.find("id=\"faultline-data\">");
  ASSERT_NE(data, std::string::npos);
  const size_t close = html.find("</script>", data);
  const std::string block = html.substr(data + 20, close - data - 20);
  EXPECT_EQ(block.find('<'), std::string::npos) << "no '<' in the data: neither </script nor <!-- can act";
  EXPECT_NE(block.find("\\u003c/script>"), std::string::npos) << "the label is still there, escaped for JSON";
  EXPECT_EQ(html_escape("<a href='x'>&\""), "&lt;a href=&apos;x&apos;&gt;&amp;&quot;");
}

}  // namespace
}  // namespace faultline
