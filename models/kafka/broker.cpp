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

Replica::Replica(NodeContext& ctx, PartitionId p, const ReplicationConfig& config)
    : partition(p), log(ctx, p, LogConfig::from(config)), changed("partition-changed"), role(ctx.scheduler(), "replica-role") {}

Broker::Broker(NodeContext& ctx, BrokerConfig config, const BugSet& bugs, const BrokerHooks& hooks)
    : ctx_(ctx), config_(std::move(config)), bugs_(bugs), hooks_(hooks) {
  for (PartitionId p : config_.partitions) {
    replicas_[p] = std::make_unique<Replica>(ctx_, p, config_.replication);
  }
}

const Replica* Broker::replica(PartitionId p) const {
  auto it = replicas_.find(p);
  return it == replicas_.end() ? nullptr : it->second.get();
}

Replica& Broker::rep(PartitionId p) {
  auto it = replicas_.find(p);
  FL_ASSERT(it != replicas_.end(), p);
  return *it->second;
}

std::vector<BrokerId> Broker::maximal_isr(const Replica& r) const {
  // KIP-497: while an expansion is pending the leader already counts the new member; while a
  // shrink is pending it still counts the members being removed.
  std::vector<BrokerId> out = r.isr;
  if (r.pending_isr && r.pending_is_expansion) {
    for (BrokerId b : *r.pending_isr) {
      if (!contains(out, b)) out.push_back(b);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Broker::broker_live(BrokerId b) const {
  auto it = brokers_.find(b);
  return it != brokers_.end() && it->second.registered && !it->second.fenced;
}

int64_t Broker::broker_epoch_of(BrokerId b) const {
  auto it = brokers_.find(b);
  return it == brokers_.end() ? -1 : it->second.epoch;
}

void Broker::start() {
  ctx_.serve<ProduceRequest, ProduceResponse>(kProduce, [this](NodeId from, ProduceRequest req) {
    return handle_produce(from, req);
  });
  ctx_.serve<FetchRequest, FetchResponse>(kFetch, [this](NodeId from, FetchRequest req) {
    return handle_fetch(from, req);
  });
  ctx_.spawn("main", [this] { main(); });
}

void Broker::main() {
  bool clean = true;
  for (auto& [p, r] : replicas_) {
    const RecoveryReport report = r->log.recover();
    clean = clean && report.clean;
    if (bugs_.on(Bug::kTruncateToHw) && r->log.log_end_offset() > r->log.high_watermark()) {
      // BUG(truncate-to-hw): pre-KIP-101 brokers truncated every log to its own (possibly
      // stale) HW on restart instead of asking the leader where the logs diverge.
      truncate(*r, r->log.high_watermark());
    }
    r->log.start_background();
  }
  logs_recovered_ = true;
  if (!clean && ctx_.incarnation() > 0) {
    bool empty = true;
    for (const auto& [p, r] : replicas_) empty = empty && r->log.log_end_offset() == 0 && r->log.log_start_offset() == 0;
    if (empty) cover(ctx_, Mark::kRecoveryEmptyDisk);
  }
  if (shutting_down_) return;
  register_with_controller(clean);
  ctx_.spawn("heartbeat", [this] { heartbeat_loop(); });
  ctx_.spawn("metadata", [this] { metadata_loop(); });
  ctx_.spawn("isr-expiration", [this] { isr_expiration_loop(); });
  if (config_.replication.retention_bytes >= 0) ctx_.spawn("retention", [this] { retention_loop(); });
}

void Broker::register_with_controller(bool clean) {
  while (!shutting_down_) {
    RegisterBrokerRequest req{id(), clean};
    auto resp = ctx_.call<RegisterBrokerResponse>(config_.controller, kRegisterBroker, req, config_.replication.rpc_timeout);
    if (resp.ok() && resp.value->error == Errc::kNone) {
      broker_epoch_ = resp.value->broker_epoch;
      ctx_.trace("registered", {{"broker_epoch", broker_epoch_}, {"clean", clean}});
      if (hooks_.on_registered) hooks_.on_registered(id(), broker_epoch_);
      return;
    }
    ctx_.sleep_for(Duration::millis(500));
  }
}

void Broker::heartbeat_loop() {
  while (!shutting_down_) {
    HeartbeatRequest req{id(), broker_epoch_, {}};
    for (const auto& [p, r] : replicas_) req.logs.push_back({p, r->log.latest_epoch(), r->log.log_end_offset()});
    ctx_.call<HeartbeatResponse>(config_.controller, kHeartbeat, req, config_.replication.broker_heartbeat_interval);
    ctx_.sleep_for(config_.replication.broker_heartbeat_interval);
  }
}

void Broker::metadata_loop() {
  for (;;) {
    auto resp = ctx_.call<MetadataResponse>(config_.controller, kMetadata, MetadataRequest{metadata_version_},
                                            config_.replication.rpc_timeout);
    if (shutting_down_) return;
    if (resp.ok() && resp.value->version > metadata_version_) apply_metadata(*resp.value);
    ctx_.sleep_for(config_.replication.metadata_poll_interval);
  }
}

void Broker::apply_metadata(const MetadataResponse& md) {
  metadata_version_ = md.version;
  brokers_.clear();
  for (const BrokerInfo& b : md.brokers) brokers_[b.broker] = b;
  for (const PartitionState& st : md.partitions) {
    auto it = replicas_.find(st.partition);
    if (it == replicas_.end()) continue;
    Replica& r = *it->second;
    if (st.partition_epoch < r.meta.partition_epoch && st.leader_epoch <= r.leader_epoch) continue;  // stale
    const bool newer_epoch = st.leader_epoch > r.leader_epoch;
    r.meta = st;
    if (st.leader == id() && (newer_epoch || !r.leader)) {
      become_leader(r, st);
    } else if (st.leader != id() && (newer_epoch || r.leader || r.leader_epoch == kNoEpoch)) {
      become_follower(r, st);
    } else if (r.leader && st.leader_epoch == r.leader_epoch && !r.pending_isr) {
      // The controller changed the ISR of a partition we lead (fencing, D3).
      r.isr = st.isr;
      maybe_increment_hw(r);
      maybe_demote_observers(r);
    }
  }
}

void Broker::shutdown(std::function<void()> stopped) {
  if (shutting_down_) return;
  shutting_down_ = true;
  ctx_.spawn("controlled-shutdown", [this, stopped = std::move(stopped)] {
    const ReplicationConfig& cfg = config_.replication;
    cover(ctx_, Mark::kControlledShutdown);
    ctx_.trace("controlled-shutdown-begin", {{"broker_epoch", broker_epoch_}});
    const Instant give_up = ctx_.now() + cfg.controlled_shutdown_timeout;
    bool acknowledged = false;
    while (registered() && ctx_.now() < give_up) {
      auto resp = ctx_.call<ControlledShutdownResponse>(config_.controller, kControlledShutdown,
                                                        ControlledShutdownRequest{id(), broker_epoch_},
                                                        std::min(cfg.rpc_timeout, give_up - ctx_.now()));
      if (resp.ok() && resp.value->error == Errc::kNone) {
        acknowledged = true;
        break;
      }
      ctx_.sleep_for(Duration::millis(500));
    }
    // Stop serving and following: produce and fetch are answered NOT_LEADER, fetchers end,
    // no leadership begins (the metadata loop applies nothing any more).
    for (auto& [p, r] : replicas_) {
      r->leader = false;
      ++r->fetcher_generation;
      r->changed.notify_all(ctx_.scheduler());
    }
    while (!logs_recovered_ || appends_in_flight_ > 0) ctx_.sleep_for(Duration::millis(1));
    for (auto& [p, r] : replicas_) {
      Lock role(r->role);  // a follower append, truncation or leader epoch in flight
      r->leader = false;   // a become_leader that held the lock may have set it
      r->log.shutdown_cleanly();
    }
    ctx_.trace("controlled-shutdown-done", {{"acknowledged", acknowledged}});
    stopped();
  });
}

void Broker::become_leader(Replica& r, const PartitionState& st) {
  // A3: the new epoch starts at the current LEO; follower state starts afresh.
  // C9 says a broker re-elected in a new epoch keeps its followers' fetch state; this model
  // resets it like any new leader (a departure, see README "Departures").
  if (r.leader) cover(ctx_, Mark::kSameLeaderReelected);
  const uint64_t gen = ++r.fetcher_generation;  // stop following
  r.leader = false;         // not yet: produce and fetch wait until the epoch is assigned
  r.pending_isr.reset();
  // Wait out a follower append or truncation in flight, as Kafka's makeLeader waits for
  // leaderIsrUpdateLock; only then does the new epoch apply (a truncation completing after
  // it would have come from a leader of another epoch, C7).
  if (r.role.held()) cover(ctx_, Mark::kLeaderChangeDuringTruncation);
  Lock role(r.role);
  if (r.fetcher_generation != gen) return;  // a newer change or a shutdown took over meanwhile
  r.leader_epoch = st.leader_epoch;
  const int64_t leso = r.log.begin_leader_epoch(st.leader_epoch);
  if (r.fetcher_generation != gen) return;
  r.leader = true;
  r.isr = st.isr;
  r.leso = leso;
  r.followers.clear();
  for (BrokerId b : st.replicas) {
    if (b == id()) continue;
    FollowerState f;
    // Kafka resets ISR members as caught up now, the rest as never.
    f.last_caught_up = contains(st.isr, b) ? ctx_.now() : Instant::zero();
    r.followers[b] = f;
  }
  // G1: observers fetch like followers; they count toward the HW only once promoted into
  // the ISR (C5). A promoted observer may itself lead (E1), so skip ourselves.
  for (BrokerId b : st.observers) {
    if (b == id()) continue;
    FollowerState f;
    // A promoted observer is an ISR member: reset as caught up too, or D1 would drop it
    // before its first fetch in this epoch.
    f.last_caught_up = contains(st.isr, b) ? ctx_.now() : Instant::zero();
    r.followers[b] = f;
  }
  if (r.log.high_watermark() < r.leso) cover(ctx_, Mark::kNewLeaderHwBelowLeso);  // E2
  if (is_observer(st, id())) cover(ctx_, Mark::kObserverLeads);
  ctx_.trace("become-leader", {{"partition", r.partition}, {"epoch", st.leader_epoch}, {"leso", r.leso},
                               {"isr", list_text(st.isr)}});
  if (hooks_.on_become_leader) hooks_.on_become_leader(id(), r.partition, st.leader_epoch);
  maybe_increment_hw(r);
  maybe_demote_observers(r);  // G3: e.g. after taking over from a promoted observer
  r.changed.notify_all(ctx_.scheduler());
}

void Broker::become_follower(Replica& r, const PartitionState& st) {
  // Stop leading and following at once: produce waiters and long polls see the change, and
  // the running fetcher ends at its next step.
  r.leader = false;
  r.pending_isr.reset();
  r.followers.clear();
  r.changed.notify_all(ctx_.scheduler());
  const uint64_t gen = ++r.fetcher_generation;
  std::optional<Lock> role;
  if (!bugs_.on(Bug::kFollowerTruncationRace)) {
    // Wait out the old fetcher's truncation or append in flight before taking the new epoch
    // and starting the new fetcher, as Kafka's Partition.makeFollower takes
    // leaderIsrUpdateLock, which the fetcher thread's truncation (Partition.truncateTo)
    // holds. Without it, a truncation blocked on the disk completes after the new fetcher
    // has reported the old, longer LEO to the new leader, which may have counted it for the
    // ISR and the HW meanwhile (issue 9), and the truncation point came from a leader of
    // another epoch (C7).
    if (r.role.held()) cover(ctx_, Mark::kLeaderChangeDuringTruncation);
    role.emplace(r.role);
    if (r.fetcher_generation != gen) return;  // a newer leadership change took over meanwhile
  }  // else BUG(follower-truncation-race): the new epoch and fetcher start at once
  r.leader_epoch = st.leader_epoch;
  ctx_.trace("become-follower", {{"partition", r.partition}, {"epoch", st.leader_epoch}, {"leader", st.leader}});
  if (bugs_.on(Bug::kTruncateToHw) && r.log.log_end_offset() > r.log.high_watermark()) {
    // BUG(truncate-to-hw): the old follower protocol truncated to the local HW on every
    // leader change instead of using leader epochs.
    truncate(r, r.log.high_watermark());
  }
  if (st.leader == kNoBroker) return;
  const PartitionId p = r.partition;
  ctx_.spawn(fmt::format("fetcher-p{}", p), [this, p, gen] { fetcher(p, gen); });
}

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
      if (resp.ok() && resp.value->error == Errc::kOffsetOutOfRange && resp.value->log_start_offset > req.fetch_offset) {
        // C8: the leader no longer has what we need; start over at its log start. Under the
        // role lock and only for the current fetcher, like the divergence truncation below.
        cover(ctx_, Mark::kFollowerOffsetOutOfRange);
        Lock role(rr.role);
        if (rr.fetcher_generation != generation) return;
        cover(ctx_, Mark::kFollowerFullTruncation);
        rr.log.truncate_fully_and_start_at(resp.value->log_start_offset);
        if (hooks_.on_truncate) hooks_.on_truncate(id(), p, resp.value->log_start_offset);
        if (hooks_.on_log_start) hooks_.on_log_start(id(), p, rr.log.log_start_offset());
        continue;
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
        const int64_t to = std::max<int64_t>(target, rr.log.log_start_offset());
        truncate(rr, to);
        if (ctx_.now() - began > Duration::millis(100)) cover(ctx_, Mark::kTruncationBlockedOnDisk);
        if (hooks_.on_follower_truncated) hooks_.on_follower_truncated(id(), p, to, req.current_leader_epoch);
        truncated_last = true;
        continue;
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
        // C6: follower HW = min(leader HW, own LEO); it only moves forward here.
        const int64_t hw = std::min(f.high_watermark, rr.log.log_end_offset());
        if (f.high_watermark > rr.log.log_end_offset()) cover(ctx_, Mark::kFollowerHwClampedToLeo);
        if (hw > rr.log.high_watermark()) set_hw(rr, hw);
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
  std::vector<BrokerId> counted = maximal_isr(r);
  if (bugs_.on(Bug::kHwFromCommittedIsr)) {
    // BUG(hw-from-committed-isr): the HW ignores a pending ISR expansion (KIP-497 fixed it),
    // so it can pass a member that is about to join the ISR without the data.
    counted = r.isr;
  }
  for (const auto& [b, f] : r.followers) {
    const bool caught_up = f.leo >= 0 && ctx_.now() - f.last_caught_up <= cfg.replica_lag_time_max &&
                           contains(r.meta.replicas, b) && broker_live(b);
    if (contains(counted, b) || (caught_up && !bugs_.on(Bug::kHwFromCommittedIsr))) {
      const int64_t before = hw;
      hw = std::min(hw, std::max<int64_t>(f.leo, 0));
      if (hw < before && !contains(r.isr, b)) {
        cover(ctx_, contains(counted, b) ? Mark::kHwHeldByPendingExpansion : Mark::kHwCountsCaughtUpNonMember);
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

ProduceResponse Broker::handle_produce(NodeId, const ProduceRequest& req) {
  ProduceResponse resp;
  auto it = replicas_.find(req.partition);
  if (it == replicas_.end()) return {Errc::kUnknownPartition, -1, kNoEpoch};
  Replica& r = *it->second;
  if (!r.leader || !registered()) {
    cover(ctx_, Mark::kProduceNotLeader);
    return {Errc::kNotLeader, -1, r.leader_epoch};
  }
  const ReplicationConfig& cfg = config_.replication;
  const auto min_isr = static_cast<size_t>(std::min<int64_t>(cfg.min_insync_replicas, r.meta.replicas.size()));
  const bool skip_min_isr = bugs_.on(Bug::kAckBelowMinIsr);  // BUG(ack-below-min-isr): no min ISR checks
  if (req.acks == -1 && r.isr.size() < min_isr && !skip_min_isr) {
    cover(ctx_, Mark::kProduceNotEnoughReplicas);
    return {Errc::kNotEnoughReplicas, -1, r.leader_epoch};  // B3: nothing appended
  }
  const Epoch epoch = r.leader_epoch;
  struct InFlight {
    uint32_t& n;
    explicit InFlight(uint32_t& count) : n(++count) {}
    ~InFlight() { --n; }
  };
  std::optional<InFlight> in_flight(std::in_place, appends_in_flight_);
  const Instant append_began = ctx_.now();
  const int64_t base = r.log.append_as_leader(epoch, req.record_ids);
  in_flight.reset();
  if (ctx_.now() - append_began > Duration::millis(100)) cover(ctx_, Mark::kAppendBlockedOnDisk);
  const int64_t last = base + static_cast<int64_t>(req.record_ids.size()) - 1;
  std::vector<LogEntry> appended;
  for (size_t i = 0; i < req.record_ids.size(); ++i) {
    appended.push_back({base + static_cast<int64_t>(i), epoch, req.record_ids[i]});
  }
  // The log has them whatever happens next: tell the checkers before anything else.
  if (hooks_.on_append) hooks_.on_append(id(), req.partition, appended);
  Replica& after = rep(req.partition);
  if (!after.leader || after.leader_epoch != epoch) return {Errc::kNotLeader, -1, epoch};
  after.changed.notify_all(ctx_.scheduler());
  maybe_increment_hw(after);
  resp.base_offset = base;
  resp.leader_epoch = epoch;
  if (req.acks != -1) {
    cover(ctx_, Mark::kProduceAcksOneAnswered);
    return resp;  // B2
  }
  if (skip_min_isr && after.isr.size() < min_isr) {
    // BUG(ack-below-min-isr): with the ISR below min ISR the request is answered like
    // acks=1, as soon as the leader has appended.
    if (hooks_.on_ack_all) hooks_.on_ack_all(id(), req.partition, last, maximal_isr(after));
    return resp;
  }
  // B3: hold the request until the HW passes its last offset.
  const Instant deadline = ctx_.now() + req.timeout;
  for (;;) {
    Replica& cur = rep(req.partition);
    if (!cur.leader || cur.leader_epoch != epoch) return {Errc::kNotLeader, base, epoch};
    if (cur.log.high_watermark() > last) {
      const std::vector<BrokerId> maximal = maximal_isr(cur);
      if (maximal.size() < min_isr && !skip_min_isr) {
        cover(ctx_, Mark::kProduceNotEnoughAfterAppend);
        return {Errc::kNotEnoughReplicasAfterAppend, base, epoch};
      }
      if (ctx_.now() > deadline - req.timeout) cover(ctx_, Mark::kProduceHeldForHw);
      if (hooks_.on_ack_all) hooks_.on_ack_all(id(), req.partition, last, maximal);
      return resp;
    }
    if (ctx_.now() >= deadline) {
      cover(ctx_, Mark::kProduceTimedOut);
      return {Errc::kRequestTimedOut, base, epoch};
    }
    cur.changed.wait(ctx_.scheduler(), deadline);
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
    if (req.fetch_offset < r.log.log_start_offset()) {
      cover(ctx_, Mark::kFetchOutOfRangeBelowStart);
      resp.error = Errc::kOffsetOutOfRange;
      return resp;
    }
    // C3: divergence, before anything else changes.
    if (req.last_fetched_epoch != kNoEpoch) {
      auto eo = r.log.end_offset_for_epoch(req.last_fetched_epoch);
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
      return resp;
    }
    // As Kafka's Partition.fetchRecords: the response carries the HW as read with the records,
    // before this fetch updates the follower's state (which may advance the HW); the follower
    // learns that advance from its next fetch, so a follower's HW trails the leader's.
    const bool consumer = req.replica_id == kNoBroker;
    if (!consumer) update_follower(r, req);
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

void Broker::maybe_expand_isr(Replica& r, BrokerId b) {
  if (r.pending_isr || contains(maximal_isr(r), b)) return;
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
    auto resp = ctx_.call<AlterPartitionResponse>(config_.controller, kAlterPartition, req, config_.replication.rpc_timeout);
    Replica& cur = rep(p);
    if (!cur.leader || cur.leader_epoch != epoch) return;  // leadership moved on meanwhile
    cur.pending_isr.reset();
    if (resp.ok() && resp.value->error == Errc::kNone) {
      cur.isr = resp.value->state.isr;
      cur.meta = resp.value->state;
      ctx_.trace("isr-changed", {{"partition", p}, {"isr", list_text(cur.isr)}});
      if (!expansion && bugs_.on(Bug::kNoHwAfterShrink)) {
        // BUG(no-hw-after-shrink): KAFKA-13091, the HW is not recomputed when a shrink is
        // answered, so acks=all requests wait for a replica that left the ISR.
        return;
      }
      maybe_increment_hw(cur);
      maybe_demote_observers(cur);
    } else {
      cover(ctx_, resp.ok() ? Mark::kAlterPartitionRejected : Mark::kAlterPartitionUnanswered);
      // Rejected or lost: roll the maximal ISR back (D1) to the newest committed ISR we know,
      // from the rejection or from metadata that arrived while the request was in flight.
      if (resp.ok() && resp.value->state.partition_epoch > cur.meta.partition_epoch &&
          resp.value->state.leader_epoch == epoch) {
        cur.meta = resp.value->state;
      }
      cur.isr = cur.meta.isr;
      maybe_increment_hw(cur);
    }
    cur.changed.notify_all(ctx_.scheduler());
  });
}

void Broker::retention_loop() {
  while (!shutting_down_) {
    ctx_.sleep_for(config_.replication.retention_check_interval);
    for (auto& [p, r] : replicas_) {
      if (shutting_down_) return;
      enforce_retention(*r);
    }
  }
}

void Broker::enforce_retention(Replica& r) {
  // Kafka's deleteRetentionSizeBreachedSegments: oldest segments first, while the log stays
  // at or above retention.bytes without them; deletableSegments stops at the HW and never
  // takes the active segment (delete_segments_below enforces both).
  const auto limit = static_cast<uint64_t>(config_.replication.retention_bytes);
  uint64_t size = static_cast<uint64_t>(r.log.log_end_offset() - r.log.log_start_offset()) * PartitionLog::kRecordAccountingBytes;
  int64_t upto = r.log.log_start_offset();
  for (const SegmentInfo& s : r.log.segments()) {
    const uint64_t bytes = static_cast<uint64_t>(s.end_offset - s.base_offset) * PartitionLog::kRecordAccountingBytes;
    if (s.active || s.end_offset > r.log.high_watermark() || size < limit + bytes) break;
    size -= bytes;
    upto = s.end_offset;
  }
  const int64_t start_before = r.log.log_start_offset();
  if (upto > start_before && r.log.delete_segments_below(upto) > start_before && hooks_.on_log_start) {
    hooks_.on_log_start(id(), r.partition, r.log.log_start_offset());
  }
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
