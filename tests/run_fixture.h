// tests/run_fixture.h
// One whole seeded run of a scenario, in this process, for tests that judge runs, and the
// message a failed expectation about it should show.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline::test {

inline RunResult run_scenario(const std::string& scenario, uint64_t seed, std::vector<std::string> bugs = {},
                              std::map<std::string, std::string> sets = {}) {
  RunRequest req;
  req.scenario = scenario;
  req.seed = seed;
  req.bugs = std::move(bugs);
  req.sets = std::move(sets);
  return execute(req);
}

// The first violation's message, or the crash: what went wrong in a run that should pass.
inline std::string why(const RunResult& r) { return r.violations.empty() ? r.crash : r.violations.front().message; }

}  // namespace faultline::test
