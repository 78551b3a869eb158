// The controller's tier-state logs (H3): one per partition, appended to by leaders' archivers.
#include "models/kafka/controller.h"
#include "models/kafka/quorum_marks.h"
#include "models/kafka/tier/tier_marks.h"

namespace faultline::kafka {

TierAppendResponse Controller::on_tier_append(NodeId from, const TierAppendRequest& req) {
  if (!active_) return not_controller<TierAppendResponse>();
  auto b = working_.brokers.find(req.leader);
  if (req.leader != from || b == working_.brokers.end() || !b->second.registered || req.broker_epoch != b->second.epoch) {
    TierAppendResponse stale;
    stale.error = Errc::kStaleBrokerEpoch;
    return stale;
  }
  auto p = working_.partitions.find(req.partition);
  if (p == working_.partitions.end()) {
    TierAppendResponse unknown;
    unknown.error = Errc::kUnknownPartition;
    return unknown;
  }
  TierState& tier = working_.tiers[req.partition];
  TierState::Result result;
  const bool had_upload = tier.in_progress() != nullptr;
  const bool not_leader = req.event.kind == TierEvent::Kind::kInitLeader &&
                          (p->second.leader != from || req.event.tier_epoch != p->second.leader_epoch);
  if (not_leader) {
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
  // Every event goes into the tier-state log, as into Confluent's tier topic; replaying
  // it gives the same outcome (A4).
  record(TierRecord{.partition = req.partition, .event = req.event, .not_leader = not_leader});
  const int32_t tier_epoch = tier.tier_epoch();
  const int64_t tier_end = tier.tier_end_offset();
  if (!settle()) return not_controller<TierAppendResponse>();
  return {.error = Errc::kNone,
          .outcome = result.outcome,
          .reason = result.reason,
          .tier_epoch = tier_epoch,
          .tier_end_offset = tier_end};
}

TierDescribeResponse Controller::on_tier_describe(const TierDescribeRequest& req) const {
  if (!active_) return {.error = Errc::kNotController, .state = {}};
  // Committed state only (A4), as the tier topic's materialised view.
  if (!committed_.partitions.contains(req.partition)) return {.error = Errc::kUnknownPartition, .state = {}};
  auto it = committed_.tiers.find(req.partition);
  return {.error = Errc::kNone, .state = it == committed_.tiers.end() ? TierState{} : it->second.without_log()};
}

}  // namespace faultline::kafka
