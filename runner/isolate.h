// runner/isolate.h
// Runs seeds in child processes so that nothing inside a run (a signal, an abort, an
// endless loop) can take the runner down or lose another seed's result.
//
// Each request runs in a fork()ed child which executes it in-process and sends the RunResult
// back through a pipe. A child that dies without a complete result (signal, abort, exit) or
// exceeds the wall-clock timeout (then it is SIGKILLed) yields a `crash` result that says
// why. Results are handed to `on_done` as soon as each child finishes.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

struct IsolationOptions {
  int jobs = 1;                 // children at once
  int64_t timeout_ms = 300'000; // wall-clock limit per run
};

using OnDone = std::function<void(size_t index, const RunResult& result, int64_t wall_ms)>;

void run_isolated(const std::vector<RunRequest>& requests, const IsolationOptions& options, const OnDone& on_done);

// Encoding of a RunResult for the pipe (exposed for tests).
std::string encode_result(const RunResult& r);
bool decode_result(const std::string& bytes, RunResult* out);

}  // namespace faultline
