// runner/main.cpp
// The `faultline` command line: parses it and runs run, sweep, plan, shrink, list and bench
// (the database commands replay, fuzz and merge are in runner/db_commands.cpp).
//
// Exit codes: 0 everything passed; 1 some run did not pass; 2 bad input (one line on
// stderr, nothing run). Every run prints its replay command.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <map>
#include <string>
#include <vector>

#include "reports/json.h"
#include "reports/story.h"
#include "reports/summary.h"
#include "scenarios/registry.h"
#include "runner/bad_input.h"
#include "runner/bench.h"
#include "runner/cli.h"
#include "runner/isolate.h"
#include "runner/results_db.h"
#include "runner/shrink.h"
#include "runner/sweep.h"
#include "runner/trace_ring.h"
#include "scenarios/scenario.h"

namespace faultline {
namespace {

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

int cmd_run(const std::string& program, const Common& c, uint64_t seed, const std::string& trace_path,
            bool in_process, const std::string& command, const std::string& timeline_path) {
  RunRequest req = make_request(c, seed);
  check(req);
  if (!timeline_path.empty()) req.observer = timeline_observer(timeline_path);
  if (!c.json) req.observer = with_story(std::move(req.observer));  // the failure's story (reports/story.h)
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
  const std::string replay = replay_command(program, req, c.plan_path, c.timeout_s);
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
  record_one(db.get(), "run", req, result, wall_ms, replay, command);
  if (c.json) {
    const std::string line = run_to_json(result, wall_ms, replay) + "\n";
    std::fflush(stdout);
    (void)!::write(STDOUT_FILENO, line.data(), line.size());  // one JSON line, one write
  } else {
    print_run_human(result, wall_ms, replay);
    if (!timeline_path.empty()) {
      fmt::print("  timeline: {} (open in https://ui.perfetto.dev or chrome://tracing)\n", timeline_path);
    }
    if (result.verdict != Verdict::kPass && trace == nullptr) {
      if (ring.sink() != nullptr) std::fflush(ring.sink());  // an in-process run's last line
      print_trace_tail(ring);
    }
  }
  return result.verdict == Verdict::kPass ? 0 : 1;
}

int cmd_sweep(const std::string& program, const Common& c, SweepOptions o, const std::string& seeds) {
  const auto [first, last] = parse_seed_range(seeds);
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
  return run_sweep(o, [&](const RunRequest& r) { return replay_command(program, r, c.plan_path, c.timeout_s); });
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
  record_one(db.get(), "shrink", shrunk, s.result, wall_ms_since(start), replay_command(program, req, path, c.timeout_s),
             fmt::format("shrink --scenario {} --seed {}", c.scenario, seed));
  fmt::print("shrunk {} -> {} fault(s) in {} runs ({:.1f} s){}\n{}{} seed {}: {}\n  plan: {}\n  replay: {}\n",
             plan->events.size(), s.plan.events.size(), s.runs, static_cast<double>(wall_ms_since(start)) / 1000.0,
             s.budget_hit ? " (run budget reached: maybe not minimal)" : "", s.plan.to_text(), c.scenario, seed,
             describe(s.result), path, replay_command(program, req, path, c.timeout_s));
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
  std::string run_timeline;
  run->add_option("--timeline", run_timeline, "also write the run as Chrome trace-event JSON to this file");
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
  sweep->add_flag("--fresh-processes", sweep_options.fresh_processes,
                  "a new child process per seed instead of warm workers that run seed after seed");
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

  CLI::App* fuzz_cmd = app.add_subcommand("fuzz", "property-based fuzzing: generated configurations and fault plans, shrunk on failure");
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
  fuzz_cmd->add_option("--seed", fuzz_seed, "RapidCheck's seed: the same seed generates the same runs")
      ->capture_default_str();
  bool fuzz_fixed_config = false;
  fuzz_cmd->add_flag("--fixed-config", fuzz_fixed_config,
                     "keep the scenario's configuration and workload (and --set); generate only fault plans");

  CLI::App* timeline = app.add_subcommand(
      "timeline", "run one seed and write it as Chrome trace-event JSON (Perfetto UI, chrome://tracing)");
  add_common(timeline);
  std::string timeline_seed_text;
  std::string timeline_out;
  timeline->add_option("--seed", timeline_seed_text, "the seed")->required();
  timeline->add_option("--out", timeline_out, "the JSON file to write")->required();

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
  std::string replay_timeline;
  replay->add_option("--timeline", replay_timeline, "also write the run as Chrome trace-event JSON to this file");
  replay->add_option("--timeout", replay_timeout, "wall-clock seconds before the run is killed as a crash")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();

  CLI::App* merge = app.add_subcommand("merge", "combine the results databases of a sharded sweep: merge OUT.db IN.db...");
  std::vector<std::string> merge_paths;
  merge->add_option("databases", merge_paths, "OUT.db then IN.db...")->required()->expected(2, 10'000);

  CLI::App* report = app.add_subcommand(
      "report", "the results database as one self-contained HTML page, with timelines of failures");
  std::string report_db = "faultline.db";
  std::string report_out = "report.html";
  size_t report_timelines = 12;
  int report_jobs = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  int64_t report_timeout = 300;
  report->add_option("--db", report_db, "the results database")->capture_default_str();
  report->add_option("--out", report_out, "the HTML file to write")->capture_default_str();
  report->add_option("--timelines", report_timelines,
                     "failures to re-run for an embedded timeline (the first of each group and invariant)")
      ->check(CLI::Range(size_t{0}, size_t{1000}))
      ->capture_default_str();
  report->add_option("--jobs", report_jobs, "timeline re-runs at once")->check(CLI::Range(1, 1024));
  report->add_option("--timeout", report_timeout, "wall-clock seconds before a re-run is killed")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();

  CLI::App* list = app.add_subcommand("list", "list scenarios, parameters and bug switches");
  bool list_json = false;
  list->add_flag("--json", list_json, "machine-readable output");

  CLI::App* bench = app.add_subcommand("bench", "measure the simulator: events/s against the bare-loop floor");
  BenchOptions bench_options;
  uint64_t& bench_events = bench_options.events;
  bool& bench_json = bench_options.json;
  bench->add_option("--scenario", bench_options.scenarios, "only these scenarios (repeatable); none: every one");
  bench->add_option("--budget", bench_options.budget_s, "in-process wall seconds per scenario (5 to 500 seeds)")
      ->check(CLI::Range(0.01, 600.0))
      ->capture_default_str();
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

  try {
    if (*list) return cmd_list(list_json);
    if (*merge) return cmd_merge(merge_paths);
    if (*report) return cmd_report(program, report_db, report_out, report_timelines, report_jobs, report_timeout);
    if (*fuzz_cmd) return cmd_fuzz(program, common, fuzz_runs, fuzz_for, fuzz_jobs, fuzz_seed, fuzz_fixed_config);
    if (*replay) {
      return cmd_replay(program, replay_db, replay_id, replay_last, replay_trace, replay_timeout, replay_timeline);
    }
    if (*timeline) {
      uint64_t seed = 0;
      if (!parse_u64(timeline_seed_text, &seed)) {
        throw BadInput{fmt::format("--seed wants a non-negative integer, got '{}'", timeline_seed_text)};
      }
      std::string command;
      for (int i = 0; i < argc; ++i) command += (i ? " " : "") + shell_quote(argv[i]);
      return cmd_run(program, common, seed, "", false, command, timeline_out);
    }
    if (*bench) {
      for (const std::string& name : bench_options.scenarios) {
        if (find_scenario(name) == nullptr) throw BadInput{fmt::format("unknown scenario '{}' (see faultline list)", name)};
      }
      return run_bench(bench_options);
    }
    if (*run) {
      uint64_t seed = 0;
      if (!parse_u64(seed_text, &seed)) throw BadInput{fmt::format("--seed wants a non-negative integer, got '{}'", seed_text)};
      std::string command;
      for (int i = 0; i < argc; ++i) command += (i ? " " : "") + shell_quote(argv[i]);
      return cmd_run(program, common, seed, trace_path, in_process, command, run_timeline);
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
