// runner/cli.h
// What the `faultline` subcommands share: the options every run-making command takes, turning
// them into requests, checking input (BadInput: one line, exit 2), replay lines, the human
// report of a run and recording single runs in the results database. main.cpp parses the
// command line; runner/db_commands.cpp holds the commands that work from the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runner/results_db.h"
#include "scenarios/scenario.h"

namespace faultline {

struct Common {
  std::string scenario;
  std::vector<std::string> sets;
  std::vector<std::string> bugs;
  std::string plan_path;
  bool json = false;
  int64_t timeout_s = 300;
  std::string db_path = "faultline.db";
  bool no_db = false;
};

int64_t wall_ms_since(std::chrono::steady_clock::time_point start);
std::string shell_quote(const std::string& s);
// Every option that affects the run: parameters, bugs, the plan (by absolute path, so the
// line works from any directory) and a non-default timeout.
std::string replay_command(const std::string& program, const RunRequest& r, const std::string& plan_path,
                           int64_t timeout_s);
std::string read_plan_file(const std::string& path);
std::string clip(std::string s);
std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets);
bool parse_u64(const std::string& s, uint64_t* out);
std::pair<uint64_t, uint64_t> parse_seed_range(const std::string& text);
// Validates a request (and notes a --bug the scenario is not known to catch).
void check(const RunRequest& r);
void print_run_human(const RunResult& r, int64_t wall_ms, const std::string& replay);
// The results database of `c`, or nullptr with --no-db; an unusable one is bad input.
std::unique_ptr<ResultsDb> open_db(const Common& c);
// Records one finished run (`faultline run`, or the result of `faultline shrink`) as a
// sweep of its own kind.
void record_one(ResultsDb* db, const char* kind, const RunRequest& req, const RunResult& r, int64_t wall_ms,
                const std::string& replay, const std::string& command);
RunRequest make_request(const Common& c, uint64_t seed);
// A run that could not start (e.g. a plan naming a node the scenario lacks) is bad input.
void check_result(const RunResult& r);

// runner/db_commands.cpp
// --timeline FILE: checks FILE can be written (BadInput otherwise) and returns the observer
// that writes the run's trace-event JSON there (reports/timeline.h).
std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)> timeline_observer(const std::string& path);

int cmd_replay(const std::string& program, const std::string& db_path, const std::string& run_id_text,
               bool last_failure, std::string trace_path, int64_t timeout_s, const std::string& timeline_path = "");
int cmd_fuzz(const std::string& program, const Common& c, uint64_t runs, const std::string& for_text, int jobs,
             uint64_t rc_seed, bool fixed_config);
int cmd_merge(const std::vector<std::string>& paths);

// runner/report_command.cpp: the results database at `db_path` as one HTML file at
// `out_path`, with the timelines of up to `max_timelines` failures re-run `jobs` at a time.
int cmd_report(const std::string& program, const std::string& db_path, const std::string& out_path, size_t max_timelines, int jobs,
               int64_t timeout_s);

}  // namespace faultline
