// scenarios/registry.h
// Every scenario, by name. A scenario file defines one `*_info()` function; registry.cpp
// lists them explicitly (no self-registering statics: order and contents are plain data).
#pragma once

#include <set>
#include <string>

#include "scenarios/scenario.h"

namespace faultline {

ScenarioInfo ping_scenario_info();
ScenarioInfo selftest_scenario_info();
ScenarioInfo broker_crash_scenario_info();
ScenarioInfo partition_scenario_info();
ScenarioInfo controller_failover_scenario_info();
ScenarioInfo reassignment_scenario_info();
ScenarioInfo s3_outage_scenario_info();
ScenarioInfo disk_stall_scenario_info();
ScenarioInfo cascade_scenario_info();
ScenarioInfo dc_loss_scenario_info();

// The names of every guard mark (sim/coverage.h, MarkSpec::guard) of every model's catalogue.
std::set<std::string> guard_marks();

}  // namespace faultline
