#include "scenarios/registry.h"

#include <vector>

#include "models/kafka/marks.h"
#include "models/kafka/quorum_marks.h"
#include "models/kafka/tier/tier_marks.h"

namespace faultline {

std::span<const ScenarioInfo> all_scenarios() {
  // Built once, never changed afterwards.
  static const std::vector<ScenarioInfo> kAll = {
      broker_crash_scenario_info(),
      cascade_scenario_info(),
      partition_scenario_info(),
      controller_failover_scenario_info(),
      reassignment_scenario_info(),
      dc_loss_scenario_info(),
      s3_outage_scenario_info(),
      disk_stall_scenario_info(),
      ping_scenario_info(),
      selftest_scenario_info(),
  };
  return kAll;
}

std::set<std::string> guard_marks() {
  std::set<std::string> out;
  for (const MarkCatalogue& c : {kafka::mark_catalogue(), kafka::tier_mark_catalogue(), kafka::quorum_mark_catalogue()}) {
    for (const MarkSpec& m : c.marks) {
      if (m.guard) out.insert(m.name);
    }
  }
  return out;
}

const ScenarioInfo* find_scenario(const std::string& name) {
  for (const auto& s : all_scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace faultline
