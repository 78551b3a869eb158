#include "sim/simulation.h"

#include "sim/assert.h"

namespace faultline {

Simulation::Simulation(uint64_t seed, SchedulerOptions options, NetworkOptions net)
    : seed_(seed), scheduler_(trace_, options), network_(scheduler_, seed, net), prng_(seed, "world") {}

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
  const std::string label = "node/" + spec.name;
  trace_.set_node_name(id, spec.name);
  Node n;
  n.ctx = std::make_unique<NodeContext>(scheduler_, network_, id, spec.name, spec.dc, Prng(seed_, label.c_str()));
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

void Simulation::crash(NodeId id, std::string_view why) {
  Node& n = nodes_.at(id);
  if (!n.up) return;
  n.up = false;
  trace_.record(scheduler_.now(), id, "crash", {{"why", why}});
  network_.node_down(id);
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
