#include "runner/cli.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "models/bugs.h"
#include "reports/json.h"
#include "reports/story.h"
#include "reports/summary.h"
#include "runner/bad_input.h"
#include "scenarios/registry.h"
#include "reports/timeline.h"
#include "sim/fault_plan.h"

namespace faultline {

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

std::string replay_command(const std::string& program, const RunRequest& r, const std::string& plan_path,
                           int64_t timeout_s) {
  std::string cmd = fmt::format("{} run --scenario {} --seed {}", shell_quote(program), shell_quote(r.scenario), r.seed);
  for (const auto& [k, v] : r.sets) cmd += fmt::format(" --set {}", shell_quote(k + "=" + v));
  for (const auto& b : r.bugs) cmd += fmt::format(" --bug {}", shell_quote(b));
  if (!plan_path.empty()) {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(plan_path, ec);
    cmd += fmt::format(" --plan {}", shell_quote(ec ? plan_path : absolute.string()));
  }
  if (timeout_s != 300) cmd += fmt::format(" --timeout {}", timeout_s);
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
  fmt::print("{}", failure_story_text(r));
  for (const auto& [k, v] : r.metrics) fmt::print("  {} = {}\n", k, v);
  fmt::print("  trace_hash {} events {} sim_time {} wall {} ms\n", hex64(r.trace_hash), r.events,
             format_duration(Duration::nanos(r.sim_time_ns)), wall_ms);
  fmt::print("  replay: {}\n", replay);
}

std::unique_ptr<ResultsDb> open_db(const Common& c) {
  if (c.no_db || c.db_path.empty()) return nullptr;
  std::string error;
  auto db = ResultsDb::open(c.db_path, &error);
  if (!db) throw BadInput{error};
  return db;
}

void record_one(ResultsDb* db, const char* kind, const RunRequest& req, const RunResult& r, int64_t wall_ms,
                const std::string& replay, const std::string& command) {
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

void check_result(const RunResult& r) {
  if (!r.input_error.empty()) throw BadInput{r.input_error};
}

std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)> timeline_observer(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw BadInput{fmt::format("cannot open timeline file '{}' for writing", path)};
  std::fclose(f);
  return timeline_to(path);
}

}  // namespace faultline
