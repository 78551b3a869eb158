// runner/report_command.cpp
// faultline report: the results database as one self-contained HTML file
// (reports/report_html.h), with the timelines of a few failures re-run in child processes
// (runner/isolate.h), so that a run that crashes or hangs now cannot take the report down.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/json.h"
#include "reports/report_data.h"
#include "reports/report_html.h"
#include "reports/summary.h"
#include "reports/timeline.h"
#include "runner/bad_input.h"
#include "runner/cli.h"
#include "runner/isolate.h"
#include "runner/results_db.h"
#include "scenarios/registry.h"

namespace faultline {

namespace {

// `faultline replay` of the stored run with its timeline: exact for every kind of run, a
// fuzz run's generated plan included.
std::string timeline_command(const std::string& program, const std::string& db_path, const ReportFailure& f,
                             const std::string& scenario) {
  return fmt::format("{} replay --db {} {} --timeline {}-seed{}.json", shell_quote(program), shell_quote(db_path),
                     f.run_id, scenario, f.seed);
}

// A private directory for the re-runs' files, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "faultline-report-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error(fmt::format("cannot make a temporary directory: {}", std::strerror(errno)));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

int cmd_report(const std::string& program, const std::string& db_path, const std::string& out_path, size_t max_timelines, int jobs,
               int64_t timeout_s) {
  const auto started = std::chrono::steady_clock::now();
  if (!std::filesystem::exists(db_path)) throw BadInput{fmt::format("no results database '{}'", db_path)};
  std::string error;
  auto db = ResultsDb::open(db_path, &error);
  if (!db) throw BadInput{error};
  {
    std::FILE* probe = std::fopen(out_path.c_str(), "a");
    if (probe == nullptr) throw BadInput{fmt::format("cannot write the report to '{}'", out_path)};
    std::fclose(probe);
  }
  std::vector<ReportSweep> sweeps;
  for (StoredSweep& s : db->sweeps()) {
    sweeps.push_back(ReportSweep{s.id, s.kind, s.scenario, s.params, s.bugs, s.binary, s.started_at, s.ended_at});
  }
  std::vector<ReportRun> runs;
  for (StoredRun& s : db->all_runs()) {
    runs.push_back(ReportRun{s.id, s.sweep_id, std::move(s.result), s.wall_ms, std::move(s.replay)});
  }
  Report report = build_report(db_path, sweeps, runs, guard_marks());
  report.binary = ResultsDb::binary_identity();

  // Timelines: the chosen failures again, each in a child that writes its trace-event JSON.
  const std::vector<size_t> picked = pick_timelines(report, max_timelines);
  std::optional<TempDir> dir;
  if (!picked.empty()) dir.emplace();
  std::vector<RunRequest> requests;
  std::vector<std::string> paths;
  for (size_t k = 0; k < picked.size(); ++k) {
    const ReportFailure& f = report.failures[picked[k]];
    const std::optional<StoredRun> stored = db->run(f.run_id);
    if (!stored) throw std::runtime_error(fmt::format("run {} vanished from '{}'", f.run_id, db_path));
    RunRequest req = db->rerun_request(*stored);
    paths.push_back((dir->path() / fmt::format("t{}.json", k)).string());
    req.observer = timeline_to(paths.back());
    requests.push_back(std::move(req));
  }
  std::vector<std::optional<RunResult>> results(requests.size());
  if (!requests.empty()) {
    run_isolated(requests, IsolationOptions{std::max(jobs, 1), timeout_s * 1000},
                 [&](size_t i, const RunResult& r, int64_t) { results[i] = r; });
  }
  for (size_t k = 0; k < picked.size(); ++k) {
    ReportFailure& f = report.failures[picked[k]];
    const std::string& scenario = report.groups[f.group].scenario;
    std::ifstream in(paths[k], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    ReportTimeline t;
    t.failure = picked[k];
    t.command = timeline_command(program, db_path, f, scenario);
    std::string why;
    const bool usable = results[k] && results[k]->input_error.empty() && results[k]->verdict != Verdict::kCrash;
    if (!usable || !swimlane_from_trace(text.str(), &t.swimlane, &why)) {
      fmt::print(stderr, "report: no timeline for {} seed {}: {}\n", scenario, f.seed,
                 !results[k]                          ? std::string("no result")
                 : !results[k]->input_error.empty()   ? results[k]->input_error
                 : results[k]->verdict == Verdict::kCrash ? "the re-run crashed: " + results[k]->crash
                                                          : why);
      continue;
    }
    const RunResult& again = *results[k];
    const std::string outcome = describe(again);
    if (again.trace_hash == f.trace_hash) {
      t.note = fmt::format("re-run by this binary for the timeline: trace hash {}, the recorded one", hex64(f.trace_hash));
    } else if (f.binary == report.binary) {
      t.note = fmt::format("re-run by the same binary gave trace hash {}, not the recorded {}: the run is not "
                           "deterministic (a bug in Faultline: please report it); the re-run ended: {}",
                           hex64(again.trace_hash), hex64(f.trace_hash), outcome);
    } else {
      t.note = fmt::format("re-run by this binary ({}) gave trace hash {}, not the {} recorded by {}, whose model may "
                           "differ; the re-run ended: {}",
                           report.binary, hex64(again.trace_hash), hex64(f.trace_hash), f.binary, outcome);
    }
    f.timeline = static_cast<int>(report.timelines.size());
    report.timelines.push_back(std::move(t));
  }
  dir.reset();

  const std::string html = report_html(report);
  std::FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr || std::fwrite(html.data(), 1, html.size(), out) != html.size() || std::fclose(out) != 0) {
    throw BadInput{fmt::format("cannot write the report to '{}'", out_path)};
  }
  fmt::print("report: {} runs in {} group(s), {} failure(s), {} timeline(s) -> {} ({:.1f} MB) in {:.2f} s\n", report.runs,
             report.groups.size(), report.failures.size(), report.timelines.size(), out_path,
             static_cast<double>(html.size()) / 1e6, static_cast<double>(wall_ms_since(started)) / 1000.0);
  return 0;
}

}  // namespace faultline
