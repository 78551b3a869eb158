// runner/fuzz_config.h
// What `faultline fuzz` generates besides the fault plan: the cluster's configuration (RF,
// min ISR, ELR, unclean election, promotion policy, tiering knobs, lag time) and its workload
// (partitions, acks, batch sizes, rates, in-flight requests). Values stay in combinations the
// scenario accepts and the checkers judge (min ISR <= RF <= brokers; dc-loss's min ISR within
// its sync replicas), and the fault plan is then generated within the plan space of that
// configuration (max_down from its RF, its power-loss budget, its rejoin grace), so that any
// failure is a real bug. Losses a configuration permits (acks < all, unclean election, more
// lossy crashes than min ISR - 1) are the checkers' excuses, not failures.
//
// Every knob generates its scenario's default first, so RapidCheck's shrinking walks the
// configuration back to the defaults before it shrinks the plan.
#pragma once

#include <rapidcheck.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "scenarios/scenario.h"

namespace faultline {

// One generated run: the configuration (only keys the generator chose; the request's own
// --set keys are pinned and never generated) and the fault plan.
struct FuzzCase {
  std::map<std::string, std::string> sets;
  FaultPlan plan;
  uint64_t seed = 0;  // the run's seed (the workload's randomness); never shrunk
};

// The plan spaces of the configurations generated so far (a plan_only run each, ~1 ms).
class PlanSpaceCache {
 public:
  explicit PlanSpaceCache(RunRequest base) : base_(std::move(base)) {}
  // The space for the base request with `sets` added; nullopt if that request cannot run.
  const std::optional<RunResult::PlanSpace>& get(const std::map<std::string, std::string>& sets);
  const RunRequest& base() const { return base_; }

 private:
  RunRequest base_;
  std::map<std::map<std::string, std::string>, std::optional<RunResult::PlanSpace>> spaces_;
};

// Configurations of `base.scenario` with every knob it has that base.sets does not pin.
rc::Gen<std::map<std::string, std::string>> gen_config(const RunRequest& base);

// Whole runs: a configuration (if vary_config), then a plan within its space.
rc::Gen<FuzzCase> gen_case(std::shared_ptr<PlanSpaceCache> cache, bool vary_config);

// The request that runs `c`: the base with the case's sets added, its plan and its seed.
RunRequest case_request(const RunRequest& base, const FuzzCase& c);

}  // namespace faultline
