#include "scenarios/kafka/tier_checker.h"

#include <fmt/format.h>

#include "models/kafka/tier/archiver.h"
#include "models/kafka/tier/tier_object.h"

namespace faultline::kafka {

namespace {
using Kind = TierEvent::Kind;

// The replica of `p` on the broker the controller names its leader, if that process is up.
const Replica* leader_replica(RunContext& rc, const Controller& controller, PartitionId p) {
  const PartitionState& st = controller.partitions().at(p);
  const auto leader = st.leader == kNoBroker ? nullptr : rc.sim().process<Broker>(st.leader);
  return leader ? leader->replica(p) : nullptr;
}
// The replica that led `p` in leader epoch `epoch` and still does, as far as it knows (a
// leader cut off by an unclean election keeps its term until it hears of the next), else
// the controller's current leader's.
const Replica* replica_leading_epoch(RunContext& rc, const Controller& controller, PartitionId p, Epoch epoch) {
  for (const auto& [b, info] : controller.brokers()) {
    const auto broker = rc.sim().process<Broker>(b);
    const Replica* r = broker ? broker->replica(p) : nullptr;
    if (r != nullptr && r->leader && r->leader_epoch == epoch) return r;
  }
  return leader_replica(rc, controller, p);
}
using S = TierSegmentState;

// H3's transitions, written out here rather than taken from the model.
bool legal(std::optional<S> from, S to) {
  if (!from) return to == S::kUploadInitiate;
  switch (*from) {
    case S::kUploadInitiate: return to == S::kUploadComplete || to == S::kDeleteInitiate;
    case S::kUploadComplete: return to == S::kDeleteInitiate;
    case S::kDeleteInitiate: return to == S::kDeleteComplete;
    case S::kDeleteComplete: return false;
  }
  return false;
}
}  // namespace

const std::optional<std::vector<LogEntry>>& TierChecker::entries_of(const std::string& key, const StoredObject& o) {
  auto& [version, entries] = decoded_[key];
  if (version != o.version || (!entries && version == 0)) {
    version = o.version;
    entries = tier_object::decode_entries(o.bytes);
  }
  return entries;
}

int64_t TierChecker::log_start(PartitionId p) const {
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return 0;
  const Replica* r = leader_replica(rc_, *ctl, p);
  auto tier = ctl->tiers().find(p);
  if (tier == ctl->tiers().end()) return 0;
  // Without a live leader, at least what retention took out is gone for good.
  if (r == nullptr) return tier->second.retention_start();
  return Archiver::log_start_offset(tier->second, r->log.log_start_offset());
}

void TierChecker::violation(const std::string& invariant, PartitionId p, const std::string& message) {
  // What the archive holds is judged against the committed log (S14-S16): an unclean election
  // or lossy crashes beyond the budget, which excuse rewritten data in the log, excuse it in
  // the archive too. The tier-state machine's own rules (S17-S20) have no excuse.
  const bool excusable = invariant == "S14" || invariant == "S15" || invariant == "S16";
  rc_.violation(invariant, InvariantKind::kSafety, fmt::format("partition {}: {}", p, message),
                excusable ? base_.excuse(p) : std::string());
}

void TierChecker::on_tier_event(PartitionId p, const TierEvent& e, const TierState::Result& r, const TierState& after) {
  if (!r.changed()) return;
  Ghost& g = ghosts_[p];
  // S20: the epoch of an applied event.
  if (e.kind == Kind::kInitLeader ? e.tier_epoch <= g.tier_epoch : e.tier_epoch != g.tier_epoch) {
    violation("S20", p, fmt::format("{} took effect with tier epoch {} while the current tier epoch was {}", e.to_text(),
                                    e.tier_epoch, g.tier_epoch));
  }
  if (e.kind == Kind::kInitLeader) g.tier_epoch = e.tier_epoch;
  // S19: every segment whose state changed moved along H3. An event can change the segment it
  // names and, for InitLeader, the upload in progress; look at those (the rest of the state
  // is as the ghost last saw it, which the replay of every applied event keeps true).
  std::vector<std::string> touched;
  if (e.kind == Kind::kInitLeader || e.kind == Kind::kFenceLineage) {
    const S moved = e.kind == Kind::kInitLeader ? S::kUploadInitiate : S::kUploadComplete;
    for (const auto& [id, st] : g.segments) {
      if (st == moved) touched.push_back(id);
    }
  } else {
    touched.push_back(e.segment_id);
  }
  for (const std::string& id : touched) {
    const TierSegment* seg = after.find(id);
    if (seg == nullptr) continue;
    const TierSegment& s = *seg;
    auto it = g.segments.find(id);
    const std::optional<S> before = it == g.segments.end() ? std::nullopt : std::optional<S>(it->second);
    if (before == s.state) continue;
    if (!legal(before, s.state)) {
      violation("S19", p, fmt::format("segment {} went from {} to {} on {}", id,
                                      before ? to_string(*before) : "nothing", to_string(s.state), e.to_text()));
    }
    if (s.state == S::kUploadComplete) {
      ++uploads_complete_;
      check_content(p, s);
    }
    if (before == S::kUploadComplete && s.state == S::kDeleteInitiate && e.kind == Kind::kDeleteInitiate &&
        config_.retention_bytes >= 0) {
      // S17: retention may take this segment out only if the log keeps retention.bytes (a
      // lineage fence is not retention), judged on the log of the leader that asked: until
      // the next leader's InitLeader, the tier state rightly takes a cut-off leader's events
      // (H3), whose log may be longer than an uncleanly elected successor's (found by
      // faultline fuzz of disk-stall with unclean election: "-6144 bytes" were left).
      const auto ctl = freshest_controller(rc_.sim(), controller_);
      const Replica* lr = ctl ? replica_leading_epoch(rc_, *ctl, p, e.tier_epoch) : nullptr;
      if (lr != nullptr) {
        const int64_t start = Archiver::log_start_offset(after, lr->log.log_start_offset());
        const int64_t kept = (lr->log.log_end_offset() - start) * static_cast<int64_t>(PartitionLog::kRecordAccountingBytes);
        if (kept < config_.retention_bytes) {
          violation("S17", p, fmt::format("retention took segment {} [{}, {}) out, leaving {} bytes from offset {}, below "
                                          "retention.bytes {}",
                                          id, s.base_offset, s.end_offset, kept, start, config_.retention_bytes));
        }
      }
    }
    g.segments[id] = s.state;
    if (s.state == S::kDeleteInitiate) delete_initiated_at_[{p, id}] = rc_.sim().now();
  }
}

void TierChecker::on_local_deletion(const Controller* controller, NodeId b, PartitionId p, int64_t from, int64_t to) {
  if (controller == nullptr) return;
  auto tier = controller->tiers().find(p);
  const auto& objects = rc_.sim().object_store().objects();
  // S14 is about the log: what lies below its log start offset before this deletion (what
  // retention took, H6) may go. Judged on the state before, or a replica that deletes
  // unarchived data would excuse itself by the very log start it just raised.
  int64_t o = tier == controller->tiers().end() ? from : std::max(from, tier->second.retention_start());
  if (tier != controller->tiers().end()) {
    for (const TierSegment* s : tier->second.complete()) {
      if (s->end_offset <= o || s->base_offset > o) continue;
      const std::string key = tier_object::data_key(p, s->id);
      auto data = objects.find(key);
      if (data == objects.end()) break;  // reported below: the range from o on is not safely archived
      const auto& entries = entries_of(key, data->second);
      if (!entries || entries->size() != static_cast<size_t>(s->end_offset - s->base_offset)) break;
      for (; o < std::min(to, s->end_offset); ++o) {
        const LogEntry& e = (*entries)[static_cast<size_t>(o - s->base_offset)];
        const auto committed = base_.committed(p, o);
        if (!committed || e.record_id != *committed) break;
      }
      if (o >= to || o < s->end_offset) break;
    }
  }
  if (o >= to) return;
  violation("S14", p, fmt::format("{} deleted its local segments [{}, {}), but offset {} is not in a Complete segment whose "
                                  "object holds the committed record",
                                  rc_.sim().trace().node_name(b), from, to, o));
}

void TierChecker::check_content(PartitionId p, const TierSegment& s) {
  const auto& objects = rc_.sim().object_store().objects();
  const std::string key = tier_object::data_key(p, s.id);
  auto data = objects.find(key);
  if (data == objects.end()) {
    violation("S15", p, fmt::format("segment {} [{}, {}) is Complete but its data object does not exist", s.id,
                                    s.base_offset, s.end_offset));
    return;
  }
  const auto& entries = entries_of(key, data->second);
  if (!entries || entries->size() != static_cast<size_t>(s.end_offset - s.base_offset)) {
    violation("S15", p, fmt::format("segment {} [{}, {}) is Complete but its data object holds {} entries", s.id,
                                    s.base_offset, s.end_offset, entries ? std::to_string(entries->size()) : "no valid"));
    return;
  }
  // The epoch object: the slice of the epoch cache that the entries' own epochs imply.
  auto epochs_obj = objects.find(tier_object::epochs_key(p, s.id));
  const auto epochs = epochs_obj == objects.end() ? std::nullopt : tier_object::decode_epochs(epochs_obj->second.bytes);
  if (!epochs) {
    violation("S15", p, fmt::format("segment {} is Complete but its epoch object is missing or unreadable", s.id));
    return;
  }
  for (const LogEntry& e : *entries) {
    Epoch in_force = kNoEpoch;
    for (const EpochStart& es : *epochs) {
      if (es.start_offset <= e.offset) in_force = es.epoch;
    }
    if (in_force != e.epoch) {
      violation("S15", p, fmt::format("segment {}'s epoch object puts offset {} in epoch {}, but the record there has "
                                      "epoch {}",
                                      s.id, e.offset, in_force, e.epoch));
      return;
    }
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    const LogEntry& e = (*entries)[i];
    const int64_t want = s.base_offset + static_cast<int64_t>(i);
    const auto committed = base_.committed(p, want);
    if (e.offset != want || !committed || *committed != e.record_id) {
      violation("S15", p,
                fmt::format("segment {} archives {:#x} at offset {}, but {} was committed there", s.id, e.record_id,
                            e.offset, committed ? fmt::format("{:#x}", *committed) : std::string("nothing")));
      return;
    }
  }
}

namespace {
// The end of the leader's rolled segments lying below min(HW, recovery point) (H1).
int64_t tierable_end(RunContext& rc, const Controller& controller, PartitionId p) {
  const Replica* r = leader_replica(rc, controller, p);
  if (r == nullptr) return 0;
  const int64_t limit = std::min(r->log.high_watermark(), r->log.recovery_point());
  int64_t end = 0;
  for (const SegmentInfo& s : r->log.segments()) {
    if (!s.active && s.end_offset <= limit) end = s.end_offset;
  }
  return end;
}
}  // namespace

int64_t TierChecker::max_local_bytes() const {
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return 0;
  int64_t most = 0;
  for (const auto& [p, st] : ctl->partitions()) {
    std::vector<BrokerId> hosts = st.replicas;
    hosts.insert(hosts.end(), st.observers.begin(), st.observers.end());
    for (BrokerId b : hosts) {
      const auto broker = rc_.sim().process<Broker>(b);
      const Replica* r = broker ? broker->replica(p) : nullptr;
      if (r == nullptr || !r->log.recovered()) continue;
      most = std::max(most, (r->log.log_end_offset() - r->log.log_start_offset()) *
                                static_cast<int64_t>(PartitionLog::kRecordAccountingBytes));
    }
  }
  return most;
}

void TierChecker::sample_local_bytes() {
  peak_local_bytes_ = std::max(peak_local_bytes_, max_local_bytes());
  if (!outage_end_ || zero_lag_at_ || rc_.sim().now() < *outage_end_) return;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  // The backlog is what was tierable at the first sample after the outage; it is cleared
  // once the archive reaches it (new segments keep coming, so "no lag at all" never holds).
  if (backlog_.empty()) {
    for (const auto& [p, st] : ctl->partitions()) backlog_[p] = tierable_end(rc_, *ctl, p);
  }
  for (const auto& [p, target] : backlog_) {
    auto tier = ctl->tiers().find(p);
    const int64_t tier_end = tier == ctl->tiers().end() ? 0 : tier->second.tier_end_offset();
    if (tier_end < target) return;
  }
  zero_lag_at_ = rc_.sim().now();
}

void TierChecker::begin_quiescence(const Controller* controller) {
  quiescence_began_ = rc_.sim().now();
  if (controller == nullptr) return;
  for (const auto& [p, st] : controller->partitions()) {
    tierable_at_start_[p] = tierable_end(rc_, *controller, p);
    hw_at_start_[p] = base_.true_high_watermark(p);
  }
}

void TierChecker::on_reader_read(PartitionId p, const LogEntry& e) {
  int64_t& next = reader_next_[p];
  ++reader_records_;
  if (e.offset <= next - 1) return;  // a re-read after a leader change: S3 judges it
  // A skip is fine over what retention deleted: up to the retention start (H6), which is where
  // a consumer told OFFSET_OUT_OF_RANGE lands when nothing else is gone.
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  auto tier = ctl ? ctl->tiers().find(p) : std::map<PartitionId, TierState>::const_iterator{};
  const int64_t retained = ctl && tier != ctl->tiers().end() ? tier->second.retention_start() : 0;
  if (e.offset != next && e.offset > retained) {
    violation("S16", p, fmt::format("the reader that started at offset 0 skipped from {} to {}: those offsets were "
                                    "neither local nor archived when it got there",
                                    next, e.offset));
  }
  next = e.offset + 1;
}

std::optional<TierChecker::Problem> TierChecker::quiescence_problem(const Controller* controller) const {
  if (controller == nullptr) return std::nullopt;
  const ObjectStore& store = rc_.sim().object_store();
  struct Owner {
    const TierSegment* segment;
    int32_t current_epoch;  // of the segment's partition
    PartitionId partition;
  };
  std::map<std::string, Owner> owner;  // object key -> its segment
  for (const auto& [p, tier] : controller->tiers()) {
    for (const auto& [id, s] : tier.segments()) {
      owner[tier_object::data_key(p, id)] = {&s, tier.tier_epoch(), p};
      owner[tier_object::epochs_key(p, id)] = {&s, tier.tier_epoch(), p};
    }
  }
  for (const auto& [key, o] : store.objects()) {
    if (!key.starts_with("tier/")) continue;
    auto it = owner.find(key);
    if (it != owner.end() && it->second.segment->state == TierSegmentState::kUploadComplete) continue;
    if (it != owner.end() && it->second.segment->state == TierSegmentState::kUploadInitiate &&
        it->second.segment->tier_epoch == it->second.current_epoch) {
      continue;  // the current leader's upload in progress
    }
    if (it != owner.end() && it->second.segment->state == TierSegmentState::kDeleteInitiate) {
      // Taken out since quiescence began (retention goes on while the producer does): its
      // deletion is under way. Taken out before: GC's grace has run out, so it leaked.
      auto at = delete_initiated_at_.find({it->second.partition, it->second.segment->id});
      if (at != delete_initiated_at_.end() && at->second >= quiescence_began_) continue;
    }
    return Problem{"S18", InvariantKind::kSafety,
                   fmt::format("object {} leaked at quiescence: {}", key,
                               it == owner.end() ? std::string("no segment names it")
                                                 : fmt::format("its segment is {}", to_string(it->second.segment->state)))};
  }
  for (const auto& [p, tier] : controller->tiers()) {
    for (const TierSegment* s : tier.complete()) {
      if (store.objects().contains(tier_object::data_key(p, s->id)) &&
          store.objects().contains(tier_object::epochs_key(p, s->id))) {
        continue;
      }
      return Problem{"S16", InvariantKind::kSafety,
                     fmt::format("partition {}: segment {} [{}, {}) is Complete but its objects are gone", p, s->id,
                                 s->base_offset, s->end_offset)};
    }
  }
  const int64_t local = max_local_bytes();
  // Within the hotset again, give or take what arrives between two hotset checks and the
  // segments on their way to the archive, which depends on the produce rate: four times the
  // hotset and eight segments (dc-loss's producers reach 170 KiB with 32 KiB and 16 KiB).
  // After an outage a backlog of thousands of records is what this tells from.
  const int64_t allowed = 4 * config_.hotset_bytes + 8 * static_cast<int64_t>(config_.segment_bytes);
  if (local > allowed) {
    return Problem{"L4", InvariantKind::kLiveness,
                  fmt::format("a replica still holds {} bytes locally at quiescence, above four times the hotset {} "
                              "plus eight segments",
                              local, config_.hotset_bytes)};
  }
  for (const auto& [p, hw] : hw_at_start_) {
    auto at = reader_next_.find(p);
    const int64_t next = at == reader_next_.end() ? 0 : at->second;
    if (!reader_ || next >= hw) continue;
    return Problem{"L4", InvariantKind::kLiveness,
                  fmt::format("partition {}: the reader that started at offset 0 is at {} at quiescence, below the HW {} "
                              "it had to reach",
                              p, next, hw)};
  }
  for (const auto& [p, tierable] : tierable_at_start_) {
    auto tier = controller->tiers().find(p);
    const int64_t tier_end = tier == controller->tiers().end() ? 0 : tier->second.tier_end_offset();
    if (tier_end < tierable) {
      return Problem{"L4", InvariantKind::kLiveness,
                    fmt::format("partition {}: archive lag at quiescence: tier end {} below {}, the end of the leader's "
                                "tierable segments",
                                p, tier_end, tierable)};
    }
  }
  return std::nullopt;
}

bool TierChecker::await_quiescence() {
  Simulation& sim = rc_.sim();
  auto controller = [&] { return freshest_controller(sim, controller_).get(); };
  begin_quiescence(controller());
  const Instant settled = std::max(sim.object_store().writes_settle_at(), sim.now());
  if (!rc_.run_until(settled)) return false;
  const Instant bound = settled + quiescence(config_);
  const Instant earliest = settled + min_quiescence(config_);
  while (sim.now() < bound && (sim.now() < earliest || quiescence_problem(controller()))) {
    if (!rc_.run_until(std::min(bound, sim.now() + Duration::seconds(1)))) return false;
  }
  check_quiescence(controller());
  report_metrics(controller());
  return true;
}

void TierChecker::check_quiescence(const Controller* controller) {
  if (const std::optional<Problem> p = quiescence_problem(controller)) rc_.violation(p->invariant, p->kind, p->message);
}

void TierChecker::report_metrics(const Controller* controller) const {
  const ObjectStore& store = rc_.sim().object_store();
  uint64_t retries = 0;
  for (const ObjectCall& c : store.calls()) {
    if (c.op == ObjectOp::kPut && c.key.starts_with("tier/") && c.completed && is_retriable(c.status)) ++retries;
  }
  uint64_t bytes = 0;
  uint64_t objects = 0;
  int64_t lag = 0;
  if (controller != nullptr) {
    for (const auto& [p, tier] : controller->tiers()) {
      for (const TierSegment* s : tier.complete()) {
        auto it = store.objects().find(tier_object::data_key(p, s->id));
        if (it != store.objects().end()) bytes += it->second.bytes.size();
      }
      lag = std::max(lag, base_.true_high_watermark(p) - tier.tier_end_offset());
    }
  }
  for (const auto& [key, o] : store.objects()) objects += key.starts_with("tier/");
  rc_.metric("tier_uploads_complete", static_cast<int64_t>(uploads_complete_));
  rc_.metric("tier_bytes_archived", static_cast<int64_t>(bytes));
  rc_.metric("tier_put_retries", static_cast<int64_t>(retries));
  rc_.metric("tier_objects", static_cast<int64_t>(objects));
  rc_.metric("tier_archive_lag", lag);
  rc_.metric("tier_reader_records", static_cast<int64_t>(reader_records_));
  rc_.metric("tier_peak_local_bytes", peak_local_bytes_);
  if (outage_end_) {
    rc_.metric("tier_outage_to_zero_lag_ns", zero_lag_at_ ? (*zero_lag_at_ - *outage_end_).ns() : -1);
  }
}

}  // namespace faultline::kafka
