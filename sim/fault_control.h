// sim/fault_control.h
// The scenario's levers on the world (style.md, example 1: models get NodeContext, scenarios
// get this). Applies fault plan events, schedules their heals, and heals everything at the
// end of a fault phase. Every fault applied and healed is traced ("fault" / "heal" with the
// event's text), on top of the component's own trace records.
//
// Crash windows: a kill, power loss, restart or disk replacement takes a node down only if
// it is up, and the heal of that same event restarts it (a later event's heal does not
// restart a node another event took down). A zero `for` on a crash, partition or delay
// means "until heal_all()".
//
// A restart is a controlled shutdown: the scenario's shutdown handler asks the node's
// process to shut down cleanly and reports when it has; only then is the process stopped
// (as a kill: everything was flushed). A window that ends while the node is still shutting
// down restarts it as soon as it has stopped. A disk replacement is a power loss after which
// the node's disk is empty (Disk::replace); its heal boots the node on the new disk.
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

  // Controlled shutdown of `node` for a restart event: returns false if the node has no
  // graceful path (the restart is then a kill); otherwise begins it and calls `stopped`
  // once, from anywhere, when the process has shut down cleanly and may be stopped.
  using ShutdownHandler = std::function<bool(NodeId, std::function<void()> stopped)>;
  void set_shutdown_handler(ShutdownHandler handler) { shutdown_handler_ = std::move(handler); }
  // Operations a plan may schedule besides faults (elect-preferred): the scenario carries
  // them out; false if it has none, and the event is noted as skipped.
  using OperationHandler = std::function<bool(const FaultEvent&)>;
  void set_operation_handler(OperationHandler handler) { operation_handler_ = std::move(handler); }

  // Future roles ("next-leader:p0", "diverging:p0"): the watcher returns false if `role` is
  // not one it knows; otherwise it keeps `taken` and calls it once, with the node, when the
  // role is taken (it must not call it from inside the apply() that armed it). The fault
  // (any node-aimed kind) then strikes the event's delay later. heal_all() disarms whatever has not struck yet.
  // A crash whose role is not taken within `deadline` of the event expires
  // ("fault-expired"), so a plan's crash windows stay where the nemesis counted them
  // (NemesisOptions::successor_wait); zero: no deadline. Disk faults wait for their moment
  // until heal_all().
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
  // A node-aimed event: strikes its target now, after its delay, or when a future role is
  // taken.
  void aim(const FaultEvent& event, uint64_t serial);
  // Event `serial` hits `node` (its heal is scheduled by the caller); false if it cannot (a
  // crash of a node that is down already).
  bool strike(const FaultEvent& event, uint64_t serial, NodeId node);
  // The process of restart event `serial` has shut down cleanly: stop it.
  void stopped(uint64_t serial);
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
  ShutdownHandler shutdown_handler_;
  OperationHandler operation_handler_;
  std::map<uint64_t, NodeId> stopping_;          // restart events whose node is shutting down
  std::set<uint64_t> restart_when_stopped_;      // ... whose window (or heal_all) has ended
  std::set<uint64_t> waiting_;  // crash events waiting for a future role to be taken
  std::set<uint64_t> armed_;    // crash events waiting out their delay
  Duration watch_deadline_;
};

}  // namespace faultline
