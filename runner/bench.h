// runner/bench.h
// `faultline bench`: events per second of the scheduler beside the bare-loop floor (pop a
// priority queue, switch a fiber, push), measured in the same run; then for every scenario
// (or those named) whole runs from seed 1: events/s, seeds/s and simulated seconds per wall
// second in-process on one core, seeds/s through the sweep's isolation on two jobs, and the
// share of wall time spent outside the simulation. Ratios to the floor make figures from a
// noisy machine comparable. A benchmark, not a test: it prints figures and asserts nothing
// about speed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace faultline {

struct BenchOptions {
  uint64_t events = 5'000'000;         // per scheduler measurement
  std::vector<std::string> scenarios;  // empty: every scenario but selftest
  double budget_s = 1.0;               // in-process wall seconds per scenario (5 to 500 seeds)
  bool json = false;
};

int run_bench(const BenchOptions& options);

}  // namespace faultline
