// Operations an operator (or a scenario's plan) asks the active controller for: preferred-
// replica elections (E1) and partition reassignments (KIP-455, A1).
#include <algorithm>
#include <string>
#include <utility>

#include "models/kafka/broker_set.h"
#include "models/kafka/controller.h"
#include "models/kafka/marks.h"

namespace faultline::kafka {

using namespace broker_set;

size_t Controller::elect_preferred_leaders() {
  if (!active_) return 0;
  // PartitionChangeBuilder.electPreferredLeader: the first assigned replica, if it is in the
  // ISR and acceptable (live); otherwise the partition keeps its leader.
  std::vector<PartitionId> ids;
  for (const auto& [id, p] : working_.partitions) ids.push_back(id);
  size_t changed = 0;
  for (PartitionId id : ids) {
    const PartitionState& p = working_.partitions.at(id);
    if (p.replicas.empty()) continue;
    const BrokerId preferred = p.replicas.front();
    if (p.leader == preferred || !contains(p.isr, preferred) || !live(preferred)) continue;
    PartitionState next = p;
    next.leader = preferred;
    cover(ctx_, Mark::kPreferredLeaderElected);
    commit(std::move(next), kWhyPreferredElection);
    ++changed;
  }
  return changed;
}

bool Controller::reassign(PartitionId partition, std::vector<BrokerId> target) {
  if (!active_) return false;
  auto it = working_.partitions.find(partition);
  if (it == working_.partitions.end() || target.empty()) return false;
  const PartitionState& p = it->second;
  std::vector<BrokerId> sorted = target;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted_unique(sorted)) return false;
  for (BrokerId b : target) {
    if (contains(p.observers, b)) return false;
  }
  // Departure: a reassignment in progress is neither replaced nor cancelled here (Kafka
  // allows both, reverting to the original replicas on a cancel).
  if (!p.adding.empty() || !p.removing.empty() || target == p.replicas) return false;
  PartitionState next = p;
  next.replicas = target;
  for (BrokerId b : p.replicas) {
    if (!contains(target, b)) {
      next.replicas.push_back(b);
      next.removing.push_back(b);
    }
  }
  for (BrokerId b : target) {
    if (!contains(p.replicas, b)) next.adding.push_back(b);
  }
  std::sort(next.adding.begin(), next.adding.end());
  std::sort(next.removing.begin(), next.removing.end());
  if (config_.bug_reassign_without_catch_up) {
    // BUG(reassign-without-catch-up): the new replicas are taken as in sync from the start,
    // so the reassignment completes now and the old replicas leave, with the new ones empty.
    std::vector<BrokerId> isr = next.isr;
    isr.insert(isr.end(), next.adding.begin(), next.adding.end());
    next = with_isr(next, std::move(isr));
  }
  cover(ctx_, Mark::kReassignmentStarted);
  const std::string to = text(target);
  const std::string adding = text(next.adding);
  const std::string removing = text(next.removing);
  ctx_.trace("reassignment", {{"partition", partition}, {"target", to}, {"adding", adding}, {"removing", removing}});
  commit(std::move(next), kWhyReassignment);
  return true;
}

void Controller::maybe_complete_reassignment(PartitionState& next) const {
  // PartitionChangeBuilder.completeReassignmentIfNeeded: once every adding replica is in the
  // ISR, the replicas become the target and the removing ones leave the ISR and the ELR;
  // not if that would leave the ISR empty.
  if (next.adding.empty() && next.removing.empty()) return;
  for (BrokerId b : next.adding) {
    if (!contains(next.isr, b)) return;
  }
  std::vector<BrokerId> isr;
  for (BrokerId b : next.isr) {
    if (!contains(next.removing, b)) isr.push_back(b);
  }
  if (isr.empty()) return;
  const std::vector<BrokerId> removing = next.removing;
  std::erase_if(next.replicas, [&](BrokerId b) { return contains(removing, b); });
  next.adding.clear();
  next.removing.clear();
  next = with_isr(next, std::move(isr));
  std::erase_if(next.elr, [&](BrokerId b) { return contains(removing, b); });
  std::erase_if(next.last_known_elr, [&](BrokerId b) { return contains(removing, b); });
  cover(ctx_, Mark::kReassignmentCompleted);
  if (next.leader != kNoBroker && contains(removing, next.leader)) {
    // The leader was moved off: a clean election among the target's ISR (E1).
    cover(ctx_, Mark::kReassignmentMovedLeader);
    next.leader = kNoBroker;
    elect(next);
  }
}

}  // namespace faultline::kafka
