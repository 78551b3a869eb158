// The broker's HW (C5) and ISR changes: expansion (D2, G2), demotion (G3), shrink (D1) and
// AlterPartition.
#include "models/kafka/broker.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/kafka/marks.h"
#include "models/kafka/placement.h"
#include "sim/assert.h"

namespace faultline::kafka {

namespace {

bool contains(const std::vector<BrokerId>& v, BrokerId b) { return std::find(v.begin(), v.end(), b) != v.end(); }

std::string list_text(const std::vector<BrokerId>& v) { return fmt::format("{{{}}}", fmt::join(v, ",")); }

}  // namespace

void Broker::set_hw(Replica& r, int64_t hw) {
  const int64_t old = r.log.high_watermark();
  if (hw == old) return;
  r.log.set_high_watermark(hw);
  if (hooks_.on_hw) hooks_.on_hw(id(), r.partition, old, hw, r.leader, r.leader_epoch);
  r.changed.notify_all(ctx_.scheduler());
}

bool Broker::maybe_increment_hw(Replica& r) {
  if (!r.leader) return false;
  const ReplicationConfig& cfg = config_.replication;
  int64_t hw = r.log.log_end_offset();
  // C5: min LEO over the leader, the maximal ISR and caught-up followers.
  // Counted: the maximal ISR (asked per follower, not built: this runs on every fetch).
  const bool committed_isr_only = bugs_.on(Bug::kHwFromCommittedIsr);
  auto counted = [&](BrokerId b) {
    // BUG(hw-from-committed-isr): the HW ignores a pending ISR expansion (KIP-497 fixed it),
    // so it can pass a member that is about to join the ISR without the data.
    return committed_isr_only ? contains(r.isr, b) : in_maximal_isr(r, b);
  };
  for (const auto& [b, f] : r.followers) {
    // C9: a caught-up follower outside the maximal ISR counts only while eligible:
    // registered, unfenced (a shutting-down broker is fenced at once here, see Departures)
    // and fetching under its current broker epoch (Partition.isReplicaIsrEligible).
    const bool current_epoch = f.broker_epoch == broker_epoch_of(b);
    const bool is_counted = counted(b);
    const bool caught_up = f.leo >= 0 && ctx_.now() - f.last_caught_up <= cfg.replica_lag_time_max &&
                           contains(r.meta.replicas, b) && broker_live(b) && current_epoch;
    if (!current_epoch && f.leo >= 0 && f.leo < hw && broker_live(b) && !is_counted &&
        ctx_.now() - f.last_caught_up <= cfg.replica_lag_time_max) {
      cover(ctx_, Mark::kHwSkipsStaleBrokerEpoch);
    }
    if (is_counted || (caught_up && !committed_isr_only)) {
      const int64_t before = hw;
      hw = std::min(hw, std::max<int64_t>(f.leo, 0));
      if (hw < before && !contains(r.isr, b)) {
        cover(ctx_, is_counted ? Mark::kHwHeldByPendingExpansion : Mark::kHwCountsCaughtUpNonMember);
      }
    }
  }
  // B4: the HW does not advance while the ISR is below min ISR.
  const auto min_isr = static_cast<size_t>(std::min<int64_t>(cfg.min_insync_replicas, r.meta.replicas.size()));
  if (cfg.hw_requires_min_isr && r.isr.size() < min_isr) {
    if (hw > r.log.high_watermark()) cover(ctx_, Mark::kHwHeldBelowMinIsr);
    return false;
  }
  if (hw <= r.log.high_watermark()) return false;
  set_hw(r, hw);
  return true;
}

void Broker::maybe_expand_isr(Replica& r, BrokerId b) {
  if (r.pending_isr || in_maximal_isr(r, b)) return;
  const bool observer = is_observer(r.meta, b);
  if (!observer && !contains(r.meta.replicas, b)) return;
  // G2: an observer joins only while the promotion policy holds for the committed ISR (the
  // controller judges the same predicate on its own state and refuses otherwise).
  if (observer && !promotion_wanted(r.meta, r.isr, id(), config_.replication.min_insync_replicas)) return;
  const FollowerState& f = r.followers.at(b);
  // D2
  bool ok = f.leo >= r.log.high_watermark() && f.fetched_in_epoch == r.leader_epoch && broker_live(b) &&
            f.broker_epoch == broker_epoch_of(b);
  if (!bugs_.on(Bug::kIsrJoinWithoutLeso)) {
    if (ok && f.leo < r.leso) cover(ctx_, Mark::kExpansionRefusedBelowLeso);
    ok = ok && f.leo >= r.leso;
  }  // else BUG(isr-join-without-leso): KAFKA-7128, a follower joins before reaching the LESO
  if (observer && bugs_.on(Bug::kPromoteLaggingObserver)) {
    // BUG(promote-lagging-observer): the observer was promoted as soon as the policy held,
    // on the strength of its fetching at all: none of D2's checks (LEO >= HW, LEO >= LESO,
    // fetched in this epoch) was made, so it could join the ISR without committed records.
    ok = true;
  }
  if (!ok) return;
  std::vector<BrokerId> isr = r.isr;
  isr.push_back(b);
  std::sort(isr.begin(), isr.end());
  if (observer) {
    ctx_.trace("observer-promotion-proposed", {{"partition", r.partition}, {"observer", b}, {"leo", f.leo},
                                               {"hw", r.log.high_watermark()}, {"leso", r.leso},
                                               {"policy", to_string(r.meta.promotion)}});
  }
  cover(ctx_, Mark::kIsrExpansionProposed);
  propose_isr(r, std::move(isr), /*expansion=*/true);
}

void Broker::maybe_demote_observers(Replica& r) {
  if (!r.leader || r.pending_isr) return;
  const int32_t min_isr = config_.replication.min_insync_replicas;
  // G3: once the ISR's sync replicas alone no longer call for observers, the promoted ones
  // leave the ISR, without a leader election. A promoted observer that leads demotes
  // nobody: the controller first moves leadership to a sync replica (kWhyObserverHandOff),
  // which then demotes every promoted observer, its predecessor included.
  if (is_observer(r.meta, id()) || !demotion_due(r.meta, r.isr, id(), min_isr)) return;
  std::vector<BrokerId> keep;
  bool removed = false;
  for (BrokerId b : r.isr) {
    if (is_observer(r.meta, b)) {
      removed = true;
    } else {
      keep.push_back(b);
    }
  }
  if (!removed) return;
  ctx_.trace("observer-demotion-proposed", {{"partition", r.partition}, {"isr", list_text(keep)},
                                            {"policy", to_string(r.meta.promotion)}});
  propose_isr(r, std::move(keep), /*expansion=*/false);
}

void Broker::maybe_shrink_isr(Replica& r) {
  if (!r.leader || r.pending_isr) return;
  const Duration lag = config_.replication.replica_lag_time_max;
  std::vector<BrokerId> keep;
  bool removed = false;
  for (BrokerId b : r.isr) {
    if (b == id()) {
      keep.push_back(b);
      continue;
    }
    auto it = r.followers.find(b);
    // D1: out of sync when not at the leader's LEO and not caught up within the lag time.
    const bool out = it == r.followers.end() ||
                     (it->second.leo != r.log.log_end_offset() && ctx_.now() - it->second.last_caught_up > lag);
    if (out) {
      removed = true;
    } else {
      keep.push_back(b);
    }
  }
  if (removed) {
    cover(ctx_, Mark::kIsrShrinkProposed);
    propose_isr(r, std::move(keep), /*expansion=*/false);
  }
}

void Broker::propose_isr(Replica& r, std::vector<BrokerId> isr, bool expansion) {
  FL_ASSERT(!r.pending_isr && "one AlterPartition in flight per partition");
  if (hooks_.on_isr_proposed) hooks_.on_isr_proposed(id(), r.partition, isr);
  r.pending_isr = isr;
  r.pending_is_expansion = expansion;
  AlterPartitionRequest req;
  req.leader = id();
  req.broker_epoch = broker_epoch_;
  req.partition = r.partition;
  req.leader_epoch = r.leader_epoch;
  req.partition_epoch = r.meta.partition_epoch;
  req.new_isr = isr;
  for (BrokerId b : isr) {
    auto it = r.followers.find(b);
    req.member_epochs.push_back(b == id() ? broker_epoch_ : it == r.followers.end() ? -1 : it->second.broker_epoch);
  }
  ctx_.trace("alter-partition", {{"partition", r.partition}, {"isr", list_text(isr)}, {"expansion", expansion}});
  const PartitionId p = r.partition;
  const Epoch epoch = r.leader_epoch;
  ctx_.spawn(fmt::format("alter-p{}", p), [this, p, epoch, req, expansion] {
    // D1, as Kafka's AlterPartitionManager and Partition.handleAlterPartitionError: the
    // pending change stays in flight until an answer settles it; a lost answer is retried
    // without a timeout; only INELIGIBLE_REPLICA and OPERATION_NOT_ATTEMPTED roll the
    // maximal ISR back; the other errors wait for newer metadata (apply_metadata replaces
    // the pending change), and an answer older than metadata already applied is dropped.
    auto current = [&]() -> Replica* {
      Replica& cur = rep(p);
      // Leadership moved on, or metadata settled this change: the answer is not ours to use.
      if (!cur.leader || cur.leader_epoch != epoch || cur.pending_isr != req.new_isr) return nullptr;
      return &cur;
    };
    for (;;) {
      auto resp = controller_.call<AlterPartitionResponse>(kAlterPartition, req, config_.replication.rpc_timeout);
      Replica* cur = current();
      if (cur == nullptr) return;
      // NOT_CONTROLLER (A4): as a lost answer, AlterPartitionManager resends the pending
      // change to the new active controller.
      if (!resp.ok() || resp.value->error == Errc::kNotController) {
        cover(ctx_, Mark::kAlterPartitionUnanswered);
        ctx_.trace("alter-partition-retry", {{"partition", p}, {"isr", list_text(req.new_isr)}});
        ctx_.sleep_for(Duration::millis(500));
        if (current() == nullptr) return;
        continue;
      }
      const AlterPartitionResponse& answer = *resp.value;
      if (answer.error == Errc::kNone) {
        cur->pending_isr.reset();
        if (answer.state.partition_epoch < cur->meta.partition_epoch) {
          // Older than metadata we applied meanwhile: that metadata's ISR stands.
          cover(ctx_, Mark::kAlterPartitionAnswerStale);
          cur->isr = cur->meta.isr;
          maybe_increment_hw(*cur);
          cur->changed.notify_all(ctx_.scheduler());
          return;
        }
        cur->isr = answer.state.isr;
        cur->meta = answer.state;
        ctx_.trace("isr-changed", {{"partition", p}, {"isr", list_text(cur->isr)}});
        if (!expansion && bugs_.on(Bug::kNoHwAfterShrink)) {
          // BUG(no-hw-after-shrink): KAFKA-13091, the HW is not recomputed when a shrink is
          // answered, so acks=all requests wait for a replica that left the ISR.
          return;
        }
        maybe_increment_hw(*cur);
        maybe_demote_observers(*cur);
        cur->changed.notify_all(ctx_.scheduler());
        return;
      }
      cover(ctx_, Mark::kAlterPartitionRejected);
      if (answer.error == Errc::kIneligibleReplica || answer.error == Errc::kOperationNotAttempted ||
          answer.error == Errc::kStaleBrokerEpoch) {
        // Roll the maximal ISR back to the newest committed ISR we know, from the answer or
        // from metadata. (A stale broker epoch: the request was sent under a registration
        // the controller no longer knows; the model's request keeps the epoch it was
        // proposed under, where Kafka's AlterPartitionManager fails it as not attempted.)
        cur->pending_isr.reset();
        if (answer.state.partition_epoch > cur->meta.partition_epoch && answer.state.leader_epoch == epoch) {
          cur->meta = answer.state;
        }
        cur->isr = cur->meta.isr;
        maybe_increment_hw(*cur);
        cur->changed.notify_all(ctx_.scheduler());
        return;
      }
      // FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, INVALID_REQUEST: the controller knows a
      // newer state; the change stays pending until metadata brings it.
      cover(ctx_, Mark::kAlterPartitionAwaitsMetadata);
      return;
    }
  });
}

void Broker::isr_expiration_loop() {
  for (;;) {
    ctx_.sleep_for(config_.replication.replica_lag_time_max / 2);
    for (auto& [p, r] : replicas_) {
      maybe_shrink_isr(*r);
      maybe_demote_observers(*r);
    }
  }
}

}  // namespace faultline::kafka
