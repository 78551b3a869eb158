#include "reports/report_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

namespace faultline {

namespace {

// "2026-12-02T22:53:14Z" as seconds since the epoch, or nullopt.
std::optional<int64_t> epoch_seconds(const std::string& iso) {
  std::tm tm{};
  if (iso.size() != 20 || ::strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return std::nullopt;
  return static_cast<int64_t>(::timegm(&tm));
}

std::string first_invariant(const RunResult& r) {
  for (const Violation& v : r.violations) {
    if (!v.excused) return v.invariant;
  }
  return to_string(r.verdict);
}

}  // namespace

Histogram histogram_of(std::vector<int64_t> values, size_t max_bins) {
  Histogram h;
  h.runs = values.size();
  if (values.empty()) return h;
  auto key = [](int64_t v) { return v < 0 ? INT64_MAX : v; };
  std::sort(values.begin(), values.end(), [&](int64_t a, int64_t b) { return key(a) < key(b); });
  const size_t n = values.size();
  auto rank = [&](size_t num, size_t den) -> std::optional<double> {
    const int64_t v = values[(num * n + den - 1) / den - 1];  // nearest rank, as reports/summary.h
    if (v < 0) return std::nullopt;
    return static_cast<double>(v) / 1e9;
  };
  h.p50 = rank(1, 2);
  h.p99 = rank(99, 100);
  h.max = rank(1, 1);
  h.never = static_cast<uint64_t>(std::count_if(values.begin(), values.end(), [](int64_t v) { return v < 0; }));
  const size_t timed = n - h.never;
  if (timed == 0) return h;
  const int64_t top = values[timed - 1];
  const size_t bins = std::max<size_t>(1, std::min(max_bins, timed));
  const double width = std::max(static_cast<double>(top) / 1e9 / static_cast<double>(bins), 1e-9);
  h.bins.resize(bins);
  for (size_t i = 0; i < bins; ++i) {
    h.bins[i].lo = width * static_cast<double>(i);
    h.bins[i].hi = width * static_cast<double>(i + 1);
  }
  for (size_t i = 0; i < timed; ++i) {
    const auto b = static_cast<size_t>(static_cast<double>(values[i]) / 1e9 / width);
    ++h.bins[std::min(b, bins - 1)].count;
  }
  return h;
}

Report build_report(std::string db_path, const std::vector<ReportSweep>& sweeps, const std::vector<ReportRun>& runs,
                    const std::set<std::string>& guards) {
  Report report;
  report.db_path = std::move(db_path);
  report.sweeps = sweeps.size();
  std::map<int64_t, const ReportSweep*> sweep_by_id;
  for (const ReportSweep& s : sweeps) sweep_by_id[s.id] = &s;
  std::map<std::string, size_t> group_of_key;
  std::map<int64_t, size_t> group_of_sweep;
  std::set<int64_t> finished;  // sweeps with a wall time: only their runs count for throughput
  // Groups in order of their first sweep.
  for (const ReportSweep& s : sweeps) {
    // The binary is part of what was run: a fixed bug's old failures do not mix with the passes of
    // the binary that fixed it. Its identity joins the params for the labels below.
    std::map<std::string, std::string> params = s.params;
    params["binary"] = s.binary;
    std::string key = fmt::format("{}\x1f{}\x1f{}", s.kind, s.scenario, s.bugs);
    for (const auto& [name, value] : params) key += fmt::format("\x1f{}={}", name, value);
    auto [it, fresh] = group_of_key.try_emplace(key, report.groups.size());
    if (fresh) {
      ReportGroup g;
      g.key = key;
      g.params = std::move(params);
      g.kind = s.kind;
      g.scenario = s.scenario;
      g.bugs = s.bugs;
      g.summary.set_guards(guards);
      report.groups.push_back(std::move(g));
    }
    ReportGroup& g = report.groups[it->second];
    group_of_sweep[s.id] = it->second;
    g.sweep_ids.push_back(s.id);
    if (g.first_started.empty() || s.started_at < g.first_started) g.first_started = s.started_at;
    if (s.ended_at > g.last_ended) g.last_ended = s.ended_at;
    if (report.first_started.empty() || s.started_at < report.first_started) report.first_started = s.started_at;
    if (s.ended_at > report.last_ended) report.last_ended = s.ended_at;
    const auto start = epoch_seconds(s.started_at);
    const auto end = epoch_seconds(s.ended_at);
    if (start && end && *end >= *start) {
      g.sweep_wall_s += *end - *start;
      finished.insert(s.id);
    }
  }
  // Labels: scenario, kind unless a sweep, bugs; then the parameters that tell apart groups
  // that would otherwise share a label.
  std::map<std::string, std::vector<size_t>> by_label;
  for (size_t i = 0; i < report.groups.size(); ++i) {
    ReportGroup& g = report.groups[i];
    g.label = g.scenario;
    if (g.kind != "sweep") g.label += fmt::format(" ({})", g.kind);
    if (!g.bugs.empty()) g.label += fmt::format(", bug {}", g.bugs);
    by_label[g.label].push_back(i);
  }
  for (const auto& [label, members] : by_label) {
    if (members.size() < 2) continue;
    std::vector<std::map<std::string, std::string>> params;
    for (size_t i : members) params.push_back(report.groups[i].params);
    std::set<std::string> names;  // every parameter any member has (a newer build may add one)
    for (const auto& p : params) {
      for (const auto& [name, value] : p) names.insert(name);
    }
    std::set<std::string> differing;
    for (const std::string& name : names) {
      for (const auto& p : params) {
        auto a = p.find(name);
        auto b = params[0].find(name);
        if ((a == p.end()) != (b == params[0].end()) || (a != p.end() && a->second != b->second)) differing.insert(name);
      }
    }
    for (size_t k = 0; k < members.size(); ++k) {
      std::vector<std::string> parts;
      for (const std::string& name : differing) {
        auto it = params[k].find(name);
        parts.push_back(name + "=" + (it == params[k].end() ? std::string("?") : it->second));
      }
      if (!parts.empty()) report.groups[members[k]].label += fmt::format(" [{}]", fmt::join(parts, " "));
    }
  }
  for (const ReportRun& run : runs) {
    auto g_it = group_of_sweep.find(run.sweep_id);
    if (g_it == group_of_sweep.end()) continue;
    ReportGroup& g = report.groups[g_it->second];
    ++report.runs;
    g.summary.add(run.result, run.wall_ms, run.replay);
    g.run_wall_ns.push_back(run.wall_ms * 1'000'000);
    if (finished.contains(run.sweep_id)) {
      ++g.timed_runs;
      g.timed_events += run.result.events;
      g.timed_sim_ns += run.result.sim_time_ns;
    }
    if (run.result.verdict == Verdict::kPass) continue;
    ReportFailure f;
    f.group = g_it->second;
    f.run_id = run.id;
    f.seed = run.result.seed;
    f.verdict = run.result.verdict;
    f.invariant = first_invariant(run.result);
    f.what = describe(run.result);
    f.replay = run.replay;
    f.fault_plan = run.result.fault_plan;
    f.binary = sweep_by_id.at(run.sweep_id)->binary;
    f.trace_hash = run.result.trace_hash;
    report.failures.push_back(std::move(f));
  }
  std::stable_sort(report.failures.begin(), report.failures.end(), [](const ReportFailure& a, const ReportFailure& b) {
    return a.group != b.group ? a.group < b.group : a.seed < b.seed;
  });
  return report;
}

std::vector<size_t> pick_timelines(const Report& report, size_t max) {
  std::vector<size_t> out;
  std::set<std::pair<size_t, std::string>> seen;
  for (size_t i = 0; i < report.failures.size() && out.size() < max; ++i) {
    const ReportFailure& f = report.failures[i];
    if (f.verdict == Verdict::kCrash) continue;
    if (seen.insert({f.group, f.invariant}).second) out.push_back(i);
  }
  return out;
}

}  // namespace faultline
