// tests/timeline_test.cpp
// `faultline timeline`'s output against the Trace Event Format, for a failing seed of every
// Kafka scenario: valid JSON; every event with its required fields and a known phase;
// timestamps that never go back on a track; slices on a track that do not overlap; every
// async fault slice begun and ended, in order; every RPC flow started and finished once, in
// order; the violation at its exact simulated time;
// process names for every node; leadership slices and LEO/HW counters present. The run
// itself is unchanged by the observer (same trace hash as without it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include "reports/timeline.h"
#include "scenarios/scenario.h"
#include "reports/json_reader.h"

namespace faultline {
namespace {


struct Case {
  std::string scenario;
  uint64_t seed;
  std::string bug;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t ns_of(const Json& e, const char* key) { return std::llround(e.at(key).number() * 1000.0); }

class TimelineFormat : public ::testing::TestWithParam<Case> {};

TEST_P(TimelineFormat, FailingSeedIsAValidTraceEventFile) {
  const Case& c = GetParam();
  const std::string path = ::testing::TempDir() + "timeline-" + c.scenario + ".json";
  RunRequest req;
  req.scenario = c.scenario;
  req.seed = c.seed;
  req.bugs = {c.bug};
  const RunResult plain = execute(req);
  req.observer = timeline_to(path);
  const RunResult r = execute(req);
  ASSERT_EQ(r.verdict, Verdict::kFail) << c.scenario << " seed " << c.seed << " with " << c.bug;
  EXPECT_EQ(r.trace_hash, plain.trace_hash) << "the timeline observer changed the run";

  const std::string text = read_file(path);
  EXPECT_LT(text.size(), 20u << 20) << "a timeline stays under 20 MB";
  std::string error;
  const std::optional<Json> doc = JsonReader::parse(text, &error);
  ASSERT_TRUE(doc) << error;
  ASSERT_TRUE(doc->has("traceEvents") && doc->at("traceEvents").is_array());
  const Json::Array& events = doc->at("traceEvents").array();
  ASSERT_GT(events.size(), 100u);

  std::set<double> named_pids;
  std::map<std::pair<double, double>, int64_t> last_ts;       // (pid, tid) -> last ts in file order
  std::map<std::pair<double, double>, int64_t> slice_end;     // (pid, tid) -> end of the last X slice
  std::map<std::tuple<double, std::string, double>, int64_t> open_async;  // (pid, cat, id) -> begin ts
  size_t leader_slices = 0, counters = 0, violations = 0, flows = 0, acks = 0;
  std::map<double, int64_t> flow_start;  // flow id -> start ts
  for (const Json& e : events) {
    ASSERT_TRUE(e.is_object());
    for (const char* key : {"ph", "name", "pid", "tid", "ts"}) ASSERT_TRUE(e.has(key)) << key << " missing";
    const std::string ph = e.at("ph").str();
    const double pid = e.at("pid").number();
    const std::pair<double, double> track{pid, e.at("tid").number()};
    const int64_t ts = ns_of(e, "ts");
    ASSERT_GE(ts, 0);
    if (ph == "M") {
      if (e.at("name").str() == "process_name") named_pids.insert(pid);
      continue;
    }
    ASSERT_TRUE(ph == "X" || ph == "i" || ph == "b" || ph == "e" || ph == "C" || ph == "s" || ph == "f")
        << "unknown phase " << ph;
    EXPECT_GE(ts, last_ts[track]) << "time went back on track " << pid << "/" << track.second;
    last_ts[track] = ts;
    if (ph == "X") {
      ASSERT_TRUE(e.has("dur"));
      const int64_t dur = ns_of(e, "dur");
      ASSERT_GE(dur, 0);
      EXPECT_GE(ts, slice_end[track]) << "overlapping slices on track " << pid << "/" << track.second;
      slice_end[track] = ts + dur;
      if (e.at("name").str().rfind("leader", 0) == 0) ++leader_slices;
    } else if (ph == "i") {
      ASSERT_TRUE(e.has("s"));
      if (e.at("name").str().rfind("ack p", 0) == 0 && e.has("args") && e.at("args").has("story") &&
          !e.at("args").at("story").str().empty()) {
        ++acks;
      }
      if (e.at("name").str().rfind("violation ", 0) == 0) {
        ++violations;
        if (violations == 1) {
          const auto first = std::find_if(r.violations.begin(), r.violations.end(), [](const Violation& v) { return !v.excused; });
          ASSERT_NE(first, r.violations.end());
          EXPECT_EQ(ts, first->at.ns()) << "simulated ns map to trace us exactly";
        }
      }
    } else if (ph == "b" || ph == "e") {
      ASSERT_TRUE(e.has("id") && e.has("cat"));
      const auto key = std::make_tuple(pid, e.at("cat").str(), e.at("id").number());
      if (ph == "b") {
        EXPECT_FALSE(open_async.contains(key)) << "async id begun twice";
        open_async[key] = ts;
      } else {
        auto it = open_async.find(key);
        ASSERT_NE(it, open_async.end()) << "async end without a begin";
        EXPECT_GE(ts, it->second);
        open_async.erase(it);
      }
    } else if (ph == "s" || ph == "f") {
      // Flow arrows (RPCs): every start has exactly one finish, no earlier than it.
      ASSERT_TRUE(e.has("id") && e.has("cat"));
      const double id = e.at("id").number();
      if (ph == "s") {
        EXPECT_FALSE(flow_start.contains(id)) << "flow id started twice";
        flow_start[id] = ts;
      } else {
        auto it = flow_start.find(id);
        ASSERT_NE(it, flow_start.end()) << "flow finish without a start";
        EXPECT_GE(ts, it->second);
        flow_start.erase(it);
        ++flows;
      }
    } else if (ph == "C") {
      ASSERT_TRUE(e.has("args") && e.at("args").is_object());
      if (e.at("args").has("LEO") && e.at("args").has("HW")) ++counters;
    }
  }
  EXPECT_TRUE(open_async.empty()) << "async slices never ended";
  EXPECT_TRUE(flow_start.empty()) << "flows never finished";
  EXPECT_GT(flows, 0u) << "no RPC drawn";
  EXPECT_GT(acks, 0u) << "no acknowledgement with its record's story";
  EXPECT_GT(leader_slices, 0u);
  EXPECT_GT(counters, 0u);
  EXPECT_GE(violations, 1u);
  for (double pid = 0; pid <= 3; ++pid) EXPECT_TRUE(named_pids.contains(pid)) << "process " << pid << " unnamed";
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKafkaScenario, TimelineFormat,
    ::testing::Values(Case{"broker-crash", 1, "truncate-to-hw"}, Case{"cascade", 12, "epoch-next-offset"},
                      Case{"partition", 7, "any-replica-election"},
                      Case{"controller-failover", 28, "vote-without-log-check"},
                      Case{"reassignment", 1, "reassign-without-catch-up"}, Case{"s3-outage", 1, "tier-above-hw"},
                      Case{"disk-stall", 1, "truncate-to-hw"}, Case{"dc-loss", 36, "isr-join-without-leso"}),
    [](const ::testing::TestParamInfo<Case>& param) {
      std::string name = param.param.scenario;
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

}  // namespace
}  // namespace faultline
