// reports/report_data.h
// What `faultline report` shows, gathered from a results database: runs grouped by what was
// run (kind, scenario, bug switches, resolved parameters, binary), each group's verdicts, invariants,
// throughput, the distributions of its *_ns metrics and of wall time per run, and its
// coverage (reports/summary.h does the counting), then every failure with its replay command
// and, for a chosen few, the swimlane timeline of a re-run (reports/swimlane.h).
//
// The report depends only on the database and the re-runs: no wall clock, no host, so the
// same database gives the same file (the tests compare two).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reports/summary.h"
#include "reports/swimlane.h"
#include "scenarios/scenario.h"

namespace faultline {

// A sweep as recorded (runner/results_db.h's sweeps table).
struct ReportSweep {
  int64_t id = 0;
  std::string kind;
  std::string scenario;
  std::map<std::string, std::string> params;  // resolved
  std::string bugs;                           // comma-separated
  std::string binary;
  std::string started_at;  // UTC ISO-8601
  std::string ended_at;    // empty while unfinished
};

// One recorded run.
struct ReportRun {
  int64_t id = 0;
  int64_t sweep_id = 0;
  RunResult result;
  int64_t wall_ms = 0;
  std::string replay;
};

// A histogram of simulated durations (seconds), with nearest-rank percentiles; "never" (-1)
// runs are counted apart and rank after every time.
struct Histogram {
  struct Bin {
    double lo = 0;
    double hi = 0;
    uint64_t count = 0;
  };
  std::vector<Bin> bins;
  uint64_t runs = 0;
  uint64_t never = 0;
  std::optional<double> p50, p99, max;  // unset when that rank is "never"
};
// At most `max_bins` equal-width bins over [0, max]; values in nanoseconds, -1 = never.
Histogram histogram_of(std::vector<int64_t> values_ns, size_t max_bins = 40);

struct ReportGroup {
  std::string key;    // kind, scenario, bugs, params, binary
  std::string label;  // "broker-crash, bug truncate-to-hw" (+ the params that tell it apart)
  std::string kind;
  std::string scenario;
  std::string bugs;
  std::map<std::string, std::string> params;  // with the binary as "binary", for the labels
  std::vector<int64_t> sweep_ids;
  int64_t sweep_wall_s = 0;  // the finished sweeps' wall time, summed
  // The runs of the finished sweeps, for throughput over sweep_wall_s (an unfinished sweep has
  // no wall time; shards run side by side sum theirs, so their seeds/s read low).
  uint64_t timed_runs = 0;
  uint64_t timed_events = 0;
  int64_t timed_sim_ns = 0;
  std::string first_started;
  std::string last_ended;
  SweepSummary summary;
  std::vector<int64_t> run_wall_ns;  // wall time per run (ns, for histogram_of)
};

struct ReportFailure {
  size_t group = 0;
  int64_t run_id = 0;
  uint64_t seed = 0;
  Verdict verdict = Verdict::kFail;
  std::string invariant;  // the first unexcused one, or the verdict
  std::string what;       // describe()
  std::string replay;
  std::string fault_plan;
  int timeline = -1;  // index into Report::timelines, or -1
  std::string binary;  // that recorded it
  uint64_t trace_hash = 0;
};

struct ReportTimeline {
  size_t failure = 0;
  Swimlane swimlane;
  std::string note;     // "re-run by this binary: same trace hash", or why it differs
  std::string command;  // the `faultline timeline` command for the Perfetto view
};

struct Report {
  std::string db_path;
  std::string binary;  // this binary's identity
  size_t sweeps = 0;
  uint64_t runs = 0;
  std::string first_started, last_ended;
  std::vector<ReportGroup> groups;
  std::vector<ReportFailure> failures;  // by group, then seed
  std::vector<ReportTimeline> timelines;
};

// Groups the runs (each after its sweep) and lists the failures. `guards` are the guard marks
// (scenarios/registry.h), left out of "never reached".
Report build_report(std::string db_path, const std::vector<ReportSweep>& sweeps, const std::vector<ReportRun>& runs,
                    const std::set<std::string>& guards);

// The failures worth a timeline, at most `max`: the first failure (by seed) of each group and
// invariant (or verdict), in group order; never a crash (its run never finishes a timeline).
// Indices into report.failures.
std::vector<size_t> pick_timelines(const Report& report, size_t max);

}  // namespace faultline
