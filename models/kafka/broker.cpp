// The broker's lifecycle (recovery, registration, heartbeats, metadata, leadership changes,
// controlled shutdown), produce (B1-B5) and retention. Fetching is in broker_fetch.cpp, the
// ISR and the HW in broker_isr.cpp.
#include "models/kafka/broker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

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
    : ctx_(ctx),
      config_(std::move(config)),
      bugs_(bugs),
      hooks_(hooks),
      controller_(ctx, config_.controller),
      archiver_(ctx, config_.controller, config_.replication, bugs) {
  for (PartitionId p : config_.partitions) {
    replicas_[p] = std::make_unique<Replica>(ctx_, p, config_.replication);
    index_replica(p);
  }
  // LogManager.loadLogs: every partition log on the disk is loaded, not only the initial
  // placement's, so a replica a reassignment gave this broker is recovered after a restart
  // (and one it took away is deleted again once metadata says so).
  for (const std::string& file : ctx_.disk().list("p")) {
    PartitionId p = 0;
    if (std::sscanf(file.c_str(), "p%d/", &p) != 1 || p < 0 || replicas_.contains(p)) continue;
    if (file.rfind(PartitionLog::directory(p), 0) != 0) continue;
    replicas_[p] = std::make_unique<Replica>(ctx_, p, config_.replication);
    index_replica(p);
  }
}

void Broker::index_replica(PartitionId p) {
  const auto i = static_cast<size_t>(p);
  if (i >= by_partition_.size()) by_partition_.resize(i + 1, nullptr);
  by_partition_[i] = replicas_.at(p).get();
}

Replica& Broker::rep(PartitionId p) {
  Replica* r = indexed(p);
  FL_ASSERT(r != nullptr, p);
  return *r;
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

bool Broker::in_maximal_isr(const Replica& r, BrokerId b) const {
  if (contains(r.isr, b)) return true;
  return r.pending_isr && r.pending_is_expansion && contains(*r.pending_isr, b);
}

bool Broker::broker_live(BrokerId b) const {
  return b < brokers_.size() && brokers_[b].registered && !brokers_[b].fenced;
}

int64_t Broker::broker_epoch_of(BrokerId b) const { return b < brokers_.size() ? brokers_[b].epoch : -1; }

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
  // KIP-966: the broker epoch of a clean shutdown, read and removed before anything else
  // (Kafka's CleanShutdownFileHandler); a crash leaves no file, so -1.
  if (auto epoch = ctx_.disk().read(kCleanShutdownEpochFile)) {
    previous_broker_epoch_ = std::atoll(epoch->c_str());
    ctx_.disk().remove(kCleanShutdownEpochFile);
  }
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
  if (config_.replication.retention_bytes >= 0 || config_.replication.tiered) {
    ctx_.spawn("retention", [this] { retention_loop(); });
  }
}

void Broker::register_with_controller(bool clean) {
  while (!shutting_down_) {
    RegisterBrokerRequest req{id(), clean, previous_broker_epoch_, ctx_.incarnation()};
    auto resp = controller_.call<RegisterBrokerResponse>(kRegisterBroker, req, config_.replication.rpc_timeout);
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
    controller_.call<HeartbeatResponse>(kHeartbeat, req, config_.replication.broker_heartbeat_interval);
    ctx_.sleep_for(config_.replication.broker_heartbeat_interval);
  }
}

void Broker::metadata_loop() {
  for (;;) {
    auto resp = controller_.call<MetadataResponse>(kMetadata, MetadataRequest{metadata_version_},
                                            config_.replication.rpc_timeout);
    if (shutting_down_) return;
    if (resp.ok() && resp.value->version > metadata_version_) apply_metadata(*resp.value);
    ctx_.sleep_for(config_.replication.metadata_poll_interval);
  }
}

void Broker::apply_metadata(const MetadataResponse& md) {
  if (hooks_.on_metadata_applied) hooks_.on_metadata_applied(id(), md);
  metadata_version_ = md.version;
  brokers_.clear();  // an absent broker reads as a default BrokerInfo: epoch -1, not registered
  for (const BrokerInfo& b : md.brokers) {
    if (b.broker >= brokers_.size()) brokers_.resize(b.broker + 1);
    brokers_[b.broker] = b;
  }
  for (const PartitionState& st : md.partitions) {
    if (shutting_down_) return;  // a controlled shutdown began while a change blocked
    const bool hosts = contains(st.replicas, id()) || contains(st.observers, id());
    auto it = replicas_.find(st.partition);
    if (it == replicas_.end() && !hosts) continue;
    Replica& r = it == replicas_.end() ? add_replica(st.partition) : *it->second;
    if (st.partition_epoch < r.meta.partition_epoch && st.leader_epoch <= r.leader_epoch) continue;  // stale
    if (!hosts) {
      remove_replica(r, st);
      continue;
    }
    if (r.removed) {
      // A later reassignment brought the partition back: follow from an empty log.
      cover(ctx_, Mark::kReplicaReadded);
      r.removed = false;
      r.leader_epoch = kNoEpoch;
    }
    const bool newer_epoch = st.leader_epoch > r.leader_epoch;
    const bool newer_partition_epoch = st.partition_epoch > r.meta.partition_epoch;
    r.meta = st;
    if (r.leader && st.leader_epoch == r.leader_epoch) sync_followers(r, st);
    if (st.leader == id() && (newer_epoch || !r.leader)) {
      become_leader(r, st);
    } else if (st.leader != id() && (newer_epoch || r.leader || r.leader_epoch == kNoEpoch)) {
      become_follower(r, st);
    } else if (r.leader && st.leader_epoch == r.leader_epoch && (!r.pending_isr || newer_partition_epoch)) {
      // The controller changed the ISR of a partition we lead (fencing, D3, or our own
      // AlterPartition whose answer we have not seen): newer metadata replaces a pending
      // change, as Partition.makeLeader replaces partitionState with the committed one (D1).
      if (r.pending_isr) cover(ctx_, Mark::kPendingIsrReplacedByMetadata);
      r.pending_isr.reset();
      r.isr = st.isr;
      maybe_increment_hw(r);
      maybe_demote_observers(r);
    }
  }
}

Replica& Broker::add_replica(PartitionId p) {
  cover(ctx_, Mark::kReplicaCreated);
  auto& slot = replicas_[p];
  slot = std::make_unique<Replica>(ctx_, p, config_.replication);
  index_replica(p);
  Replica& r = *slot;
  r.log.recover();
  r.log.start_background();
  ctx_.trace("replica-created", {{"partition", p}, {"leo", r.log.log_end_offset()}});
  return r;
}

void Broker::remove_replica(Replica& r, const PartitionState& st) {
  r.meta = st;
  if (r.removed) return;
  cover(ctx_, Mark::kReplicaRemoved);
  r.removed = true;
  r.leader = false;
  r.pending_isr.reset();
  r.followers.clear();
  r.changed.notify_all(ctx_.scheduler());
  const uint64_t gen = ++r.fetcher_generation;  // the fetcher ends at its next step
  // Wait out an append or truncation in flight, as a leader change does.
  Lock role(r.role);
  if (r.fetcher_generation != gen || !r.removed) return;  // brought back meanwhile
  r.log.truncate_fully_and_start_at(0);
  ctx_.trace("replica-removed", {{"partition", r.partition}, {"partition_epoch", st.partition_epoch}});
  if (hooks_.on_truncate) hooks_.on_truncate(id(), r.partition, 0);
  if (hooks_.on_log_start) hooks_.on_log_start(id(), r.partition, r.log.log_start_offset());
}

void Broker::sync_followers(Replica& r, const PartitionState& st) {
  std::vector<BrokerId> fetchers = st.replicas;
  fetchers.insert(fetchers.end(), st.observers.begin(), st.observers.end());
  std::erase_if(r.followers, [&](const auto& f) { return !contains(fetchers, f.first); });
  for (BrokerId b : fetchers) {
    if (b != id() && !r.followers.contains(b)) r.followers[b] = FollowerState{};
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
      auto resp = controller_.call<ControlledShutdownResponse>(kControlledShutdown,
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
      ++r->fetcher_generation;  // and a fetcher started meanwhile ends here
      r->log.shutdown_cleanly();
    }
    // The epoch this incarnation registered with (-1 if it never did: then the controller
    // cannot take the shutdown as clean, whatever the logs say). Found by faultline fuzz: a
    // broker back with an empty disk, shut down before it registered, came back "clean"
    // and stayed in the ELR with nothing (S11).
    ctx_.disk().write_atomically(kCleanShutdownEpochFile, std::to_string(broker_epoch_));
    ctx_.trace("controlled-shutdown-done", {{"acknowledged", acknowledged}});
    stopped();
  });
}

void Broker::become_leader(Replica& r, const PartitionState& st) {
  // A3: the new epoch starts at the current LEO. C9: a broker re-elected leader in a new
  // epoch keeps its followers' fetch state (LEO, fetch times, broker epoch) and only resets
  // their last caught-up time, as Kafka's Partition.makeLeader calls
  // Replica.resetReplicaState with isNewLeader = false; a new leader starts afresh.
  const bool reelected = r.leader;
  if (reelected) cover(ctx_, Mark::kSameLeaderReelected);
  const uint64_t gen = ++r.fetcher_generation;  // stop following
  r.leader = false;         // not yet: produce and fetch wait until the epoch is assigned
  r.pending_isr.reset();
  // Wait out a follower append or truncation in flight, as Kafka's makeLeader waits for
  // leaderIsrUpdateLock; only then does the new epoch apply (a truncation completing after
  // it would have come from a leader of another epoch, C7).
  if (r.role.held()) {
    cover(ctx_, r.leader_append_in_flight ? Mark::kLeaderChangeWaitedForAppend : Mark::kLeaderChangeDuringTruncation);
  }
  Lock role(r.role);
  if (r.fetcher_generation != gen || shutting_down_) return;  // a newer change or a shutdown took over
  r.leader_epoch = st.leader_epoch;
  const int64_t leso = r.log.begin_leader_epoch(st.leader_epoch);
  if (r.fetcher_generation != gen || shutting_down_) return;
  r.leader = true;
  r.isr = st.isr;
  r.leso = leso;
  std::map<BrokerId, FollowerState> before;
  if (reelected) before = std::move(r.followers);
  r.followers.clear();
  // G1: observers fetch like followers; they count toward the HW only once promoted into
  // the ISR (C5). A promoted observer may itself lead (E1), so skip ourselves. A promoted
  // observer is an ISR member: reset as caught up too, or D1 would drop it before its
  // first fetch in this epoch.
  std::vector<BrokerId> fetchers = st.replicas;
  fetchers.insert(fetchers.end(), st.observers.begin(), st.observers.end());
  for (BrokerId b : fetchers) {
    if (b == id()) continue;
    auto kept = before.find(b);
    FollowerState f = kept != before.end() ? kept->second : FollowerState{};
    // Kafka resets ISR members as caught up now, the rest as never.
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
  if (config_.replication.tiered) {
    const PartitionId p = r.partition;
    const Epoch epoch = st.leader_epoch;
    auto leads = [this, p, gen] {
      const Replica& cur = rep(p);
      return cur.leader && cur.fetcher_generation == gen && !shutting_down_;
    };
    ctx_.spawn(fmt::format("archiver-p{}", p), [this, p, epoch, leads] {
      archiver_.run(p, epoch, broker_epoch_, rep(p).log, leads);
    });
    ctx_.spawn(fmt::format("tier-maintenance-p{}", p), [this, p, epoch, leads] {
      archiver_.maintain(p, epoch, broker_epoch_, rep(p).log, leads);
    });
  }
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
    if (r.role.held()) {
    cover(ctx_, r.leader_append_in_flight ? Mark::kLeaderChangeWaitedForAppend : Mark::kLeaderChangeDuringTruncation);
  }
    role.emplace(r.role);
    if (r.fetcher_generation != gen || shutting_down_) return;  // superseded meanwhile
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
  int64_t base = -1;
  bool duplicate = false;
  const Instant append_began = ctx_.now();
  {
    // The append holds the replica's role lock, as Kafka's appendRecordsToLeader holds
    // leaderIsrUpdateLock: a leader change (makeFollower, makeLeader) waits for it. Without
    // it an append blocked on a stalled disk completed after the broker had become a
    // follower and truncated, on top of the truncated log (found by faultline fuzz once
    // preferred elections moved leadership away from live leaders).
    Lock role(r.role);
    Replica& cur = rep(req.partition);
    if (!cur.leader || cur.leader_epoch != epoch) return {Errc::kNotLeader, -1, epoch};
    std::optional<InFlight> in_flight(std::in_place, appends_in_flight_);
    cur.leader_append_in_flight = true;
    if (req.producer_id == kNoProducerId) {
      base = cur.log.append_as_leader(epoch, req.record_ids);
    } else {
      // B6: the log checks the batch against its producer state (UnifiedLog.append's
      // analyzeAndValidateProducerState) under its own lock.
      const ProducerBatch batch{req.producer_id, req.producer_epoch, req.base_sequence};
      const LeaderAppend a =
          cur.log.append_as_leader(epoch, req.record_ids, batch, !bugs_.on(Bug::kNoSequenceCheck));
      if (a.unknown_producer) cover(ctx_, Mark::kUnknownProducerAccepted);
      if (a.error != Errc::kNone) {
        cur.leader_append_in_flight = false;
        cover(ctx_, a.error == Errc::kOutOfOrderSequence ? Mark::kOutOfOrderSequenceRefused
                                                         : Mark::kInvalidProducerEpochRefused);
        return {a.error, -1, epoch};
      }
      base = a.base_offset;
      duplicate = a.duplicate;
    }
    cur.leader_append_in_flight = false;
  }
  if (ctx_.now() - append_began > Duration::millis(100)) cover(ctx_, Mark::kAppendBlockedOnDisk);
  const int64_t last = base + static_cast<int64_t>(req.record_ids.size()) - 1;
  if (duplicate) {
    // B6: a resend of a batch the log holds: answered as the original would be, with its
    // offset, once the HW passes it (Kafka's duplicate LogAppendInfo goes down the same path).
    cover(ctx_, Mark::kDuplicateBatchAnswered);
  } else {
    std::vector<LogEntry> appended;
    for (size_t i = 0; i < req.record_ids.size(); ++i) {
      if (const auto e = rep(req.partition).log.entry_at(base + static_cast<int64_t>(i))) appended.push_back(*e);
    }
    // The log has them whatever happens next: tell the checkers before anything else.
    if (hooks_.on_append) hooks_.on_append(id(), req.partition, appended);
    if (hooks_.on_produce_appended) hooks_.on_produce_appended(id(), req, base);
  }
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

void Broker::retention_loop() {
  while (!shutting_down_) {
    ctx_.sleep_for(config_.replication.retention_check_interval);
    for (auto& [p, r] : replicas_) {
      if (shutting_down_) return;
      if (config_.replication.tiered) {
        enforce_hotset(*r);
      } else {
        enforce_retention(*r);
      }
    }
  }
}

void Broker::enforce_hotset(Replica& r) {
  const std::optional<TierState> described = describe_tier(r.partition);
  if (!described || shutting_down_) return;
  const TierState& tier = *described;
  // H4: nothing at or above the first untiered offset goes; only Complete counts.
  int64_t untiered = tier.tier_end_offset();
  if (bugs_.on(Bug::kDeleteBeforeUploadComplete)) {
    // BUG(delete-before-upload-complete): an upload that was only initiated counted as
    // archived, so its range could go locally before (or without) its objects existing.
    if (const TierSegment* s = tier.in_progress()) untiered = std::max(untiered, s->end_offset);
  }
  const auto keep = static_cast<uint64_t>(config_.replication.hotset_bytes);
  const int64_t from = r.log.log_start_offset();
  uint64_t size = static_cast<uint64_t>(r.log.log_end_offset() - from) * PartitionLog::kRecordAccountingBytes;
  int64_t upto = from;
  for (const SegmentInfo& s : r.log.segments()) {
    const uint64_t bytes = static_cast<uint64_t>(s.end_offset - s.base_offset) * PartitionLog::kRecordAccountingBytes;
    if (s.active || s.end_offset > untiered || size < keep + bytes) break;
    size -= bytes;
    upto = s.end_offset;
  }
  if (upto <= from) return;
  const int64_t to = r.log.delete_segments_below(upto);
  if (to <= from) return;
  cover(ctx_, Mark::kLogStartMoved);
  if (hooks_.on_local_deletion) hooks_.on_local_deletion(id(), r.partition, from, to);
  if (hooks_.on_log_start) hooks_.on_log_start(id(), r.partition, to);
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

}  // namespace faultline::kafka
