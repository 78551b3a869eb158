#include "scenarios/kafka/rule_checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "models/kafka/placement.h"

namespace faultline::kafka {

namespace {

bool contains(const std::vector<BrokerId>& v, BrokerId b) { return std::find(v.begin(), v.end(), b) != v.end(); }

// The end offset of `requested` in a leader-epoch cache, as rule C3 (and Kafka's
// LeaderEpochFileCache.endOffsetFor) defines it, computed here from the cache itself: the
// largest cached epoch E' <= requested and the start of the first epoch after it (the LEO
// for the latest epoch); (requested, first start) when requested is older than every cached
// epoch; none when it is newer than every cached epoch or the cache is empty.
std::optional<EpochEndOffset> end_offset_for(const std::vector<EpochStart>& cache, int64_t leo, Epoch requested) {
  if (requested == kNoEpoch || cache.empty() || requested > cache.back().epoch) return std::nullopt;
  if (requested == cache.back().epoch) return EpochEndOffset{requested, leo};
  if (requested < cache.front().epoch) return EpochEndOffset{requested, cache.front().start_offset};
  size_t i = 0;
  while (i + 1 < cache.size() && cache[i + 1].epoch <= requested) ++i;
  return EpochEndOffset{cache[i].epoch, cache[i + 1].start_offset};
}

std::string epoch_text(Epoch e) { return e == kNoEpoch ? std::string("none") : std::to_string(e); }

}  // namespace

RuleChecker::RuleChecker(RunContext& rc, const ReplicationConfig& config, ControllerIds controller, Report report)
    : rc_(rc), config_(config), controller_(controller), report_(std::move(report)) {}

const Broker* RuleChecker::broker(NodeId b) const { return rc_.sim().process_ptr<Broker>(b); }

void RuleChecker::report_counts() const {
  std::map<std::string, uint64_t> by_name;  // one line per rule, in name order
  for (const auto& [rule, n] : judged_) by_name[rule] += n;
  for (const auto& [rule, n] : by_name) rc_.metric("rule_checks_" + rule, static_cast<int64_t>(n));
}

bool RuleChecker::Attempts::contains(uint32_t a) const {
  if (a < 64) return ((low >> a) & 1u) != 0;
  return std::find(high.begin(), high.end(), a) != high.end();
}

void RuleChecker::Attempts::insert(uint32_t a) {
  if (a < 64) {
    low |= uint64_t{1} << a;
  } else if (!contains(a)) {
    high.push_back(a);
  }
}

void RuleChecker::on_fetch_answered(NodeId b, const FetchRequest& req, const FetchResponse& resp) {
  const Broker* br = broker(b);
  const Replica* r = br == nullptr ? nullptr : br->replica(req.partition);
  if (r == nullptr || !r->log.recovered() || resp.error == Errc::kUnknownPartition) return;
  const std::string& name = rc_.sim().trace().node_name(b);
  // Named only for a report (this runs on every fetch).
  auto who = [&]() -> std::string {
    return req.replica_id == kNoBroker ? std::string("a consumer") : rc_.sim().trace().node_name(req.replica_id);
  };

  // C2: the request's epoch first, then leadership, then the log start.
  judged("C2");
  const Epoch asked = req.current_leader_epoch;
  Errc expected = Errc::kNone;
  if (asked != kNoEpoch && asked < r->leader_epoch) {
    expected = Errc::kFencedLeaderEpoch;
  } else if (asked != kNoEpoch && asked > r->leader_epoch) {
    expected = Errc::kUnknownLeaderEpoch;
  } else if (!r->leader || !br->registered()) {
    expected = Errc::kNotLeader;
  } else if (req.fetch_offset < r->log.log_start_offset()) {
    // H5: with tiering, a follower below the local log start is sent to the object store.
    expected = config_.tiered && req.replica_id != kNoBroker ? Errc::kOffsetMovedToTieredStorage
                                                             : Errc::kOffsetOutOfRange;
  } else if (req.last_fetched_epoch != kNoEpoch &&
             !end_offset_for(r->log.epoch_cache(), r->log.log_end_offset(), req.last_fetched_epoch)) {
    expected = Errc::kOffsetOutOfRange;  // no end offset for the follower's last epoch
  } else if (auto f = r->followers.find(req.replica_id); req.replica_id != kNoBroker && f != r->followers.end() &&
                                                         req.broker_epoch < f->second.broker_epoch &&
                                                         !resp.diverging_epoch && req.fetch_offset <= r->log.log_end_offset()) {
    // C9: fetch state of an older incarnation than recorded is rejected where the follower's
    // state would be updated, after divergence and range (Partition.fetchRecords, then
    // Replica.updateFetchStateOrThrow); C3 below judges a diverging answer.
    expected = Errc::kNotLeader;
  }
  if (expected == Errc::kOffsetOutOfRange && config_.tiered && req.replica_id == kNoBroker) {
    // H5: below the local log start a consumer is served from the object store (or told the
    // offset is gone, or to retry); the tier checker judges what it was served.
    return;
  }
  const bool past_end = resp.error == Errc::kOffsetOutOfRange && expected == Errc::kNone &&
                        req.fetch_offset > r->log.log_end_offset();
  if (resp.error != expected && !past_end) {
    report_("C2", req.partition,
            fmt::format("{} answered {}'s fetch (offset {}, leader epoch {}) with {}, but C2 demands {} (its epoch {}, "
                        "leader {}, log start {})",
                        name, who(), req.fetch_offset, epoch_text(asked), to_string(resp.error), to_string(expected),
                        r->leader_epoch, r->leader, r->log.log_start_offset()));
    return;
  }
  if (resp.error != Errc::kNone || req.last_fetched_epoch == kNoEpoch) return;

  // C3: divergence is decided on the leader's epoch cache, before anything is served.
  judged("C3");
  const auto end = end_offset_for(r->log.epoch_cache(), r->log.log_end_offset(), req.last_fetched_epoch);
  if (!end) return;  // no end offset: C2's OFFSET_OUT_OF_RANGE, judged above
  const bool diverges = end->epoch < req.last_fetched_epoch || end->end_offset < req.fetch_offset;
  if (diverges && (!resp.diverging_epoch || resp.diverging_epoch->epoch != end->epoch ||
                   resp.diverging_epoch->end_offset != end->end_offset || !resp.records.empty())) {
    report_("C3", req.partition,
            fmt::format("{} answered {}'s fetch at offset {} with last epoch {} {}, but its epoch cache ends that epoch "
                        "as ({}, {}): C3 demands that diverging epoch and no records",
                        name, who(), req.fetch_offset, req.last_fetched_epoch,
                        resp.diverging_epoch ? fmt::format("with diverging epoch ({}, {})", resp.diverging_epoch->epoch,
                                                           resp.diverging_epoch->end_offset)
                                             : fmt::format("with {} records", resp.records.size()),
                        end->epoch, end->end_offset));
  } else if (!diverges && resp.diverging_epoch) {
    report_("C3", req.partition,
            fmt::format("{} told {} its log diverges at ({}, {}), but its epoch cache ends epoch {} at {} >= the fetch "
                        "offset {}",
                        name, who(), resp.diverging_epoch->epoch, resp.diverging_epoch->end_offset, end->epoch,
                        end->end_offset, req.fetch_offset));
  }

  // D1's witness: a follower fetching at the leader's LEO is caught up now.
  if (req.replica_id != kNoBroker && r->leader && !resp.diverging_epoch &&
      req.fetch_offset >= r->log.log_end_offset()) {
    caught_up_at_[{b, req.partition, r->leader_epoch, req.replica_id}] = rc_.sim().now();
  }
}

void RuleChecker::on_follower_hw(NodeId follower, PartitionId p, int64_t response_hw) {
  const Broker* br = broker(follower);
  const Replica* r = br == nullptr ? nullptr : br->replica(p);
  if (r == nullptr) return;
  judged("C6");
  const int64_t want = std::max(std::min(response_hw, r->log.log_end_offset()), r->log.log_start_offset());
  if (r->log.high_watermark() == want) return;
  report_("C6", p,
          fmt::format("{} has HW {} after a fetch answered with HW {} (LEO {}, log start {}): C6 demands {}",
                      rc_.sim().trace().node_name(follower), r->log.high_watermark(), response_hw,
                      r->log.log_end_offset(), r->log.log_start_offset(), want));
}

void RuleChecker::on_follower_truncated(NodeId follower, PartitionId p, int64_t offset, Epoch fetched_in) {
  judged("C7");
  const Broker* br = broker(follower);
  const Replica* r = br == nullptr ? nullptr : br->replica(p);
  if (r == nullptr || r->leader_epoch == fetched_in) return;
  report_("C7", p,
          fmt::format("{} completed a truncation to {} asked for by the leader of epoch {} while it already follows "
                      "epoch {}: the truncation point came from a leader of another epoch",
                      rc_.sim().trace().node_name(follower), offset, fetched_in, r->leader_epoch));
}

void RuleChecker::on_isr_proposed(NodeId leader, PartitionId p, const std::vector<BrokerId>& isr) {
  const Broker* br = broker(leader);
  const Replica* r = br == nullptr ? nullptr : br->replica(p);
  if (r == nullptr || !r->leader) return;
  for (BrokerId m : r->isr) {
    if (contains(isr, m) || m == leader || is_observer(r->meta, m)) continue;  // G3 demotions are not D1's
    judged("D1");
    auto it = caught_up_at_.find({leader, p, r->leader_epoch, m});
    if (it == caught_up_at_.end()) continue;
    const Duration since = rc_.sim().now() - it->second;
    if (since > config_.replica_lag_time_max) continue;
    report_("D1", p,
            fmt::format("{} proposed removing {} from the ISR, but {} fetched at the leader's LEO {} ago, within "
                        "replica.lag.time.max {}",
                        rc_.sim().trace().node_name(leader), rc_.sim().trace().node_name(m),
                        rc_.sim().trace().node_name(m), format_duration(since),
                        format_duration(config_.replica_lag_time_max)));
  }
}

void RuleChecker::on_partition_change(const PartitionState& before, const PartitionState& after, const char* why) {
  const std::string reason = why;
  // D2: members added to the ISR hold the leader's HW and LESO at the moment they join.
  if (reason == kWhyAlterPartition && after.leader != kNoBroker) {
    const Broker* lb = broker(after.leader);
    const Replica* lr = lb == nullptr ? nullptr : lb->replica(after.partition);
    for (BrokerId m : after.isr) {
      if (contains(before.isr, m) || lr == nullptr || !lr->leader) continue;
      judged("D2");
      const Broker* mb = broker(m);
      const Replica* mr = mb == nullptr ? nullptr : mb->replica(after.partition);
      // Down, or back as a new incarnation the controller has not registered yet (D3 refuses
      // it while the old session is valid): the member that joined is the previous
      // incarnation, judged on the fetch state it had, and the controller removes it (D3,
      // unclean restart) before this one registers. Found by faultline fuzz: a power loss
      // 20 ms after a broker registered, and its old fetch state then counted for D2.
      if (mb == nullptr || !mb->registered() || (mr != nullptr && !mr->log.recovered())) continue;
      // A member without the replica at all (a reassignment's new one, not created yet)
      // holds nothing.
      const int64_t leo = mr == nullptr ? 0 : mr->log.log_end_offset();
      if (leo >= lr->log.high_watermark() && leo >= lr->leso) continue;
      report_("D2", after.partition,
              fmt::format("{} joined the ISR with LEO {}, below the leader {}'s {} {}", rc_.sim().trace().node_name(m),
                          leo, rc_.sim().trace().node_name(after.leader),
                          leo < lr->leso ? "LESO" : "HW", leo < lr->leso ? lr->leso : lr->log.high_watermark()));
    }
  }
  // E1, every election, clean or not: the new leader is live (registered and unfenced).
  // KAFKA-19522 elected a fenced last known leader.
  if (after.leader != kNoBroker && after.leader_epoch != before.leader_epoch) {
    judged("E1");
    const auto ctl = freshest_controller(rc_.sim(), controller_);
    auto it = ctl ? ctl->brokers().find(after.leader) : decltype(ctl->brokers().end()){};
    if (ctl && (it == ctl->brokers().end() || !it->second.registered || it->second.fenced)) {
      report_("E1", after.partition,
              fmt::format("{} was elected ({}) while {}", rc_.sim().trace().node_name(after.leader), reason,
                          it == ctl->brokers().end() || !it->second.registered ? "unregistered" : "fenced"));
    }
  }
  // E1: a new leader from the ISR, or from the ELR once no ISR member is live.
  if (after.leader != kNoBroker && after.leader_epoch != before.leader_epoch && reason != kWhyUncleanElection &&
      reason != kWhyUncleanRecovery && reason != kWhyLastKnownLeader) {
    judged("E1");
    const auto ctl = freshest_controller(rc_.sim(), controller_);
    auto live = [&](BrokerId b) {
      if (!ctl) return false;
      auto it = ctl->brokers().find(b);
      return it != ctl->brokers().end() && it->second.registered && !it->second.fenced;
    };
    // KIP-455: the change that completes a reassignment (the last adding replica joined the
    // ISR, D2 judged above) elects from that ISR when the leader was moved off.
    const bool completed = (!before.adding.empty() || !before.removing.empty()) && after.adding.empty() &&
                           after.removing.empty();
    const bool from_isr = contains(before.isr, after.leader) || (completed && contains(after.isr, after.leader));
    const bool isr_dead = std::none_of(before.isr.begin(), before.isr.end(), live);
    const bool from_elr = contains(before.elr, after.leader) && isr_dead;
    if (!from_isr && !from_elr) {
      report_("E1", after.partition,
              fmt::format("{} was elected ({}) although it was in neither the ISR {} nor, with no live ISR member, "
                          "the ELR {}",
                          rc_.sim().trace().node_name(after.leader), reason, fmt::join(before.isr, ","),
                          fmt::join(before.elr, ",")));
    }
  }
}

void RuleChecker::on_append(NodeId b, PartitionId p, const std::vector<LogEntry>& entries) {
  check_sequence(b, p, entries);
}

void RuleChecker::on_produce_appended(const ProduceRequest& req) {
  for (size_t i = 0; i < req.record_ids.size(); ++i) {
    appended_[req.record_ids[i]].insert(req.attempt);
    const Attempts* refused = refused_.find(req.record_ids[i]);
    if (refused == nullptr || !refused->contains(req.attempt)) continue;
    judged("B3");
    report_("B3", req.partition,
            fmt::format("record {:#x} was appended by attempt {} after that attempt was answered NOT_ENOUGH_REPLICAS",
                        req.record_ids[i], req.attempt));
  }
}

void RuleChecker::check_sequence(NodeId b, PartitionId p, const std::vector<LogEntry>& entries) {
  if (entries.empty() || entries.front().producer_id == kNoProducerId) return;
  const Broker* br = broker(b);
  const Replica* r = br == nullptr ? nullptr : br->replica(p);
  if (r == nullptr || !r->leader) return;  // followers take what their leader appended
  // The producer's previous record in this log, from the log itself (not the model's
  // producer state): the batch must continue it (same epoch, next sequence) or open a newer
  // epoch at sequence 0. No previous record within reach: an unknown producer, which Kafka
  // accepts at any sequence; not judged.
  const LogEntry& first = entries.front();
  constexpr int64_t kScanLimit = 10'000;
  std::optional<LogEntry> prev;
  for (int64_t o = first.offset - 1; o >= std::max(r->log.log_start_offset(), first.offset - kScanLimit); --o) {
    const auto e = r->log.entry_at(o);
    if (e && e->producer_id == first.producer_id) {
      prev = e;
      break;
    }
  }
  if (!prev) return;
  judged("B6");
  const char* wrong = nullptr;
  if (first.producer_epoch < prev->producer_epoch) {
    wrong = "from an older producer epoch";
  } else if (first.producer_epoch > prev->producer_epoch) {
    if (first.sequence != 0) wrong = "opening a new producer epoch at a sequence other than 0";
  } else if (int64_t{first.sequence} != int64_t{prev->sequence} + 1) {
    wrong = first.sequence <= prev->sequence ? "a duplicate or a reordering" : "with a gap";
  }
  if (wrong == nullptr) return;
  report_("B6", p, fmt::format("{} appended producer {}'s batch (epoch {}, sequence {}) at offset {} after its epoch {} "
                               "sequence {} at offset {}: {}",
                               rc_.sim().trace().node_name(b), first.producer_id, first.producer_epoch, first.sequence,
                               first.offset, prev->producer_epoch, prev->sequence, prev->offset, wrong));
}

void RuleChecker::on_produce_result(PartitionId p, uint64_t record_id, Errc error) {
  if (error != Errc::kNotEnoughReplicas) return;
  judged("B3");
  // The answer is to the record's latest attempt: a producer sends the next only after it.
  const uint32_t* a = attempts_.find(record_id);
  const uint32_t attempt = a == nullptr ? 1u : *a;
  refused_[record_id].insert(attempt);
  if (const Attempts* appended = appended_.find(record_id); appended != nullptr && appended->contains(attempt)) {
    report_("B3", p, fmt::format("record {:#x} was answered NOT_ENOUGH_REPLICAS (attempt {}) but that attempt had "
                                 "appended it", record_id, attempt));
  }
}

void RuleChecker::check_bounds(NodeId b, PartitionId p) {
  const Broker* br = broker(b);
  const Replica* r = br == nullptr ? nullptr : br->replica(p);
  if (r == nullptr || !r->log.recovered()) return;
  judged("S5");
  const int64_t start = r->log.log_start_offset();
  const int64_t hw = r->log.high_watermark();
  const int64_t leo = r->log.log_end_offset();
  if (start <= hw && hw <= leo) return;
  report_("S5", p, fmt::format("{}: log start {}, HW {}, LEO {} are out of order", rc_.sim().trace().node_name(b), start,
                               hw, leo));
}

}  // namespace faultline::kafka
