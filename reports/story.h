// reports/story.h
// The text report of a failure tells its story (issue 14): besides the fault plan, the
// records of the run that the first unexcused violation is about, in time order, ending at
// the violation: every crash, start, fault and heal; controller and quorum changes; what
// happened to the violation's partition (leadership, partition changes, truncations,
// recoveries, replicas created or removed; not the periodic flushes, rolls and fetch
// failures); and the acknowledgements of the records the message names (0x... ids). The last
// kMaxLines of them, written to RunResult::story by the observer in the run's own process.
//
// Only `faultline run` and `replay` ask for it (a sweep does not pay for it), and an
// observer never changes the run: the trace hash is the same with or without it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

class StoryWriter final : public RunObserver {
 public:
  explicit StoryWriter(Simulation& sim) : sim_(sim) {}
  void on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) override;
  void on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& args) override;
  void finish(RunResult& result) override;

  static constexpr size_t kMaxLines = 40;

 private:
  struct Line {
    int64_t at_ns;
    int64_t partition;  // -1: about the whole cluster
    std::string text;
  };
  struct Ack {
    int64_t at_ns;
    NodeId producer;
    std::string what;  // "ack p0 offset 17"
  };
  Simulation& sim_;
  std::vector<Line> lines_;
  std::map<std::string, Ack> acks_;  // by record id as the checker prints it ("0x1f")
};

using ObserverFactory = std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)>;

// A factory for a StoryWriter beside `inner` (may be empty): both see everything.
ObserverFactory with_story(ObserverFactory inner);

// The story as print_run_human shows it, with the fault plan: "" for a run that passed.
std::string failure_story_text(const RunResult& r);

}  // namespace faultline
