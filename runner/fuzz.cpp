#include "runner/fuzz.h"

#include <rapidcheck/Random.h>

#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>
#include <rapidcheck/detail/Configuration.h>

#include "runner/bad_input.h"
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
    // Crashes and disk faults aim at what the nemesis may crash (nodes, and roles resolved
    // when the fault strikes, such as leader:p0), and also at protocol moments (roles that
    // wait for a moment to come: next-leader:p0, diverging, next-registered): the races the
    // nemesis arms on purpose are the fuzzer's to find too.
    std::vector<std::string> crash_targets = space.crashable;
    for (const std::string& role : space.topology.roles) {
      if (std::find(crash_targets.begin(), crash_targets.end(), role) == crash_targets.end()) {
        crash_targets.push_back(role);
      }
    }
    std::vector<std::string> disks = crash_targets;
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
        e.a = {*rc::gen::elementOf(crash_targets)};
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
      case FaultKind::kElectPreferred:
      case FaultKind::kReassign:
        e.duration = Duration::zero();  // instantaneous
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
  // A container of groups shrinks by dropping any of them, then by shrinking each (earlier,
  // shorter, smaller node sets, no follow-up); up to a dozen groups. A group is one event, or
  // a disk fault aimed at a protocol moment with a crash of its follow-up role at the same
  // moment (the race between a held truncation and a leader change that the nemesis arms).
  const rc::Gen<FaultEvent> event = gen_event(space, kinds);
  const bool restarts = std::find(kinds.begin(), kinds.end(), FaultKind::kRestart) != kinds.end();
  const rc::Gen<std::vector<FaultEvent>> group = rc::gen::exec([event, space, restarts] {
    std::vector<FaultEvent> g = {*event};
    const FaultEvent& e = g.front();
    if (e.kind != FaultKind::kDiskStall && e.kind != FaultKind::kDiskSlow) return g;
    auto follow = std::find_if(space.followups.begin(), space.followups.end(),
                               [&](const auto& f) { return f.first == e.a.at(0); });
    if (follow == space.followups.end() || *rc::gen::inRange(0, 2) == 0) return g;
    FaultEvent crash;
    crash.at = e.at;
    crash.kind = restarts && *rc::gen::inRange(0, 2) == 1 ? FaultKind::kRestart : FaultKind::kKill;
    crash.a = {follow->second};
    crash.delay = ms(*rc::gen::inRange<int64_t>(0, std::min<int64_t>(3'000, e.duration.ns() / 1'000'000) + 1));
    crash.duration = ms(*rc::gen::inRange<int64_t>(50, 30'000));
    g.push_back(std::move(crash));
    return g;
  });
  // The dozen caps the number of groups only: each group is generated at the run's own size
  // (a resize around the container alone would also shrink every time and window to 12% of
  // its range, as it did until fuzzing showed that no session ever expired).
  const rc::Gen<std::vector<std::vector<FaultEvent>>> all = rc::gen::withSize([group](int size) {
    return rc::gen::resize(12, rc::gen::nonEmpty(rc::gen::container<std::vector<std::vector<FaultEvent>>>(
                                   rc::gen::resize(size, group))));
  });
  return rc::gen::map(all,
                      [space](std::vector<std::vector<FaultEvent>> groups) {
                        FaultPlan plan;
                        for (auto& g : groups) {
                          for (FaultEvent& e : g) plan.events.push_back(std::move(e));
                        }
                        return within_tolerance(std::move(plan), space);
                      });
}

FaultPlan within_tolerance(FaultPlan plan, const RunResult::PlanSpace& space) {
  plan.sort();
  // A crash is counted down from its strike until its window and a rejoin grace (replica
  // lag time plus margin, as the nemesis assumes) have passed; a role aimed at a future
  // holder may strike up to a takeover later.
  const Duration grace = space.rejoin_grace > Duration::zero() ? space.rejoin_grace : Duration::seconds(15);
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

std::string fuzz_test_id(const RunRequest& base) { return "faultline fuzz " + base.scenario; }

namespace {

// The Reproduce entry for this fuzz target in an RC_PARAMS string.
rc::detail::Reproduce parse_reproduce(const std::string& params, const std::string& id) {
  rc::detail::Configuration config;
  try {
    config = rc::detail::configFromString(params);
  } catch (const std::exception& e) {
    throw BadInput{fmt::format("RC_PARAMS does not parse: {}", e.what())};
  }
  auto it = config.reproduce.find(id);
  if (it == config.reproduce.end()) {
    throw BadInput{fmt::format("RC_PARAMS has no reproduce entry for '{}' (same --scenario as the failure?)", id)};
  }
  return it->second;
}

std::string reproduce_string(const std::string& id, const rc::Random& random, int size,
                             const std::vector<std::size_t>& path) {
  rc::detail::Configuration config;
  config.reproduce[id] = rc::detail::Reproduce{random, size, path};
  return rc::detail::configToMinimalString(config);
}

struct Generated {
  rc::Shrinkable<FuzzCase> shrinkable;
  rc::Random random;  // what generated it, with its size: the start of its reproduce string
  int size;
};

RunResult run_one(const RunRequest& req, int64_t timeout_ms) {
  RunResult got;
  run_isolated({req}, IsolationOptions(1, timeout_ms), [&](size_t, const RunResult& rr, int64_t) { got = rr; });
  return got;
}

}  // namespace

FuzzResult fuzz(const FuzzOptions& o, const std::function<void(const RunRequest&, const RunResult&, int64_t)>& on_run) {
  FuzzResult out;
  auto cache = std::make_shared<PlanSpaceCache>(o.base);
  if (!cache->get({})) return out;
  const rc::Gen<FuzzCase> gen = gen_case(cache, o.vary_config);
  const std::string id = fuzz_test_id(o.base);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  std::map<size_t, Generated> generated_cases;  // by generation index, while in flight
  struct Failed {
    size_t index;
    RunRequest req;
    RunResult result;
  };
  std::optional<Failed> failed;
  if (!o.reproduce.empty()) {
    // One case, regenerated from its random state and size, then down its shrink path.
    const rc::detail::Reproduce rep = parse_reproduce(o.reproduce, id);
    rc::Shrinkable<FuzzCase> current = gen(rep.random, rep.size);
    for (std::size_t step : rep.shrinkPath) {
      auto next = current.shrinks();
      for (std::size_t i = 0; i < step; ++i) next.next();
      auto chosen = next.next();
      if (!chosen) throw BadInput{"RC_PARAMS: the shrink path does not fit this binary's generator"};
      current = *chosen;
    }
    out.original = out.shrunk = current.value();
    const RunRequest req = case_request(o.base, current.value());
    const RunResult r = run_one(req, o.timeout_ms);
    ++out.runs;
    for (const auto& [name, count] : r.marks) out.marks_reached[name] += count > 0 ? 1 : 0;
    on_run(req, r, elapsed_ms());
    if (r.verdict != Verdict::kPass && r.input_error.empty()) {
      out.failure = r;
      out.failing_request = req;
      out.reproduce = reproduce_string(id, rep.random, rep.size, rep.shrinkPath);
    }
    out.wall_s = static_cast<double>(elapsed_ms()) / 1000.0;
    return out;
  }

  // Generation: each run gets its own case (configuration, plan and seed) from a split of
  // the seed's random state, at RapidCheck's size growing from 0 to 100 and wrapping.
  rc::Random random(o.rc_seed);
  uint64_t generated = 0;
  run_isolated_stream(
      [&]() -> std::optional<RunRequest> {
        if (failed || generated >= o.runs || (o.for_ms > 0 && elapsed_ms() >= o.for_ms)) return std::nullopt;
        const uint64_t index = generated++;
        const rc::Random r = random.split();
        const int size = static_cast<int>(index % 101);
        Generated g{gen(r, size), r, size};
        RunRequest req = case_request(o.base, g.shrinkable.value());
        generated_cases.emplace(index, std::move(g));
        return req;
      },
      IsolationOptions(o.jobs, o.timeout_ms),
      [&](size_t index, const RunRequest& req, const RunResult& r, int64_t ms) {
        ++out.runs;
        for (const auto& [name, count] : r.marks) out.marks_reached[name] += count > 0 ? 1 : 0;
        on_run(req, r, ms);
        // The earliest generated failure wins (runs finish out of order with jobs > 1).
        if (r.verdict != Verdict::kPass && r.input_error.empty() && (!failed || index < failed->index)) {
          failed = Failed{index, req, r};
        }
        if (!failed || failed->index != index) generated_cases.erase(index);
      });
  out.wall_s = static_cast<double>(elapsed_ms()) / 1000.0;
  if (!failed) return out;

  // Shrinking: RapidCheck's shrinks of the failing case (configuration first, then plan),
  // first that still fails the same way wins, then its shrinks, until none does (or the
  // budget is spent). Sequential: each step depends on the last. The path of chosen shrink
  // indices is what RapidCheck's reproduce string records.
  const std::string signature = outcome_signature(failed->result);
  const Generated& first = generated_cases.at(failed->index);
  rc::Shrinkable<FuzzCase> current = first.shrinkable;
  out.original = current.value();
  RunResult best = failed->result;
  RunRequest best_req = failed->req;
  std::vector<std::size_t> path;
  bool progress = true;
  while (progress && out.shrink_runs < o.max_shrink_runs) {
    progress = false;
    auto candidates = current.shrinks();
    std::size_t index = 0;
    for (auto next = candidates.next(); next && out.shrink_runs < o.max_shrink_runs; next = candidates.next(), ++index) {
      const RunRequest attempt = case_request(o.base, next->value());
      const RunResult got = run_one(attempt, o.timeout_ms);
      ++out.shrink_runs;
      if (got.verdict != Verdict::kPass && outcome_signature(got) == signature) {
        current = *next;
        best = got;
        best_req = attempt;
        path.push_back(index);
        progress = true;
        break;
      }
    }
  }
  out.shrunk = current.value();
  out.failure = best;
  out.failing_request = best_req;
  out.reproduce = reproduce_string(id, first.random, first.size, path);
  out.wall_s = static_cast<double>(elapsed_ms()) / 1000.0;
  return out;
}

}  // namespace faultline
