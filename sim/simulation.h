// sim/simulation.h
// One simulated world: the clock and scheduler, the trace, the root random stream and the
// nodes. Scenarios build and drive it; models only ever see their NodeContext.
//
// A node is a placement (name, datacenter) plus a boot function that starts its process:
// the function builds the model's state, spawns its fibers and returns the state as an owning
// handle. crash() unwinds the process's fibers and drops that handle; restart() boots a fresh
// process, as a real restart would (durable state arrives with the disk model).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/network.h"
#include "sim/node_context.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/trace.h"

namespace faultline {

struct NodeSpec {
  std::string name;
  std::string dc = "dc1";
};

class Simulation {
 public:
  using BootFn = std::function<std::shared_ptr<void>(NodeContext&)>;

  explicit Simulation(uint64_t seed, SchedulerOptions options = {}, NetworkOptions net = {});
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  uint64_t seed() const { return seed_; }
  Instant now() const { return scheduler_.now(); }
  Scheduler& scheduler() { return scheduler_; }
  Network& network() { return network_; }
  Trace& trace() { return trace_; }
  // The scenario's own stream (workload and fault choices), separate from every node's.
  Prng& prng() { return prng_; }

  NodeId add_node(NodeSpec spec, BootFn boot);
  size_t node_count() const { return nodes_.size(); }
  NodeContext& node(NodeId id) { return *nodes_.at(id).ctx; }
  bool is_up(NodeId id) const { return nodes_.at(id).up; }

  // The running process's state, as returned by the boot function (nullptr while down).
  template <typename T>
  std::shared_ptr<T> process(NodeId id) const {
    return std::static_pointer_cast<T>(nodes_.at(id).process);
  }

  void start(NodeId id);
  // Kills the node's process: every fiber unwinds, its state is dropped.
  void crash(NodeId id, std::string_view why = "crash");
  void restart(NodeId id);
  // Unwinds every fiber (nodes and the scenario's own) and drops all process state. Call it
  // before destroying anything those fibers reference; the destructor calls it too.
  void shutdown();

  // A world-level trace record (faults, workload phases, checker notes).
  void note(std::string_view kind, std::initializer_list<TraceField> fields = {}) {
    trace_.record(scheduler_.now(), kWorld, kind, fields);
  }

 private:
  struct Node {
    std::unique_ptr<NodeContext> ctx;
    BootFn boot;
    std::shared_ptr<void> process;
    bool up = false;
  };

  uint64_t seed_;
  Trace trace_;
  Scheduler scheduler_;
  Network network_;
  Prng prng_;
  std::vector<Node> nodes_;
};

}  // namespace faultline
