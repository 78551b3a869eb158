#include "runner/shrink.h"

#include <fmt/format.h>

#include <algorithm>

namespace faultline {

std::string outcome_signature(const RunResult& r) {
  std::string s = to_string(r.verdict);
  if ((r.verdict == Verdict::kFail || r.verdict == Verdict::kLiveness) && !r.violations.empty()) {
    for (const Violation& v : r.violations) {
      if (!v.excused) return s + " " + v.invariant;
    }
  }
  return s;
}

ShrinkResult shrink_plan(const RunRequest& request, const FaultPlan& plan, const RunResult& original,
                         const ShrinkOptions& options, const Runner& run,
                         const std::function<void(const std::string&)>& progress) {
  const std::string want = outcome_signature(original);
  ShrinkResult best{plan, original, 0, false, request.sets};
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  RunRequest base = request;
  // True (and `best` updated) if the run with `candidate` (and `sets`, if given) still ends
  // like the original.
  auto still_fails = [&](const FaultPlan& candidate, const std::map<std::string, std::string>* sets = nullptr) {
    if (best.runs >= options.max_runs) {
      best.budget_hit = true;
      return false;
    }
    ++best.runs;
    RunRequest r = base;
    if (sets != nullptr) r.sets = *sets;
    r.plan_text = candidate.to_text();
    r.plan_only = false;
    const RunResult result = run(r);
    if (!result.input_error.empty() || outcome_signature(result) != want) return false;
    best.plan = candidate;
    best.result = result;
    if (sets != nullptr) base.sets = *sets;
    return true;
  };

  // 1. Drop events: chunks of half the plan, then quarters, ... down to single events.
  for (size_t chunk = std::max<size_t>(1, best.plan.events.size() / 2); chunk >= 1 && !best.plan.events.empty();) {
    bool dropped = false;
    for (size_t i = 0; i < best.plan.events.size() && !best.budget_hit;) {
      FaultPlan candidate = best.plan;
      const size_t end = std::min(i + chunk, candidate.events.size());
      candidate.events.erase(candidate.events.begin() + static_cast<std::ptrdiff_t>(i),
                             candidate.events.begin() + static_cast<std::ptrdiff_t>(end));
      if (still_fails(candidate)) {
        dropped = true;
        say(fmt::format("dropped {} event(s): {} left ({} runs)", end - i, best.plan.events.size(), best.runs));
      } else {
        i += chunk;
      }
    }
    if (best.budget_hit) break;
    if (!dropped) {
      if (chunk == 1) break;
      chunk /= 2;
    }
  }

  // 2. Shorten what is left: halve each window while the outcome holds (a zero window means
  // "until the final heal" and is tried as a finite one first).
  for (size_t i = 0; i < best.plan.events.size() && !best.budget_hit; ++i) {
    for (int attempt = 0; attempt < 6 && !best.budget_hit; ++attempt) {
      FaultPlan candidate = best.plan;
      FaultEvent& e = candidate.events[i];
      if (e.kind == FaultKind::kDropConnections || e.kind == FaultKind::kElectPreferred ||
          e.kind == FaultKind::kReassign) {
        break;  // instantaneous
      }
      if (e.duration == Duration::zero()) {
        e.duration = Duration::seconds(30);
      } else if (e.duration > Duration::millis(100)) {
        e.duration = e.duration / 2;
      } else {
        break;
      }
      if (!still_fails(candidate)) break;
      say(fmt::format("shortened event {} to {} ({} runs)", i + 1, format_duration(e.duration), best.runs));
    }
  }

  // 3. Smaller node sets: drop one node at a time from either side of a partition, a
  // one-way partition, dropped connections or a link delay, while both sides stay non-empty.
  for (size_t i = 0; i < best.plan.events.size() && !best.budget_hit; ++i) {
    for (bool side_a : {true, false}) {
      for (size_t k = 0; !best.budget_hit;) {
        const std::vector<std::string>& names = side_a ? best.plan.events[i].a : best.plan.events[i].b;
        const bool sets_of_nodes = best.plan.events[i].kind == FaultKind::kPartition ||
                                   best.plan.events[i].kind == FaultKind::kPartitionOneWay ||
                                   best.plan.events[i].kind == FaultKind::kDropConnections ||
                                   best.plan.events[i].kind == FaultKind::kLinkDelay;
        if (!sets_of_nodes || names.size() <= 1 || k >= names.size()) break;
        FaultPlan candidate = best.plan;
        auto& set = side_a ? candidate.events[i].a : candidate.events[i].b;
        const std::string gone = set[k];
        set.erase(set.begin() + static_cast<std::ptrdiff_t>(k));
        if (still_fails(candidate)) {
          say(fmt::format("event {}: {} left out ({} runs)", i + 1, gone, best.runs));
        } else {
          ++k;
        }
      }
    }
  }

  // 4. The moment: move each event as early as it still fails (binary search between the
  // previous event's time, or the start, and its own).
  for (size_t i = 0; i < best.plan.events.size() && !best.budget_hit; ++i) {
    Duration lo = i == 0 ? Duration::zero() : best.plan.events[i - 1].at;
    for (int step = 0; step < 8 && !best.budget_hit; ++step) {
      const Duration at = best.plan.events[i].at;
      if (at - lo <= Duration::millis(10)) break;
      FaultPlan candidate = best.plan;
      candidate.events[i].at = lo + (at - lo) / 2;
      if (still_fails(candidate)) {
        say(fmt::format("moved event {} to {} ({} runs)", i + 1, format_duration(candidate.events[i].at), best.runs));
      } else {
        lo = candidate.events[i].at;
      }
    }
  }

  // 5. The workload, where the scenario has the knob: fewer partitions.
  if (const ScenarioInfo* info = find_scenario(request.scenario)) {
    const bool has = std::any_of(info->params.begin(), info->params.end(), [](const ParamSpec& p) { return p.name == "partitions"; });
    std::string error;
    const auto params = Params::resolve(info->params, base.sets, &error);
    // Half as many, else one fewer, while that still fails.
    for (int64_t cur = has && params ? params->integer("partitions") : 1; cur > 1 && !best.budget_hit;) {
      bool smaller = false;
      std::vector<int64_t> tries = {cur / 2};
      if (cur - 1 != cur / 2) tries.push_back(cur - 1);
      for (int64_t n : tries) {
        std::map<std::string, std::string> sets = base.sets;
        sets["partitions"] = std::to_string(n);
        if (still_fails(best.plan, &sets)) {
          say(fmt::format("partitions {} ({} runs)", n, best.runs));
          cur = n;
          smaller = true;
          break;
        }
      }
      if (!smaller) break;
    }
  }
  best.sets = base.sets;
  return best;
}

}  // namespace faultline
