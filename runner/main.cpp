// runner/main.cpp
// The `faultline` command line: run, sweep, list, bench.
//
// Exit codes: 0 everything passed; 1 some run did not pass; 2 bad input (one line on
// stderr, nothing run). Every run prints its replay command.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <map>
#include <string>
#include <vector>

#include "reports/json.h"
#include "reports/summary.h"
#include "scenarios/registry.h"
#include "runner/bad_input.h"
#include "runner/bench.h"
#include "runner/fuzz.h"
#include "runner/isolate.h"
#include "runner/results_db.h"
#include "runner/shrink.h"
#include "runner/sweep.h"
#include "runner/trace_ring.h"
#include "scenarios/scenario.h"

namespace faultline {
namespace {

int64_t wall_ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/=+") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Every option that affects the run: parameters, bugs, the plan (by absolute path, so the
// line works from any directory) and a non-default timeout.
int64_t g_replay_timeout_s = 300;

std::string replay_command(const std::string& program, const RunRequest& r, const std::string& plan_path) {
  std::string cmd = fmt::format("{} run --scenario {} --seed {}", shell_quote(program), shell_quote(r.scenario), r.seed);
  for (const auto& [k, v] : r.sets) cmd += fmt::format(" --set {}", shell_quote(k + "=" + v));
  for (const auto& b : r.bugs) cmd += fmt::format(" --bug {}", shell_quote(b));
  if (!plan_path.empty()) {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(plan_path, ec);
    cmd += fmt::format(" --plan {}", shell_quote(ec ? plan_path : absolute.string()));
  }
  if (g_replay_timeout_s != 300) cmd += fmt::format(" --timeout {}", g_replay_timeout_s);
  return cmd;
}

// A plan file: a regular file of at most 1 MiB with at least one fault (a plan without one
// would silently run nothing; `--set faults=0` says that on purpose).
std::string read_plan_file(const std::string& path) {
  constexpr size_t kMaxPlanBytes = 1 << 20;
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) throw BadInput{fmt::format("cannot read fault plan '{}'", path)};
  if (!S_ISREG(st.st_mode)) throw BadInput{fmt::format("fault plan '{}' is not a regular file", path)};
  if (static_cast<size_t>(st.st_size) > kMaxPlanBytes) {
    throw BadInput{fmt::format("fault plan '{}' is larger than 1 MiB", path)};
  }
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw BadInput{fmt::format("cannot read fault plan '{}'", path)};
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= kMaxPlanBytes;) text.append(buf, n);
  std::fclose(f);
  std::string error;
  const auto plan = FaultPlan::parse(text, &error);
  if (plan && plan->events.empty()) throw BadInput{fmt::format("fault plan '{}' has no faults", path)};
  return text;
}

// One line of at most 300 characters: an error never echoes a 100 KB argument.
std::string clip(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (s.size() > 300) s = s.substr(0, 297) + "...";
  return s;
}

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> out;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw BadInput{fmt::format("--set wants key=value, got '{}'", s)};
    const std::string key = s.substr(0, eq);
    if (out.count(key) != 0) throw BadInput{fmt::format("--set {} given twice", key)};
    out[key] = s.substr(eq + 1);
  }
  return out;
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 20) return false;
  try {
    size_t used = 0;
    *out = std::stoull(s, &used);
    return used == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::pair<uint64_t, uint64_t> parse_seed_range(const std::string& text) {
  const auto dots = text.find("..");
  uint64_t a = 0, b = 0;
  if (dots == std::string::npos) {
    if (!parse_u64(text, &a)) throw BadInput{fmt::format("--seeds wants A..B or N, got '{}'", text)};
    return {a, a};
  }
  if (!parse_u64(text.substr(0, dots), &a) || !parse_u64(text.substr(dots + 2), &b)) {
    throw BadInput{fmt::format("--seeds wants A..B with non-negative integers, got '{}'", text)};
  }
  if (a > b) throw BadInput{fmt::format("--seeds range is empty: {} > {}", a, b)};
  if (b - a >= 100'000'000) throw BadInput{fmt::format("--seeds range too large: {} seeds", b - a + 1)};
  return {a, b};
}

void check(const RunRequest& r) {
  std::string error = validate(r);
  if (!error.empty()) throw BadInput{error};
  // A switch this scenario is not known to catch runs, but a pass says little about it.
  const ScenarioInfo* info = find_scenario(r.scenario);
  for (const std::string& b : r.bugs) {
    bool caught = false;
    for (const auto& c : info->catches) caught |= bug_name(c.bug) == b;
    if (caught) continue;
    std::string where;
    for (const auto& s : all_scenarios()) {
      for (const auto& c : s.catches) {
        if (bug_name(c.bug) == b) where = s.name;
      }
    }
    fmt::print(stderr, "faultline: note: scenario {} is not known to catch --bug {}{}; a pass says little about it\n",
               r.scenario, b, where.empty() ? std::string() : fmt::format(" (scenario {} is)", where));
  }
}

void print_run_human(const RunResult& r, int64_t wall_ms, const std::string& replay) {
  fmt::print("{} seed {}: {}\n", r.scenario, r.seed, describe(r));
  for (const auto& v : r.violations) {
    fmt::print("  {} {} {} at {}: {}{}\n", v.excused ? "excused" : "violated", v.invariant,
               v.kind == InvariantKind::kSafety ? "(safety)" : "(liveness)", format_duration(v.at.since_start()),
               v.message, v.excused ? " [" + v.excuse + "]" : "");
  }
  for (const auto& [k, v] : r.metrics) fmt::print("  {} = {}\n", k, v);
  fmt::print("  trace_hash {} events {} sim_time {} wall {} ms\n", hex64(r.trace_hash), r.events,
             format_duration(Duration::nanos(r.sim_time_ns)), wall_ms);
  fmt::print("  replay: {}\n", replay);
}

// For a failed run: the last events that led to its end, from the trace ring the run wrote
// into (its child's memory is shared with us, so this works after a signal or a hang too).
void print_trace_tail(const TraceRing& ring) {
  constexpr size_t kTail = 25;
  const std::vector<std::string> lines = ring.last_lines(kTail);
  if (lines.empty()) return;
  fmt::print("  last {} trace events (the full trace: add --trace FILE):\n", lines.size());
  for (const std::string& l : lines) fmt::print("  | {}", l);
}

int cmd_list(bool json) {
  if (!json) {
    for (const auto& s : all_scenarios()) {
      fmt::print("{}\n  {}\n", s.name, s.description);
      size_t width = 0;
      for (const auto& p : s.params) width = std::max(width, p.name.size() + 1 + p.default_value.size());
      for (const auto& p : s.params) {
        fmt::print("  --set {:<{}}  {}\n", p.name + "=" + p.default_value, width, p.description);
      }
      for (const auto& c : s.catches) {
        fmt::print("  --bug {} (expects {})\n", bug_name(c.bug), fmt::join(c.expects, " or "));
      }
    }
    return 0;
  }
  std::string out = "{\"scenarios\":[";
  bool first = true;
  for (const auto& s : all_scenarios()) {
    out += fmt::format("{}{{\"name\":{},\"description\":{},\"parameters\":[", first ? "" : ",", json_escape(s.name),
                       json_escape(s.description));
    bool pf = true;
    for (const auto& p : s.params) {
      out += fmt::format("{}{{\"name\":{},\"default\":{},\"description\":{}}}", pf ? "" : ",", json_escape(p.name),
                         json_escape(p.default_value), json_escape(p.description));
      pf = false;
    }
    out += "]}";
    first = false;
  }
  out += "],\"bugs\":[";
  first = true;
  for (const auto& b : bug_catalogue()) {
    std::string scenario;
    std::vector<std::string> expects;
    for (const auto& s : all_scenarios()) {
      for (const auto& c : s.catches) {
        if (c.bug == b.bug) {
          scenario = s.name;
          expects = c.expects;
        }
      }
    }
    std::vector<std::string> quoted;
    for (const auto& e : expects) quoted.push_back(json_escape(e));
    out += fmt::format("{}{{\"name\":{},\"scenario\":{},\"expects\":[{}],\"description\":{},\"origin\":{}}}",
                       first ? "" : ",", json_escape(b.name), json_escape(scenario), fmt::join(quoted, ","),
                       json_escape(b.description), json_escape(b.origin));
    first = false;
  }
  out += "]}\n";
  fmt::print("{}", out);
  return 0;
}

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

// Records one finished run (`faultline run`, or the result of `faultline shrink`) as a
// sweep of its own kind; an unusable database is bad input, found before the run.
std::unique_ptr<ResultsDb> open_db(const Common& c) {
  if (c.no_db || c.db_path.empty()) return nullptr;
  std::string error;
  auto db = ResultsDb::open(c.db_path, &error);
  if (!db) throw BadInput{error};
  return db;
}

void record_one(ResultsDb* db, const char* kind, const Common& c, const RunRequest& req, const RunResult& r,
                int64_t wall_ms, const std::string& replay, const std::string& command) {
  if (db == nullptr) return;
  SweepRecord rec;
  rec.kind = kind;
  rec.scenario = r.scenario;
  rec.params = r.params;
  rec.bugs = r.bugs;
  rec.plan = req.plan_text.value_or("");
  rec.first_seed = rec.last_seed = r.seed;
  rec.command = command;
  bool resumed = false;
  std::set<uint64_t> done;
  const int64_t id = db->begin(rec, /*resume=*/false, &resumed, &done);
  db->add(id, r, wall_ms, replay);
  db->finish(id);
  (void)c;
}

RunRequest make_request(const Common& c, uint64_t seed) {
  RunRequest r;
  r.scenario = c.scenario;
  r.seed = seed;
  r.sets = parse_sets(c.sets);
  r.bugs = c.bugs;
  if (!c.plan_path.empty()) r.plan_text = read_plan_file(c.plan_path);
  return r;
}

// A run that could not start (e.g. a plan naming a node the scenario lacks) is bad input.
void check_result(const RunResult& r) {
  if (!r.input_error.empty()) throw BadInput{r.input_error};
}

int cmd_run(const std::string& program, const Common& c, uint64_t seed, const std::string& trace_path,
            bool in_process, const std::string& command) {
  RunRequest req = make_request(c, seed);
  check(req);
  if (c.json && trace_path == "-") throw BadInput{"--json with --trace - would mix trace lines into the JSON stream"};
  auto db = open_db(c);
  std::FILE* trace = nullptr;
  if (!trace_path.empty()) {
    trace = trace_path == "-" ? stdout : std::fopen(trace_path.c_str(), "w");
    if (trace == nullptr) throw BadInput{fmt::format("cannot open trace file '{}' for writing", trace_path)};
    // Line-buffered: a run that dies of a signal still leaves its trace up to the last line.
    std::setvbuf(trace, nullptr, _IOLBF, 1 << 16);
  }
  // Without --trace the run writes into a ring shared with its child, for the tail below.
  TraceRing ring;
  req.trace_sink = trace != nullptr ? trace : ring.sink();
  const std::string replay = replay_command(program, req, c.plan_path);
  const auto start = std::chrono::steady_clock::now();
  RunResult result;
  int64_t wall_ms = 0;
  if (in_process) {
    result = execute(req);
    wall_ms = wall_ms_since(start);
  } else {
    run_isolated({req}, IsolationOptions{1, c.timeout_s * 1000}, [&](size_t, const RunResult& r, int64_t ms) {
      result = r;
      wall_ms = ms;
    });
  }
  if (trace != nullptr && trace != stdout) std::fclose(trace);
  check_result(result);
  record_one(db.get(), "run", c, req, result, wall_ms, replay, command);
  if (c.json) {
    const std::string line = run_to_json(result, wall_ms, replay) + "\n";
    std::fflush(stdout);
    (void)!::write(STDOUT_FILENO, line.data(), line.size());  // one JSON line, one write
  } else {
    print_run_human(result, wall_ms, replay);
    if (result.verdict != Verdict::kPass && trace == nullptr) {
      if (ring.sink() != nullptr) std::fflush(ring.sink());  // an in-process run's last line
      print_trace_tail(ring);
    }
  }
  return result.verdict == Verdict::kPass ? 0 : 1;
}

int cmd_sweep(const std::string& program, const Common& c, SweepOptions o, const std::string& seeds) {
  const auto [first, last] = parse_seed_range(seeds);
  o.program = program;
  o.scenario = c.scenario;
  o.sets = parse_sets(c.sets);
  o.bugs = c.bugs;
  o.plan_path = c.plan_path;
  if (!c.plan_path.empty()) o.plan_text = read_plan_file(c.plan_path);
  o.json = c.json;
  o.timeout_s = c.timeout_s;
  o.first = first;
  o.last = last;
  RunRequest probe;
  probe.scenario = c.scenario;
  probe.seed = first;
  probe.sets = o.sets;
  probe.bugs = o.bugs;
  probe.plan_text = o.plan_text;
  check(probe);
  return run_sweep(o, [&](const RunRequest& r) { return replay_command(program, r, c.plan_path); });
}

// faultline replay: one stored run again, exactly, with its trace written and its hash
// checked against the stored one. Exit 0 (same hash, pass), 1 (same hash, the failure
// reproduced) or 3 (another hash: another binary, or non-determinism; said plainly).
int cmd_replay(const std::string& program, const std::string& db_path, const std::string& run_id_text,
               bool last_failure, std::string trace_path, int64_t timeout_s) {
  if (!std::filesystem::exists(db_path)) throw BadInput{fmt::format("no results database '{}'", db_path)};
  std::string error;
  auto db = ResultsDb::open(db_path, &error);
  if (!db) throw BadInput{error};
  std::optional<StoredRun> stored;
  if (last_failure) {
    if (!run_id_text.empty()) throw BadInput{"replay takes a RUN_ID or --last-failure, not both"};
    stored = db->last_failure();
    if (!stored) throw BadInput{fmt::format("no failed run in '{}'", db_path)};
  } else {
    uint64_t id = 0;
    if (!parse_u64(run_id_text, &id)) throw BadInput{"replay wants a RUN_ID (a runs.id) or --last-failure"};
    stored = db->run(static_cast<int64_t>(id));
    if (!stored) throw BadInput{fmt::format("no run {} in '{}'", id, db_path)};
  }
  RunRequest req;
  req.scenario = stored->result.scenario;
  req.seed = stored->result.seed;
  req.sets = stored->result.params;
  for (const std::string& b : stored->result.bugs) {
    if (!b.empty()) req.bugs.push_back(b);
  }
  if (const std::string plan = db->sweep_plan(stored->sweep_id); !plan.empty()) req.plan_text = plan;
  check(req);
  if (trace_path.empty()) trace_path = fmt::format("replay-run{}.trace", stored->id);
  std::FILE* trace = std::fopen(trace_path.c_str(), "w");
  if (trace == nullptr) throw BadInput{fmt::format("cannot open trace file '{}' for writing", trace_path)};
  std::setvbuf(trace, nullptr, _IOLBF, 1 << 16);
  req.trace_sink = trace;
  RunResult result;
  int64_t wall_ms = 0;
  run_isolated({req}, IsolationOptions{1, timeout_s * 1000}, [&](size_t, const RunResult& r, int64_t ms) {
    result = r;
    wall_ms = ms;
  });
  std::fclose(trace);
  check_result(result);
  print_run_human(result, wall_ms, replay_command(program, req, ""));
  fmt::print("  full trace: {}\n", trace_path);
  if (result.trace_hash == stored->result.trace_hash) {
    fmt::print("replay of run {}: trace hash {} matches the recorded one\n", stored->id, hex64(result.trace_hash));
    return result.verdict == Verdict::kPass ? 0 : 1;
  }
  fmt::print("replay of run {}: trace hash DIFFERS: recorded {} by {}, this binary ({}) gives {}{}\n", stored->id,
             hex64(stored->result.trace_hash), stored->binary, ResultsDb::binary_identity(), hex64(result.trace_hash),
             stored->binary == ResultsDb::binary_identity()
                 ? ": the same binary, so the run is not deterministic (a bug in Faultline: please report it)"
                 : ": another binary, whose model may differ");
  return 3;
}

// faultline fuzz: generated plans until a failure, a run budget or a time budget; a failure
// is shrunk and printed with the command that replays it. Exit 0 (nothing found) or 1.
int cmd_fuzz(const std::string& program, const Common& c, uint64_t runs, const std::string& for_text, int jobs,
             uint64_t rc_seed) {
  FuzzOptions o;
  o.base = make_request(c, 0);
  check(o.base);
  if (o.base.plan_text) throw BadInput{"fuzz generates its own plans: --plan does not apply"};
  o.runs = runs;
  if (!for_text.empty()) {
    Duration d;
    if (!parse_duration(for_text, &d) || d.ns() <= 0 || d > Duration::seconds(7 * 86'400)) {
      throw BadInput{fmt::format("--for wants a duration such as 90s or 10m (at most 7 days), got '{}'", for_text)};
    }
    o.for_ms = d.ns() / 1'000'000;
    if (runs == 100) o.runs = UINT64_MAX;  // --for alone: as many runs as fit
  }
  o.jobs = jobs;
  o.timeout_ms = c.timeout_s * 1000;
  o.rc_seed = rc_seed;
  if (!plan_space(o.base)) throw BadInput{fmt::format("scenario '{}' has no fault plan to fuzz", c.scenario)};
  auto db = open_db(c);
  int64_t sweep_id = 0;
  if (db) {
    SweepRecord rec;
    rec.kind = "fuzz";
    rec.scenario = c.scenario;
    rec.bugs = c.bugs;
    rec.first_seed = 0;
    rec.last_seed = o.runs == UINT64_MAX ? 0 : o.runs - 1;
    rec.command = fmt::format("fuzz --scenario {} --seed {}", c.scenario, rc_seed);
    bool resumed = false;
    std::set<uint64_t> done;
    sweep_id = db->begin(rec, /*resume=*/false, &resumed, &done);
  }
  const FuzzResult f = fuzz(o, [&](const RunRequest& req, const RunResult& r, int64_t ms) {
    if (db) db->add(sweep_id, r, ms, replay_command(program, req, ""));
  });
  if (db) db->finish(sweep_id);
  fmt::print("fuzz {} (RapidCheck seed {}): {} runs in {:.1f} s, {:.1f} runs/s\n", c.scenario, rc_seed, f.runs, f.wall_s,
             static_cast<double>(f.runs) / std::max(f.wall_s, 0.001));
  size_t reached = 0;
  for (const auto& [name, n] : f.marks_reached) reached += n > 0;
  fmt::print("coverage: {} of {} marks reached\n", reached, f.marks_reached.size());
  if (db) {
    // What fuzzing reached that the recorded sweeps of this scenario never did.
    uint64_t sweep_runs = 0;
    const std::set<std::string> swept = db->marks_reached(c.scenario, "sweep", &sweep_runs);
    std::vector<std::string> only;
    for (const auto& [name, n] : f.marks_reached) {
      if (n > 0 && !swept.contains(name)) only.push_back(name);
    }
    if (sweep_runs == 0) {
      fmt::print("no recorded sweep of {} in {} to compare coverage with\n", c.scenario, c.db_path);
    } else {
      fmt::print("reached by fuzzing, never by the {} recorded sweep runs ({}): {}\n", sweep_runs, only.size(),
                 only.empty() ? std::string("none") : fmt::format("{}", fmt::join(only, ", ")));
    }
  }
  if (!f.failure) {
    fmt::print("RESULT: PASS (no failure)\n");
    return 0;
  }
  const std::string plan_path = fmt::format("{}-fuzz{}.plan", c.scenario, f.failure->seed);
  std::FILE* out = std::fopen(plan_path.c_str(), "w");
  if (out != nullptr) {
    std::fputs(f.shrunk_plan.to_text().c_str(), out);
    std::fclose(out);
  }
  RunRequest replay = o.base;
  replay.seed = f.failure->seed;
  fmt::print("found: {}\nshrunk {} -> {} fault(s) in {} runs:\n{}  plan: {}\n  replay: {}\nRESULT: FAIL\n",
             describe(*f.failure), f.original_plan.events.size(), f.shrunk_plan.events.size(), f.shrink_runs,
             f.shrunk_plan.to_text(), plan_path, replay_command(program, replay, plan_path));
  return 1;
}

int cmd_merge(const std::vector<std::string>& paths) {
  for (size_t i = 1; i < paths.size(); ++i) {
    if (paths[i] == paths[0]) throw BadInput{fmt::format("merge: '{}' is both the output and an input", paths[0])};
  }
  std::string error;
  auto out = ResultsDb::open(paths[0], &error);
  if (!out) throw BadInput{error};
  for (size_t i = 1; i < paths.size(); ++i) {
    if (!out->merge_from(paths[i], &error)) throw BadInput{error};
  }
  fmt::print("merged {} database(s) into {}\n", paths.size() - 1, paths[0]);
  return 0;
}

int cmd_plan(const Common& c, uint64_t seed) {
  RunRequest req = make_request(c, seed);
  check(req);
  req.plan_only = true;
  const RunResult r = execute(req);
  check_result(r);
  if (r.verdict == Verdict::kCrash) throw BadInput{"the scenario crashed before its fault plan was known: " + r.crash};
  if (r.fault_plan.empty()) throw BadInput{fmt::format("scenario '{}' does not use a fault plan", c.scenario)};
  fmt::print("# scenario {} seed {}\n{}", c.scenario, seed, r.fault_plan);
  return 0;
}

int cmd_shrink(const std::string& program, const Common& c, uint64_t seed, const std::string& out_path,
               uint32_t max_runs) {
  RunRequest req = make_request(c, seed);
  check(req);
  auto db = open_db(c);
  const auto start = std::chrono::steady_clock::now();
  auto run_one = [&c](const RunRequest& r) {
    RunResult result;
    run_isolated({r}, IsolationOptions{1, c.timeout_s * 1000}, [&](size_t, const RunResult& rr, int64_t) { result = rr; });
    return result;
  };
  const RunResult original = run_one(req);
  check_result(original);
  if (original.verdict == Verdict::kPass) {
    fmt::print("{} seed {}: pass; nothing to shrink\n", c.scenario, seed);
    return 0;
  }
  std::string error;
  const auto plan = FaultPlan::parse(original.fault_plan, &error);
  if (!plan || plan->events.empty()) {
    throw BadInput{fmt::format("scenario '{}' gives no fault plan to shrink", c.scenario)};
  }
  fmt::print("{} seed {}: {}\nshrinking {} fault(s), keeping '{}'\n", c.scenario, seed, describe(original),
             plan->events.size(), outcome_signature(original));
  std::fflush(stdout);
  ShrinkOptions options;
  options.timeout_ms = c.timeout_s * 1000;
  options.max_runs = max_runs;
  const ShrinkResult s = shrink_plan(req, *plan, original, options, run_one, [](const std::string& line) {
    fmt::print("  {}\n", line);
    std::fflush(stdout);
  });
  const std::string path = out_path.empty() ? fmt::format("{}-seed{}.plan", c.scenario, seed) : out_path;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw BadInput{fmt::format("cannot write the shrunk plan to '{}'", path)};
  const std::string text = fmt::format("# shrunk from {} to {} fault(s) in {} runs: {} seed {}\n{}",
                                       plan->events.size(), s.plan.events.size(), s.runs, c.scenario, seed,
                                       s.plan.to_text());
  std::fputs(text.c_str(), f);
  std::fclose(f);
  // The shrunk run, with its plan and workload, is what a later replay wants.
  RunRequest shrunk = req;
  shrunk.plan_text = s.plan.to_text();
  shrunk.sets = s.sets;
  req.sets = s.sets;
  record_one(db.get(), "shrink", c, shrunk, s.result, wall_ms_since(start), replay_command(program, req, path),
             fmt::format("shrink --scenario {} --seed {}", c.scenario, seed));
  fmt::print("shrunk {} -> {} fault(s) in {} runs ({:.1f} s){}\n{}{} seed {}: {}\n  plan: {}\n  replay: {}\n",
             plan->events.size(), s.plan.events.size(), s.runs, static_cast<double>(wall_ms_since(start)) / 1000.0,
             s.budget_hit ? " (run budget reached: maybe not minimal)" : "", s.plan.to_text(), c.scenario, seed,
             describe(s.result), path, replay_command(program, req, path));
  return 1;
}

int main_impl(int argc, char** argv) {
  CLI::App app{"faultline: deterministic simulation and fault injection for Kafka-style replicated logs"};
  app.require_subcommand(1);
  const std::string program = argv[0];

  Common common;
  auto add_common = [&common](CLI::App* sub) {
    sub->add_option("--scenario", common.scenario, "scenario name (see `faultline list`)")->required();
    sub->add_option("--set", common.sets, "override a scenario parameter: key=value (repeatable)");
    sub->add_option("--bug", common.bugs, "switch on a known bug (repeatable)");
    sub->add_flag("--json", common.json, "print one JSON object per run");
    sub->add_option("--plan", common.plan_path, "run this fault plan file instead of the seed's nemesis");
    sub->add_option("--timeout", common.timeout_s, "wall-clock seconds before a run is killed as a crash")
        ->check(CLI::Range(1, 86'400))
        ->capture_default_str();
    sub->add_option("--db", common.db_path, "record results in this SQLite database")->capture_default_str();
    sub->add_flag("--no-db", common.no_db, "record nothing");
  };

  CLI::App* run = app.add_subcommand("run", "run one seed of a scenario");
  add_common(run);
  std::string seed_text;
  std::string trace_path;
  bool in_process = false;
  run->add_option("--seed", seed_text, "the seed")->required();
  run->add_option("--trace", trace_path, "write the human-readable trace to FILE ('-' for stdout)");
  run->add_flag("--in-process", in_process, "run without the crash-isolating child process (for debuggers)");

  CLI::App* sweep = app.add_subcommand("sweep", "run a range of seeds, each isolated in its own process");
  add_common(sweep);
  std::string seeds;
  int jobs = 2;
  sweep->add_option("--seeds", seeds, "seed range A..B (inclusive) or a single seed")->required();
  sweep->add_option("--jobs", jobs, "runs at once")->check(CLI::Range(1, 256))->capture_default_str();
  SweepOptions sweep_options;
  sweep->add_option("--summary-json", sweep_options.summary_json_path,
                    "also write the sweep summary (verdicts, invariants, coverage marks) as one JSON object to PATH");
  sweep->add_option("--junit", sweep_options.junit_path, "also write JUnit XML to PATH (one test case per failing seed)");
  sweep->add_flag("--fresh", sweep_options.fresh,
                  "start over even if the same sweep is unfinished in the database (default: resume it)");
  sweep->add_flag("--quiet", sweep_options.quiet, "no progress lines");
  sweep->add_flag("--check-determinism", sweep_options.check_determinism,
                  "run every seed twice in two processes; a trace-hash mismatch is a failure");
  sweep->add_option("--progress-interval", sweep_options.progress_interval_s,
                    "seconds between progress lines when stderr is not a terminal")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();
  std::string shard_text;
  std::optional<uint64_t> shard_count;
  sweep->add_option("--shard", shard_text,
                    "run the K-th of N disjoint slices of the range: K/N, or auto (Kubernetes, Slurm, GNU parallel)");
  sweep->add_option("--shard-count", shard_count, "N for --shard auto where the engine does not say it")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));

  CLI::App* plan = app.add_subcommand("plan", "print the fault plan a seed's nemesis draws (edit it, run it with --plan)");
  std::string plan_seed_text;
  plan->add_option("--scenario", common.scenario, "scenario name")->required();
  plan->add_option("--seed", plan_seed_text, "the seed")->required();
  plan->add_option("--set", common.sets, "override a scenario parameter: key=value (repeatable)");

  CLI::App* shrink = app.add_subcommand("shrink", "shrink a failing seed's fault plan to the faults that matter");
  add_common(shrink);
  std::string shrink_seed_text;
  std::string shrink_out;
  uint32_t shrink_runs = 400;
  shrink->add_option("--seed", shrink_seed_text, "the failing seed")->required();
  shrink->add_option("--out", shrink_out, "where to write the shrunk plan (default: SCENARIO-seedN.plan)");
  shrink->add_option("--max-runs", shrink_runs, "candidate runs at most")
      ->check(CLI::Range(1u, 100'000u))
      ->capture_default_str();

  CLI::App* fuzz_cmd = app.add_subcommand("fuzz", "property-based fuzzing: generated fault plans, shrunk on failure");
  add_common(fuzz_cmd);
  uint64_t fuzz_runs = 100;
  std::string fuzz_for;
  int fuzz_jobs = 2;
  uint64_t fuzz_seed = 1;
  fuzz_cmd->add_option("--runs", fuzz_runs, "generated runs at most")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  fuzz_cmd->add_option("--for", fuzz_for, "fuzz for this long (e.g. 10m) instead of a run count");
  fuzz_cmd->add_option("--jobs", fuzz_jobs, "runs at once")->check(CLI::Range(1, 256))->capture_default_str();
  fuzz_cmd->add_option("--seed", fuzz_seed, "RapidCheck's seed: the same seed generates the same plans")
      ->capture_default_str();

  CLI::App* replay = app.add_subcommand("replay", "re-run a stored run exactly and check its trace hash");
  std::string replay_db = "faultline.db";
  std::string replay_id;
  bool replay_last = false;
  std::string replay_trace;
  int64_t replay_timeout = 300;
  replay->add_option("run_id", replay_id, "the run's id (runs.id in the database)");
  replay->add_option("--db", replay_db, "the results database")->capture_default_str();
  replay->add_flag("--last-failure", replay_last, "the latest run that did not pass");
  replay->add_option("--trace", replay_trace, "where to write the full trace (default replay-runN.trace)");
  replay->add_option("--timeout", replay_timeout, "wall-clock seconds before the run is killed as a crash")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();

  CLI::App* merge = app.add_subcommand("merge", "combine the results databases of a sharded sweep: merge OUT.db IN.db...");
  std::vector<std::string> merge_paths;
  merge->add_option("databases", merge_paths, "OUT.db then IN.db...")->required()->expected(2, 10'000);

  CLI::App* list = app.add_subcommand("list", "list scenarios, parameters and bug switches");
  bool list_json = false;
  list->add_flag("--json", list_json, "machine-readable output");

  CLI::App* bench = app.add_subcommand("bench", "measure the simulator: events/s against the bare-loop floor");
  uint64_t bench_events = 5'000'000;
  bool bench_json = false;
  bench->add_option("--events", bench_events, "events per measurement")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  bench->add_flag("--json", bench_json, "machine-readable output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = "bad command line";
    fmt::print(stderr, "faultline: error: {} (see faultline --help)\n", clip(what));
    return 2;
  }

  g_replay_timeout_s = common.timeout_s;
  try {
    if (*list) return cmd_list(list_json);
    if (*merge) return cmd_merge(merge_paths);
    if (*fuzz_cmd) return cmd_fuzz(program, common, fuzz_runs, fuzz_for, fuzz_jobs, fuzz_seed);
    if (*replay) return cmd_replay(program, replay_db, replay_id, replay_last, replay_trace, replay_timeout);
    if (*bench) return run_bench(bench_events, bench_json);
    if (*run) {
      uint64_t seed = 0;
      if (!parse_u64(seed_text, &seed)) throw BadInput{fmt::format("--seed wants a non-negative integer, got '{}'", seed_text)};
      std::string command;
      for (int i = 0; i < argc; ++i) command += (i ? " " : "") + shell_quote(argv[i]);
      return cmd_run(program, common, seed, trace_path, in_process, command);
    }
    if (*sweep) {
      sweep_options.db_path = common.no_db ? std::string() : common.db_path;
      sweep_options.jobs = jobs;
      sweep_options.shard = parse_shard(shard_text, shard_count, [](const char* name) { return std::getenv(name); });
      for (int i = 0; i < argc; ++i) sweep_options.command_line += (i ? " " : "") + shell_quote(argv[i]);
      return cmd_sweep(program, common, sweep_options, seeds);
    }
    if (*shrink) {
      uint64_t seed = 0;
      if (!parse_u64(shrink_seed_text, &seed)) {
        throw BadInput{fmt::format("--seed wants a non-negative integer, got '{}'", shrink_seed_text)};
      }
      return cmd_shrink(program, common, seed, shrink_out, shrink_runs);
    }
    if (*plan) {
      uint64_t seed = 0;
      if (!parse_u64(plan_seed_text, &seed)) throw BadInput{fmt::format("--seed wants a non-negative integer, got '{}'", plan_seed_text)};
      return cmd_plan(common, seed);
    }
  } catch (const BadInput& e) {
    fmt::print(stderr, "faultline: error: {}\n", clip(e.message));
    return 2;
  } catch (const std::exception& e) {
    // The runner's own trouble (the results database failed mid-sweep, fork failed): what
    // was committed stays; say what happened in one line.
    fmt::print(stderr, "faultline: error: {}\n", clip(e.what()));
    return 2;
  }
  return 2;
}

}  // namespace
}  // namespace faultline

int main(int argc, char** argv) { return faultline::main_impl(argc, argv); }
