#include "models/kafka/controller.h"

#include <algorithm>
#include <string>
#include <utility>

#include "models/kafka/broker_set.h"
#include "models/kafka/marks.h"
#include "models/kafka/placement.h"
#include "models/kafka/quorum_marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

using namespace broker_set;

namespace {

// Traces show "no leader" as -1 rather than UINT32_MAX.
int64_t leader_field(BrokerId b) { return b == kNoBroker ? -1 : static_cast<int64_t>(b); }

}  // namespace

Controller::Controller(NodeContext& ctx, ControllerConfig config, const BugSet& bugs, const ControllerHooks& hooks)
    : ctx_(ctx), config_(std::move(config)), bugs_(bugs), hooks_(hooks) {
  FL_ASSERT(config_.replication.min_insync_replicas >= 1, config_.replication.min_insync_replicas);
  for (PartitionState p : config_.initial) {
    FL_ASSERT(!p.replicas.empty() && "a partition needs at least one replica", p.partition);
    FL_ASSERT(!working_.partitions.contains(p.partition) && "duplicate partition", p.partition);
    std::vector<BrokerId> placed = p.replicas;
    placed.insert(placed.end(), p.observers.begin(), p.observers.end());
    std::sort(placed.begin(), placed.end());
    FL_ASSERT(sorted_unique(placed) && "a broker holds at most one replica or observer", p.partition, text(placed));
    for (BrokerId b : placed) working_.brokers.try_emplace(b, BrokerInfo{.broker = b});
    // Nobody is registered yet: the whole placement is the ISR and the first replica to
    // register and heartbeat becomes leader with epoch 1.
    p.isr = p.replicas;
    std::sort(p.isr.begin(), p.isr.end());
    p.elr.clear();
    p.leader = kNoBroker;
    p.leader_epoch = 0;
    p.partition_epoch = 0;
    working_.partitions.emplace(p.partition, std::move(p));
  }
  bootstrap_ = working_;
  committed_ = working_;
  disk_ = config_.disk != nullptr ? config_.disk : std::make_shared<QuorumDisk>();
  QuorumConfig qc = config_.quorum;
  if (qc.voters.empty()) qc.voters = {ctx_.id()};
  quorum_ = std::make_unique<Quorum>(ctx_, std::move(qc), *disk_,
                                     QuorumListener{
                                         .on_commit = [this](int64_t offset, const QuorumEntry& e) { on_commit(offset, e); },
                                         .on_become_leader = [this](Epoch epoch) { activate(epoch); },
                                         .on_resign = [this] { deactivate(); },
                                     });
}

bool Controller::elr_enabled() const {
  if (config_.bug_last_replica_standing) {
    // BUG(last-replica-standing): the controller ran without ELR (Kafka before KIP-966):
    // the ISR froze at its last member, and that member was re-elected when it came back,
    // even after a power loss had taken its unflushed tail.
    return false;
  }
  return config_.replication.elr;
}

void Controller::start() {
  ctx_.trace("controller-start", {{"partitions", static_cast<uint64_t>(working_.partitions.size())},
                                  {"min_isr", config_.replication.min_insync_replicas},
                                  {"elr", elr_enabled()},
                                  {"unclean_election", config_.replication.unclean_leader_election},
                                  {"session_timeout", config_.replication.broker_session_timeout}});
  for (const auto& [id, p] : working_.partitions) {
    const std::string replicas = text(p.replicas);
    const std::string observers = text(p.observers);
    ctx_.trace("partition-init", {{"partition", id}, {"replicas", replicas}, {"observers", observers}});
    if (!p.observers.empty()) ctx_.trace("promotion-policy", {{"partition", id}, {"policy", to_string(p.promotion)}});
  }
  ctx_.serve<RegisterBrokerRequest, RegisterBrokerResponse>(
      kRegisterBroker, [this](NodeId from, RegisterBrokerRequest req) { return on_register(from, req); });
  ctx_.serve<HeartbeatRequest, HeartbeatResponse>(
      kHeartbeat, [this](NodeId from, HeartbeatRequest req) { return on_heartbeat(from, req); });
  ctx_.serve<MetadataRequest, MetadataResponse>(kMetadata,
                                                [this](NodeId, MetadataRequest req) { return on_metadata(req); });
  ctx_.serve<AlterPartitionRequest, AlterPartitionResponse>(
      kAlterPartition, [this](NodeId from, AlterPartitionRequest req) { return on_alter_partition(from, req); });
  ctx_.serve<TierAppendRequest, TierAppendResponse>(
      kTierAppend, [this](NodeId from, TierAppendRequest req) { return on_tier_append(from, req); });
  ctx_.serve<TierDescribeRequest, TierDescribeResponse>(
      kTierDescribe, [this](NodeId, TierDescribeRequest req) { return on_tier_describe(req); });
  ctx_.serve<ControlledShutdownRequest, ControlledShutdownResponse>(
      kControlledShutdown, [this](NodeId from, ControlledShutdownRequest req) { return on_controlled_shutdown(from, req); });
  ctx_.spawn("fencer", [this] { fencer(); });
  quorum_->start();
}

// --- brokers ---------------------------------------------------------------------------

bool Controller::live(BrokerId b) const {
  auto it = working_.brokers.find(b);
  return it != working_.brokers.end() && it->second.registered && !it->second.fenced;
}

RegisterBrokerResponse Controller::on_register(NodeId from, const RegisterBrokerRequest& req) {
  if (!active_) return not_controller<RegisterBrokerResponse>();
  if (req.broker != from) return {.error = Errc::kInvalidRequest, .broker_epoch = -1};
  BrokerInfo& info = working_.brokers.try_emplace(from, BrokerInfo{.broker = from}).first->second;
  // D3: another incarnation may register only once the old one's session has expired (its
  // fencing removes it from the ISRs first), as ClusterControlManager.registerBroker refuses
  // a different incarnation id while the old registration's heartbeats are recent.
  if (info.registered && !info.fenced && working_.incarnations[from] != req.incarnation &&
      ctx_.now() - last_heartbeat_.at(from) <= config_.replication.broker_session_timeout) {
    cover(ctx_, Mark::kDuplicateRegistrationRefused);
    ctx_.trace("broker-register-refused", {{"broker", from}, {"epoch", info.epoch}});
    return {.error = Errc::kDuplicateBrokerRegistration, .broker_epoch = -1};
  }
  working_.incarnations[from] = req.incarnation;
  const bool reincarnation = info.registered;
  // KIP-966: a shutdown is clean only under the epoch this controller last gave the broker.
  const bool clean = req.clean_shutdown && (!reincarnation || req.previous_broker_epoch == info.epoch);
  if (req.clean_shutdown && !clean) cover(ctx_, Mark::kCleanShutdownEpochMismatch);
  info.epoch = working_.next_broker_epoch++;
  info.registered = true;
  info.fenced = true;  // until its first heartbeat with this epoch
  shutting_down_.erase(from);
  last_heartbeat_[from] = ctx_.now();
  const int64_t epoch = info.epoch;
  ctx_.trace("broker-register", {{"broker", from}, {"epoch", epoch}, {"clean_shutdown", clean}});
  broker_changed(from, "registered");
  // A first registration changes no partition: a broker that never ran under this
  // controller fetched nothing, so nothing was committed that it could have lost.
  if (reincarnation) {
    if (!clean) cover(ctx_, Mark::kUncleanRestartLeftIsr);
    for (const auto& [id, p] : working_.partitions) {
      if (clean && contains(p.elr, from)) cover(ctx_, Mark::kElrMemberRestartedCleanly);
    }
    // D3: the previous incarnation is gone, whether or not its session had expired.
    // D4: after an unclean shutdown its log may have lost a tail, so it is no longer an
    // eligible leader either.
    remove_broker(from, !clean, clean ? kWhyBrokerReregistered : kWhyUncleanShutdown);
  }
  if (!settle()) return not_controller<RegisterBrokerResponse>();
  return {.error = Errc::kNone, .broker_epoch = epoch};
}

HeartbeatResponse Controller::on_heartbeat(NodeId from, const HeartbeatRequest& req) {
  if (!active_) return not_controller<HeartbeatResponse>();
  auto it = working_.brokers.find(req.broker);
  if (req.broker != from || it == working_.brokers.end() || !it->second.registered || req.broker_epoch != it->second.epoch) {
    return {.error = Errc::kStaleBrokerEpoch, .fenced = true};
  }
  if (shutting_down_.contains(from)) return {.error = Errc::kNone, .fenced = true};
  last_heartbeat_[from] = ctx_.now();
  for (const ReplicaLogInfo& info : req.logs) log_info_[{from, info.partition}] = {req.broker_epoch, info};
  if (it->second.fenced) {
    // KRaft unfences a broker once it has caught up with the metadata log; this model's
    // brokers read metadata by polling, so the first heartbeat is the signal.
    set_fenced(from, false, "unfenced");
    elect_offline(kWhyElection);
  }
  if (!settle()) return not_controller<HeartbeatResponse>();
  return {.error = Errc::kNone, .fenced = false};
}

ControlledShutdownResponse Controller::on_controlled_shutdown(NodeId from, const ControlledShutdownRequest& req) {
  if (!active_) return not_controller<ControlledShutdownResponse>();
  auto it = working_.brokers.find(req.broker);
  if (req.broker != from || it == working_.brokers.end() || !it->second.registered || req.broker_epoch != it->second.epoch) {
    return {.error = Errc::kStaleBrokerEpoch};
  }
  // KRaft: the broker heartbeats with wantShutDown; the controller moves its leaderships
  // away and removes it from the ISRs (ReplicationControlManager.handleBrokerInControlled-
  // Shutdown), then tells it to shut down. Here it is fenced at once, which excludes it from
  // elections exactly as "in controlled shutdown" does, and stays fenced until it
  // registers again. The broker stays in the ELR where D4 puts it: its log is whole.
  shutting_down_.insert(from);
  ctx_.trace("controlled-shutdown", {{"broker", from}, {"epoch", req.broker_epoch}});
  if (!it->second.fenced) set_fenced(from, true, "controlled-shutdown");
  remove_broker(from, /*left_elr=*/false, kWhyControlledShutdown);
  if (!settle()) return not_controller<ControlledShutdownResponse>();
  return {.error = Errc::kNone};
}

void Controller::fencer() {
  const Duration period = std::max(config_.replication.broker_heartbeat_interval / 2, Duration::millis(1));
  for (;;) {
    ctx_.sleep_for(period);
    if (active_) fence_expired();
  }
}

void Controller::fence_expired() {
  // D3: one stale broker per step, the stalest first (the oldest heartbeat, then the lowest
  // id), as ReplicationControlManager.maybeFenceOneStaleBroker does from the controller's
  // periodic task: a second expired broker stays electable until the next step.
  BrokerId stalest = kNoBroker;
  Instant oldest;
  size_t expired = 0;
  for (const auto& [b, info] : working_.brokers) {
    if (!info.registered || info.fenced) continue;
    const Instant last = last_heartbeat_.at(b);
    if (ctx_.now() - last <= config_.replication.broker_session_timeout) continue;
    ++expired;
    if (stalest == kNoBroker || last < oldest) {
      stalest = b;
      oldest = last;
    }
  }
  if (stalest == kNoBroker) return;
  if (expired > 1) cover(ctx_, Mark::kFencedOneOfSeveral);
  set_fenced(stalest, true, "fenced");
  cover(ctx_, Mark::kBrokerFenced);
  remove_broker(stalest, /*left_elr=*/false, kWhyBrokerFenced);
}

void Controller::set_fenced(BrokerId b, bool fenced, const char* why) {
  BrokerInfo& info = working_.brokers.at(b);
  FL_ASSERT(info.registered && info.fenced != fenced, b, info.fenced, fenced);
  info.fenced = fenced;
  ctx_.trace(fenced ? "broker-fence" : "broker-unfence", {{"broker", b}, {"epoch", info.epoch}});
  broker_changed(b, why);
}

void Controller::broker_changed(BrokerId b, const char* why) {
  record(BrokerRecord{.info = working_.brokers.at(b), .incarnation = working_.incarnations[b], .why = why});
}

MetadataResponse Controller::on_metadata(const MetadataRequest& req) const {
  // A4: what is committed only; a broker may see it late, never before it is committed.
  if (!active_) return not_controller<MetadataResponse>();
  MetadataResponse resp;
  resp.version = static_cast<uint64_t>(committed_.offset);
  // Nothing new for a poller at (or past) this version: it applies only a newer version
  // (Broker::metadata_loop, MetadataCache), so the image is not copied to be dropped. Issue 15.
  if (req.known_version >= resp.version) return resp;
  for (const auto& [id, p] : committed_.partitions) resp.partitions.push_back(p);
  for (const auto& [b, info] : committed_.brokers) resp.brokers.push_back(info);
  return resp;
}

// --- partitions ------------------------------------------------------------------------

void Controller::remove_broker(BrokerId b, bool left_elr, const char* why) {
  FL_ASSERT(!live(b) && "only a fenced or re-registered broker leaves the ISRs", b);
  for (auto& [id, p] : working_.partitions) {
    std::vector<BrokerId> isr = without(p.isr, b);
    if (isr.empty() && !elr_enabled()) {
      // D3 without ELR: the ISR never drops below its last member.
      isr = p.isr;
      if (contains(isr, b)) cover(ctx_, Mark::kIsrFrozenAtLastMember);
    }
    PartitionState next = with_isr(p, std::move(isr));
    if (left_elr) next.elr = without(std::move(next.elr), b);
    // A leader that is not live loses leadership even if nobody can replace it. With
    // several brokers fenced at once the leader may be one still waiting its turn here.
    if (next.leader != kNoBroker && !live(next.leader)) next.leader = kNoBroker;
    const char* unclean = elect(next);
    commit(std::move(next), unclean != nullptr ? unclean : why);
  }
}

void Controller::elect_offline(const char* why) {
  for (auto& [id, p] : working_.partitions) {
    if (p.leader != kNoBroker) continue;
    PartitionState next = p;
    const char* unclean = elect(next);
    commit(std::move(next), unclean != nullptr ? unclean : why);
  }
}

PartitionState Controller::with_isr(const PartitionState& current, std::vector<BrokerId> isr) const {
  std::sort(isr.begin(), isr.end());
  PartitionState next = current;
  next.isr = std::move(isr);
  next.elr.clear();
  // D4: the ELR fills while |ISR| < min(min ISR, RF), as PartitionChangeBuilder.
  // populateTargetElr judges it (a min ISR above the replica count caps at the replicas).
  const auto min_isr = std::min(static_cast<size_t>(config_.replication.min_insync_replicas), next.replicas.size());
  if (!elr_enabled() || next.isr.size() >= min_isr) return next;
  // D4 (KIP-966, PartitionChangeBuilder.populateTargetElr): below min ISR the HW cannot
  // advance (B4), so every member leaving the ISR now holds every committed record and
  // stays electable. Members joining the ISR leave the ELR.
  // A promoted observer that leaves the ISR is an ordinary observer again (G2): it does not
  // enter the ELR, and returns to the ISR only through a new promotion with the D2 checks.
  for (const std::vector<BrokerId>* from : {&current.elr, &current.isr}) {
    for (BrokerId b : *from) {
      if (!contains(next.isr, b) && !contains(next.elr, b) && !is_observer(next, b)) next.elr.push_back(b);
    }
  }
  std::sort(next.elr.begin(), next.elr.end());
  return next;
}

const char* Controller::elect(PartitionState& next) const {
  if (next.leader != kNoBroker) return nullptr;
  // Candidates are tried in replica preference order, so the outcome never depends on
  // the order of the ISR or ELR.
  auto first_live_in = [&](const std::vector<BrokerId>& set) {
    for (BrokerId r : next.replicas) {
      if (contains(set, r) && live(r)) return r;
    }
    return kNoBroker;
  };
  // E1 with G2: a promoted observer is a full ISR member (it joined through D2 and the HW
  // has counted it since), so it holds every committed record and may be elected cleanly,
  // as in Confluent Server. Sync replicas still come first: an observer leads only when no
  // sync ISR member is live, and hands leadership back when they return (hand_off below).
  auto first_live_observer_in = [&](const std::vector<BrokerId>& set) {
    for (BrokerId o : next.observers) {
      if (contains(set, o) && live(o)) return o;
    }
    return kNoBroker;
  };
  if (config_.bug_any_replica_election) {
    // BUG(any-replica-election): the election took the first live replica whether or not
    // it was in the ISR, with unclean election off, and called it a clean election. An
    // out-of-sync leader then truncates its followers' committed records.
    const BrokerId any = first_live_in(next.replicas);
    if (any != kNoBroker && !contains(next.isr, any)) next = with_isr(next, {any});
    next.leader = any;
    return nullptr;
  }
  note_candidates(next);
  // E1: a live ISR member, sync replicas first, then promoted observers (G2).
  if (const BrokerId b = first_live_in(next.isr); b != kNoBroker) {
    cover(ctx_, Mark::kElectionFromIsr);
    next.leader = b;
    return nullptr;
  }
  if (const BrokerId b = first_live_observer_in(next.isr); b != kNoBroker) {
    cover(ctx_, Mark::kElectionFromIsr);
    next.leader = b;
    return nullptr;
  }
  // KIP-966: else, once the ISR is empty, a live ELR member, which becomes the whole ISR;
  // the other ELR members stay eligible while the ISR is below min ISR. While the ISR has
  // members, none live, the partition waits for them to leave it (E1; Kafka's
  // PartitionChangeBuilder.isValidNewLeader looks at the ELR only with an empty ISR).
  if (elr_enabled() && next.isr.empty()) {
    if (const BrokerId b = first_live_in(next.elr); b != kNoBroker) {
      cover(ctx_, Mark::kElectionFromElr);
      next = with_isr(next, {b});
      next.leader = b;
      return nullptr;
    }
  }
  // KIP-966's last known leader, as Kafka elects it (PartitionChangeBuilder
  // .canElectLastKnownLeader, on by default): with ISR and ELR empty, the broker that led
  // when the partition became leaderless leads again, alone in the ISR, once it is live
  // (KAFKA-19522: never while fenced). It went through an unclean shutdown (else it would
  // be in the ELR), so this is an unclean recovery: what it lost in a power loss is lost.
  if (elr_enabled() && next.isr.empty() && next.elr.empty() && next.last_known_elr.size() == 1) {
    const BrokerId b = next.last_known_elr.front();
    const bool fenced_bug = config_.bug_elect_fenced_last_known_leader && !live(b) && working_.brokers.contains(b);
    if (live(b) || fenced_bug) {
      // else BUG(elect-fenced-last-known-leader): canElectLastKnownLeader logged "not alive"
      // and returned true all the same (KAFKA-19522).
      cover(ctx_, Mark::kLastKnownLeaderElected);
      next = with_isr(next, {b});
      next.leader = b;
      return kWhyLastKnownLeader;
    }
  }
  // KIP-966 unclean recovery ("Balanced"): nobody is eligible because every ISR and ELR
  // member restarted after an unclean shutdown. Once every replica is live and has reported
  // its log, elect the longest one (highest last epoch, then highest LEO): no replica holds
  // anything it lacks, so this loses nothing a single lossy crash could not.
  if (elr_enabled() && next.isr.empty() && next.elr.empty()) {
    BrokerId best = kNoBroker;
    std::pair<Epoch, int64_t> best_log{kNoEpoch, -1};
    bool all_reported = true;
    for (BrokerId r : next.replicas) {
      auto info = log_info_.find({r, next.partition});
      auto b = working_.brokers.find(r);
      if (!live(r) || info == log_info_.end() || b == working_.brokers.end() || info->second.first != b->second.epoch) {
        all_reported = false;
        break;
      }
      const std::pair<Epoch, int64_t> log{info->second.second.last_epoch, info->second.second.log_end_offset};
      if (log > best_log) {
        best_log = log;
        best = r;
      }
    }
    if (all_reported && best != kNoBroker) {
      cover(ctx_, Mark::kUncleanRecoveryElection);
      next = with_isr(next, {best});
      next.leader = best;
      return kWhyUncleanRecovery;
    }
  }
  // Unclean: any live replica. It may lack committed records, so nobody else's log
  // vouches for anything any more: the ELR is cleared.
  if (config_.replication.unclean_leader_election) {
    // Any live replica; observers last (Confluent's manual failover to an observer was
    // exactly such an unclean election).
    BrokerId b = first_live_in(next.replicas);
    if (b == kNoBroker) b = first_live_observer_in(next.observers);
    if (b != kNoBroker) {
      cover(ctx_, Mark::kUncleanElection);
      next.isr = {b};
      next.elr.clear();
      next.leader = b;
      return kWhyUncleanElection;
    }
  }
  cover(ctx_, Mark::kPartitionOffline);
  return nullptr;  // offline until an ISR or ELR member unfences
}

void Controller::note_candidates(const PartitionState& next) const {
  // E1 among diverged logs: the live eligible replicas last reported different logs (last
  // epoch, LEO) in their heartbeats, so which one wins decides what the others truncate.
  std::optional<std::pair<Epoch, int64_t>> seen;
  for (const std::vector<BrokerId>* set : {&next.isr, &next.elr}) {
    for (BrokerId b : *set) {
      auto info = log_info_.find({b, next.partition});
      if (!live(b) || info == log_info_.end()) continue;
      const std::pair<Epoch, int64_t> log{info->second.second.last_epoch, info->second.second.log_end_offset};
      if (seen && *seen != log) {
        cover(ctx_, Mark::kElectionAmongDivergedLogs);
        return;
      }
      seen = log;
    }
  }
}

void Controller::commit(PartitionState next, const char* why) {
  PartitionState& current = working_.partitions.at(next.partition);
  maybe_complete_reassignment(next);
  FL_ASSERT(next.leader_epoch == current.leader_epoch && next.partition_epoch == current.partition_epoch &&
                "epochs are bumped here only",
            next.partition);
  // KIP-966, PartitionChangeBuilder.maybeUpdateLastKnownLeader (with ELR): remember the
  // leader a partition had when it first becomes leaderless; forget it once it has one.
  if (elr_enabled()) {
    if (next.leader == kNoBroker && current.leader != kNoBroker && current.last_known_elr.empty()) {
      next.last_known_elr = {current.leader};
    } else if (next.leader != kNoBroker) {
      next.last_known_elr.clear();
    }
  } else {
    next.last_known_elr.clear();
  }
  if (next == current) return;
  next.partition_epoch = current.partition_epoch + 1;
  if (next.leader != current.leader) next.leader_epoch = current.leader_epoch + 1;
  check_invariants(next);
  if (!next.elr.empty()) cover(ctx_, Mark::kElrNonEmpty);
  if (next.isr.empty()) cover(ctx_, Mark::kIsrEmpty);
  PartitionState before = std::exchange(current, std::move(next));
  const std::string isr = text(current.isr);
  const std::string elr = text(current.elr);
  ctx_.trace("partition-change", {{"partition", current.partition},
                                  {"leader", leader_field(current.leader)},
                                  {"leader_epoch", current.leader_epoch},
                                  {"partition_epoch", current.partition_epoch},
                                  {"isr", isr},
                                  {"elr", elr},
                                  {"why", why}});
  // G2/G3: observers entering or leaving the ISR, as their own trace records.
  for (BrokerId o : current.observers) {
    const bool was = contains(before.isr, o);
    const bool is = contains(current.isr, o);
    if (was == is) continue;
    cover(ctx_, is ? Mark::kObserverPromoted : Mark::kObserverDemoted);
    ctx_.trace(is ? "observer-promoted" : "observer-demoted",
               {{"partition", current.partition}, {"observer", o}, {"isr", isr}, {"why", why}});
  }
  record(PartitionRecord{.state = current, .why = why});
}

void Controller::check_invariants(const PartitionState& p) const {
  FL_ASSERT(sorted_unique(p.isr) && sorted_unique(p.elr), p.partition, text(p.isr), text(p.elr));
  // KIP-455: the adding and removing replicas are disjoint parts of the replica set.
  FL_ASSERT(sorted_unique(p.adding) && sorted_unique(p.removing), p.partition, text(p.adding), text(p.removing));
  for (BrokerId b : p.adding) {
    FL_ASSERT(contains(p.replicas, b) && !contains(p.removing, b) && "adding replicas are replicas", p.partition, b);
  }
  for (BrokerId b : p.removing) FL_ASSERT(contains(p.replicas, b) && "removing replicas are replicas", p.partition, b);
  for (BrokerId b : p.isr) {
    FL_ASSERT((contains(p.replicas, b) || contains(p.observers, b)) && "ISR within replicas and promoted observers",
              p.partition, b);
  }
  for (BrokerId b : p.elr) {
    FL_ASSERT(contains(p.replicas, b) && !contains(p.isr, b) && "ELR within replicas, outside the ISR", p.partition, b);
  }
  if (p.leader != kNoBroker) {
    FL_ASSERT(contains(p.isr, p.leader) && (live(p.leader) || config_.bug_elect_fenced_last_known_leader) &&
                  "the leader is a live ISR member",
              p.partition, p.leader, text(p.isr));
  }
  if (elr_enabled()) {
    const bool isr_at_min =
        p.isr.size() >= std::min(static_cast<size_t>(config_.replication.min_insync_replicas), p.replicas.size());
    FL_ASSERT(!isr_at_min || p.elr.empty(), p.partition, text(p.isr), text(p.elr));
  } else {
    FL_ASSERT(p.elr.empty() && !p.isr.empty() && "without ELR the ISR freezes at its last member", p.partition,
              text(p.isr), text(p.elr));
  }
}

// --- AlterPartition (D1, D2) -----------------------------------------------------------

AlterPartitionResponse Controller::on_alter_partition(NodeId from, const AlterPartitionRequest& req) {
  if (!active_) return not_controller<AlterPartitionResponse>();
  auto it = working_.partitions.find(req.partition);
  if (it == working_.partitions.end()) return {.error = Errc::kUnknownPartition, .state = {}};
  const auto [error, reason] = validate_alter(from, req, it->second);
  if (error != Errc::kNone) {
    // Nothing applied; the response carries the current state so the leader rolls back.
    const std::string proposed = text(req.new_isr);
    if (std::string_view(reason) == "added-member-stale-epoch") cover(ctx_, Mark::kExpansionRefusedStaleEpoch);
    if (std::string_view(reason) == "observer-promotion-not-wanted") cover(ctx_, Mark::kObserverPromotionRefused);
    ctx_.trace("alter-partition-rejected",
               {{"partition", req.partition}, {"from", from}, {"isr", proposed}, {"reason", reason}});
    // As ControllerWriteEvent: an answer without records still waits for what is pending,
    // so the state it carries is committed.
    if (!settle()) return not_controller<AlterPartitionResponse>();
    return {.error = error, .state = committed_.partitions.at(req.partition)};
  }
  // An unchanged ISR is accepted without a new partition epoch (commit skips no-ops).
  commit(with_isr(it->second, req.new_isr), kWhyAlterPartition);
  // The leader is answered with the ISR it asked for; a hand-off that follows reaches it
  // through metadata, like any other leader change.
  AlterPartitionResponse resp{.error = Errc::kNone, .state = working_.partitions.at(req.partition)};
  hand_off_from_observer(req.partition);
  if (!settle()) return not_controller<AlterPartitionResponse>();
  return resp;
}

void Controller::hand_off_from_observer(PartitionId partition) {
  const PartitionState& p = working_.partitions.at(partition);
  if (p.leader == kNoBroker || !is_observer(p, p.leader)) return;
  if (!demotion_due(p, p.isr, kNoBroker, config_.replication.min_insync_replicas)) return;
  // G3 for a promoted observer that leads: the sync replicas are back in the ISR, so
  // promoted observers are to leave it, and a leader cannot remove itself. Leadership moves
  // to the first live sync ISR member (a clean election within the ISR: it holds every
  // committed record), whose first ISR change then demotes the old leader like any other
  // promoted observer.
  for (BrokerId r : p.replicas) {
    if (contains(p.isr, r) && live(r)) {
      PartitionState next = p;
      next.leader = r;
      commit(std::move(next), kWhyObserverHandOff);
      return;
    }
  }
}

Controller::AlterVerdict Controller::validate_alter(NodeId from, const AlterPartitionRequest& req,
                                                    const PartitionState& p) const {
  // Kafka's errors (ReplicationControlManager.alterPartition), which decide what the leader
  // does next (D1): it rolls back on INELIGIBLE_REPLICA (and on STALE_BROKER_EPOCH, which
  // its AlterPartitionManager reports as not attempted), and waits for newer metadata on
  // FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION and INVALID_REQUEST.
  if (req.leader != from) return {Errc::kInvalidRequest, "sender-is-not-the-named-leader"};
  // Request-level first, as Kafka does: a request from a previous incarnation is stale
  // whatever it asks.
  const auto sender = working_.brokers.find(from);
  if (sender == working_.brokers.end() || !sender->second.registered || req.broker_epoch != sender->second.epoch) {
    return {Errc::kStaleBrokerEpoch, "stale-broker-epoch"};
  }
  if (p.leader != from) return {Errc::kInvalidRequest, "not-leader"};
  if (req.leader_epoch != p.leader_epoch) return {Errc::kFencedLeaderEpoch, "stale-leader-epoch"};
  if (req.partition_epoch != p.partition_epoch) return {Errc::kInvalidUpdateVersion, "stale-partition-epoch"};
  if (req.member_epochs.size() != req.new_isr.size()) return {Errc::kInvalidRequest, "member-epochs-mismatch"};
  std::vector<BrokerId> sorted = req.new_isr;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted_unique(sorted)) return {Errc::kInvalidRequest, "duplicate-member"};
  if (!contains(sorted, from)) return {Errc::kInvalidRequest, "leader-not-in-isr"};
  for (size_t i = 0; i < req.new_isr.size(); ++i) {
    const BrokerId m = req.new_isr[i];
    if (contains(p.isr, m)) {
      // D3: every member of the proposed ISR must be eligible, not only the added ones
      // (ReplicationControlManager.ineligibleReplicasForIsr): registered, unfenced, and
      // under the broker epoch the leader saw, when it saw one (-1: not yet fetched).
      const auto member = working_.brokers.find(m);
      if (m != from && (member == working_.brokers.end() || !member->second.registered || member->second.fenced ||
                        (req.member_epochs[i] != -1 && req.member_epochs[i] != member->second.epoch))) {
        return {Errc::kIneligibleReplica, "kept-member-ineligible"};
      }
      continue;
    }
    if (contains(p.observers, m)) {
      // G2: an observer enters the ISR only while the partition's promotion policy holds
      // (judged on the state the request meets); the D2 checks below apply to it as to
      // any joining member.
      if (!promotion_wanted(p, p.isr, p.leader, config_.replication.min_insync_replicas)) {
        return {Errc::kIneligibleReplica, "observer-promotion-not-wanted"};
      }
    } else if (!contains(p.replicas, m)) {
      return {Errc::kInvalidRequest, "not-a-replica"};
    }
    // D2, the controller's half: an added member is registered, unfenced, and fetched
    // with its current broker epoch (not a previous incarnation's).
    const auto member = working_.brokers.find(m);
    if (member == working_.brokers.end() || !member->second.registered || member->second.fenced) {
      return {Errc::kIneligibleReplica, "added-member-fenced"};
    }
    if (req.member_epochs[i] != member->second.epoch) return {Errc::kIneligibleReplica, "added-member-stale-epoch"};
  }
  return {Errc::kNone, ""};
}

}  // namespace faultline::kafka
