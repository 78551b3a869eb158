#include "runner/sweep.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "reports/json.h"
#include "reports/junit.h"
#include "reports/summary.h"
#include "runner/bad_input.h"
#include "runner/isolate.h"
#include "runner/results_db.h"
#include "scenarios/registry.h"
#include "sim/trace.h"

namespace faultline {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) { g_stop_signal = sig; }

bool parse_count(const char* text, uint64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  uint64_t v = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9' || v > 1'000'000'000) return false;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  *out = v;
  return true;
}

bool write_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && written;
}

int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

const Violation* first_unexcused(const RunResult& r) {
  for (const Violation& v : r.violations) {
    if (!v.excused) return &v;
  }
  return nullptr;
}

}  // namespace

std::string Shard::text() const { return n == 1 ? std::string() : fmt::format("{}/{}", k, n); }

Shard parse_shard(const std::string& text, std::optional<uint64_t> count,
                  const std::function<const char*(const char*)>& getenv) {
  Shard s;
  if (text.empty()) return s;
  uint64_t k = 0, n = 0;
  if (text == "auto") {
    uint64_t index = 0;
    if (parse_count(getenv("SLURM_ARRAY_TASK_ID"), &index)) {
      uint64_t min = 0, max = 0;
      if (count) {
        n = *count;
      } else if (!parse_count(getenv("SLURM_ARRAY_TASK_COUNT"), &n)) {
        if (!parse_count(getenv("SLURM_ARRAY_TASK_MIN"), &min) || !parse_count(getenv("SLURM_ARRAY_TASK_MAX"), &max)) {
          throw BadInput{"--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                         "SLURM_ARRAY_TASK_MIN/MAX is"};
        }
        n = max - min + 1;
      }
      uint64_t base = 0;
      if (parse_count(getenv("SLURM_ARRAY_TASK_MIN"), &base) && index < base) {
        throw BadInput{"--shard auto: SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN"};
      }
      k = index - base + 1;
    } else if (parse_count(getenv("JOB_COMPLETION_INDEX"), &index)) {
      if (!count) throw BadInput{"--shard auto with JOB_COMPLETION_INDEX (Kubernetes) needs --shard-count N"};
      n = *count;
      k = index + 1;
    } else if (parse_count(getenv("PARALLEL_SEQ"), &index)) {
      if (!count) throw BadInput{"--shard auto with PARALLEL_SEQ (GNU parallel) needs --shard-count N"};
      n = *count;
      k = index;
    } else {
      throw BadInput{"--shard auto: none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or PARALLEL_SEQ is set "
                     "(GitHub Actions: pass --shard K/N from the matrix)"};
    }
  } else {
    const size_t slash = text.find('/');
    if (slash == std::string::npos || !parse_count(text.substr(0, slash).c_str(), &k) ||
        !parse_count(text.substr(slash + 1).c_str(), &n)) {
      throw BadInput{fmt::format("--shard wants K/N or auto, got '{}'", text.substr(0, 100))};
    }
  }
  if (n == 0 || k == 0 || k > n) throw BadInput{fmt::format("--shard {}/{}: want 1 <= K <= N", k, n)};
  s.k = k;
  s.n = n;
  return s;
}

int run_sweep(const SweepOptions& o, const std::function<std::string(const RunRequest&)>& replay_command) {
  RunRequest proto;
  proto.scenario = o.scenario;
  proto.seed = o.first;
  proto.sets = o.sets;
  proto.bugs = o.bugs;
  proto.plan_text = o.plan_text;
  if (std::string error = validate(proto); !error.empty()) throw BadInput{error};
  // Unwritable outputs are bad input, found before any seed runs; emptying them now also
  // means a sweep that dies leaves no earlier sweep's files behind.
  if (!o.summary_json_path.empty() && !write_text(o.summary_json_path, "")) {
    throw BadInput{fmt::format("cannot open summary file '{}' for writing", o.summary_json_path)};
  }
  if (!o.junit_path.empty() && !write_text(o.junit_path, "")) {
    throw BadInput{fmt::format("cannot open JUnit file '{}' for writing", o.junit_path)};
  }
  const uint64_t span = o.last - o.first;  // seeds in range - 1
  const uint64_t mine = o.shard.k - 1 > span ? 0 : (span - (o.shard.k - 1)) / o.shard.n + 1;

  std::unique_ptr<ResultsDb> db;
  int64_t sweep_id = 0;
  std::set<uint64_t> done;
  SweepSummary summary;
  summary.set_guards(guard_marks());
  std::vector<JUnitCase> junit_failures;
  uint64_t junit_passed = 0;
  auto note = [&](const RunResult& r, int64_t ms, const std::string& replay) {
    summary.add(r, ms, replay);
    if (r.verdict == Verdict::kPass) {
      ++junit_passed;
      return;
    }
    const Violation* v = first_unexcused(r);
    junit_failures.push_back({r.seed, r.verdict, v ? v->invariant : std::string("crash"), v ? v->message : r.crash,
                              replay, static_cast<double>(ms) / 1000.0});
  };
  if (!o.db_path.empty()) {
    std::string error;
    db = ResultsDb::open(o.db_path, &error);
    if (!db) throw BadInput{error};
    SweepRecord rec;
    rec.scenario = o.scenario;
    if (const ScenarioInfo* info = find_scenario(o.scenario)) {
      std::string perr;
      if (auto params = Params::resolve(info->params, o.sets, &perr)) rec.params = params->resolved();
    }
    rec.bugs = o.bugs;
    rec.plan = o.plan_text.value_or("");
    rec.first_seed = o.first;
    rec.last_seed = o.last;
    rec.shard = o.shard.text();
    rec.command = o.command_line;
    bool resumed = false;
    sweep_id = db->begin(rec, !o.fresh, &resumed, &done);
    if (resumed && !done.empty()) {
      for (const StoredRun& s : db->runs(sweep_id)) note(s.result, s.wall_ms, s.replay);
      if (!o.quiet) {
        fmt::print(stderr, "resuming unfinished sweep {} in {}: {} of {} seeds already recorded (--fresh to start over)\n",
                   sweep_id, o.db_path, done.size(), mine);
      }
    }
  }

  uint64_t next_seed = o.first;
  bool seeds_left = true;
  std::optional<RunRequest> twin;  // --check-determinism: the second run of the last seed
  auto next = [&]() -> std::optional<RunRequest> {
    if (twin) {
      std::optional<RunRequest> out = std::move(twin);
      twin.reset();
      return out;
    }
    while (seeds_left && g_stop_signal == 0) {
      const uint64_t s = next_seed;
      if (s == o.last) seeds_left = false;
      else ++next_seed;
      if ((s - o.first) % o.shard.n != o.shard.k - 1 || done.count(s) != 0) continue;
      RunRequest r = proto;
      r.seed = s;
      if (o.check_determinism) twin = r;
      return r;
    }
    return std::nullopt;
  };

  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto start = std::chrono::steady_clock::now();
  int64_t last_line = 0;
  const uint64_t resumed_count = summary.runs();
  auto progress = [&](bool final) {
    if (o.quiet) return;
    const int64_t ms = ms_since(start);
    if (!tty && !final && ms - last_line < o.progress_interval_s * 1000) return;
    last_line = ms;
    const uint64_t finished = summary.runs();
    const double rate = static_cast<double>(finished - resumed_count) / std::max<double>(ms / 1000.0, 0.001);
    const double eta = rate > 0 ? static_cast<double>(mine - finished) / rate : 0;
    const std::string line =
        fmt::format("{}/{} seeds, fail {}, liveness {}, crash {}, {:.1f} seeds/s, ETA {:.0f} s", finished, mine,
                    summary.count(Verdict::kFail), summary.count(Verdict::kLiveness), summary.count(Verdict::kCrash),
                    rate, eta);
    if (tty) {
      fmt::print(stderr, "\r\033[K{}{}", line, final ? "\n" : "");
    } else if (!final) {
      fmt::print(stderr, "progress: {}\n", line);
    }
    std::fflush(stderr);
  };

  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  struct sigaction old_int = {}, old_term = {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  IsolationOptions iso(o.jobs, o.timeout_s * 1000);
  // A seed's twin must run in another process: warm workers would run both in one.
  iso.reuse = !o.fresh_processes && !o.check_determinism;
  iso.tick_ms = 250;
  iso.on_tick = [&] {
    if (g_stop_signal != 0) {
      // Interrupted: what finished is committed, the runs in flight die with us and a resumed
      // sweep runs them again.
      if (db) db->flush();
      if (tty && !o.quiet) fmt::print(stderr, "\n");
      const int sig = g_stop_signal;
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      std::raise(sig);
    }
    progress(false);
  };
  std::map<uint64_t, RunResult> first_of_pair;  // --check-determinism: seed -> the run that came back first
  run_isolated_stream(next, iso, [&](size_t, const RunRequest& req, const RunResult& got, int64_t ms) {
    if (!got.input_error.empty()) throw BadInput{got.input_error};  // the same for every seed
    RunResult r = got;
    if (o.check_determinism) {
      auto [it, fresh] = first_of_pair.emplace(got.seed, got);
      if (fresh) return;  // wait for its twin
      const RunResult& a = it->second;
      if (a.trace_hash != got.trace_hash) {
        size_t i = 0;
        while (i < a.hash_checkpoints.size() && i < got.hash_checkpoints.size() &&
               a.hash_checkpoints[i] == got.hash_checkpoints[i]) {
          ++i;
        }
        const uint64_t every = Trace::kCheckpointEvery;
        r.verdict = Verdict::kFail;
        r.violations.insert(r.violations.begin(),
                            Violation{"determinism", InvariantKind::kSafety,
                                      fmt::format("two runs of seed {} gave trace hashes {} and {}; they first differ "
                                                  "between trace records {} and {} (diff their --trace output there)",
                                                  got.seed, hex64(a.trace_hash), hex64(got.trace_hash), i * every,
                                                  (i + 1) * every),
                                      Instant::zero(), false, {}});
      }
      first_of_pair.erase(it);
    }
    const std::string replay = replay_command(req);
    if (o.json) {
      const std::string line = run_to_json(r, ms, replay) + "\n";
      (void)!::write(STDOUT_FILENO, line.data(), line.size());  // one write per JSON line
    } else if (r.verdict != Verdict::kPass) {
      if (tty && !o.quiet) fmt::print(stderr, "\r\033[K");
      fmt::print("seed {}: {}\n  replay: {}\n", r.seed, describe(r), replay);
      std::fflush(stdout);
    }
    if (db) db->add(sweep_id, r, ms, replay);
    note(r, ms, replay);
  });
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (g_stop_signal != 0) {  // stopped before any tick could act
    if (db) db->flush();
    std::raise(g_stop_signal);
  }
  progress(true);
  if (db) db->finish(sweep_id);
  const std::string shard = o.shard.n > 1 ? fmt::format(" shard {}", o.shard.text()) : std::string();
  const std::string text = fmt::format("sweep {} seeds {}..{}{} (jobs {}): {}", o.scenario, o.first, o.last, shard,
                                       o.jobs, summary.text(ms_since(start)));
  if (o.json) {
    const std::string line = summary.json(o.scenario) + "\n";
    (void)!::write(STDOUT_FILENO, line.data(), line.size());
    std::fputs(text.c_str(), stderr);
  } else {
    std::fputs(text.c_str(), stdout);
  }
  if (!o.summary_json_path.empty() && !write_text(o.summary_json_path, summary.json(o.scenario) + "\n")) {
    throw BadInput{fmt::format("cannot write the summary to '{}'", o.summary_json_path)};
  }
  if (!o.junit_path.empty() &&
      !write_text(o.junit_path, junit_xml(o.scenario, junit_failures, junit_passed, o.first, o.last,
                                          static_cast<double>(ms_since(start)) / 1000.0))) {
    throw BadInput{fmt::format("cannot write JUnit to '{}'", o.junit_path)};
  }
  return summary.all_passed() ? 0 : 1;
}

}  // namespace faultline
