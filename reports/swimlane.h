// reports/swimlane.h
// A run's timeline as the report's swimlane page draws it: nodes as lanes, each with rows for
// its process (down while crashed), metadata-quorum role, active-controller terms, faults
// and one row per partition replica (leader and follower terms); LEO and HW lines per replica
// of the partitions the violation is about; the violations marked.
//
// Read from the trace-event JSON of reports/timeline.h (the same file `faultline timeline`
// writes), so the swimlane and the Perfetto view can never tell two stories. Lines are thinned
// to at most kMaxPointsPerSeries points per series (the first, lowest, highest and last point
// of each of kBuckets time buckets), which keeps a report with a dozen embedded timelines a
// few MB.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace faultline {

struct Swimlane {
  struct Bar {
    std::string lane;   // the node, "b0 (dc1)"
    std::string row;    // process, quorum, active, faults, p0, p1, ...
    std::string kind;   // down, leader, follower, candidate, active, resigned, fault
    std::string label;  // the slice's own name ("leader e3", "kill node=b1 ...")
    int64_t start_ns = 0;
    int64_t end_ns = 0;
  };
  struct Point {
    std::string partition;  // "p0"
    std::string node;       // "b0"
    std::string measure;    // LEO or HW
    int64_t at_ns = 0;
    int64_t value = 0;
  };
  struct Mark {
    int64_t at_ns = 0;
    std::string label;  // "violation S6: partition 0: ..."
    bool excused = false;
  };
  int64_t end_ns = 0;
  std::vector<std::string> lanes;  // in the simulation's node order, only nodes with bars
  std::vector<std::string> rows;   // in drawing order
  std::vector<Bar> bars;
  std::vector<Point> points;
  std::vector<Mark> violations;
  std::vector<std::string> line_partitions;  // partitions drawn as LEO/HW lines (at most 3)

  static constexpr size_t kBuckets = 250;
  static constexpr size_t kMaxPointsPerSeries = 4 * kBuckets;
};

// False and `error` set if `trace_json` is not trace-event JSON as reports/timeline.h writes it.
bool swimlane_from_trace(std::string_view trace_json, Swimlane* out, std::string* error);

// The Vega-Lite specification (JSON) that draws `s`: the swimlanes above one LEO/HW chart per
// line partition, all on one simulated-seconds axis, with the violations as rules.
std::string swimlane_spec(const Swimlane& s);

}  // namespace faultline
