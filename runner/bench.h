// runner/bench.h
// `faultline bench`: events per second of the scheduler beside the bare-loop floor (pop a
// priority queue, switch a fiber, push), plus a whole scenario's events/s and simulated
// seconds per wall second. A benchmark, not a test: it prints figures and asserts nothing
// about speed.
#pragma once

#include <cstdint>

namespace faultline {

int run_bench(uint64_t events, bool json);

}  // namespace faultline
