// runner/isolate.h
// Runs seeds in child processes so that nothing inside a run (a signal, an abort, an
// endless loop) can take the runner down or lose another seed's result.
//
// Each request runs in a fork()ed child which executes it in-process and sends the RunResult
// back through a pipe. A child that dies without a complete result (signal, abort, exit) or
// exceeds the wall-clock timeout (then it is SIGKILLed) yields a `crash` result that says
// why. Results are handed to `on_done` as soon as each child finishes.
//
// Warm workers (IsolationOptions::reuse, the default): a child runs request after request,
// each sent to it through a pipe, so a sweep does not pay a fork, a process exit and a fresh
// heap's page faults per seed (bench: 23% of a broker-crash sweep's wall time on one job).
// A worker that dies or times out takes only its current request with it (a crash result, as
// above) and the next request gets a fresh worker; every worker is replaced after
// kRunsPerWorker runs. Determinism does not depend on it: nothing in sim/, models/ or
// scenarios/ keeps state between runs (the determinism lint), and tests compare the hashes
// of seeds run fresh and in reused workers. Requests with a trace sink or an observer (a
// FILE* or a function cannot cross a pipe) always get a child of their own.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

struct IsolationOptions {
  IsolationOptions(int j = 1, int64_t timeout = 300'000) : jobs(j), timeout_ms(timeout) {}
  int jobs = 1;                 // children at once
  int64_t timeout_ms = 300'000; // wall-clock limit per run
  bool reuse = true;            // warm workers; false: a fresh child per request
  // Called at least every tick_ms while runs are in flight (progress lines); may be empty.
  std::function<void()> on_tick;
  int64_t tick_ms = 1000;
};

using OnDone = std::function<void(size_t index, const RunResult& result, int64_t wall_ms)>;

void run_isolated(const std::vector<RunRequest>& requests, const IsolationOptions& options, const OnDone& on_done);

// The same over a lazy stream of requests: `next` is asked for one more whenever a slot is
// free and returns nullopt at the end, so a range of 10^8 seeds starts at once in constant
// memory. `on_done` gets each request with its result and its place in the stream (0, 1, ...). A child dies with the runner: it asks
// the kernel for SIGKILL when its parent goes (PR_SET_PDEATHSIG).
using NextRequest = std::function<std::optional<RunRequest>()>;
using OnRequestDone =
    std::function<void(size_t sequence, const RunRequest& request, const RunResult& result, int64_t wall_ms)>;
void run_isolated_stream(const NextRequest& next, const IsolationOptions& options, const OnRequestDone& on_done);

// Encoding of a RunResult and of a RunRequest (without trace sink and observer) for the pipe
// (exposed for tests).
std::string encode_result(const RunResult& r);
bool decode_result(const std::string& bytes, RunResult* out);
std::string encode_request(const RunRequest& r);
bool decode_request(const std::string& bytes, RunRequest* out);

constexpr size_t kRunsPerWorker = 500;

}  // namespace faultline
