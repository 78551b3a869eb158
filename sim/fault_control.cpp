#include "sim/fault_control.h"

#include "sim/assert.h"

namespace faultline {

NodeId FaultControl::resolve_one(const std::string& name) const {
  const auto id = sim_.find_node(name);
  FL_ASSERT(id.has_value() && "fault names an unknown node (validate_plan first)", name);
  return *id;
}

NodeSet FaultControl::resolve(const std::vector<std::string>& names) const {
  NodeSet set;
  for (const auto& n : names) set.add(resolve_one(n));
  return set;
}

NodeSet FaultControl::nodes_in_dc(const std::string& dc) const {
  NodeSet set;
  for (NodeId id = 0; id < sim_.node_count(); ++id) {
    if (sim_.spec(id).dc == dc) set.add(id);
  }
  return set;
}

uint64_t FaultControl::isolate_dc(const std::string& dc) {
  const NodeSet inside = nodes_in_dc(dc);
  NodeSet outside;
  for (NodeId id = 0; id < sim_.node_count(); ++id) {
    if (!inside.contains(id)) outside.add(id);
  }
  return sim_.network().partition(inside, outside, /*one_way=*/false);
}

void FaultControl::restart(NodeId node) {
  down_by_.erase(node);
  if (!sim_.is_up(node)) sim_.restart(node);
}

void FaultControl::schedule(const FaultPlan& plan) {
  for (const FaultEvent& e : plan.events) {
    sim_.scheduler().at(Instant::zero() + e.at, [this, e] { apply(e); });
  }
}

void FaultControl::apply(const FaultEvent& e) {
  const uint64_t serial = next_serial_++;
  ++applied_;
  if (is_node_aimed(e.kind) || (e.kind == FaultKind::kLinkDelay && e.a.size() == 1 && !sim_.find_node(e.a[0]))) {
    aim(e, serial);
    return;
  }
  const Instant until = e.duration == Duration::zero() ? Instant::max() : sim_.now() + e.duration;
  const std::string text = e.to_text();
  switch (e.kind) {
    case FaultKind::kPartition:
      network_rule_[serial] = sim_.network().partition(resolve(e.a), resolve(e.b), /*one_way=*/false);
      break;
    case FaultKind::kPartitionOneWay:
      network_rule_[serial] = sim_.network().partition(resolve(e.a), resolve(e.b), /*one_way=*/true);
      break;
    case FaultKind::kIsolateDc:
      network_rule_[serial] = isolate_dc(e.dc);
      break;
    case FaultKind::kDropConnections:
      sim_.network().drop_connections(resolve(e.a), resolve(e.b));
      break;
    case FaultKind::kLinkDelay:
      network_rule_[serial] = sim_.network().add_delay(resolve(e.a), resolve(e.b), e.delay, e.jitter);
      break;
    case FaultKind::kS3Errors:
      sim_.object_store().errors(e.rate, e.rate2, until);
      break;
    case FaultKind::kS3Latency:
      sim_.object_store().latency_spike(e.delay, until);
      break;
    case FaultKind::kS3Outage:
      sim_.object_store().outage(until);
      break;
    case FaultKind::kS3Ambiguous:
      sim_.object_store().ambiguous_timeouts(e.rate, until);
      break;
    case FaultKind::kElectPreferred:
    case FaultKind::kReassign:
      if (!operation_handler_ || !operation_handler_(e)) {
        sim_.note("operation-skipped", {{"serial", serial}, {"event", text}});
        return;
      }
      break;
    default:
      FL_UNREACHABLE("node-aimed kinds go through aim()");
  }
  sim_.note("fault", {{"serial", serial}, {"event", text}});
  schedule_heal(e, serial);
}

void FaultControl::aim(const FaultEvent& e, uint64_t serial) {
  const std::string text = e.to_text();
  std::optional<NodeId> target = sim_.find_node(e.a.at(0));
  if (!target && resolver_) target = resolver_(e.a.at(0));
  if (!target) {
    // A future role: strike when the watcher reports who took it.
    auto taken = [this, e, serial](NodeId node) {
      if (waiting_.erase(serial) == 0) return;  // expired or disarmed
      armed_.insert(serial);
      arm(e, serial, node);
    };
    if (watcher_ && watcher_(e.a.at(0), std::move(taken))) {
      waiting_.insert(serial);
      sim_.note("fault-armed", {{"serial", serial}, {"event", text}});
      // Only a crash expires: max_down counted its window from the deadline. A disk fault
      // waits for its moment until heal_all().
      if (watch_deadline_ > Duration::zero() && is_crash(e.kind)) {
        sim_.scheduler().after(watch_deadline_, [this, serial, text] {
          if (waiting_.erase(serial) > 0) sim_.note("fault-expired", {{"serial", serial}, {"event", text}});
        });
      }
      return;
    }
    sim_.note("fault-skipped", {{"serial", serial}, {"event", text}});  // a role nobody holds right now
    return;
  }
  if (arming_delay(e) > Duration::zero()) {
    armed_.insert(serial);
    arm(e, serial, *target);
    sim_.note("fault-armed", {{"serial", serial}, {"event", text}});
    return;
  }
  const bool struck = strike(e, serial, *target);
  // The node struck, as arm() says it too: a role ("leader:p2") names it only at this moment.
  sim_.note(struck ? "fault" : "fault-skipped", {{"serial", serial}, {"event", text}, {"node", sim_.spec(*target).name}});
  if (struck) schedule_heal(e, serial);
}

void FaultControl::schedule_heal(const FaultEvent& e, uint64_t serial) {
  // Every window ends with a "heal" record. Disk and object-store windows end by
  // themselves (their components know `until`); crashes and network rules are undone here.
  if (e.duration > Duration::zero()) {
    sim_.scheduler().after(e.duration, [this, e, serial] { heal(e, serial); });
  }
}

void FaultControl::arm(const FaultEvent& e, uint64_t serial, NodeId node) {
  // Always through the scheduler, also for a zero delay: the watcher may call us from inside
  // the model (a controller electing the node), which must not be crashed under its feet.
  sim_.scheduler().after(arming_delay(e), [this, e, serial, node] {
    if (armed_.erase(serial) == 0) return;  // disarmed by heal_all()
    const bool struck = strike(e, serial, node);
    sim_.note(struck ? "fault" : "fault-skipped",
              {{"serial", serial}, {"event", e.to_text()}, {"node", sim_.spec(node).name}});
    if (struck) schedule_heal(e, serial);
  });
}

bool FaultControl::strike(const FaultEvent& e, uint64_t serial, NodeId node) {
  const Instant until = e.duration == Duration::zero() ? Instant::max() : sim_.now() + e.duration;
  switch (e.kind) {
    case FaultKind::kDiskStall:
      sim_.disk(node).stall(until);
      return true;
    case FaultKind::kDiskSlow:
      sim_.disk(node).slow(e.factor, until);
      return true;
    case FaultKind::kLinkDelay: {
      // a= named a role: delay the links between its holder and the others of b=.
      NodeSet others = resolve(e.b);
      others.remove(node);
      network_rule_[serial] = sim_.network().add_delay(NodeSet{node}, others, e.delay, e.jitter);
      return true;
    }
    case FaultKind::kRestart:
      if (!sim_.is_up(node)) return false;
      for (const auto& [other, stopping] : stopping_) {
        if (stopping == node) return false;  // already shutting down for another restart
      }
      if (shutdown_handler_) {
        down_by_[node] = serial;
        crashed_[serial] = node;
        stopping_[serial] = node;
        if (shutdown_handler_(node, [this, serial] {
              // From the model's own fiber: stop the process from an event of its own.
              sim_.scheduler().after(Duration::zero(), [this, serial] { stopped(serial); });
            })) {
          return true;
        }
        stopping_.erase(serial);
      }
      break;  // no graceful path: a kill
    case FaultKind::kDiskReplace:
      if (!sim_.is_up(node)) return false;
      down_by_[node] = serial;
      crashed_[serial] = node;
      if (crash_listener_) crash_listener_(node, CrashKind::kPowerLoss);
      sim_.crash(node, CrashKind::kPowerLoss);
      sim_.disk(node).replace();
      return true;
    default:
      break;
  }
  const CrashKind kind = e.kind == FaultKind::kPowerLoss ? CrashKind::kPowerLoss : CrashKind::kKill;
  if (!sim_.is_up(node)) {
    // Already down (another event holds it): this event does not restart it, but a power
    // loss still costs the host its page cache.
    if (kind == CrashKind::kPowerLoss) {
      if (crash_listener_) crash_listener_(node, kind);
      sim_.crash(node, kind);
    }
    return false;
  }
  down_by_[node] = serial;
  crashed_[serial] = node;
  if (crash_listener_) crash_listener_(node, kind);
  sim_.crash(node, kind);
  return true;
}

void FaultControl::stopped(uint64_t serial) {
  auto it = stopping_.find(serial);
  if (it == stopping_.end()) return;
  const NodeId node = it->second;
  stopping_.erase(it);
  const bool restart_now = restart_when_stopped_.erase(serial) > 0;
  if (!sim_.is_up(node)) return;  // another fault took it down meanwhile
  if (crash_listener_) crash_listener_(node, CrashKind::kKill);
  sim_.crash(node, CrashKind::kKill);
  sim_.note("stopped", {{"serial", serial}, {"node", sim_.spec(node).name}});
  if (!restart_now) return;
  if (auto d = down_by_.find(node); d != down_by_.end() && d->second == serial) down_by_.erase(d);
  sim_.restart(node);
}

void FaultControl::heal(const FaultEvent& e, uint64_t serial) {
  switch (e.kind) {
    case FaultKind::kKill:
    case FaultKind::kPowerLoss:
    case FaultKind::kRestart:
    case FaultKind::kDiskReplace: {
      if (stopping_.contains(serial)) {
        // Still shutting down: restart once it has stopped.
        restart_when_stopped_.insert(serial);
        break;
      }
      auto crashed = crashed_.find(serial);
      if (crashed == crashed_.end()) return;
      const NodeId node = crashed->second;
      auto it = down_by_.find(node);
      if (it == down_by_.end() || it->second != serial) return;  // restarted already
      down_by_.erase(it);
      if (!sim_.is_up(node)) sim_.restart(node);
      break;
    }
    case FaultKind::kPartition:
    case FaultKind::kPartitionOneWay:
    case FaultKind::kIsolateDc:
    case FaultKind::kLinkDelay: {
      auto it = network_rule_.find(serial);
      if (it == network_rule_.end()) return;  // heal_all() came first
      sim_.network().heal(it->second);
      network_rule_.erase(it);
      break;
    }
    default:
      break;  // the component's own window has just ended
  }
  sim_.note("heal", {{"serial", serial}, {"event", e.to_text()}});
}

void FaultControl::heal_all(bool restart_nodes) {
  sim_.note("heal-all", {{"restart_nodes", restart_nodes}});
  waiting_.clear();
  armed_.clear();
  if (restart_nodes) {
    for (const auto& [serial, node] : stopping_) restart_when_stopped_.insert(serial);
  }
  sim_.network().heal_all();
  network_rule_.clear();
  for (NodeId id = 0; id < sim_.node_count(); ++id) sim_.disk(id).heal();
  sim_.object_store().heal();
  if (!restart_nodes) return;
  down_by_.clear();
  for (NodeId id = 0; id < sim_.node_count(); ++id) {
    if (!sim_.is_up(id)) sim_.restart(id);
  }
}

}  // namespace faultline
