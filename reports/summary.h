// reports/summary.h
// The end-of-sweep summary: counts per verdict and per invariant, the failing seeds with
// their replay commands, and throughput (seeds/s, events/s, simulated seconds per wall
// second). Results are added in completion order; the text lists seeds in seed order, so
// the summary of a sweep does not depend on --jobs.
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
};

// One line describing a run's outcome: "fail P1 at 3.2s: ..." or "pass".
std::string describe(const RunResult& r);

}  // namespace faultline
