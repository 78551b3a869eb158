#include "sim/simulation.h"

#include "sim/assert.h"

namespace faultline {

const char* to_string(CrashKind k) { return k == CrashKind::kKill ? "kill" : "power-loss"; }

Simulation::Simulation(uint64_t seed, SimulationOptions options)
    : seed_(seed),
      scheduler_(trace_, options.scheduler),
      network_(scheduler_, seed, options.network),
      object_store_(scheduler_, seed, options.object_store),
      disk_options_(options.disk),
      prng_(seed, "world") {}

std::optional<NodeId> Simulation::find_node(const std::string& name) const {
  for (NodeId id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].spec.name == name) return id;
  }
  return std::nullopt;
}

Topology Simulation::topology() const {
  Topology t;
  for (const Node& n : nodes_) t.nodes.push_back({n.spec.name, n.spec.dc});
  return t;
}

Simulation::~Simulation() { shutdown(); }

void Simulation::shutdown() {
  // Unwind every fiber while the state it references is still alive, then drop the state.
  FL_ASSERT(!scheduler_.in_fiber() && "shutdown from inside a fiber");
  for (NodeId id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].up) scheduler_.kill_node(id);
    nodes_[id].up = false;
  }
  scheduler_.kill_node(kWorld);
  for (Node& n : nodes_) n.process.reset();
}

NodeId Simulation::add_node(NodeSpec spec, BootFn boot) {
  const auto id = static_cast<NodeId>(nodes_.size());
  // Each node's stream is derived from (seed, name): adding a node never shifts another's.
  FL_ASSERT(!find_node(spec.name) && "node names must be unique", spec.name);
  const std::string label = "node/" + spec.name;
  trace_.set_node_name(id, spec.name);
  if (spec.rack.empty()) spec.rack = spec.dc;
  Node n(spec);
  n.disk = std::make_unique<Disk>(scheduler_, id, seed_, "disk/" + spec.name, disk_options_);
  n.ctx = std::make_unique<NodeContext>(scheduler_, network_, *n.disk, object_store_, coverage_, id, spec.name, spec.dc,
                                        Prng(seed_, label.c_str()));
  network_.add_node(id, spec.dc);
  n.boot = std::move(boot);
  nodes_.push_back(std::move(n));
  return id;
}

void Simulation::start(NodeId id) {
  Node& n = nodes_.at(id);
  FL_ASSERT(!n.up, id);
  n.up = true;
  trace_.record(scheduler_.now(), id, "start", {{"incarnation", n.ctx->incarnation_}});
  network_.node_up(id, n.ctx->incarnation_);
  n.process = n.boot(*n.ctx);
}

void Simulation::crash(NodeId id, CrashKind kind) {
  Node& n = nodes_.at(id);
  if (!n.up) {
    // The process is already gone, but the host's page cache is not: a power loss now
    // still loses what was never fsynced.
    if (kind == CrashKind::kPowerLoss) {
      trace_.record(scheduler_.now(), id, "power-loss-while-down");
      n.disk->power_loss();
      n.last_crash = kind;
    }
    return;
  }
  n.up = false;
  n.last_crash = kind;
  trace_.record(scheduler_.now(), id, "crash", {{"kind", to_string(kind)}});
  network_.node_down(id, /*reset=*/kind == CrashKind::kKill);
  if (kind == CrashKind::kPowerLoss) {
    n.disk->power_loss();
  } else {
    n.disk->process_kill();
  }
  if (scheduler_.in_fiber()) {
    // From a fiber (possibly one of this very node, which unwinds as kill_node throws) the
    // victims unwind after this returns, so their state must outlive this call: drop it in
    // an event that runs after the unwinding.
    auto keep = std::move(n.process);
    scheduler_.at(scheduler_.now(), [keep] {});
    scheduler_.kill_node(id);
    return;
  }
  scheduler_.kill_node(id);  // unwinds right away from the scheduler's stack
  n.process.reset();
}

void Simulation::restart(NodeId id) {
  Node& n = nodes_.at(id);
  FL_ASSERT(!n.up, id);
  ++n.ctx->incarnation_;
  start(id);
}

}  // namespace faultline
