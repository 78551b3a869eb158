// The broker's fetch path: the follower's fetcher with divergence and truncation (C6-C8),
// and the leader's answers to followers and consumers (C1-C4).
#include "models/kafka/broker.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/kafka/marks.h"
#include "models/kafka/placement.h"
#include "models/kafka/tier/tier_marks.h"
#include "models/kafka/tier/tier_object.h"
#include "sim/assert.h"

namespace faultline::kafka {


void Broker::truncate(Replica& r, int64_t offset) {
  const int64_t hw_before = r.log.high_watermark();
  // Also at or past the LEO: the log then trims a dangling epoch-cache entry (C7 needs it).
  if (!r.log.truncate_to(offset).truncated) return;
  ctx_.trace("truncate", {{"partition", r.partition}, {"offset", offset}});
  if (hooks_.on_truncate) hooks_.on_truncate(id(), r.partition, offset);
  if (r.log.high_watermark() != hw_before && hooks_.on_hw) {
    hooks_.on_hw(id(), r.partition, hw_before, r.log.high_watermark(), r.leader, r.leader_epoch);
  }
}

void Broker::start_over_at(Replica& r, int64_t offset) {
  // C8: the follower's log becomes empty at `offset` (its leader's log start).
  cover(ctx_, Mark::kFollowerFullTruncation);
  r.log.truncate_fully_and_start_at(offset);
  if (hooks_.on_truncate) hooks_.on_truncate(id(), r.partition, offset);
  if (hooks_.on_log_start) hooks_.on_log_start(id(), r.partition, r.log.log_start_offset());
}

void Broker::fetcher(PartitionId p, uint64_t generation) {
  const ReplicationConfig& cfg = config_.replication;
  bool truncated_last = false;  // the previous response was a divergence (C7's loop)
  for (;;) {
    Replica& r = rep(p);
    if (r.fetcher_generation != generation) return;
    FetchRequest req;
    req.partition = p;
    req.replica_id = id();
    req.fetch_offset = r.log.log_end_offset();
    req.last_fetched_epoch = r.log.latest_epoch();
    if (bugs_.on(Bug::kTruncateToHw)) req.last_fetched_epoch = kNoEpoch;  // BUG(truncate-to-hw): no epochs
    req.current_leader_epoch = r.leader_epoch;
    req.broker_epoch = broker_epoch_;
    req.max_wait = cfg.replica_fetch_wait_max;
    const BrokerId leader = r.meta.leader;
    auto resp = ctx_.call<FetchResponse>(leader, kFetch, req, cfg.replica_fetch_wait_max + cfg.rpc_timeout);
    Replica& rr = rep(p);
    if (rr.fetcher_generation != generation) return;
    if (!resp.ok() || resp.value->error != Errc::kNone) {
      if (resp.ok() && resp.value->error == Errc::kOffsetOutOfRange && resp.value->log_end_offset >= 0 &&
          (resp.value->log_end_offset < req.fetch_offset || resp.value->log_start_offset > req.fetch_offset)) {
        // C8, as Kafka's AbstractFetcherThread.fetchOffsetAndTruncate: a leader whose LEO is
        // below ours (an unclean election, or our last epoch unknown to it) is followed down
        // to its LEO; a leader whose log start is above our LEO no longer has what we need,
        // and we start over at its log start. Under the role lock and only for the current
        // fetcher, like the divergence truncation below.
        cover(ctx_, Mark::kFollowerOffsetOutOfRange);
        const FetchResponse& oor = *resp.value;
        Lock role(rr.role);
        if (rr.fetcher_generation != generation) return;
        if (oor.log_end_offset < rr.log.log_end_offset()) {
          cover(ctx_, Mark::kFollowerTruncatedToLeaderLeo);
          truncate(rr, oor.log_end_offset);  // below our log start: fully, as UnifiedLog.truncateTo
          if (hooks_.on_follower_truncated) {
            hooks_.on_follower_truncated(id(), p, rr.log.log_end_offset(), req.current_leader_epoch);
          }
        }
        if (oor.log_start_offset > rr.log.log_end_offset()) {
          start_over_at(rr, oor.log_start_offset);
        }
        continue;
      }
      if (resp.ok() && resp.value->error == Errc::kOffsetMovedToTieredStorage) {
        // H5 (Kafka's ReplicaFetcherTierStateMachine.start): what we lack is only on the object
        // store; start over at the leader's local log start with the epoch in force just below
        // it, read from the archived segment's epoch object, so divergence checks go on.
        const int64_t start = resp.value->log_start_offset;
        const ArchivedEpoch archived = archived_epoch_before(p, start);
        Lock role(rr.role);
        if (rr.fetcher_generation != generation) return;
        // Nothing archived holds start - 1 (retention took it): start over there with no
        // epoch, as C8 does; archived but unreadable now: back off and ask again.
        if ((archived.epoch || !archived.covered) && start > rr.log.log_end_offset()) {
          cover(ctx_, TierMark::kFollowerMovedToTier);
          rr.log.truncate_fully_and_start_at(start);
          rr.log.restore_epoch_history(archived.history);
          if (hooks_.on_truncate) hooks_.on_truncate(id(), p, start);
          if (hooks_.on_log_start) hooks_.on_log_start(id(), p, rr.log.log_start_offset());
          continue;
        }
      }
      if (resp.ok() && resp.value->error == Errc::kFencedLeaderEpoch) {
        // C2: our leader epoch is older than the leader's: stop fetching this partition until
        // newer metadata starts a fetcher for the new epoch (become_follower), as Kafka's
        // AbstractFetcherThread marks the partition failed on FENCED_LEADER_EPOCH.
        cover(ctx_, Mark::kFollowerFencedStops);
        ctx_.trace("fetch-fenced", {{"partition", p}, {"epoch", req.current_leader_epoch},
                                    {"leader_epoch", resp.value->leader_epoch}});
        return;
      }
      if (resp.ok() && resp.value->error == Errc::kOffsetOutOfRange) cover(ctx_, Mark::kFollowerOffsetOutOfRange);
      ctx_.trace("fetch-failed", {{"partition", p},
                                  {"error", resp.ok() ? to_string(resp.value->error) : to_string(resp.status)}});
      ctx_.sleep_for(cfg.replica_fetch_backoff);
      continue;
    }
    const FetchResponse& f = *resp.value;
    if (!f.diverging_epoch) truncated_last = false;
    if (bugs_.on(Bug::kHwBeforeTruncation)) {
      // BUG(hw-before-truncation): the response HW is applied before the diverging epoch is
      // handled (KAFKA-14704), so the HW can cover entries about to be truncated.
      const int64_t hw = std::min(f.high_watermark, rr.log.log_end_offset());
      if (hw > rr.log.high_watermark()) set_hw(rr, hw);
    }
    bool back_off = false;  // S9 below: wait outside the role lock, or leadership waits too
    {
      Lock role(rr.role);
      if (rr.fetcher_generation != generation) return;  // replaced while we waited
      if (f.diverging_epoch) {
        if (hooks_.on_diverging) hooks_.on_diverging(id(), p);
        // C7: truncate to min(leader's end offset for that epoch, our own end offset for it),
        // then fetch again; repeat until no divergence. The response HW is ignored.
        const EpochEndOffset div = *f.diverging_epoch;
        int64_t target = std::min(div.end_offset, rr.log.log_end_offset());
        const auto own = rr.log.end_offset_for_epoch(div.epoch);
        if (own && own->epoch == div.epoch) {
          target = std::min(target, own->end_offset);
        } else if (own && own->end_offset >= 0) {
          target = std::min(own->end_offset, rr.log.log_end_offset());  // we lack that epoch: go further back
          cover(ctx_, Mark::kTruncationLacksEpoch);
        }
        if (truncated_last) cover(ctx_, Mark::kTruncationRepeated);
        cover(ctx_, Mark::kFollowerTruncated);
        // Under hw-before-truncation the HW may already cover entries below; truncate_to
        // clamps it, and the damage is what a consumer or checker saw in between.
        const Instant began = ctx_.now();
        // Below our log start (our retention or hotset went further than the leader's log,
        // which an unclean election allows) the log truncates fully and starts over there,
        // as Kafka's UnifiedLog.truncateTo does below its first segment; clamping at our log
        // start would keep records the leader lacks and fetch above its LEO forever.
        int64_t to = target;
        // A leader whose epoch cache starts above our last epoch answers with its log start
        // (LeaderEpochFileCache.endOffsetFor's floorEntry == null case): our records below
        // it are unverified. Kafka keeps them but raises our log start to the leader's on the
        // next fetch (maybeIncrementLogStartOffset), inside a segment if need be, so they are
        // never read. This model's log start moves by whole segments (see Departures), so it
        // starts over at the leader's log start instead; without this a follower kept
        // divergent records below its HW (S2, found by faultline fuzz of partition).
        if (!config_.replication.tiered && div.end_offset <= f.log_start_offset &&
            rr.log.log_start_offset() < f.log_start_offset) {
          to = f.log_start_offset;
          start_over_at(rr, to);
        } else {
          if (to < rr.log.log_start_offset()) cover(ctx_, Mark::kFollowerFullTruncation);
          truncate(rr, to);
        }
        if (ctx_.now() - began > Duration::millis(100)) cover(ctx_, Mark::kTruncationBlockedOnDisk);
        if (hooks_.on_follower_truncated) hooks_.on_follower_truncated(id(), p, to, req.current_leader_epoch);
        truncated_last = true;
        continue;
      }
      // C8: everything we hold lies below the leader's log start (our fetch offset is at or
      // below it), so none of it can be checked against the leader, whose epoch cache now
      // starts there and answers an older epoch with that start (no divergence). Kafka raises
      // our log start to the leader's (maybeIncrementLogStartOffset), which hides those
      // records; this model's log start moves by whole segments (see Departures), so it
      // starts over at the leader's log start, as it does on a divergence answered there.
      // Found by faultline fuzz of broker-crash (acks=1, small segments): a restarted
      // leader's unreplicated epoch-2 records stayed below its new HW (S2).
      if (!config_.replication.tiered && f.log_start_offset >= req.fetch_offset &&
          rr.log.log_start_offset() < f.log_start_offset && req.fetch_offset == rr.log.log_end_offset()) {
        start_over_at(rr, f.log_start_offset);
      }
      if (!f.records.empty()) {
        if (f.records.front().offset != rr.log.log_end_offset()) continue;  // raced with a truncation
        // The epoch of our last record (the cache may also hold a newer epoch without records,
        // from a term as leader in which nothing was appended; the log drops that entry).
        const auto last = rr.log.entry_at(rr.log.log_end_offset() - 1);
        if (last && f.records.front().epoch < last->epoch) {
          // S9: only a leader that answered C3 wrongly sends this (see BrokerHooks).
          ctx_.trace("epoch-regression", {{"partition", p}, {"offset", f.records.front().offset},
                                          {"log_epoch", last->epoch}, {"fetched_epoch", f.records.front().epoch}});
          if (hooks_.on_epoch_regression) {
            hooks_.on_epoch_regression(id(), p, f.records.front().offset, last->epoch, f.records.front().epoch);
          }
          back_off = true;
        } else {
          rr.log.append_as_follower(f.records);
          if (hooks_.on_append) hooks_.on_append(id(), p, f.records);
        }
      }
      if (!back_off) {
        // C6: follower HW = min(leader HW, own LEO), and it may go down: a new leader's HW can
        // trail ours until its own catches up (E2). As Kafka's UnifiedLog.updateHighWatermark,
        // which ReplicaFetcherThread.processPartitionData calls with the response's HW, it is
        // kept within [log start, LEO].
        const int64_t hw = std::max(std::min(f.high_watermark, rr.log.log_end_offset()), rr.log.log_start_offset());
        if (f.high_watermark > rr.log.log_end_offset()) cover(ctx_, Mark::kFollowerHwClampedToLeo);
        if (hw < rr.log.high_watermark()) cover(ctx_, Mark::kFollowerHwLowered);
        if (hw != rr.log.high_watermark()) set_hw(rr, hw);
        if (hooks_.on_follower_hw) hooks_.on_follower_hw(id(), p, f.high_watermark);
        // C8 and Kafka's follower maybeIncrementLogStartOffset: what the leader deleted goes
        // here too, at our segment boundaries and never above our HW.
        const int64_t start_before = rr.log.log_start_offset();
        if (f.log_start_offset > start_before && rr.log.delete_segments_below(f.log_start_offset) > start_before) {
          cover(ctx_, Mark::kFollowerLogStartRaised);
          if (hooks_.on_log_start) hooks_.on_log_start(id(), p, rr.log.log_start_offset());
        }
      }
    }
    if (back_off) ctx_.sleep_for(cfg.replica_fetch_backoff);
  }
}

FetchResponse Broker::handle_fetch(NodeId from, const FetchRequest& req) {
  FetchResponse resp = answer_fetch(from, req);
  if (hooks_.on_fetch_answered) hooks_.on_fetch_answered(id(), req, resp);
  return resp;
}

FetchResponse Broker::answer_fetch(NodeId, const FetchRequest& req) {
  FetchResponse resp;
  auto it = replicas_.find(req.partition);
  if (it == replicas_.end()) return {Errc::kUnknownPartition, kNoEpoch, {}, 0, 0, std::nullopt};
  const Instant deadline = ctx_.now() + req.max_wait;
  for (;;) {
    Replica& r = rep(req.partition);
    resp = FetchResponse{};
    resp.leader_epoch = r.leader_epoch;
    // C2: the request's leader epoch before our own leadership, as Kafka's
    // Partition.localLogWithEpochOrThrow does (checkCurrentLeaderEpoch, then isLeader).
    if (req.current_leader_epoch != kNoEpoch && req.current_leader_epoch < r.leader_epoch) {
      cover(ctx_, Mark::kFetchFencedLeaderEpoch);
      resp.error = Errc::kFencedLeaderEpoch;
      return resp;
    }
    if (req.current_leader_epoch != kNoEpoch && req.current_leader_epoch > r.leader_epoch) {
      cover(ctx_, Mark::kFetchUnknownLeaderEpoch);
      resp.error = Errc::kUnknownLeaderEpoch;
      return resp;
    }
    if (!r.leader || !registered()) {
      cover(ctx_, Mark::kFetchNotLeader);
      resp.error = Errc::kNotLeader;
      return resp;
    }
    resp.log_start_offset = r.log.log_start_offset();
    resp.high_watermark = r.log.high_watermark();
    if (req.fetch_offset < r.log.log_start_offset() && config_.replication.tiered) {
      if (req.replica_id == kNoBroker) return read_remote(req, resp);
      resp.error = Errc::kOffsetMovedToTieredStorage;  // H5: the follower rebuilds from the store
      return resp;
    }
    if (req.fetch_offset < r.log.log_start_offset()) {
      cover(ctx_, Mark::kFetchOutOfRangeBelowStart);
      resp.error = Errc::kOffsetOutOfRange;
      resp.log_end_offset = r.log.log_end_offset();
      return resp;
    }
    // C3: divergence, before anything else changes.
    if (req.last_fetched_epoch != kNoEpoch) {
      auto eo = r.log.end_offset_for_epoch(req.last_fetched_epoch);
      // C2: no end offset for the follower's last fetched epoch (newer than every epoch we
      // know): OFFSET_OUT_OF_RANGE, as Partition.validateFetchOffsetAndMaybeGetDivergingEpoch
      // does for UNDEFINED_EPOCH_OFFSET; the follower then truncates to our LEO (C8).
      if (!eo) {
        cover(ctx_, Mark::kFetchOutOfRangeUnknownEpoch);
        resp.error = Errc::kOffsetOutOfRange;
        resp.log_end_offset = r.log.log_end_offset();
        return resp;
      }
      if (bugs_.on(Bug::kEpochNextOffset) && eo && eo->epoch < req.last_fetched_epoch) {
        // BUG(epoch-next-offset): a leader lacking the requested epoch answered with the
        // requested epoch and the start offset of the next epoch it has (KAFKA-6361), so the
        // follower truncates once, believes it matched, and keeps a divergent prefix.
        int64_t next_start = r.log.log_end_offset();
        for (const auto& [e, start] : r.log.epoch_cache()) {
          if (e > req.last_fetched_epoch) {
            next_start = start;
            break;
          }
        }
        eo = EpochEndOffset{req.last_fetched_epoch, next_start};
        if (next_start >= req.fetch_offset) eo.reset();
      }
      if (eo && (eo->epoch < req.last_fetched_epoch || eo->end_offset < req.fetch_offset)) {
        cover(ctx_, Mark::kDivergingEpochAnswered);
        if (eo->epoch < req.last_fetched_epoch) cover(ctx_, Mark::kDivergingOlderEpoch);
        resp.diverging_epoch = *eo;
        return resp;
      }
    }
    if (req.fetch_offset > r.log.log_end_offset()) {
      cover(ctx_, Mark::kFetchOutOfRangeAboveEnd);
      resp.error = Errc::kOffsetOutOfRange;
      resp.log_end_offset = r.log.log_end_offset();
      return resp;
    }
    // As Kafka's Partition.fetchRecords: the response carries the HW as read with the records,
    // before this fetch updates the follower's state (which may advance the HW); the follower
    // learns that advance from its next fetch, so a follower's HW trails the leader's.
    const bool consumer = req.replica_id == kNoBroker;
    if (!consumer) {
      // C9: fetch state from an older incarnation than the one recorded is rejected, as
      // Kafka's Replica.updateFetchStateOrThrow does (NOT_LEADER_OR_FOLLOWER).
      auto fit = r.followers.find(req.replica_id);
      if (fit != r.followers.end() && req.broker_epoch < fit->second.broker_epoch) {
        cover(ctx_, Mark::kStaleBrokerEpochRejected);
        resp.error = Errc::kNotLeader;
        return resp;
      }
      update_follower(r, req);
    }
    const int64_t upto = consumer ? r.log.high_watermark() : r.log.log_end_offset();  // E3, S13
    resp.records = r.log.read(req.fetch_offset, req.max_records, upto);
    if (!resp.records.empty() || ctx_.now() >= deadline) {
      if (consumer && hooks_.on_consumer_read && !resp.records.empty()) {
        hooks_.on_consumer_read(id(), req.partition, resp.records.back().offset + 1, r.log.high_watermark());
      }
      return resp;
    }
    // Long poll: nothing new; wait for an append, an HW move or a leadership change.
    r.changed.wait(ctx_.scheduler(), deadline);
  }
}

std::optional<TierState> Broker::describe_tier(PartitionId p) {
  auto d = controller_.call<TierDescribeResponse>(kTierDescribe, TierDescribeRequest{p},
                                           config_.replication.rpc_timeout);
  if (!d.ok() || d.value->error != Errc::kNone) return std::nullopt;
  return std::move(d.value->state);
}

Broker::ArchivedEpoch Broker::archived_epoch_before(PartitionId p, int64_t start) {
  if (start <= 0) return {false, std::nullopt, {}};
  const std::optional<TierState> tier = describe_tier(p);
  if (!tier) return {true, std::nullopt, {}};  // unknown: try again
  for (const TierSegment* s : tier->complete()) {
    if (s->base_offset > start - 1 || start - 1 >= s->end_offset) continue;
    const GetResult got = ctx_.objects().get(tier_object::epochs_key(p, s->id));
    if (got.status != ObjectStatus::kOk) return {true, std::nullopt, {}};
    const auto epochs = tier_object::decode_epochs(got.bytes);
    Epoch in_force = kNoEpoch;
    for (const EpochStart& e : epochs.value_or(std::vector<EpochStart>{})) {
      if (e.start_offset <= start - 1) in_force = e.epoch;
    }
    if (in_force == kNoEpoch) return {true, std::nullopt, {}};
    // The history: every Complete segment's slice up to this one, one entry per epoch change.
    std::vector<EpochStart> history;
    for (const TierSegment* below : tier->complete()) {
      if (below->base_offset > s->base_offset) break;
      for (const EpochStart& e : below->epochs) {
        if (e.start_offset > start - 1) break;
        if (!history.empty() && history.back().epoch >= e.epoch) continue;  // the same epoch, continued
        history.push_back(e);
      }
    }
    // The store is the authority on the epoch in force (S15 judges metadata against it).
    if (history.empty() || history.back().epoch != in_force) history = {{in_force, start - 1}};
    return {true, in_force, std::move(history)};
  }
  return {false, std::nullopt, {}};
}

FetchResponse Broker::read_remote(const FetchRequest& req, FetchResponse resp) {
  const PartitionId p = req.partition;
  const Epoch epoch = rep(p).leader_epoch;
  auto still_leads = [&] {
    const Replica& cur = rep(p);
    return cur.leader && cur.leader_epoch == epoch;
  };
  auto failed = [&](Errc e) {
    // Leadership moved while we blocked: answer as C2 says for the state we are in now.
    if (!still_leads()) return answer_fetch(kNoBroker, req);
    if (e == Errc::kKafkaStorageError) cover(ctx_, TierMark::kRemoteReadFailed);
    resp.error = e;
    return resp;
  };
  const std::optional<TierState> tier = describe_tier(p);
  if (!tier) return failed(Errc::kKafkaStorageError);
  const TierSegment* covering = nullptr;
  for (const TierSegment* s : tier->complete()) {
    if (s->base_offset <= req.fetch_offset && req.fetch_offset < s->end_offset) covering = s;
  }
  if (covering == nullptr) {
    // Below everything archived too: retention took it (H6). The consumer moves up to the
    // log start offset, archived or local.
    resp.log_start_offset = Archiver::log_start_offset(*tier, rep(p).log.log_start_offset());
    return failed(Errc::kOffsetOutOfRange);
  }
  const GetResult got = ctx_.objects().get(tier_object::data_key(p, covering->id));
  if (got.status != ObjectStatus::kOk) return failed(Errc::kKafkaStorageError);
  const auto entries = tier_object::decode_entries(got.bytes);
  if (!entries) return failed(Errc::kKafkaStorageError);
  if (!still_leads()) return answer_fetch(kNoBroker, req);
  // E3, S13: never past the HW (a new leader's may trail what was archived, E2).
  const int64_t hw = rep(p).log.high_watermark();
  for (const LogEntry& e : *entries) {
    if (e.offset < req.fetch_offset) continue;
    if (e.offset >= hw || resp.records.size() >= req.max_records) break;
    resp.records.push_back(e);
  }
  cover(ctx_, TierMark::kRemoteRead);
  if (hooks_.on_consumer_read && !resp.records.empty()) {
    hooks_.on_consumer_read(id(), p, resp.records.back().offset + 1, hw);
  }
  return resp;
}

void Broker::update_follower(Replica& r, const FetchRequest& req) {
  // C4
  auto it = r.followers.find(req.replica_id);
  if (it == r.followers.end()) return;  // not a replica of this partition
  FollowerState& f = it->second;
  const int64_t leader_leo = r.log.log_end_offset();
  if (req.fetch_offset >= leader_leo) {
    f.last_caught_up = ctx_.now();
  } else if (f.leader_leo_at_last_fetch >= 0 && req.fetch_offset >= f.leader_leo_at_last_fetch) {
    cover(ctx_, Mark::kCaughtUpByPreviousFetch);
    f.last_caught_up = f.last_fetch;
  }
  if (is_observer(r.meta, req.replica_id)) cover(ctx_, Mark::kObserverFetched);
  if (req.broker_epoch != broker_epoch_of(req.replica_id)) cover(ctx_, Mark::kStaleBrokerEpochFetch);
  const int64_t previous_leo = f.leo;
  f.leo = req.fetch_offset;
  f.last_fetch = ctx_.now();
  f.leader_leo_at_last_fetch = leader_leo;
  f.broker_epoch = req.broker_epoch;
  f.fetched_in_epoch = r.leader_epoch;
  maybe_expand_isr(r, req.replica_id);
  // As Kafka's updateFollowerFetchState: the HW is recomputed when the follower's LEO
  // moved, not on every long poll of a caught-up follower. Other moments that can move it
  // (appends, ISR changes) recompute it themselves.
  if (f.leo != previous_leo) maybe_increment_hw(r);
}

}  // namespace faultline::kafka
