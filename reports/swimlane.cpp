#include "reports/swimlane.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "reports/json.h"
#include "reports/json_reader.h"
#include "reports/timeline.h"

namespace faultline {

namespace {

// Trace microseconds (three decimals) back to simulated nanoseconds, exactly.
int64_t ns_of(const Json& e, const char* key) {
  return e.has(key) && e.at(key).is_number() ? std::llround(e.at(key).number() * 1000.0) : 0;
}
int64_t int_of(const Json& e, const char* key) {
  return e.has(key) && e.at(key).is_number() ? std::llround(e.at(key).number()) : -1;
}
std::string str_of(const Json& e, const char* key) {
  return e.has(key) && e.at(key).is_string() ? e.at(key).str() : std::string();
}

// The row a (tid, slice name) belongs to, and its kind; nullopt for tracks not drawn (rpc,
// checker tracks).
std::optional<std::pair<std::string, std::string>> row_of(int64_t tid, const std::string& name) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (tid == TimelineWriter::kProcessTrack) {
    if (name == "down") return std::make_pair(std::string("process"), std::string("down"));
    return std::nullopt;
  }
  if (tid == TimelineWriter::kQuorumTrack) {
    return std::make_pair(std::string("quorum"), std::string(starts("leader")      ? "leader"
                                                             : starts("candidate") ? "candidate"
                                                             : starts("resigned")  ? "resigned"
                                                                                   : "follower"));
  }
  if (tid == TimelineWriter::kActiveTrack) return std::make_pair(std::string("active"), std::string("active"));
  if (tid >= TimelineWriter::kPartitionTrackBase) {
    return std::make_pair(fmt::format("p{}", tid - TimelineWriter::kPartitionTrackBase),
                          std::string(starts("leader") ? "leader" : "follower"));
  }
  return std::nullopt;
}

// "partition 3: ..." names the partition a violation is about.
std::optional<std::string> partition_named(const std::string& message) {
  const std::string prefix = "partition ";
  if (message.rfind(prefix, 0) != 0) return std::nullopt;
  size_t end = prefix.size();
  while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) ++end;
  if (end == prefix.size()) return std::nullopt;
  return "p" + message.substr(prefix.size(), end - prefix.size());
}

std::string seconds(int64_t ns) { return fmt::format("{:.6f}", static_cast<double>(ns) / 1e9); }

}  // namespace

bool swimlane_from_trace(std::string_view trace_json, Swimlane* out, std::string* error) {
  const std::optional<Json> doc = JsonReader::parse(trace_json, error);
  if (!doc) return false;
  if (!doc->has("traceEvents") || !doc->at("traceEvents").is_array()) {
    if (error != nullptr) *error = "no traceEvents array";
    return false;
  }
  Swimlane s;
  std::map<int64_t, std::string> process_names;  // pid -> "b0 (dc1)"
  std::set<int64_t> pids_with_bars;
  struct OpenFault {
    int64_t pid;
    std::string label;
    int64_t start_ns;
  };
  std::map<std::pair<int64_t, int64_t>, OpenFault> open_faults;  // (id, pid)
  // Counter points per (partition, pid, measure), in time order.
  std::map<std::tuple<std::string, int64_t, std::string>, std::vector<std::pair<int64_t, int64_t>>> series;
  std::set<std::string> rows_seen;
  struct PendingBar {
    int64_t pid;
    Swimlane::Bar bar;
  };
  std::vector<PendingBar> bars;
  for (const Json& e : doc->at("traceEvents").array()) {
    if (!e.is_object()) continue;
    const std::string ph = str_of(e, "ph");
    const int64_t pid = int_of(e, "pid");
    const int64_t tid = int_of(e, "tid");
    const std::string name = str_of(e, "name");
    const int64_t ts = ns_of(e, "ts");
    s.end_ns = std::max(s.end_ns, ts + ns_of(e, "dur"));
    if (ph == "M" && name == "process_name" && e.has("args")) {
      process_names[pid] = str_of(e.at("args"), "name");
    } else if (ph == "X") {
      const auto row = row_of(tid, name);
      if (!row) continue;
      rows_seen.insert(row->first);
      pids_with_bars.insert(pid);
      bars.push_back({pid, Swimlane::Bar{{}, row->first, row->second, name, ts, ts + ns_of(e, "dur")}});
    } else if (ph == "b" && str_of(e, "cat") == "fault") {
      std::string label = name;
      if (e.has("args")) label = str_of(e.at("args"), "event");
      open_faults[{int_of(e, "id"), pid}] = OpenFault{pid, label, ts};
    } else if (ph == "e" && str_of(e, "cat") == "fault") {
      auto it = open_faults.find({int_of(e, "id"), pid});
      if (it == open_faults.end()) continue;
      rows_seen.insert("faults");
      pids_with_bars.insert(pid);
      bars.push_back({pid, Swimlane::Bar{{}, "faults", "fault", it->second.label, it->second.start_ns, ts}});
      open_faults.erase(it);
    } else if (ph == "C" && e.has("args") && name.size() > 1 && name[0] == 'p') {
      for (const char* measure : {"LEO", "HW"}) {
        const int64_t v = int_of(e.at("args"), measure);
        if (v >= 0) series[{name, pid, measure}].emplace_back(ts, v);
      }
    } else if (ph == "i" && str_of(e, "s") == "g" && name.rfind("violation", 0) == 0) {
      const std::string message = e.has("args") ? str_of(e.at("args"), "message") : std::string();
      s.violations.push_back(Swimlane::Mark{ts, fmt::format("{}: {}", name, message),
                                            name.rfind("violation-excused", 0) == 0});
    }
  }
  auto lane_name = [&](int64_t pid) {
    auto it = process_names.find(pid);
    return it != process_names.end() ? it->second : fmt::format("pid {}", pid);
  };
  for (int64_t pid : pids_with_bars) s.lanes.push_back(lane_name(pid));  // pid order: the simulation's node order
  for (PendingBar& b : bars) {
    b.bar.lane = lane_name(b.pid);
    s.bars.push_back(std::move(b.bar));
  }
  for (const char* row : {"process", "quorum", "active", "faults"}) {
    if (rows_seen.contains(row)) s.rows.push_back(row);
  }
  std::vector<std::string> partitions;
  for (const std::string& r : rows_seen) {
    if (r[0] == 'p' && r != "process") partitions.push_back(r);
  }
  std::sort(partitions.begin(), partitions.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  s.rows.insert(s.rows.end(), partitions.begin(), partitions.end());
  // Lines for the partitions the unexcused violations name, else the first ones (at most 3).
  for (const Swimlane::Mark& m : s.violations) {
    if (m.excused) continue;
    const auto colon = m.label.find(": ");
    if (colon == std::string::npos) continue;
    if (auto p = partition_named(m.label.substr(colon + 2));
        p && std::find(s.line_partitions.begin(), s.line_partitions.end(), *p) == s.line_partitions.end()) {
      s.line_partitions.push_back(*p);
    }
  }
  if (s.line_partitions.empty()) {
    for (const std::string& p : partitions) s.line_partitions.push_back(p);
  }
  if (s.line_partitions.size() > 3) s.line_partitions.resize(3);
  const int64_t bucket_ns = std::max<int64_t>(1, s.end_ns / static_cast<int64_t>(Swimlane::kBuckets) + 1);
  for (const auto& [key, points] : series) {
    const auto& [partition, pid, measure] = key;
    if (std::find(s.line_partitions.begin(), s.line_partitions.end(), partition) == s.line_partitions.end()) continue;
    std::string node = lane_name(pid);
    node = node.substr(0, node.find(' '));
    // Per time bucket its first, lowest, highest and last point, in time order: a brief dip of
    // the HW (often what a violation is about) survives the thinning.
    for (size_t begin = 0; begin < points.size();) {
      size_t end = begin;
      while (end < points.size() && points[end].first / bucket_ns == points[begin].first / bucket_ns) ++end;
      size_t low = begin, high = begin;
      for (size_t i = begin; i < end; ++i) {
        if (points[i].second < points[low].second) low = i;
        if (points[i].second > points[high].second) high = i;
      }
      std::set<size_t> keep = {begin, low, high, end - 1};
      for (size_t i : keep) s.points.push_back({partition, node, measure, points[i].first, points[i].second});
      begin = end;
    }
  }
  *out = std::move(s);
  return true;
}

namespace {

constexpr const char* kKindDomain =
    R"(["down","fault","leader","follower","active","candidate","resigned"])";
constexpr const char* kKindRange = R"(["#9e9e9e","#e4572e","#1f6fb4","#a8c8e8","#2e9e4f","#f2a93b","#c9b3d9"])";

std::string string_array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_escape(v[i]);
  return out + "]";
}

}  // namespace

std::string swimlane_spec(const Swimlane& s) {
  const std::string end_s = seconds(std::max<int64_t>(s.end_ns, 1));
  const std::string x_scale = fmt::format(R"("scale":{{"domain":[0,{}],"nice":false,"zero":true}})", end_s);
  // One labelled track per (lane, row) that has bars, lanes in node order, rows in row order.
  auto track_of = [](const Swimlane::Bar& b) { return b.lane + " " + b.row; };
  std::set<std::string> present;
  for (const Swimlane::Bar& b : s.bars) present.insert(track_of(b));
  std::vector<std::string> tracks;
  for (const std::string& lane : s.lanes) {
    for (const std::string& row : s.rows) {
      if (present.contains(lane + " " + row)) tracks.push_back(lane + " " + row);
    }
  }
  std::string bars = "[";
  for (size_t i = 0; i < s.bars.size(); ++i) {
    const Swimlane::Bar& b = s.bars[i];
    bars += fmt::format(R"({}{{"track":{},"lane":{},"row":{},"kind":{},"label":{},"start":{},"end":{}}})", i ? "," : "",
                        json_escape(track_of(b)), json_escape(b.lane), json_escape(b.row), json_escape(b.kind),
                        json_escape(b.label), seconds(b.start_ns), seconds(b.end_ns));
  }
  bars += "]";
  std::string points = "[";
  for (size_t i = 0; i < s.points.size(); ++i) {
    const Swimlane::Point& p = s.points[i];
    points += fmt::format(R"({}{{"p":{},"node":{},"measure":{},"t":{},"v":{}}})", i ? "," : "", json_escape(p.partition),
                          json_escape(p.node), json_escape(p.measure), seconds(p.at_ns), p.value);
  }
  points += "]";
  std::string marks = "[";
  for (size_t i = 0; i < s.violations.size(); ++i) {
    const Swimlane::Mark& m = s.violations[i];
    marks += fmt::format(R"({}{{"t":{},"label":{},"excused":{}}})", i ? "," : "", seconds(m.at_ns), json_escape(m.label),
                         m.excused ? "true" : "false");
  }
  marks += "]";
  // The violations as rules over a chart (red; faint when excused).
  const std::string rule_layer = fmt::format(
      R"({{"data":{{"name":"violations"}},"mark":{{"type":"rule","strokeWidth":2,"color":"#d00000"}},"encoding":{{"x":{{"field":"t","type":"quantitative",{}}},)"
      R"("opacity":{{"condition":{{"test":"datum.excused","value":0.3}},"value":1}},"tooltip":[{{"field":"label","title":"violation"}},{{"field":"t","title":"at [s]"}}]}}}})",
      x_scale);
  std::string spec = fmt::format(
      R"({{"$schema":"https://vega.github.io/schema/vega-lite/v6.json","datasets":{{"bars":{},"points":{},"violations":{}}},)"
      R"("config":{{"view":{{"stroke":"#ddd"}},"axis":{{"labelFontSize":11,"titleFontSize":12}}}},"spacing":18,)"
      R"("resolve":{{"scale":{{"color":"independent","strokeDash":"independent"}},"legend":{{"color":"independent"}}}},"vconcat":[)",
      bars, points, marks);
  spec += fmt::format(
      R"({{"title":"who was what, when: hover a bar","width":1000,"height":{},"layer":[)"
      R"({{"data":{{"name":"bars"}},"mark":{{"type":"bar","cornerRadius":1}},"encoding":{{)"
      R"("y":{{"field":"track","type":"nominal","sort":{},"title":null,"axis":{{"labelFontSize":10}}}},)"
      R"("x":{{"field":"start","type":"quantitative","title":"simulated seconds",{}}},"x2":{{"field":"end"}},)"
      R"("color":{{"field":"kind","type":"nominal","scale":{{"domain":{},"range":{}}},"legend":{{"orient":"top","title":null}}}},)"
      R"("tooltip":[{{"field":"label"}},{{"field":"lane","title":"node"}},{{"field":"row"}},{{"field":"start","title":"from [s]"}},{{"field":"end","title":"to [s]"}}]}}}},{}]}})",
      std::max<size_t>(tracks.size(), 1) * 14, string_array(tracks), x_scale, kKindDomain, kKindRange,
      rule_layer);
  for (const std::string& p : s.line_partitions) {
    spec += fmt::format(
        R"(,{{"title":{},"width":1000,"height":160,"layer":[)"
        R"({{"data":{{"name":"points"}},"transform":[{{"filter":{{"field":"p","equal":{}}}}}],)"
        R"("mark":{{"type":"line","interpolate":"step-after","strokeWidth":1.5}},"encoding":{{)"
        R"("x":{{"field":"t","type":"quantitative","title":"simulated seconds",{}}},)"
        R"("y":{{"field":"v","type":"quantitative","title":"offset","scale":{{"zero":false}}}},)"
        R"("color":{{"field":"node","type":"nominal","title":"replica"}},)"
        R"("strokeDash":{{"field":"measure","type":"nominal","title":null,"scale":{{"domain":["LEO","HW"],"range":[[1,0],[4,3]]}}}},)"
        R"("detail":{{"field":"measure"}},)"
        R"("tooltip":[{{"field":"node"}},{{"field":"measure"}},{{"field":"v","title":"offset"}},{{"field":"t","title":"at [s]"}}]}}}},{}]}})",
        json_escape(fmt::format("{}: LEO (solid) and HW (dashed) per replica", p)), json_escape(p), x_scale, rule_layer);
  }
  spec += "]}";
  return spec;
}

}  // namespace faultline
