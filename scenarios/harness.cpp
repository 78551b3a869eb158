#include <algorithm>
#include <fmt/format.h>

#include <exception>

#include "scenarios/scenario.h"
#include "sim/assert.h"

namespace faultline {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "pass";
    case Verdict::kFail: return "fail";
    case Verdict::kLiveness: return "liveness";
    case Verdict::kCrash: return "crash";
  }
  return "?";
}

void RunContext::violation(std::string invariant, InvariantKind kind, std::string message, std::string excuse) {
  const bool excused = !excuse.empty();
  sim_.note(excused ? "violation-excused" : "violation", {{"invariant", invariant}, {"message", message}});
  violations_.push_back(Violation{std::move(invariant), kind, std::move(message), sim_.now(), excused, std::move(excuse)});
  if (!excused && kind == InvariantKind::kSafety) sim_.scheduler().stop();
}

bool RunContext::failed() const {
  for (const auto& v : violations_) {
    if (!v.excused) return true;
  }
  return false;
}

FaultPlan RunContext::fault_plan(const Topology& topology, const NemesisOptions& options) {
  plan_space_ = RunResult::PlanSpace{topology,    options.kinds,    options.crashable,        options.start,
                                     options.end, options.max_down, options.max_power_losses, options.rejoin_grace,
                                     options.moment_followups};
  if (request_.plan_text) return fault_plan(topology, FaultPlan{});
  return fault_plan(topology, draw_plan(topology, options, Prng(sim_.seed(), "nemesis")));
}

FaultPlan RunContext::fault_plan(const Topology& topology, FaultPlan drawn) {
  if (!plan_space_) {
    // A scenario that draws its own plan: its kinds are those it drew, in the window of the
    // events it drew.
    RunResult::PlanSpace space{topology, {}, {}, Duration::seconds(1), Duration::seconds(1), 0, 0, Duration::seconds(15), {}};
    for (const FaultEvent& e : drawn.events) {
      if (std::find(space.kinds.begin(), space.kinds.end(), e.kind) == space.kinds.end()) space.kinds.push_back(e.kind);
      if (is_crash(e.kind) && !e.a.empty()) space.crashable.push_back(e.a[0]);
      space.end = std::max(space.end, e.at + Duration::seconds(1));
      space.max_power_losses += e.kind == FaultKind::kPowerLoss;
    }
    plan_space_ = space;
  }
  FaultPlan plan;
  if (request_.plan_text) {
    std::string error;
    auto parsed = FaultPlan::parse(*request_.plan_text, &error);
    if (!parsed) throw InputError{error};
    plan = std::move(*parsed);
    if (std::string bad = validate_plan(plan, topology); !bad.empty()) throw InputError{bad};
  } else {
    plan = std::move(drawn);
  }
  plan_text_ = plan.to_text();
  sim_.note("fault-plan", {{"events", static_cast<uint64_t>(plan.events.size())}});
  if (request_.plan_only) throw PlanOnlyStop{};
  return plan;
}

bool RunContext::run_until(Instant t) {
  outcome_ = sim_.scheduler().run_until(t);
  switch (outcome_.reason) {
    case StopReason::kTimeBudget:
      return !failed();
    case StopReason::kDrained:
      // Nothing left to happen: time may still pass for the checks that follow.
      return !failed();
    default:
      return false;
  }
}

bool RunContext::await_convergence(Duration bound, Duration poll, const std::string& invariant,
                                   const std::string& what, const std::function<bool()>& converged) {
  return await_convergence(bound, poll, [&]() -> Pending {
    if (converged()) return std::nullopt;
    return std::make_pair(invariant, what);
  });
}

bool RunContext::await_convergence(Duration bound, Duration poll, const std::function<Pending()>& pending) {
  const Instant deadline = sim_.now() + bound;
  for (;;) {
    const Pending p = pending();
    if (!p) return true;
    if (sim_.now() >= deadline) {
      violation(p->first, InvariantKind::kLiveness,
                fmt::format("did not converge within {}: {}", format_duration(bound), p->second));
      return false;
    }
    if (!run_until(std::min(deadline, sim_.now() + poll))) return false;
  }
}

std::string validate(const RunRequest& request) {
  const ScenarioInfo* info = find_scenario(request.scenario);
  if (info == nullptr) {
    std::vector<std::string> names;
    for (const auto& s : all_scenarios()) names.push_back(s.name);
    return fmt::format("unknown scenario '{}' (known: {})", request.scenario, fmt::join(names, ", "));
  }
  std::string error;
  if (!Params::resolve(info->params, request.sets, &error)) return error;
  if (request.plan_text) {
    if (!FaultPlan::parse(*request.plan_text, &error)) return error;
  }
  for (const auto& name : request.bugs) {
    if (!bug_by_name(name)) {
      std::vector<std::string> names;
      for (const auto& b : bug_catalogue()) names.emplace_back(b.name);
      return fmt::format("unknown bug '{}' (known: {})", name, fmt::join(names, ", "));
    }
  }
  return {};
}

RunResult execute(const RunRequest& request) {
  const ScenarioInfo* info = find_scenario(request.scenario);
  FL_ASSERT(info != nullptr, request.scenario);
  std::string error;
  std::optional<Params> params = Params::resolve(info->params, request.sets, &error);
  FL_ASSERT(params.has_value(), error);
  BugSet bugs;
  for (const auto& name : request.bugs) bugs.enable(*bug_by_name(name));

  RunResult result;
  result.scenario = request.scenario;
  result.seed = request.seed;
  result.params = params->resolved();
  result.bugs = bugs.names();

  // The simulation outlives the scenario object, but shutdown() unwinds every fiber (which
  // may reference the scenario) before the scenario goes away.
  Simulation sim(request.seed);
  sim.trace().set_sink(request.trace_sink);
  RunContext rc(sim, *params, bugs, request);
  std::unique_ptr<RunObserver> observer = request.observer ? request.observer(sim, rc) : nullptr;
  sim.trace().set_observer(observer.get());
  sim.network().set_observer(observer ? observer->network_observer() : nullptr);
  rc.set_observer(observer.get());
  std::optional<std::string> crash;
  {
    std::unique_ptr<Scenario> scenario = info->make();
    try {
      scenario->run(rc);
    } catch (const InputError& e) {
      result.input_error = e.message;
    } catch (const PlanOnlyStop&) {
      // Only the plan was wanted; nothing ran.
    } catch (const AssertionFailure& a) {
      crash = fmt::format("at {} in scenario: {}", format_duration(sim.now().since_start()), a.message);
    } catch (const std::exception& e) {
      crash = fmt::format("at {} in scenario: uncaught exception: {}", format_duration(sim.now().since_start()), e.what());
    }
    try {
      sim.shutdown();
    } catch (const AssertionFailure& a) {
      if (!crash) crash = "during shutdown: " + a.message;
    }
  }

  const RunOutcome& outcome = rc.last_outcome();
  if (!crash && outcome.reason == StopReason::kCrash) crash = outcome.detail;

  result.fault_plan = rc.fault_plan_text();
  result.plan_space = rc.plan_space();
  result.violations = rc.violations();
  result.metrics = rc.metrics();
  result.marks = sim.coverage().counts();
  if (!crash && outcome.reason == StopReason::kDeadlock) {
    result.violations.push_back(Violation{"deadlock", InvariantKind::kLiveness, outcome.detail, sim.now(), false, {}});
  }
  if (!crash && outcome.reason == StopReason::kStepBudget) {
    result.violations.push_back(
        Violation{"step-budget", InvariantKind::kLiveness, outcome.detail, sim.now(), false, {}});
  }

  bool safety = false;
  bool liveness = false;
  for (const auto& v : result.violations) {
    if (v.excused) continue;
    (v.kind == InvariantKind::kSafety ? safety : liveness) = true;
  }
  if (crash) {
    result.verdict = Verdict::kCrash;
    result.crash = *crash;
  } else if (safety) {
    result.verdict = Verdict::kFail;
  } else if (liveness) {
    result.verdict = Verdict::kLiveness;
  } else {
    result.verdict = Verdict::kPass;
  }
  result.trace_hash = sim.trace().hash();
  result.hash_checkpoints = sim.trace().checkpoints();
  result.events = sim.scheduler().steps();
  result.trace_records = sim.trace().records();
  result.sim_time_ns = sim.now().ns();
  sim.trace().set_observer(nullptr);
  sim.network().set_observer(nullptr);
  rc.set_observer(nullptr);
  if (observer) observer->finish(result);
  return result;
}

}  // namespace faultline
