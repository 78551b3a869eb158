// The controller's tier-state logs (H3): one per partition, appended to by leaders' archivers.
#include "models/kafka/controller.h"
#include "models/kafka/tier/tier_marks.h"

namespace faultline::kafka {

TierAppendResponse Controller::on_tier_append(NodeId from, const TierAppendRequest& req) {
  auto b = brokers_.find(req.leader);
  if (req.leader != from || b == brokers_.end() || !b->second.registered || req.broker_epoch != b->second.epoch) {
    TierAppendResponse stale;
    stale.error = Errc::kStaleBrokerEpoch;
    return stale;
  }
  auto p = partitions_.find(req.partition);
  if (p == partitions_.end()) {
    TierAppendResponse unknown;
    unknown.error = Errc::kUnknownPartition;
    return unknown;
  }
  TierState& tier = tiers_[req.partition];
  TierState::Result result;
  const bool had_upload = tier.in_progress() != nullptr;
  if (req.event.kind == TierEvent::Kind::kInitLeader &&
      (p->second.leader != from || req.event.tier_epoch != p->second.leader_epoch)) {
    // Only the current leader opens its tier epoch, which is its leader epoch: a deposed
    // leader cannot fence its successor's uploads.
    result = {TierState::Outcome::kFenced, "not-the-current-leader"};
  } else {
    result = tier.apply(req.event);
  }
  switch (result.outcome) {
    case TierState::Outcome::kApplied:
      if (req.event.kind == TierEvent::Kind::kUploadComplete) cover(ctx_, TierMark::kUploadComplete);
      if (req.event.kind == TierEvent::Kind::kInitLeader) {
        cover(ctx_, TierMark::kInitLeader);
        if (had_upload) cover(ctx_, TierMark::kUploadFenced);
      }
      break;
    case TierState::Outcome::kRepeated: cover(ctx_, TierMark::kRepeat); break;
    case TierState::Outcome::kFenced: cover(ctx_, TierMark::kStaleEpochFenced); break;
    case TierState::Outcome::kRejected: cover(ctx_, TierMark::kRejected); break;
  }
  ctx_.trace("tier-event", {{"partition", req.partition},
                            {"event", req.event.to_text()},
                            {"outcome", to_string(result.outcome)},
                            {"reason", result.reason},
                            {"tier_end", tier.tier_end_offset()}});
  if (hooks_.on_tier_event) hooks_.on_tier_event(req.partition, req.event, result, tier);
  return {.error = Errc::kNone,
          .outcome = result.outcome,
          .reason = result.reason,
          .tier_epoch = tier.tier_epoch(),
          .tier_end_offset = tier.tier_end_offset()};
}

TierDescribeResponse Controller::on_tier_describe(const TierDescribeRequest& req) const {
  if (!partitions_.contains(req.partition)) return {.error = Errc::kUnknownPartition, .state = {}};
  auto it = tiers_.find(req.partition);
  return {.error = Errc::kNone, .state = it == tiers_.end() ? TierState{} : it->second.without_log()};
}

}  // namespace faultline::kafka
