// reports/summary.h
// The end-of-sweep summary: counts per verdict and per invariant, the failing seeds with
// their replay commands, throughput (seeds/s, events/s, simulated seconds per wall second),
// and the runs' metrics: for a metric named *_ns (a simulated duration, -1 meaning "never
// happened in that run") its distribution over the runs that report it (median, p99, max,
// nearest rank; a "never" sorts after every time, so it shows in the percentiles and is
// counted, never dropped), for any other metric its total. Results are added in completion
// order; the text lists seeds in seed order and sorts the distributions, so the summary of
// a sweep does not depend on --jobs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

class SweepSummary {
 public:
  void add(const RunResult& r, int64_t wall_ms, std::string replay);
  std::string text(int64_t sweep_wall_ms) const;
  bool all_passed() const { return runs_ == counts_[0]; }
  uint64_t runs() const { return runs_; }
  uint64_t count(Verdict v) const { return counts_[static_cast<int>(v)]; }

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
};

// "median 10.412s, p99 31.020s, max 33.001s (500 runs)" for durations in ns (-1: never).
std::string distribution_text(std::vector<int64_t> values_ns);

// One line describing a run's outcome: "fail P1 at 3.2s: ..." or "pass".
std::string describe(const RunResult& r);

}  // namespace faultline
