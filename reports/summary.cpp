#include "reports/summary.h"

#include <fmt/format.h>

#include <algorithm>

#include "reports/json.h"

namespace faultline {

std::string describe(const RunResult& r) {
  if (r.verdict == Verdict::kCrash) return fmt::format("crash: {}", r.crash);
  for (const auto& v : r.violations) {
    if (!v.excused) {
      return fmt::format("{} {} at {}: {}", to_string(r.verdict), v.invariant, format_duration(v.at.since_start()),
                         v.message);
    }
  }
  return to_string(r.verdict);
}

void SweepSummary::add(const RunResult& r, int64_t, std::string replay) {
  ++runs_;
  ++counts_[static_cast<int>(r.verdict)];
  events_ += r.events;
  sim_ns_ += r.sim_time_ns;
  for (const auto& v : r.violations) ++(v.excused ? excused_ : by_invariant_)[v.invariant];
  if (r.verdict != Verdict::kPass) failures_[r.seed] = Failure{r.seed, r.verdict, describe(r), std::move(replay)};
  for (const auto& [name, value] : r.metrics) {
    if (name.size() > 3 && name.ends_with("_ns")) {
      durations_[name].push_back(value);
    } else {
      totals_[name] += value;
    }
  }
  for (const auto& [name, count] : r.marks) {
    Reach& reach = marks_[name];
    ++reach.declared;
    if (count > 0) ++reach.reached;
  }
}

std::map<std::string, std::pair<uint64_t, uint64_t>> SweepSummary::mark_reach() const {
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (const auto& [name, reach] : marks_) out[name] = {reach.reached, reach.declared};
  return out;
}

std::vector<std::string> SweepSummary::never_reached() const {
  std::vector<std::string> out;
  for (const auto& [name, reach] : marks_) {
    if (reach.reached == 0 && !guards_.contains(name)) out.push_back(name);
  }
  return out;
}

std::vector<std::string> SweepSummary::guards_not_tripped() const {
  std::vector<std::string> out;
  for (const auto& [name, reach] : marks_) {
    if (reach.reached == 0 && guards_.contains(name)) out.push_back(name);
  }
  return out;
}

std::string distribution_text(std::vector<int64_t> values) {
  if (values.empty()) return "no runs";
  // "Never" (-1) sorts after every time.
  auto key = [](int64_t v) { return v < 0 ? INT64_MAX : v; };
  std::sort(values.begin(), values.end(), [&](int64_t a, int64_t b) { return key(a) < key(b); });
  const size_t n = values.size();
  auto rank = [&](size_t num, size_t den) { return values[(num * n + den - 1) / den - 1]; };  // nearest rank
  auto text = [](int64_t v) { return v < 0 ? std::string("never") : fmt::format("{:.3f}s", v / 1e9); };
  const auto never = static_cast<size_t>(std::count_if(values.begin(), values.end(), [](int64_t v) { return v < 0; }));
  return fmt::format("median {}, p99 {}, max {} ({} runs{})", text(rank(1, 2)), text(rank(99, 100)),
                     text(values.back()), n, never > 0 ? fmt::format(", {} never", never) : std::string());
}

std::string SweepSummary::text(int64_t sweep_wall_ms) const {
  const double wall_s = std::max<int64_t>(sweep_wall_ms, 1) / 1000.0;
  std::string out = fmt::format(
      "{} runs in {:.1f} s: pass {}, fail {}, liveness {}, crash {}\n"
      "throughput: {:.1f} seeds/s, {:.2f} M events/s, {:.0f} simulated s per wall s (all jobs)\n",
      runs_, wall_s, counts_[0], counts_[1], counts_[2], counts_[3], runs_ / wall_s, events_ / wall_s / 1e6,
      sim_ns_ / 1e9 / wall_s);
  if (!by_invariant_.empty()) {
    out += "violations:";
    for (const auto& [inv, n] : by_invariant_) out += fmt::format(" {}x{}", inv, n);
    out += '\n';
  }
  if (!excused_.empty()) {
    out += "excused:";
    for (const auto& [inv, n] : excused_) out += fmt::format(" {}x{}", inv, n);
    out += '\n';
  }
  for (const auto& [name, values] : durations_) out += fmt::format("{}: {}\n", name, distribution_text(values));
  if (!totals_.empty()) {
    out += "totals:";
    for (const auto& [name, total] : totals_) out += fmt::format(" {} {}", name, total);
    out += '\n';
  }
  if (!marks_.empty()) {
    size_t width = 0;
    for (const auto& [name, reach] : marks_) width = std::max(width, name.size());
    out += fmt::format("coverage ({} marks, runs that reached each of the runs that declared it):\n", marks_.size());
    for (const auto& [name, reach] : marks_) {
      const double percent = 100.0 * static_cast<double>(reach.reached) / static_cast<double>(reach.declared);
      // A mark reached at all never reads as 0.0%.
      const std::string shown =
          reach.reached > 0 && percent < 0.05 ? std::string("<0.1%") : fmt::format("{:.1f}%", percent);
      out += fmt::format("  {:<{}}   {}/{} runs ({})\n", name, width, reach.reached, reach.declared, shown);
    }
    const std::vector<std::string> never = never_reached();
    out += never.empty() ? std::string("every mark reached\n")
                         : fmt::format("never reached ({}): {}\n", never.size(), fmt::join(never, ", "));
    const std::vector<std::string> guards = guards_not_tripped();
    if (!guards.empty()) {
      out += fmt::format("guards not tripped, as in a correct model ({}): {}\n", guards.size(), fmt::join(guards, ", "));
    }
  }
  if (!failures_.empty()) {
    out += fmt::format("first failing seed: {}\n", failures_.begin()->first);
    size_t shown = 0;
    for (const auto& [seed, f] : failures_) {
      if (++shown > 20) {
        out += fmt::format("  ... and {} more\n", failures_.size() - 20);
        break;
      }
      out += fmt::format("  seed {}: {}\n    replay: {}\n", seed, f.what, f.replay);
    }
  }
  out += all_passed() ? "RESULT: PASS\n" : "RESULT: FAIL\n";
  return out;
}

namespace {

std::string count_map_json(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, n] : counts) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_escape(name), n);
    first = false;
  }
  return out + "}";
}

}  // namespace

std::string SweepSummary::json(const std::string& scenario) const {
  std::string out = fmt::format(
      "{{\"scenario\":{},\"runs\":{},\"verdicts\":{{\"pass\":{},\"fail\":{},\"liveness\":{},\"crash\":{}}}",
      json_escape(scenario), runs_, counts_[0], counts_[1], counts_[2], counts_[3]);
  out += fmt::format(",\"by_invariant\":{},\"excused\":{},\"marks\":{{", count_map_json(by_invariant_),
                     count_map_json(excused_));
  bool first = true;
  for (const auto& [name, reach] : marks_) {
    out += fmt::format("{}{}:{{\"reached\":{},\"runs\":{}}}", first ? "" : ",", json_escape(name), reach.reached,
                       reach.declared);
    first = false;
  }
  out += "},\"never_reached\":[";
  first = true;
  for (const auto& name : never_reached()) {
    out += fmt::format("{}{}", first ? "" : ",", json_escape(name));
    first = false;
  }
  out += "],\"guards_not_tripped\":[";
  first = true;
  for (const auto& name : guards_not_tripped()) {
    out += fmt::format("{}{}", first ? "" : ",", json_escape(name));
    first = false;
  }
  return out + "]}";
}

}  // namespace faultline
