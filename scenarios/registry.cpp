#include "scenarios/registry.h"

#include <vector>

namespace faultline {

std::span<const ScenarioInfo> all_scenarios() {
  // Built once, never changed afterwards.
  static const std::vector<ScenarioInfo> kAll = {
      broker_crash_scenario_info(),
      cascade_scenario_info(),
      partition_scenario_info(),
      dc_loss_scenario_info(),
      s3_outage_scenario_info(),
      disk_stall_scenario_info(),
      ping_scenario_info(),
      selftest_scenario_info(),
  };
  return kAll;
}

const ScenarioInfo* find_scenario(const std::string& name) {
  for (const auto& s : all_scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace faultline
