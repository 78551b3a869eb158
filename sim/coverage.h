// sim/coverage.h
// Coverage marks: "sometimes" assertions in the spirit of FoundationDB's TEST() macro and
// Antithesis's Sometimes(). A model marks an interesting state or code path when it reaches
// it (a truncation that blocked on the disk, OFFSET_OUT_OF_RANGE answered, an observer
// promoted); nothing fails when a mark is hit. A sweep then tells, per mark, what fraction
// of its runs reached it, and names the marks nobody reached: a path no seed reaches is a
// path whose bugs no seed can find.
//
// Marks are declared in catalogues (a constant table per model, e.g.
// models/kafka/marks.h) and hit by index, so the hot path is one increment. A run declares
// the catalogues its scenario uses; the result lists every declared mark with its count,
// zeros included, so a summary can name what was never reached.
//
// Hitting a mark changes no model state, draws no randomness and writes no trace record:
// adding a mark never changes a trace hash.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace faultline {

struct MarkSpec {
  const char* name;  // "C8.offset-out-of-range": the rule it belongs to, a dot, a short name
  const char* what;  // one sentence: the state or path reached
  // A guard: a refusal or a path that a correct model never takes (a tier-state transition
  // rejected, a fetch above the LEO where epochs answer first), there so that a broken model
  // or a --bug switch is refused and seen. Summaries list guards apart from the marks never
  // reached: an unreached guard is the expected state, not a hole in the sweep.
  bool guard = false;
};

// A catalogue: the marks of one model, indexed by the model's own enum.
struct MarkCatalogue {
  uint32_t id;  // distinct per catalogue (the model's choice); selects the counter block
  std::span<const MarkSpec> marks;
};

class Coverage {
 public:
  // Declares a catalogue for this run (idempotent). Hits of undeclared catalogues are dropped.
  void declare(const MarkCatalogue& catalogue);
  void hit(uint32_t catalogue, uint32_t mark) {
    if (catalogue < counts_.size() && mark < counts_[catalogue].size()) ++counts_[catalogue][mark];
  }
  // Every declared mark by name with its count (zero if never reached).
  std::map<std::string, uint64_t> counts() const;

 private:
  std::vector<std::vector<uint64_t>> counts_;            // [catalogue][mark]
  std::vector<std::span<const MarkSpec>> catalogues_;    // [catalogue]
};

}  // namespace faultline
