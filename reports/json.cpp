#include "reports/json.h"

#include <fmt/format.h>

namespace faultline {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

std::string run_to_json(const RunResult& r, int64_t wall_ms, const std::string& replay) {
  std::string out = "{";
  out += fmt::format("\"scenario\":{},\"seed\":{},\"verdict\":{}", json_escape(r.scenario), r.seed,
                     json_escape(to_string(r.verdict)));
  out += ",\"violations\":[";
  bool first = true;
  for (const auto& v : r.violations) {
    out += fmt::format("{}{{\"invariant\":{},\"kind\":{},\"message\":{},\"sim_time_ns\":{},\"excused\":{}", first ? "" : ",",
                       json_escape(v.invariant), json_escape(v.kind == InvariantKind::kSafety ? "safety" : "liveness"),
                       json_escape(v.message), v.at.ns(), v.excused ? "true" : "false");
    if (v.excused) out += fmt::format(",\"excuse\":{}", json_escape(v.excuse));
    out += "}";
    first = false;
  }
  out += "]";
  if (r.verdict == Verdict::kCrash) out += fmt::format(",\"crash\":{}", json_escape(r.crash));
  if (!r.fault_plan.empty()) out += fmt::format(",\"fault_plan\":{}", json_escape(r.fault_plan));
  out += fmt::format(",\"trace_hash\":{},\"events\":{},\"trace_records\":{},\"sim_time_ns\":{},\"wall_ms\":{}",
                     json_escape(hex64(r.trace_hash)), r.events, r.trace_records, r.sim_time_ns, wall_ms);
  out += ",\"params\":{";
  first = true;
  for (const auto& [k, v] : r.params) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_escape(k), json_escape(v));
    first = false;
  }
  out += "},\"bugs\":[";
  first = true;
  for (const auto& b : r.bugs) {
    out += fmt::format("{}{}", first ? "" : ",", json_escape(b));
    first = false;
  }
  out += "],\"metrics\":{";
  first = true;
  for (const auto& [k, v] : r.metrics) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_escape(k), v);
    first = false;
  }
  // Every mark the scenario declared, zeros included, so a reader can tell "never reached"
  // from "not declared".
  out += "},\"marks\":{";
  first = true;
  for (const auto& [k, v] : r.marks) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_escape(k), v);
    first = false;
  }
  out += fmt::format("}},\"replay\":{}}}", json_escape(replay));
  return out;
}

}  // namespace faultline
