// runner/sweep.h
// `faultline sweep`: a range of seeds, each isolated in its own process, produced lazily;
// every finished result recorded in the results database (runner/results_db.h) as it comes,
// so that the same command after a kill continues where it stopped; a slice of the range
// when sharded; progress on the terminal; the summary as text, JSON and JUnit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "scenarios/scenario.h"

namespace faultline {

// --shard: this process runs seeds whose position in the range is k-1 modulo n.
struct Shard {
  uint64_t k = 1;  // 1-based
  uint64_t n = 1;
  std::string text() const;
};

// Parses "K/N", or "auto" from the engine that launched us: Kubernetes Indexed Jobs
// (JOB_COMPLETION_INDEX, 0-based, with the count given as `count`), Slurm job arrays
// (SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or SLURM_ARRAY_TASK_MIN/MAX), GNU
// parallel (PARALLEL_SEQ, 1-based, with `count`). GitHub Actions matrices pass K/N as
// arguments. Throws BadInput.
Shard parse_shard(const std::string& text, std::optional<uint64_t> count,
                  const std::function<const char*(const char*)>& getenv);

struct SweepOptions {
  std::string command_line;
  std::string scenario;
  std::map<std::string, std::string> sets;
  std::vector<std::string> bugs;
  std::string plan_path;  // absolute, or empty
  std::optional<std::string> plan_text;
  bool json = false;
  int64_t timeout_s = 300;
  uint64_t first = 0;
  uint64_t last = 0;
  int jobs = 2;
  std::string summary_json_path;
  std::string junit_path;
  std::string db_path = "faultline.db";  // empty: --no-db
  bool fresh = false;                    // never resume an unfinished sweep
  bool quiet = false;
  int64_t progress_interval_s = 10;  // without a TTY
  Shard shard;
  // Every seed twice, in two processes started in alternating order; a hash mismatch is a
  // failure ("determinism") naming the window of trace records where the runs first differ.
  bool check_determinism = false;
  // A fresh child process per seed instead of warm workers (runner/isolate.h).
  bool fresh_processes = false;
};

// Runs the sweep; returns the exit code (0 all passed, 1 otherwise). Throws BadInput.
int run_sweep(const SweepOptions& o, const std::function<std::string(const RunRequest&)>& replay_command);

}  // namespace faultline
