// runner/db_commands.cpp
// The commands that work from or into the results database beyond a sweep: replay, fuzz
// and merge.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>

#include "reports/json.h"
#include "reports/story.h"
#include "reports/summary.h"
#include "runner/bad_input.h"
#include "runner/cli.h"
#include "runner/fuzz.h"
#include "runner/isolate.h"
#include "runner/results_db.h"
#include "sim/time.h"

namespace faultline {

// faultline replay: one stored run again, exactly, with its trace written and its hash
// checked against the stored one. Exit 0 (same hash, pass), 1 (same hash, the failure
// reproduced) or 3 (another hash: another binary, or non-determinism; said plainly).
int cmd_replay(const std::string& program, const std::string& db_path, const std::string& run_id_text,
               bool last_failure, std::string trace_path, int64_t timeout_s, const std::string& timeline_path) {
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
  RunRequest req = db->rerun_request(*stored);
  check(req);
  if (trace_path.empty()) trace_path = fmt::format("replay-run{}.trace", stored->id);
  std::FILE* trace = std::fopen(trace_path.c_str(), "w");
  if (trace == nullptr) throw BadInput{fmt::format("cannot open trace file '{}' for writing", trace_path)};
  std::setvbuf(trace, nullptr, _IOLBF, 1 << 16);
  req.trace_sink = trace;
  if (!timeline_path.empty()) req.observer = timeline_observer(timeline_path);
  req.observer = with_story(std::move(req.observer));  // the failure's story (reports/story.h)
  RunResult result;
  int64_t wall_ms = 0;
  run_isolated({req}, IsolationOptions{1, timeout_s * 1000}, [&](size_t, const RunResult& r, int64_t ms) {
    result = r;
    wall_ms = ms;
  });
  std::fclose(trace);
  check_result(result);
  print_run_human(result, wall_ms, replay_command(program, req, "", timeout_s));
  fmt::print("  full trace: {}\n", trace_path);
  if (!timeline_path.empty()) fmt::print("  timeline: {} (open in https://ui.perfetto.dev or chrome://tracing)\n", timeline_path);
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
// The `faultline fuzz` command line that reproduce strings apply to: the same scenario, --set
// and --bug.
std::string fuzz_command(const std::string& program, const RunRequest& base, int64_t timeout_s) {
  std::string cmd = fmt::format("{} fuzz --scenario {}", shell_quote(program), shell_quote(base.scenario));
  for (const auto& [k, v] : base.sets) cmd += fmt::format(" --set {}", shell_quote(k + "=" + v));
  for (const auto& b : base.bugs) cmd += fmt::format(" --bug {}", shell_quote(b));
  if (timeout_s != 300) cmd += fmt::format(" --timeout {}", timeout_s);
  return cmd;
}

int cmd_fuzz(const std::string& program, const Common& c, uint64_t runs, const std::string& for_text, int jobs,
             uint64_t rc_seed, bool fixed_config) {
  FuzzOptions o;
  o.vary_config = !fixed_config;
  // RapidCheck's convention: RC_PARAMS="reproduce=..." (printed by a failure) runs that case.
  if (const char* params = std::getenv("RC_PARAMS"); params != nullptr && std::string_view(params).find("reproduce") != std::string_view::npos) {
    o.reproduce = params;
  }
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
    rec.command = fmt::format("fuzz --scenario {} --seed {}{}", c.scenario, rc_seed, fixed_config ? " --fixed-config" : "");
    bool resumed = false;
    std::set<uint64_t> done;
    sweep_id = db->begin(rec, /*resume=*/false, &resumed, &done);
  }
  const FuzzResult f = fuzz(o, [&](const RunRequest& req, const RunResult& r, int64_t ms) {
    if (db) db->add(sweep_id, r, ms, replay_command(program, req, "", c.timeout_s));
  });
  if (db) db->finish(sweep_id);
  fmt::print("fuzz {} ({}): {} runs in {:.1f} s, {:.1f} runs/s\n", c.scenario,
             o.reproduce.empty() ? fmt::format("RapidCheck seed {}{}", rc_seed, fixed_config ? ", fixed configuration" : "")
                                 : std::string("reproducing RC_PARAMS"),
             f.runs, f.wall_s, static_cast<double>(f.runs) / std::max(f.wall_s, 0.001));
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
    std::fputs(f.shrunk.plan.to_text().c_str(), out);
    std::fclose(out);
  }
  auto config_text = [](const FuzzCase& fc) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : fc.sets) parts.push_back(k + "=" + v);
    return parts.empty() ? std::string("the scenario's defaults") : fmt::format("{}", fmt::join(parts, " "));
  };
  fmt::print("found: {}\n", describe(*f.failure));
  if (o.reproduce.empty()) {
    fmt::print("shrunk {} -> {} fault(s) in {} runs; configuration {} -> {}\n", f.original.plan.events.size(),
               f.shrunk.plan.events.size(), f.shrink_runs, config_text(f.original), config_text(f.shrunk));
  } else {
    fmt::print("configuration: {}\n", config_text(f.shrunk));
  }
  fmt::print("{}  plan: {}\n  replay: {}\n  reproduce the case: RC_PARAMS=\"{}\" {}\nRESULT: FAIL\n", f.shrunk.plan.to_text(),
             plan_path, replay_command(program, f.failing_request, plan_path, c.timeout_s), f.reproduce,
             fuzz_command(program, o.base, c.timeout_s));
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

}  // namespace faultline
