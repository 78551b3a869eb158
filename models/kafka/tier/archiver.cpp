#include "models/kafka/tier/archiver.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/kafka/tier/tier_marks.h"
#include "models/kafka/tier/tier_object.h"

namespace faultline::kafka {

namespace {

// The leader-epoch cache's slice for [base, end): the epoch in force at base, starting there,
// and every later epoch that starts before end.
std::vector<EpochStart> epoch_slice(const std::vector<EpochStart>& cache, int64_t base, int64_t end) {
  std::vector<EpochStart> out;
  for (const EpochStart& e : cache) {
    if (e.start_offset >= end) break;
    if (e.start_offset <= base) {
      out = {{e.epoch, base}};
    } else {
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace

std::optional<TierAppendResponse> Archiver::append(PartitionId p, int64_t broker_epoch, const TierEvent& e,
                                                   const std::function<bool()>& leads) {
  while (leads()) {
    auto r = controller_.call<TierAppendResponse>(kTierAppend, TierAppendRequest{ctx_.id(), broker_epoch, p, e},
                                           config_.rpc_timeout);
    if (r.ok() && r.value->error == Errc::kNone) return *r.value;
    // A previous incarnation: nothing of ours to archive. NOT_CONTROLLER (A4): again, at
    // the next controller.
    if (r.ok() && r.value->error != Errc::kNotController) return std::nullopt;
    ctx_.sleep_for(Duration::seconds(1));
  }
  return std::nullopt;
}

bool Archiver::retry(const std::function<ObjectStatus()>& op, const std::function<void(ObjectStatus)>& failed,
                     const std::function<bool()>& leads) {
  Duration backoff = Duration::millis(100);
  for (;;) {
    if (!leads()) return false;
    const ObjectStatus status = op();
    if (status == ObjectStatus::kOk) return true;
    failed(status);
    ctx_.sleep_for(backoff);
    backoff = std::min(backoff * 2, config_.tier_put_backoff_max);
  }
}

bool Archiver::put(const std::string& key, const std::string& bytes, const std::function<bool()>& leads) {
  // 503/500: nothing was applied. A timeout: it may have been, now or later; the same bytes
  // again under the same key are harmless either way.
  return retry([&] { return ctx_.objects().put(key, bytes); },
               [&](ObjectStatus s) {
                 cover(ctx_, s == ObjectStatus::kTimeout ? TierMark::kAmbiguousPut : TierMark::kPutRetried);
               },
               leads);
}

std::optional<TierState> Archiver::describe(PartitionId p) {
  auto r = controller_.call<TierDescribeResponse>(kTierDescribe, TierDescribeRequest{p}, config_.rpc_timeout);
  if (!r.ok() || r.value->error != Errc::kNone) return std::nullopt;
  return std::move(r.value->state);
}

bool Archiver::del(const std::string& key, const std::function<bool()>& leads) {
  // kOk also when the key never existed (I1).
  return retry([&] { return ctx_.objects().del(key); }, [&](ObjectStatus) { cover(ctx_, TierMark::kDeleteRetried); },
               leads);
}

int64_t Archiver::log_start_offset(const TierState& tier, int64_t local_log_start) {
  int64_t start = local_log_start;
  const auto complete = tier.complete();
  // Walk down from the local log through contiguous Complete segments; never below what
  // retention took out (a new leader's local log may reach further back than that).
  for (auto it = complete.rbegin(); it != complete.rend(); ++it) {
    if ((*it)->end_offset >= start && (*it)->base_offset < start) start = (*it)->base_offset;
  }
  return std::max(start, tier.retention_start());
}

bool Archiver::within_lineage(const TierSegment& s, const std::vector<EpochStart>& cache, int64_t leo) {
  if (s.end_offset > leo || s.epochs.empty()) return false;
  for (size_t i = 0; i < s.epochs.size(); ++i) {
    const EpochStart& e = s.epochs[i];
    const int64_t run_end = i + 1 < s.epochs.size() ? s.epochs[i + 1].start_offset : s.end_offset;
    auto at = std::find_if(cache.begin(), cache.end(), [&](const EpochStart& c) { return c.epoch == e.epoch; });
    if (at == cache.end()) return false;
    const int64_t leader_end = std::next(at) == cache.end() ? leo : std::next(at)->start_offset;
    if (i == 0 ? e.start_offset < at->start_offset : e.start_offset != at->start_offset) return false;
    if (run_end > leader_end) return false;
  }
  return true;
}

std::optional<int64_t> Archiver::lineage_cut(const TierState& tier, const std::vector<EpochStart>& cache,
                                             int64_t leo) {
  for (const TierSegment* s : tier.complete()) {
    if (!within_lineage(*s, cache, leo)) return s->base_offset;
  }
  return std::nullopt;
}

void Archiver::retain(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
                      const std::function<bool()>& leads) {
  if (config_.retention_bytes < 0) return;
  const std::optional<TierState> described = describe(p);
  if (!described) return;
  const TierState& tier = *described;
  const int64_t local_start = log.log_start_offset();
  int64_t start = log_start_offset(tier, local_start);
  auto bytes = [](int64_t records) { return static_cast<int64_t>(PartitionLog::kRecordAccountingBytes) * records; };
  int64_t total = bytes(log.log_end_offset() - start);
  if (bugs_.on(Bug::kCountIncompleteUploads)) {
    // BUG(count-incomplete-uploads): the upload in progress counted as archived bytes too,
    // on top of the local copy of the same records (KAFKA-17062).
    if (const TierSegment* s = tier.in_progress()) total += bytes(s->end_offset - s->base_offset);
  }
  for (const TierSegment* s : tier.complete()) {
    if (s->end_offset <= start) continue;  // expired already (below the retention start)
    if (s->base_offset > start || s->end_offset > local_start) break;
    const int64_t size = bytes(s->end_offset - s->base_offset);
    if (total - size < config_.retention_bytes) break;
    // Out of the log at once; its objects go with GC after the grace, because an ambiguous PUT
    // of this very upload may still land and would bring a deleted object back.
    const auto initiated = append(p, broker_epoch, TierEvent{TierEvent::Kind::kDeleteInitiate, epoch, s->id, 0, 0, {}}, leads);
    if (!initiated || (initiated->outcome != TierState::Outcome::kApplied &&
                       initiated->outcome != TierState::Outcome::kRepeated)) {
      return;  // fenced, or our epoch not open yet
    }
    cover(ctx_, TierMark::kRemoteRetention);
    total -= size;
    start = s->end_offset;
  }
}

void Archiver::collect(PartitionId p, Epoch epoch, int64_t broker_epoch, std::map<std::string, Instant>& seen,
                       const std::function<bool()>& leads) {
  if (bugs_.on(Bug::kKeepFailedUploads)) return;  // BUG(keep-failed-uploads): no GC at all
  const std::optional<TierState> tier = describe(p);
  if (!tier) return;
  for (const auto& [id, s] : tier->segments()) {
    if (s.state != TierSegmentState::kDeleteInitiate) continue;
    auto [it, fresh] = seen.emplace(id, ctx_.now());
    if (fresh || ctx_.now() - it->second < config_.tier_gc_grace) continue;
    if (!del(tier_object::data_key(p, id), leads) || !del(tier_object::epochs_key(p, id), leads)) return;
    const auto done = append(p, broker_epoch, TierEvent{TierEvent::Kind::kDeleteComplete, epoch, id, 0, 0, {}}, leads);
    if (!done || (done->outcome != TierState::Outcome::kApplied && done->outcome != TierState::Outcome::kRepeated)) {
      return;  // fenced, or our epoch not open yet: the next pass tries again
    }
    cover(ctx_, TierMark::kGcDeleted);
    seen.erase(id);
  }
}

void Archiver::maintain(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
                        const std::function<bool()>& leads) {
  std::map<std::string, Instant> fenced_seen;
  while (leads()) {
    ctx_.sleep_for(config_.tier_gc_interval);
    if (!leads()) return;
    collect(p, epoch, broker_epoch, fenced_seen, leads);
    retain(p, epoch, broker_epoch, log, leads);
  }
}

void Archiver::run(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
                   const std::function<bool()>& leads) {
  using Kind = TierEvent::Kind;
  using Outcome = TierState::Outcome;
  const auto opened = append(p, broker_epoch, TierEvent{Kind::kInitLeader, epoch, "", 0, 0, {}}, leads);
  if (!opened || opened->outcome == Outcome::kFenced || opened->outcome == Outcome::kRejected) return;
  int64_t tier_end = opened->tier_end_offset;
  if (tier_end > 0) {
    cover(ctx_, TierMark::kResumedFromTierState);
    // H6: after an unclean election the archive may hold records this leader's log does not
    // (offsets it never had, or had in other epochs). Those segments leave the lineage before
    // anything else happens: readers must not be served another history than the log's, and
    // this leader archives its own records from the cut on. (Kafka leaves such segments out
    // of retention until its epoch cache moves past them; the model fences them at once.)
    std::optional<TierState> tier;
    while (leads() && !(tier = describe(p))) ctx_.sleep_for(Duration::seconds(1));
    if (!tier) return;
    if (const std::optional<int64_t> cut = lineage_cut(*tier, log.epoch_cache(), log.log_end_offset())) {
      const auto fenced =
          append(p, broker_epoch, TierEvent{Kind::kFenceLineage, epoch, "", *cut, 0, {}}, leads);
      if (!fenced || fenced->outcome == Outcome::kFenced || fenced->outcome == Outcome::kRejected) return;
      cover(ctx_, TierMark::kLineageFenced);
      ctx_.trace("tier-lineage-fenced", {{"partition", p}, {"above", *cut}, {"leo", log.log_end_offset()}});
      tier_end = fenced->tier_end_offset;
    }
  }
  uint64_t uploads = 0;
  bool backlog = false;
  while (leads()) {
    // Upload back to back while there is a backlog (after an outage, say); look again
    // every archive_interval otherwise.
    if (!backlog) ctx_.sleep_for(config_.archive_interval);
    backlog = false;
    if (!leads()) return;
    // H1: the rolled segment holding the tier end offset, if it lies entirely below
    // min(HW, recovery point): committed and fsynced.
    int64_t limit = std::min(log.high_watermark(), log.recovery_point());
    // BUG(tier-above-hw): any rolled segment was tierable, committed or not.
    if (bugs_.on(Bug::kTierAboveHw)) limit = log.log_end_offset();
    // From the tier end, or from the local log start if that is higher, which only a lineage
    // fence can cause (H4 never deletes past the tier end): what lies between is gone from
    // this leader's history, a loss the unclean election that caused it answers for.
    const int64_t base = std::max(tier_end, log.log_start_offset());
    std::optional<SegmentInfo> next;
    for (const SegmentInfo& s : log.segments()) {
      if (s.active || s.base_offset > base) break;  // nothing rolled there, or not local
      if (s.end_offset <= base) continue;
      if (s.end_offset <= limit) next = s;
      break;
    }
    if (!next) continue;
    const std::vector<LogEntry> entries = log.read(base, static_cast<uint32_t>(next->end_offset - base), next->end_offset);
    if (entries.size() != static_cast<size_t>(next->end_offset - base)) continue;
    const std::vector<EpochStart> epochs = epoch_slice(log.epoch_cache(), base, next->end_offset);
    const std::string id = fmt::format("{:020}-e{}-b{}-{}", base, epoch, broker_epoch, uploads++);
    const auto initiated =
        append(p, broker_epoch, TierEvent{Kind::kUploadInitiate, epoch, id, base, next->end_offset, epochs}, leads);
    if (!initiated || initiated->outcome == Outcome::kFenced) return;
    if (initiated->outcome == Outcome::kRejected) {
      tier_end = initiated->tier_end_offset;  // someone else's view was newer: start from it
      continue;
    }
    ctx_.trace("tier-upload", {{"partition", p}, {"id", id}, {"base", base}, {"end", next->end_offset}});
    const bool stored = put(tier_object::data_key(p, id), tier_object::encode_entries(entries), leads) &&
                        put(tier_object::epochs_key(p, id), tier_object::encode_epochs(epochs), leads);
    const auto completed =
        stored ? append(p, broker_epoch, TierEvent{Kind::kUploadComplete, epoch, id, 0, 0, {}}, leads) : std::nullopt;
    if (!completed || completed->outcome == Outcome::kFenced) {
      // Leadership moved mid-upload (during a PUT, or before UploadComplete got through): the
      // next leader's InitLeader fences this upload, if it has not already.
      cover(ctx_, TierMark::kUploadAbandoned);
      return;
    }
    tier_end = completed->tier_end_offset;
    backlog = true;
  }
}

}  // namespace faultline::kafka
