// runner/shrink.h
// Shrinks a failing run's fault plan to the few faults that matter (delta debugging, Zeller
// and Hildebrandt 2002, in the greedy form QuickCheck-style shrinkers use): drop chunks of
// events, halving the chunk size when nothing more can go, then shorten the windows that
// remain. A candidate is kept when the run still ends the same way: the same verdict and,
// for a failure or a liveness finding, the same first invariant. The seed stays fixed, so
// everything but the faults (clients, latencies, batch sizes) is drawn as before; each
// candidate runs isolated in a child process, like a sweep's seeds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "scenarios/scenario.h"
#include "sim/fault_plan.h"

namespace faultline {

struct ShrinkOptions {
  int64_t timeout_ms = 300'000;  // per candidate run
  uint32_t max_runs = 400;       // candidate runs at most; the best plan so far is kept
};

struct ShrinkResult {
  FaultPlan plan;        // the smallest plan found that still ends like the original
  RunResult result;      // its run
  uint32_t runs = 0;     // candidate runs made
  bool budget_hit = false;
  std::map<std::string, std::string> sets;  // the request's --set values at the end (fewer partitions, say)
};

// What a shrunk run must keep: its verdict and first invariant.
std::string outcome_signature(const RunResult& r);

// Runs `request` with `plan` (through `run`, which must execute the request, normally in a
// child process) and shrinks while the outcome signature of `original` holds: drops events
// (halves, quarters, ... single ones), halves windows, leaves nodes out of partitions and
// link faults, moves events earlier (binary search on times), and halves `partitions` where
// the scenario has that parameter.
using Runner = std::function<RunResult(const RunRequest&)>;
ShrinkResult shrink_plan(const RunRequest& request, const FaultPlan& plan, const RunResult& original,
                         const ShrinkOptions& options, const Runner& run,
                         const std::function<void(const std::string&)>& progress = {});

}  // namespace faultline
