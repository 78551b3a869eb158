// runner/results_db.h
// The results database (SQLite, `faultline.db` by default): every sweep, run and shrink the
// runner finishes is recorded here, through the parent process only, so that nothing found is
// ever lost and an interrupted sweep can continue where it stopped.
//
// Schema (user_version 1; `migrate` brings an older file up to date, and refuses a newer one):
//   sweeps(id, kind, key, scenario, params, bugs, plan, first_seed, last_seed, shard, command,
//          binary, git_commit, build_type, host, started_at, ended_at)
//     kind is sweep, run or shrink; key identifies "the same sweep" for resuming: scenario,
//     resolved parameters, bug switches, plan text, seed range, shard and binary; ended_at is
//     NULL while the sweep is unfinished.
//   runs(id, sweep_id, seed, scenario, params, bugs, verdict, first_invariant, message,
//        trace_hash, events, sim_time_ns, wall_ms, fault_plan, replay, metrics, marks), one per
//        (sweep, seed)
//   violations(run_id, invariant, kind, at_ns, message, excused, excuse)
// Times are UTC ISO-8601 text; params, metrics and marks are `name=value` lines in name order
// (one text per run: a row per mark cost 8% of a broker-crash sweep's wall time on 2 cores,
// the text 3-5%); bugs is comma-separated.
//
// WAL mode; results are buffered and committed in one transaction per batch (every 256 runs
// or each second, and at the end), so a kill loses at most the uncommitted batch, which a
// resumed sweep runs again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

struct sqlite3;
struct sqlite3_stmt;

namespace faultline {

// What identifies a sweep (for resuming) and what is recorded about it.
struct SweepRecord {
  std::string kind = "sweep";  // sweep, run, shrink
  std::string scenario;
  std::map<std::string, std::string> params;  // resolved
  std::vector<std::string> bugs;
  std::string plan;  // plan text, or empty
  uint64_t first_seed = 0;
  uint64_t last_seed = 0;
  std::string shard;  // "K/N" or empty
  std::string command;
  std::string key() const;
};

// A stored run, as much as a summary needs.
struct StoredRun {
  int64_t id = 0;
  int64_t sweep_id = 0;
  RunResult result;
  int64_t wall_ms = 0;
  std::string replay;
  std::string binary;  // of the sweep that recorded it
  std::string kind;    // of the sweep that recorded it: sweep, run, shrink, fuzz
};

// A recorded sweep, as the report lists it.
struct StoredSweep {
  int64_t id = 0;
  std::string kind;  // sweep, run, shrink, fuzz
  std::string scenario;
  std::map<std::string, std::string> params;  // resolved
  std::string bugs;    // comma-separated
  std::string command;
  std::string binary;
  std::string started_at;
  std::string ended_at;  // empty while unfinished
};

class ResultsDb {
 public:
  // Opens (creating if needed) the database at `path`. nullptr and `error` set if it cannot be
  // opened, written or migrated, or is not a results database; an existing file is then left
  // as it was.
  static std::unique_ptr<ResultsDb> open(const std::string& path, std::string* error);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  // Begins a sweep, or finds the unfinished one with the same key (then `resumed` is set and
  // its recorded seeds are in `done`).
  int64_t begin(const SweepRecord& sweep, bool resume, bool* resumed, std::set<uint64_t>* done);
  void add(int64_t sweep_id, const RunResult& r, int64_t wall_ms, const std::string& replay);
  void finish(int64_t sweep_id);
  void flush();

  // The runs of a sweep, by seed (for a resumed sweep's summary).
  std::vector<StoredRun> runs(int64_t sweep_id);
  // One run by id, or the latest run that did not pass.
  std::optional<StoredRun> run(int64_t run_id);
  std::optional<StoredRun> last_failure();
  // The marks any recorded run of `kind` (sweep, fuzz, ...) of `scenario` reached, and how
  // many such runs there are.
  std::set<std::string> marks_reached(const std::string& scenario, const std::string& kind, uint64_t* runs);
  // Every sweep by id, and every run by sweep and seed (faultline report).
  std::vector<StoredSweep> sweeps();
  std::vector<StoredRun> all_runs();
  // The plan text a sweep ran with (--plan), or empty.
  std::string sweep_plan(int64_t sweep_id);
  // The plan that re-runs `run` exactly: its sweep's --plan, or for a fuzz run (whose plans
  // are generated, one per run) the run's own; empty when the seed draws it.
  std::string plan_of(const StoredRun& run);
  // The request that runs `run` again exactly (replay, the report's timelines).
  RunRequest rerun_request(const StoredRun& run);

  // Copies every sweep and run of the results database at `path` into this one (faultline
  // merge). Refuses, changing nothing, a file that is not a results database and one whose
  // sweeps differ from those already here in binary, scenario, parameters, bugs, plan or seed
  // range (shards of one sweep differ only in their shard). False and `error` set then.
  bool merge_from(const std::string& path, std::string* error);

  // The binary identity recorded with sweeps: version, git commit and build type.
  static std::string binary_identity();

 private:
  explicit ResultsDb(sqlite3* db) : db_(db) {}
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  void write_batch();
  std::vector<StoredRun> query_runs(const char* where, int64_t arg);

  sqlite3* db_ = nullptr;
  struct Pending {
    int64_t sweep_id;
    RunResult result;
    int64_t wall_ms;
    std::string replay;
  };
  std::vector<Pending> pending_;
  std::chrono::steady_clock::time_point last_commit_ = std::chrono::steady_clock::now();
};

}  // namespace faultline
