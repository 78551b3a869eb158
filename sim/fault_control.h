// sim/fault_control.h
// The scenario's levers on the world (style.md, example 1: models get NodeContext, scenarios
// get this). Applies fault plan events, schedules their heals, and heals everything at the
// end of a fault phase. Every fault applied and healed is traced ("fault" / "heal" with the
// event's text), on top of the component's own trace records.
//
// Crash windows: a kill or power loss takes a node down only if it is up, and the heal of
// that same event restarts it (a later event's heal does not restart a node another event
// took down). A zero `for` on a crash, partition or delay means "until heal_all()".
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "sim/fault_plan.h"
#include "sim/simulation.h"

namespace faultline {

class FaultControl {
 public:
  explicit FaultControl(Simulation& sim) : sim_(sim) {}
  FaultControl(const FaultControl&) = delete;
  FaultControl& operator=(const FaultControl&) = delete;

  // Resolves role names (Topology::roles, e.g. "leader:p0") to the node holding the role
  // now, or nullopt when nobody does (the event is then skipped).
  using Resolver = std::function<std::optional<NodeId>(const std::string& role)>;
  void set_resolver(Resolver resolver) { resolver_ = std::move(resolver); }

  // Schedules every event of `plan` (and its heal) at its time. The plan must have passed
  // validate_plan() against sim.topology().
  void schedule(const FaultPlan& plan);
  // Applies one event now; schedules its heal after its duration.
  void apply(const FaultEvent& event);

  // Ends every fault: network rules, disk stalls and slowness, object-store windows. Restarts
  // every node that is down unless `restart_nodes` is false.
  void heal_all(bool restart_nodes = true);

  // Direct levers, for scenarios that script faults by hand.
  void crash(NodeId node, CrashKind kind) { sim_.crash(node, kind); }
  void restart(NodeId node);
  uint64_t isolate_dc(const std::string& dc);
  NodeSet nodes_in_dc(const std::string& dc) const;

  size_t applied() const { return applied_; }

 private:
  NodeSet resolve(const std::vector<std::string>& names) const;
  NodeId resolve_one(const std::string& name) const;
  void heal(const FaultEvent& event, uint64_t serial);

  Simulation& sim_;
  uint64_t next_serial_ = 1;
  size_t applied_ = 0;
  std::map<NodeId, uint64_t> down_by_;        // node -> serial of the crash event holding it down
  std::map<uint64_t, uint64_t> network_rule_; // event serial -> network rule id
  std::map<uint64_t, NodeId> crashed_;        // event serial -> the node its crash took down
  Resolver resolver_;
};

}  // namespace faultline
