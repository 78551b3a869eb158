#include "runner/fuzz.h"

#include <rapidcheck/Random.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "runner/isolate.h"
#include "runner/shrink.h"

namespace faultline {

namespace {

Duration ms(int64_t v) { return Duration::millis(v); }

// A non-empty subset of `names`, in their order.
rc::Gen<std::vector<std::string>> gen_subset(std::vector<std::string> names) {
  return rc::gen::exec([names] {
    std::vector<std::string> out;
    for (const std::string& n : names) {
      if (*rc::gen::inRange(0, 2) == 1) out.push_back(n);
    }
    if (out.empty()) out.push_back(*rc::gen::elementOf(names));
    return out;
  });
}

bool is_role(const Topology& t, const std::string& name) {
  return std::find(t.roles.begin(), t.roles.end(), name) != t.roles.end();
}

}  // namespace

// One event of a kind the space allows (kinds with no possible target are left out).
rc::Gen<FaultEvent> gen_event(const RunResult::PlanSpace& space, std::vector<FaultKind> kinds) {
  return rc::gen::exec([space, kinds] {
    std::vector<std::string> nodes;
    for (const auto& n : space.topology.nodes) nodes.push_back(n.name);
    std::vector<std::string> disks = space.crashable;  // disk faults aim where crashes do
    if (disks.empty()) disks = nodes;
    const int64_t start_ms = std::max<int64_t>(1, space.start.ns() / 1'000'000);
    const int64_t end_ms = std::max(start_ms + 1, space.end.ns() / 1'000'000);
    FaultEvent e;
    e.kind = *rc::gen::elementOf(kinds);
    e.at = ms(*rc::gen::inRange<int64_t>(start_ms, end_ms));
    e.duration = ms(*rc::gen::inRange<int64_t>(50, 30'000));
    switch (e.kind) {
      case FaultKind::kKill:
      case FaultKind::kPowerLoss:
      case FaultKind::kRestart:
      case FaultKind::kDiskReplace:
        e.a = {*rc::gen::elementOf(space.crashable)};
        if (is_role(space.topology, e.a[0])) e.delay = ms(*rc::gen::inRange<int64_t>(0, 3'000));
        break;
      case FaultKind::kDiskStall:
      case FaultKind::kDiskSlow:
        e.a = {*rc::gen::elementOf(disks)};
        if (is_role(space.topology, e.a[0])) e.delay = ms(*rc::gen::inRange<int64_t>(0, 3'000));
        if (e.kind == FaultKind::kDiskSlow) e.factor = *rc::gen::inRange<uint32_t>(2, 51);
        break;
      case FaultKind::kPartition:
      case FaultKind::kPartitionOneWay:
      case FaultKind::kDropConnections:
      case FaultKind::kLinkDelay: {
        e.a = *gen_subset(std::vector<std::string>(nodes.begin(), nodes.end() - 1));
        std::vector<std::string> rest;
        for (const std::string& n : nodes) {
          if (std::find(e.a.begin(), e.a.end(), n) == e.a.end()) rest.push_back(n);
        }
        e.b = *gen_subset(rest);
        if (e.kind == FaultKind::kDropConnections) e.duration = Duration::zero();
        if (e.kind == FaultKind::kLinkDelay) {
          e.delay = ms(*rc::gen::inRange<int64_t>(1, 500));
          e.jitter = ms(*rc::gen::inRange<int64_t>(0, e.delay.ns() / 1'000'000 + 1));
        }
        break;
      }
      case FaultKind::kIsolateDc:
        e.dc = *rc::gen::elementOf(space.topology.dcs());
        break;
      case FaultKind::kS3Errors: {
        const auto slowdown = *rc::gen::inRange<uint64_t>(0, 101);
        e.rate = Ratio{slowdown, 100};
        e.rate2 = Ratio{*rc::gen::inRange<uint64_t>(0, 101 - slowdown), 100};  // together at most 1
        break;
      }
      case FaultKind::kS3Latency:
        e.delay = ms(*rc::gen::inRange<int64_t>(50, 5'000));
        break;
      case FaultKind::kS3Outage:
        break;
      case FaultKind::kS3Ambiguous:
        e.rate = Ratio{*rc::gen::inRange<uint64_t>(1, 101), 100};
        break;
      case FaultKind::kCount:
        break;
    }
    return e;
  });
}

rc::Gen<FaultPlan> gen_plan(const RunResult::PlanSpace& space) {
  std::vector<FaultKind> kinds;
  for (FaultKind k : space.kinds) {
    const bool possible = is_crash(k) ? !space.crashable.empty()
                          : k == FaultKind::kIsolateDc ? space.topology.dcs().size() >= 2
                          : (k == FaultKind::kPartition || k == FaultKind::kPartitionOneWay ||
                             k == FaultKind::kDropConnections || k == FaultKind::kLinkDelay)
                              ? space.topology.nodes.size() >= 2
                              : k != FaultKind::kCount;
    if (possible) kinds.push_back(k);
  }
  if (kinds.empty()) return rc::gen::just(FaultPlan{});
  // A container of events shrinks by dropping any of them, then by shrinking each (earlier,
  // shorter, smaller node sets); up to a dozen events.
  return rc::gen::map(rc::gen::resize(12, rc::gen::nonEmpty(rc::gen::container<std::vector<FaultEvent>>(
                                              gen_event(space, kinds)))),
                      [space](std::vector<FaultEvent> events) {
                        FaultPlan plan;
                        plan.events = std::move(events);
                        return within_tolerance(std::move(plan), space);
                      });
}

FaultPlan within_tolerance(FaultPlan plan, const RunResult::PlanSpace& space) {
  plan.sort();
  // A crash is counted down from its strike until its window and a rejoin grace (replica
  // lag time plus margin, as the nemesis assumes) have passed; a role aimed at a future
  // holder may strike up to a takeover later.
  const Duration grace = Duration::seconds(15);
  const Duration takeover = Duration::seconds(12);
  std::vector<std::pair<Duration, std::string>> down;
  uint32_t power_losses = 0;
  std::vector<FaultEvent> kept;
  for (FaultEvent& e : plan.events) {
    if (e.kind == FaultKind::kPowerLoss || e.kind == FaultKind::kDiskReplace) {
      if (power_losses >= space.max_power_losses) {
        e.kind = FaultKind::kKill;
      } else {
        ++power_losses;
      }
    }
    if (is_crash(e.kind) && space.max_down > 0) {
      std::erase_if(down, [&](const auto& d) { return d.first <= e.at; });
      const bool role = is_role(space.topology, e.a.at(0));
      const bool already =
          !role && std::any_of(down.begin(), down.end(), [&](const auto& d) { return d.second == e.a[0]; });
      if (!already && down.size() >= space.max_down) continue;
      if (!already) down.emplace_back(e.at + (role ? takeover : Duration::zero()) + e.delay + e.duration + grace, e.a[0]);
    }
    kept.push_back(std::move(e));
  }
  plan.events = std::move(kept);
  return plan;
}

std::optional<RunResult::PlanSpace> plan_space(const RunRequest& base) {
  RunRequest r = base;
  r.plan_only = true;
  r.plan_text.reset();
  r.trace_sink = nullptr;
  const RunResult result = execute(r);
  return result.plan_space;
}

FuzzResult fuzz(const FuzzOptions& o, const std::function<void(const RunRequest&, const RunResult&, int64_t)>& on_run) {
  FuzzResult out;
  const auto space = plan_space(o.base);
  if (!space) return out;
  const rc::Gen<FaultPlan> gen = gen_plan(*space);
  rc::Random random(o.rc_seed);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  // Generation: each run gets its own plan (and the run index as its seed, so that the
  // workload's randomness varies too); RapidCheck's size grows from 0 to 100 and wraps.
  std::map<uint64_t, rc::Shrinkable<FaultPlan>> shrinkables;
  uint64_t generated = 0;
  std::optional<std::pair<RunRequest, RunResult>> failed;
  run_isolated_stream(
      [&]() -> std::optional<RunRequest> {
        if (failed || generated >= o.runs || (o.for_ms > 0 && elapsed_ms() >= o.for_ms)) return std::nullopt;
        const uint64_t index = generated++;
        auto shrinkable = gen(random.split(), static_cast<int>(index % 101));
        RunRequest r = o.base;
        r.seed = index;
        r.plan_text = shrinkable.value().to_text();
        shrinkables.emplace(index, std::move(shrinkable));
        return r;
      },
      IsolationOptions(o.jobs, o.timeout_ms),
      [&](size_t, const RunRequest& req, const RunResult& r, int64_t ms) {
        ++out.runs;
        for (const auto& [name, count] : r.marks) out.marks_reached[name] += count > 0 ? 1 : 0;
        on_run(req, r, ms);
        if (r.verdict != Verdict::kPass && r.input_error.empty() && (!failed || req.seed < failed->first.seed)) {
          failed = std::make_pair(req, r);
        }
        if (!failed || failed->first.seed != req.seed) shrinkables.erase(req.seed);
      });
  out.wall_s = static_cast<double>(elapsed_ms()) / 1000.0;
  if (!failed) return out;

  // Shrinking: RapidCheck's shrinks of the failing plan, first that still fails the same way
  // wins, then its shrinks, until none does (or the budget is spent). Sequential: each step
  // depends on the last.
  const std::string signature = outcome_signature(failed->second);
  rc::Shrinkable<FaultPlan> current = shrinkables.at(failed->first.seed);
  out.original_plan = current.value();
  RunResult best = failed->second;
  RunRequest req = failed->first;
  bool progress = true;
  while (progress && out.shrink_runs < o.max_shrink_runs) {
    progress = false;
    auto candidates = current.shrinks();
    while (auto next = candidates.next()) {
      if (out.shrink_runs >= o.max_shrink_runs) break;
      RunRequest attempt = req;
      attempt.plan_text = next->value().to_text();
      RunResult got;
      run_isolated({attempt}, IsolationOptions(1, o.timeout_ms), [&](size_t, const RunResult& rr, int64_t) { got = rr; });
      ++out.shrink_runs;
      if (got.verdict != Verdict::kPass && outcome_signature(got) == signature) {
        current = *next;
        best = got;
        progress = true;
        break;
      }
    }
  }
  out.shrunk_plan = current.value();
  out.failure = best;
  out.wall_s = static_cast<double>(elapsed_ms()) / 1000.0;
  return out;
}

}  // namespace faultline
