// The controller on the KRaft metadata log (A4): records appended as the active controller,
// answers after commit, committed records applied to the image, activation and renouncing.
#include <utility>

#include "models/kafka/controller.h"
#include "models/kafka/quorum_marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

void Controller::record(MetadataRecord r) {
  FL_ASSERT(active_ && "only the active controller changes metadata", ctx_.id());
  quorum_->append(std::move(r));
}

bool Controller::settle() {
  if (!active_) return false;
  const int64_t last = quorum_->end_offset() - 1;
  if (quorum_->high_watermark() > last) return true;
  cover(ctx_, QuorumMark::kAnsweredAfterCommit);
  return quorum_->await_commit(last, active_epoch_);
}

AppliedRecord apply_record(MetadataImage& image, const QuorumEntry& entry) {
  AppliedRecord out;
  if (const auto* pr = std::get_if<PartitionRecord>(&entry.record)) {
    PartitionState& slot = image.partitions[pr->state.partition];
    out.before = std::exchange(slot, pr->state);
  } else if (const auto* br = std::get_if<BrokerRecord>(&entry.record)) {
    image.brokers[br->info.broker] = br->info;
    image.incarnations[br->info.broker] = br->incarnation;
    image.next_broker_epoch = std::max(image.next_broker_epoch, br->info.epoch + 1);
  } else if (const auto* tr = std::get_if<TierRecord>(&entry.record)) {
    TierState& tier = image.tiers[tr->partition];
    out.tier = tr->not_leader ? TierState::Result{TierState::Outcome::kFenced, "not-the-current-leader"}
                              : tier.apply(tr->event);
  }
  ++image.offset;
  return out;
}

void Controller::on_commit(int64_t offset, const QuorumEntry& entry) {
  FL_ASSERT(offset == committed_.offset, offset, committed_.offset);
  const AppliedRecord applied = apply_record(committed_, entry);
  // The checkers hear of each change once, from whichever controller commits it first.
  if (hooks_.on_committed && !hooks_.on_committed(ctx_.id(), offset, entry)) return;
  if (const auto* pr = std::get_if<PartitionRecord>(&entry.record)) {
    if (hooks_.on_partition_change) hooks_.on_partition_change(applied.before, pr->state, pr->why);
  } else if (const auto* br = std::get_if<BrokerRecord>(&entry.record)) {
    if (hooks_.on_broker_change) hooks_.on_broker_change(br->info, br->why);
  } else if (const auto* tr = std::get_if<TierRecord>(&entry.record)) {
    if (hooks_.on_tier_event) hooks_.on_tier_event(tr->partition, tr->event, applied.tier, committed_.tiers.at(tr->partition));
  }
}

void Controller::activate(Epoch epoch) {
  // QuorumController.claim, once the quorum has applied this term's LeaderChange record
  // (everything committed before the term, and what this leader held of older epochs,
  // committed with it): the committed image is the whole state. Then every registered
  // broker's session starts afresh (BrokerHeartbeatManager is in memory).
  working_ = committed_;
  for (auto i = static_cast<size_t>(committed_.offset); i < quorum_->log().size(); ++i) {
    apply_record(working_, quorum_->log()[i]);
  }
  last_heartbeat_.clear();
  for (const auto& [b, info] : working_.brokers) {
    if (info.registered) last_heartbeat_[b] = ctx_.now();
  }
  log_info_.clear();
  shutting_down_.clear();
  active_ = true;
  active_epoch_ = epoch;
  cover(ctx_, QuorumMark::kControllerActivated);
  ctx_.trace("controller-active", {{"epoch", epoch}, {"log_end", quorum_->end_offset()}, {"hw", quorum_->high_watermark()}});
  if (hooks_.on_activated) hooks_.on_activated(ctx_.id(), epoch);
}

void Controller::deactivate() {
  // QuorumController.renounce: uncommitted changes are dropped (the next activation
  // replays whatever log this node holds then).
  active_ = false;
  if (quorum_->end_offset() > quorum_->high_watermark()) cover(ctx_, QuorumMark::kUncommittedReverted);
  ctx_.trace("controller-inactive", {{"epoch", active_epoch_}, {"log_end", quorum_->end_offset()}, {"hw", quorum_->high_watermark()}});
}

}  // namespace faultline::kafka
