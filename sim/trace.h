// sim/trace.h
// The record of what happened in a run (style.md, example 11).
//
// Every structured event (time, node, kind, fields) is folded into a rolling 64-bit hash;
// the scheduler also folds every dispatch (time, fiber or callback), so two runs with the
// same hash executed the same steps in the same order. Human-readable lines are produced
// only when a sink is attached, so tracing costs a few hash rounds on the hot path.
//
// Invariant: the hash depends only on the sequence of recorded values, never on pointers,
// wall time or formatting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "sim/time.h"

namespace faultline {

using NodeId = uint32_t;
// Events that belong to no node: the scenario, the nemesis, the world itself.
inline constexpr NodeId kWorld = UINT32_MAX;

struct TraceField {
  constexpr TraceField(std::string_view k, int64_t v) : key(k), num(v), is_text(false) {}
  constexpr TraceField(std::string_view k, int v) : key(k), num(v), is_text(false) {}
  constexpr TraceField(std::string_view k, uint32_t v) : key(k), num(v), is_text(false) {}
  constexpr TraceField(std::string_view k, uint64_t v) : key(k), num(static_cast<int64_t>(v)), is_text(false) {}
  constexpr TraceField(std::string_view k, bool v) : key(k), num(v ? 1 : 0), is_text(false) {}
  constexpr TraceField(std::string_view k, std::string_view v) : key(k), text(v), is_text(true) {}
  constexpr TraceField(std::string_view k, const char* v) : key(k), text(v), is_text(true) {}
  TraceField(std::string_view k, const std::string& v) : key(k), text(v), is_text(true) {}
  TraceField(std::string_view k, Duration v) : key(k), num(v.ns()), is_text(false), is_duration(true) {}

  std::string_view key;
  int64_t num = 0;
  std::string_view text;
  bool is_text = false;
  bool is_duration = false;
};

// Sees every record as it is made, in structured form (the timeline writer, reports/timeline.h).
// It may read the simulation, never change it; the hash does not depend on it.
class TraceObserver {
 public:
  virtual ~TraceObserver() = default;
  virtual void on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) = 0;
};

class Trace {
 public:
  Trace();

  // Names shown in human-readable lines; node ids are what the hash sees.
  void set_node_name(NodeId node, std::string name);
  const std::string& node_name(NodeId node) const;

  // Human-readable output, one line per event; nullptr turns it off. Not owned.
  void set_sink(std::FILE* sink) { sink_ = sink; }
  bool verbose() const { return sink_ != nullptr; }
  // Structured records for an observer; nullptr turns it off. Not owned.
  void set_observer(TraceObserver* observer) { observer_ = observer; }

  void record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields = {});

  // Folds one scheduler dispatch into the hash (not a trace record).
  void fold_dispatch(Instant at, uint64_t what) {
    hash_ = mix(hash_ ^ static_cast<uint64_t>(at.ns()));
    hash_ = mix(hash_ ^ what);
  }

  uint64_t hash() const { return finalize(hash_); }
  uint64_t records() const { return records_; }
  // The rolling hash after every kCheckpointEvery-th record: two runs that end with different
  // hashes first differ in the window after their last equal checkpoint (sweep
  // --check-determinism names it; a diff of the two traces there finds the event).
  static constexpr uint64_t kCheckpointEvery = 1024;
  const std::vector<uint64_t>& checkpoints() const { return checkpoints_; }

 private:
  static uint64_t mix(uint64_t h) {
    h *= 0x9fb21c651e98df25ULL;
    return h ^ (h >> 29);
  }
  static uint64_t finalize(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
  }
  static uint64_t hash_text(std::string_view s);
  void print(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields);

  uint64_t hash_ = 0x6a09e667f3bcc909ULL;
  uint64_t records_ = 0;
  std::vector<uint64_t> checkpoints_;
  std::FILE* sink_ = nullptr;
  TraceObserver* observer_ = nullptr;
  std::vector<std::string> node_names_;
  std::string world_name_ = "world";
};

}  // namespace faultline
