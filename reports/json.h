// reports/json.h
// JSON output of run results: one object per run, one line each (JSON Lines), and a small
// writer with correct string escaping. The field names are a public interface: scripts and
// CI read them (scenario, seed, verdict, violations, trace_hash, events, sim_time_ns,
// wall_ms, replay, ...). Add fields; never rename or drop one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scenarios/scenario.h"

namespace faultline {

std::string json_escape(std::string_view s);
std::string hex64(uint64_t v);

// One run as a single-line JSON object.
std::string run_to_json(const RunResult& r, int64_t wall_ms, const std::string& replay);

}  // namespace faultline
