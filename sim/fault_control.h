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
#include <set>
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

  // Called with every node a crash event takes down (or, for a power loss of a node that is
  // down already, costs its page cache), right before the crash.
  using CrashListener = std::function<void(NodeId, CrashKind)>;
  void set_crash_listener(CrashListener listener) { crash_listener_ = std::move(listener); }

  // Future roles ("next-leader:p0"): the watcher returns false if `role` is not one it knows;
  // otherwise it keeps `taken` and calls it once, with the node, when the role is taken (it
  // must not call it from inside the apply() that armed it). The crash then strikes the
  // event's delay later. heal_all() disarms whatever has not struck yet.
  // A role not taken within `deadline` of the event expires ("fault-expired"), so a plan's
  // crash windows stay where the nemesis counted them (NemesisOptions::successor_wait);
  // zero: no deadline.
  void set_watch_deadline(Duration deadline) { watch_deadline_ = deadline; }
  using Watcher = std::function<bool(const std::string& role, std::function<void(NodeId)> taken)>;
  void set_watcher(Watcher watcher) { watcher_ = std::move(watcher); }

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
  // The crash of `node` by event `serial` (its heal is scheduled by the caller); false if the
  // node was down already.
  bool strike(const FaultEvent& event, uint64_t serial, NodeId node);
  // Strikes `node` the event's delay from now, unless heal_all() disarms it first.
  void arm(const FaultEvent& event, uint64_t serial, NodeId node);
  void schedule_heal(const FaultEvent& event, uint64_t serial);

  Simulation& sim_;
  uint64_t next_serial_ = 1;
  size_t applied_ = 0;
  std::map<NodeId, uint64_t> down_by_;        // node -> serial of the crash event holding it down
  std::map<uint64_t, uint64_t> network_rule_; // event serial -> network rule id
  std::map<uint64_t, NodeId> crashed_;        // event serial -> the node its crash took down
  Resolver resolver_;
  Watcher watcher_;
  CrashListener crash_listener_;
  std::set<uint64_t> waiting_;  // crash events waiting for a future role to be taken
  std::set<uint64_t> armed_;    // crash events waiting out their delay
  Duration watch_deadline_;
};

}  // namespace faultline
