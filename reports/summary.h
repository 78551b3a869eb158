// reports/summary.h
// The end-of-sweep summary: counts per verdict and per invariant, the failing seeds with
// their replay commands, throughput (seeds/s, events/s, simulated seconds per wall second),
// and the runs' metrics: for a metric named *_ns (a simulated duration, -1 meaning "never
// happened in that run") its distribution over the runs that report it (median, p99, max,
// nearest rank; a "never" sorts after every time, so it shows in the percentiles and is
// counted, never dropped), for any other metric its total. Then coverage: for every mark a
// run declared (sim/coverage.h), in how many of the runs that declared it the mark was
// reached, and the marks no run reached. A run that reports no marks (a scenario without a
// catalogue, or a child killed before it could report) declares none and does not count.
// Results are added in completion order; the text lists seeds in seed order, sorts the
// distributions and lists marks by name, so the summary of a sweep does not depend on --jobs.
//
// json() is the same summary for machines, one JSON object without wall-clock figures:
//   {"scenario":..,"runs":N,"verdicts":{"pass":N,"fail":N,"liveness":N,"crash":N},
//    "by_invariant":{"S1":N,..},"excused":{..},
//    "marks":{"C8.offset-out-of-range":{"reached":N,"runs":M},..},"never_reached":[..],
//    "guards_not_tripped":[..]}
// Its field names are a public interface like those of reports/json.h: add, never rename.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

class SweepSummary {
 public:
  void add(const RunResult& r, int64_t wall_ms, std::string replay);
  std::string text(int64_t sweep_wall_ms) const;
  std::string json(const std::string& scenario) const;
  bool all_passed() const { return runs_ == counts_[0]; }
  uint64_t runs() const { return runs_; }
  uint64_t count(Verdict v) const { return counts_[static_cast<int>(v)]; }
  // Per mark name: (runs that reached it, runs that declared it).
  std::map<std::string, std::pair<uint64_t, uint64_t>> mark_reach() const;
  // Guard marks (sim/coverage.h) by name: never_reached() leaves them out, and the summary
  // lists the unreached ones apart.
  void set_guards(std::set<std::string> guards) { guards_ = std::move(guards); }
  // The declared marks no run reached, by name, guards left out.
  std::vector<std::string> never_reached() const;
  // The declared guards no run tripped, by name.
  std::vector<std::string> guards_not_tripped() const;
  // What the report (reports/report_data.h) draws.
  const std::map<std::string, uint64_t>& by_invariant() const { return by_invariant_; }
  const std::map<std::string, uint64_t>& excused() const { return excused_; }
  const std::map<std::string, std::vector<int64_t>>& durations() const { return durations_; }
  const std::map<std::string, int64_t>& totals() const { return totals_; }
  uint64_t events() const { return events_; }
  int64_t sim_ns() const { return sim_ns_; }

 private:
  struct Failure {
    uint64_t seed;
    Verdict verdict;
    std::string what;
    std::string replay;
  };
  uint64_t runs_ = 0;
  uint64_t counts_[4] = {0, 0, 0, 0};
  uint64_t events_ = 0;
  int64_t sim_ns_ = 0;
  std::map<std::string, uint64_t> by_invariant_;  // unexcused
  std::map<std::string, uint64_t> excused_;
  std::map<uint64_t, Failure> failures_;  // by seed
  std::map<std::string, std::vector<int64_t>> durations_;  // *_ns metrics, -1 = never
  std::map<std::string, int64_t> totals_;                 // every other metric
  struct Reach {
    uint64_t reached = 0;   // runs with a count > 0
    uint64_t declared = 0;  // runs that declared the mark
  };
  std::map<std::string, Reach> marks_;
  std::set<std::string> guards_;
};

// "median 10.412s, p99 31.020s, max 33.001s (500 runs)" for durations in ns (-1: never).
std::string distribution_text(std::vector<int64_t> values_ns);

// One line describing a run's outcome: "fail P1 at 3.2s: ..." or "pass".
std::string describe(const RunResult& r);

}  // namespace faultline
