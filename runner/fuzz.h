// runner/fuzz.h
// Property-based fuzzing of whole runs (`faultline fuzz`, and the `fuzz` RapidCheck tests):
// RapidCheck generates a configuration and workload (runner/fuzz_config.h), then fault plans
// of every kind a scenario's nemesis draws, aimed at any of its nodes and roles, at any
// times, within what that configuration tolerates (at most max_down
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

#include "runner/fuzz_config.h"
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
  RunRequest base;        // scenario, pinned sets, bugs; seed and plan are the fuzzer's
  bool vary_config = true;  // generate the configuration and workload too (runner/fuzz_config.h)
  uint64_t runs = 100;    // at most this many generated runs ...
  int64_t for_ms = 0;     // ... or for this long (wall clock), if non-zero
  int jobs = 2;
  int64_t timeout_ms = 300'000;
  uint64_t rc_seed = 1;   // RapidCheck's random seed: the same seed generates the same runs
  uint32_t max_shrink_runs = 400;
  // RapidCheck's RC_PARAMS string with a `reproduce` entry for fuzz_test_id(base): run that
  // one case (generated from its random state and size, then down its shrink path) instead.
  std::string reproduce;
};

struct FuzzResult {
  uint64_t runs = 0;
  double wall_s = 0;
  std::optional<RunResult> failure;  // the shrunk failure, if any
  RunRequest failing_request;        // what replays it exactly (configuration, seed, plan)
  FuzzCase original;                 // what first failed
  FuzzCase shrunk;
  uint64_t shrink_runs = 0;
  // RC_PARAMS="reproduce=..." for the shrunk case: `faultline fuzz` with the same scenario,
  // --set and --bug and this in the environment regenerates and runs exactly that case.
  std::string reproduce;
  std::map<std::string, uint64_t> marks_reached;  // mark -> runs that reached it
};

// The RapidCheck test id of fuzzing `base` ("faultline fuzz SCENARIO"; reproduce strings
// are keyed by it).
std::string fuzz_test_id(const RunRequest& base);

// Runs generated cases (isolated, `jobs` at a time) until a failure, the run budget or the
// time budget; shrinks a failure. `on_run` sees every run (for recording and progress).
// Throws BadInput-like std::invalid_argument for an RC_PARAMS string that does not parse or
// reproduces another test.
FuzzResult fuzz(const FuzzOptions& o, const std::function<void(const RunRequest&, const RunResult&, int64_t)>& on_run);

}  // namespace faultline
