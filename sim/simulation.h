// sim/simulation.h
// One simulated world: the clock and scheduler, the trace, the root random stream, the
// network, the object store and the nodes, each with its own disk. Scenarios build and drive
// it (faults through FaultControl); models only ever see their NodeContext.
//
// A node is a placement (name, datacenter, rack) plus a boot function that starts its
// process: the function builds the model's state, spawns its fibers and returns the state as
// an owning handle. crash() unwinds the process's fibers and drops that handle; the disk
// stays, minus what the crash kind loses (F3); restart() boots a fresh process on it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/coverage.h"
#include "sim/disk.h"
#include "sim/fault_plan.h"
#include "sim/network.h"
#include "sim/node_context.h"
#include "sim/object_store.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/trace.h"

namespace faultline {

struct NodeSpec {
  NodeSpec(std::string node_name, std::string datacenter = "dc1", std::string rack_name = "")
      : name(std::move(node_name)), dc(std::move(datacenter)), rack(std::move(rack_name)) {}
  std::string name;
  std::string dc;
  std::string rack;  // empty: the datacenter is the rack
};

enum class CrashKind {
  kKill,       // process killed: the page cache survives, peers get connection resets
  kPowerLoss,  // power lost: unsynced data lost (F3), the host goes silent
};
const char* to_string(CrashKind k);

struct SimulationOptions {
  SchedulerOptions scheduler;
  NetworkOptions network;
  DiskOptions disk;
  ObjectStoreOptions object_store;
};

class Simulation {
 public:
  using BootFn = std::function<std::shared_ptr<void>(NodeContext&)>;

  explicit Simulation(uint64_t seed, SimulationOptions options = {});
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  uint64_t seed() const { return seed_; }
  Instant now() const { return scheduler_.now(); }
  Scheduler& scheduler() { return scheduler_; }
  Network& network() { return network_; }
  ObjectStore& object_store() { return object_store_; }
  Disk& disk(NodeId id) { return *nodes_.at(id).disk; }
  Trace& trace() { return trace_; }
  // The run's coverage marks (sim/coverage.h); models hit them through NodeContext::cover.
  Coverage& coverage() { return coverage_; }
  // The scenario's own stream (workload and fault choices), separate from every node's.
  Prng& prng() { return prng_; }

  NodeId add_node(NodeSpec spec, BootFn boot);
  size_t node_count() const { return nodes_.size(); }
  NodeContext& node(NodeId id) { return *nodes_.at(id).ctx; }
  bool is_up(NodeId id) const { return nodes_.at(id).up; }
  const NodeSpec& spec(NodeId id) const { return nodes_.at(id).spec; }
  // How the node's process last ended, if it ever did (for checkers: what may be lost).
  std::optional<CrashKind> last_crash(NodeId id) const { return nodes_.at(id).last_crash; }
  std::optional<NodeId> find_node(const std::string& name) const;
  // Names and datacenters, for fault plans.
  Topology topology() const;

  // The running process's state, as returned by the boot function (nullptr while down).
  template <typename T>
  std::shared_ptr<T> process(NodeId id) const {
    return std::static_pointer_cast<T>(nodes_.at(id).process);
  }
  // The same, unowned, for a look that ends before the next event (checkers run on every
  // fetch: no reference count traffic).
  template <typename T>
  T* process_ptr(NodeId id) const {
    return static_cast<T*>(nodes_.at(id).process.get());
  }

  void start(NodeId id);
  // Ends the node's process: every fiber unwinds, its state is dropped; the disk loses
  // what `kind` loses. On a node already down, a power loss still drops its page cache
  // and a kill does nothing.
  void crash(NodeId id, CrashKind kind = CrashKind::kKill);
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
    explicit Node(NodeSpec s) : spec(std::move(s)) {}
    NodeSpec spec;
    std::unique_ptr<Disk> disk;
    std::unique_ptr<NodeContext> ctx;
    BootFn boot;
    std::shared_ptr<void> process;
    bool up = false;
    std::optional<CrashKind> last_crash;
  };

  uint64_t seed_;
  Trace trace_;
  Coverage coverage_;
  Scheduler scheduler_;
  Network network_;
  ObjectStore object_store_;
  DiskOptions disk_options_;
  Prng prng_;
  std::vector<Node> nodes_;
};

}  // namespace faultline
