// runner/fuzz.h
// Property-based fuzzing of whole runs (`faultline fuzz`, and the `fuzz` RapidCheck tests):
// RapidCheck generates fault plans of every kind a scenario's nemesis draws, aimed at any of
// its nodes and roles, at any times, within what the cluster tolerates (at most max_down
// crashable targets down at once, at most the power-loss budget); the property is "every
// invariant holds". A failure is shrunk with RapidCheck's own shrinking (fewer events,
// shorter windows, earlier times, smaller node sets) to a small plan that still fails the
// same way, printed in its text form with the `faultline run --plan` command that replays it.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

// Plans for a scenario's plan space (RunResult::PlanSpace, from a plan_only run).
rc::Gen<FaultPlan> gen_plan(const RunResult::PlanSpace& space);

// Drops what exceeds the space's tolerance: crashes beyond max_down at once (a crash counts
// until its window and the rejoin grace have passed), power losses beyond the budget become
// kills. Keeps the plan sorted.
FaultPlan within_tolerance(FaultPlan plan, const RunResult::PlanSpace& space);

// The plan space of a scenario with these parameters (runs it with plan_only).
std::optional<RunResult::PlanSpace> plan_space(const RunRequest& base);

struct FuzzOptions {
  RunRequest base;        // scenario, sets, bugs; seed and plan are the fuzzer's
  uint64_t runs = 100;    // at most this many generated runs ...
  int64_t for_ms = 0;     // ... or for this long (wall clock), if non-zero
  int jobs = 2;
  int64_t timeout_ms = 300'000;
  uint64_t rc_seed = 1;   // RapidCheck's random seed: the same seed generates the same plans
  uint32_t max_shrink_runs = 400;
};

struct FuzzResult {
  uint64_t runs = 0;
  double wall_s = 0;
  std::optional<RunResult> failure;  // the shrunk failure, if any
  FaultPlan original_plan;           // what first failed
  FaultPlan shrunk_plan;
  uint64_t shrink_runs = 0;
  std::map<std::string, uint64_t> marks_reached;  // mark -> runs that reached it
};

// Runs generated plans (isolated, `jobs` at a time) until a failure, the run budget or the
// time budget; shrinks a failure. `on_run` sees every run (for recording and progress).
FuzzResult fuzz(const FuzzOptions& o, const std::function<void(const RunRequest&, const RunResult&, int64_t)>& on_run);

}  // namespace faultline
