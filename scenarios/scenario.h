// scenarios/scenario.h
// What a scenario is (style.md, example 7) and what one run of it produces.
//
// A scenario is data (name, parameters, the bug switches it is the catcher for) plus a small
// class whose run() builds the topology, starts the workload, drives faults, and checks
// invariants through a RunContext. The harness (execute()) owns the simulation, turns what
// happened into exactly one verdict, and never lets an assertion or exception escape:
//   pass      no invariant violated, everything converged
//   fail      a safety invariant was violated (unexcused)
//   liveness  the cluster did not converge within its bound, or deadlocked
//   crash     an assertion or exception inside the run (signals: the runner's fork guard)
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/bugs.h"
#include "scenarios/params.h"
#include "sim/fault_plan.h"
#include "sim/nemesis.h"
#include "sim/simulation.h"

namespace faultline {

enum class Verdict { kPass, kFail, kLiveness, kCrash };
const char* to_string(Verdict v);

enum class InvariantKind { kSafety, kLiveness };

struct Violation {
  std::string invariant;  // "S1", "L2", "P1", "deadlock", ...
  InvariantKind kind = InvariantKind::kSafety;
  std::string message;
  Instant at;
  bool excused = false;
  std::string excuse;
};

// One sampled value for a timeline (reports/timeline.h): `series` of `track` on `node`, e.g.
// node b1, track "p0", series "HW".
struct CounterSample {
  NodeId node = 0;
  std::string track;
  std::string series;
  int64_t value = 0;
};
class RunContext;
class RunObserver;

struct RunRequest {
  std::string scenario;
  uint64_t seed = 0;
  std::map<std::string, std::string> sets;  // --set key=value
  std::vector<std::string> bugs;            // --bug NAME
  std::FILE* trace_sink = nullptr;          // human-readable trace, or nullptr
  std::optional<std::string> plan_text;     // --plan: run this fault plan instead of the nemesis
  bool plan_only = false;                   // stop once the fault plan is known (faultline plan)
  // Optional: an observer of the run (faultline timeline); not part of what is run.
  std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)> observer;
};

struct RunResult {
  std::string scenario;
  uint64_t seed = 0;
  std::map<std::string, std::string> params;  // every parameter, resolved
  std::vector<std::string> bugs;
  Verdict verdict = Verdict::kPass;
  std::vector<Violation> violations;
  std::string crash;  // the crash message when verdict == kCrash
  std::string input_error;  // non-empty: the request could not run (bad plan names); exit 2
  std::string fault_plan;   // the plan the run used, as text
  // What an observer found worth telling (reports/story.h: the violation's partition and
  // records, in time order); empty unless one was asked for. Not part of the verdict.
  std::string story;
  uint64_t trace_hash = 0;
  uint64_t events = 0;         // scheduler dispatches
  uint64_t trace_records = 0;  // structured trace events
  int64_t sim_time_ns = 0;
  std::map<std::string, int64_t> metrics;  // scenario figures (availability, counts)
  // Coverage marks of the catalogues the scenario declared (sim/coverage.h): every mark by
  // name with how often the run reached it, zeros included.
  std::map<std::string, uint64_t> marks;
  // The trace hash after every Trace::kCheckpointEvery-th record (not part of the verdict).
  std::vector<uint64_t> hash_checkpoints;
  // What a fault plan of this scenario may contain (set by the run, for `faultline fuzz`,
  // which asks with plan_only): the topology, the kinds its nemesis draws, the nodes and
  // roles it may crash, the fault window and the most brokers down at once.
  struct PlanSpace {
    Topology topology;
    std::vector<FaultKind> kinds;
    std::vector<std::string> crashable;
    Duration start = Duration::zero();
    Duration end = Duration::zero();
    uint32_t max_down = 0;
    uint32_t max_power_losses = 0;
    Duration rejoin_grace = Duration::seconds(15);  // a crashed broker counts as down this long after
    // A disk fault aimed at the first protocol moment may bring a crash of the second
    // (NemesisOptions::moment_followups: the follower told to truncate, then its leader).
    std::vector<std::pair<std::string, std::string>> followups;
  };
  std::optional<PlanSpace> plan_space;
};

// Watches one run from the inside (the timeline, the failure story): sees every trace record
// and, at the end, the result, to which it may add only its `story`. Made by
// RunRequest::observer before the scenario starts.
class RunObserver : public TraceObserver {
 public:
  virtual void finish(RunResult& result) = 0;
  // Also watching RPCs, if not null.
  virtual NetworkObserver* network_observer() { return nullptr; }
  // A checker's event worth drawing (an acknowledgement and its record's story): an instant
  // on `track` of `node`, with (key, text) args.
  virtual void on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                                const std::vector<std::pair<std::string, std::string>>& args) = 0;
};

class RunContext {
 public:
  RunContext(Simulation& sim, const Params& params, const BugSet& bugs, const RunRequest& request)
      : sim_(sim), params_(params), bugs_(bugs), request_(request) {}

  Simulation& sim() { return sim_; }
  const Params& params() const { return params_; }
  const BugSet& bugs() const { return bugs_; }

  // Reports a violation. An unexcused safety violation stops the run after the current step:
  // what follows a broken invariant explains nothing.
  void violation(std::string invariant, InvariantKind kind, std::string message, std::string excuse = {});
  const std::vector<Violation>& violations() const { return violations_; }
  bool failed() const;

  // The fault plan for this run: the one given with --plan (checked against `topology`),
  // else one drawn by the nemesis from Prng(seed, "nemesis").
  FaultPlan fault_plan(const Topology& topology, const NemesisOptions& options);
  // The same for a scenario that draws its own plan (a scripted fault with random timing,
  // say): the one given with --plan, else `drawn`.
  FaultPlan fault_plan(const Topology& topology, FaultPlan drawn);
  const std::string& fault_plan_text() const { return plan_text_; }
  const std::optional<RunResult::PlanSpace>& plan_space() const { return plan_space_; }

  void metric(const std::string& name, int64_t value) { metrics_[name] = value; }

  // Values a timeline samples while the run goes (replica LEO, HW, ISR size, ...): the
  // scenario says how to read them; reading must not change the simulation.
  using CounterProbe = std::function<void(std::vector<CounterSample>& out)>;
  void set_counter_probe(CounterProbe probe) { probe_ = std::move(probe); }
  const CounterProbe& counter_probe() const { return probe_; }
  // Whether a timeline is watching (checkers then report events worth drawing).
  bool observed() const { return observer_ != nullptr; }
  void set_observer(RunObserver* observer) { observer_ = observer; }
  void checker_event(NodeId node, const std::string& track, const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& args) {
    if (observer_ != nullptr) observer_->on_checker_event(sim_.now(), node, track, name, args);
  }
  const std::map<std::string, int64_t>& metrics() const { return metrics_; }

  // Runs the simulation to `t`. Returns false when the run must end now (crash, stop after a
  // violation, deadlock or step budget); the harness reads the outcome from last_outcome().
  bool run_until(Instant t);
  bool run_for(Duration d) { return run_until(sim_.now() + d); }
  // Runs until `converged()` holds, checking after every `poll` of simulated time, for at
  // most `bound`. Returns true if it converged; false if not (a liveness violation naming
  // `what` is recorded) or if the run must end.
  bool await_convergence(Duration bound, Duration poll, const std::string& invariant, const std::string& what,
                         const std::function<bool()>& converged);
  // The same, where `pending()` names what has not converged yet as (invariant, what), or
  // nullopt once everything has; the violation names the last thing still pending.
  using Pending = std::optional<std::pair<std::string, std::string>>;
  bool await_convergence(Duration bound, Duration poll, const std::function<Pending()>& pending);
  const RunOutcome& last_outcome() const { return outcome_; }

 private:
  Simulation& sim_;
  const Params& params_;
  const BugSet& bugs_;
  const RunRequest& request_;
  std::string plan_text_;
  std::optional<RunResult::PlanSpace> plan_space_;
  std::vector<Violation> violations_;
  std::map<std::string, int64_t> metrics_;
  RunOutcome outcome_;
  CounterProbe probe_;
  RunObserver* observer_ = nullptr;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual void run(RunContext& rc) = 0;
};

// A bug switch this scenario is the designated catcher for, and what it must report.
struct BugCatch {
  Bug bug;
  std::vector<std::string> expects;  // invariant names, any one of which counts as caught
};

struct ScenarioInfo {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  std::vector<BugCatch> catches;
  std::function<std::unique_ptr<Scenario>()> make;
};

std::span<const ScenarioInfo> all_scenarios();
const ScenarioInfo* find_scenario(const std::string& name);

// Thrown by RunContext for a request that cannot run (a plan naming unknown nodes), and
// after the plan is drawn when only the plan was asked for. execute() catches both.
struct InputError {
  std::string message;
};
struct PlanOnlyStop {};

// Checks a request (scenario, parameters, bugs, plan syntax) without running it; an error
// message or "". Plan node names are checked when the scenario has built its topology.
std::string validate(const RunRequest& request);
// Runs one seed in this process. Never throws for anything that happens inside the run.
// Precondition: validate(request) is empty.
RunResult execute(const RunRequest& request);

}  // namespace faultline
