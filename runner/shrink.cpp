#include "runner/shrink.h"

#include <fmt/format.h>

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
  ShrinkResult best{plan, original, 0, false};
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  // True (and `best` updated) if the run with `candidate` still ends like the original.
  auto still_fails = [&](const FaultPlan& candidate) {
    if (best.runs >= options.max_runs) {
      best.budget_hit = true;
      return false;
    }
    ++best.runs;
    RunRequest r = request;
    r.plan_text = candidate.to_text();
    r.plan_only = false;
    const RunResult result = run(r);
    if (outcome_signature(result) != want) return false;
    best.plan = candidate;
    best.result = result;
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
      if (e.kind == FaultKind::kDropConnections) break;  // instantaneous
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
  return best;
}

}  // namespace faultline
