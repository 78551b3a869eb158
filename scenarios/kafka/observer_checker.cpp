#include "scenarios/kafka/observer_checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/kafka/placement.h"

namespace faultline::kafka {

namespace {

bool contains(const std::vector<BrokerId>& v, BrokerId b) { return std::find(v.begin(), v.end(), b) != v.end(); }

std::string list_text(const std::vector<BrokerId>& v) { return fmt::format("{{{}}}", fmt::join(v, ",")); }

int64_t since(std::optional<Instant> from, std::optional<Instant> to) {
  return from && to ? (*to - *from).ns() : -1;
}

}  // namespace

ObserverChecker::ObserverChecker(RunContext& rc, ReplicationChecker& base, const ReplicationConfig& config,
                                 ControllerIds controller, Duration promotion_bound)
    : rc_(rc), base_(base), config_(config), controller_(controller), promotion_bound_(promotion_bound) {
  // Chained after the base checker's hooks, so its S1-S13 verdicts come first.
  ControllerHooks& ch = base_.controller_hooks();
  ch.on_partition_change = [this, prev = ch.on_partition_change](const PartitionState& before,
                                                                  const PartitionState& after, const char* why) {
    if (prev) prev(before, after, why);
    on_partition_change(before, after, why);
  };
  ProducerHooks& ph = base_.producer_hooks();
  ph.on_attempt = [this, prev = ph.on_attempt](NodeId producer, PartitionId p, uint64_t record_id, int acks) {
    if (prev) prev(producer, p, record_id, acks);
    on_attempt(producer, record_id);
  };
  ph.on_result = [this, prev = ph.on_result](NodeId producer, PartitionId p, uint64_t record_id, int acks, Errc error,
                                             int64_t offset) {
    if (prev) prev(producer, p, record_id, acks, error, offset);
    on_result(producer, p, record_id, acks, error, offset);
  };
}

const Broker* ObserverChecker::broker(NodeId b) const { return rc_.sim().process_ptr<Broker>(b); }

std::string ObserverChecker::name(NodeId b) { return rc_.sim().trace().node_name(b); }

void ObserverChecker::violation(const std::string& invariant, PartitionId p, const std::string& message) {
  rc_.violation(invariant, InvariantKind::kSafety, fmt::format("partition {}: {}", p, message));
}

// --- availability clocks -----------------------------------------------------------------

void ObserverChecker::dc_lost(Instant at) {
  if (!lost_at_) lost_at_ = at;
}

void ObserverChecker::dc_returned(Instant at) {
  if (lost_at_ && !returned_at_) returned_at_ = at;
  check_full_isr();
}

void ObserverChecker::on_attempt(NodeId producer, uint64_t record_id) {
  if (lost_at_ && rc_.sim().now() >= *lost_at_) first_record_after_loss_.try_emplace(producer, record_id);
}

void ObserverChecker::on_result(NodeId producer, PartitionId p, uint64_t record_id, int acks, Errc error,
                                int64_t offset) {
  if (acks != -1) return;
  PartitionWatch& w = watch_[p];
  // An idempotent resend may be acknowledged again, at the same offset: counted once.
  if (error == Errc::kNone && w.acked_ids.emplace(record_id, 1).second) w.acked.push_back({offset, record_id});
  auto first = first_record_after_loss_.find(producer);
  // Only requests sent after the loss: an answer to one sent before says nothing about
  // whether the cluster takes writes without the lost datacenter.
  if (first == first_record_after_loss_.end() || record_id < first->second) return;
  const Instant now = rc_.sim().now();
  const bool during_loss = !returned_at_;
  if (error == Errc::kNone) {
    if (!first_write_after_loss_) first_write_after_loss_ = now;
    if (!w.first_write_after_loss) w.first_write_after_loss = now;
    if (during_loss) ++acked_during_loss_;
  } else if (during_loss && (error == Errc::kNotEnoughReplicas || error == Errc::kNotEnoughReplicasAfterAppend)) {
    ++not_enough_replicas_during_loss_;
  }
}

void ObserverChecker::check_full_isr() {
  if (!returned_at_ || full_isr_at_) return;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  for (const auto& [p, st] : ctl->partitions()) {
    std::vector<BrokerId> want = st.replicas;
    std::sort(want.begin(), want.end());
    if (st.leader == kNoBroker || st.isr != want) return;  // the ISR is kept sorted
  }
  full_isr_at_ = rc_.sim().now();
}

// --- S8 ------------------------------------------------------------------------------------

void ObserverChecker::on_partition_change(const PartitionState& before, const PartitionState& after,
                                          const char* why) {
  PartitionWatch& w = watch_[after.partition];
  for (BrokerId o : after.observers) {
    const bool was = contains(before.isr, o);
    const bool is = contains(after.isr, o);
    if (is && !was) ++promotions_;
    if (was && !is) ++demotions_;
  }
  const Instant now = rc_.sim().now();
  const bool below = after.isr.size() < effective_min_isr(after, config_.min_insync_replicas);
  if (below && !w.under_min_isr_since) w.under_min_isr_since = now;
  if (!below && w.under_min_isr_since) {
    w.longest_under_min_isr = std::max(w.longest_under_min_isr, now - *w.under_min_isr_since);
    w.under_min_isr_since.reset();
  }
  check_s8(before, after, why);
  check_full_isr();
}

void ObserverChecker::check_s8(const PartitionState& before, const PartitionState& after, const char* why) {
  const PartitionId p = after.partition;
  if (after.leader != kNoBroker && !contains(after.isr, after.leader)) {
    violation("S8", p, fmt::format("leader {} is not in the ISR {} ({})", name(after.leader), list_text(after.isr), why));
    return;
  }
  for (BrokerId m : after.isr) {
    if (!is_sync_replica(after, m) && !is_observer(after, m)) {
      violation("S8", p, fmt::format("ISR member {} is neither a sync replica nor an observer ({})", name(m), why));
      return;
    }
  }
  const std::string reason = why;
  for (BrokerId o : after.observers) {
    if (!contains(after.isr, o) || contains(before.isr, o)) continue;
    if (reason == kWhyUncleanElection) continue;  // the base checker records the excuse (E1)
    if (reason != kWhyAlterPartition) {
      violation("S8", p, fmt::format("observer {} entered the ISR by {}, not through promotion (G2)", name(o), why));
      return;
    }
    if (!promotion_wanted(before, before.isr, before.leader, config_.min_insync_replicas)) {
      violation("S8", p, fmt::format("observer {} was promoted into ISR {} although policy {} did not hold (G2)",
                                     name(o), list_text(before.isr), to_string(before.promotion)));
      return;
    }
    // D2, judged on the logs when the controller commits the promotion, not when the leader
    // proposed it: an observer that lagged when proposed but caught up during the
    // AlterPartition round trip is not reported here (S6 still checks it against the true
    // HW), and one whose broker re-registered meanwhile is skipped (its new incarnation must
    // rejoin anyway). The LESO is fixed for the epoch and the HW counted the observer while
    // the promotion was pending (KIP-497), so an observer that passed D2 still passes.
    const auto ctl = freshest_controller(rc_.sim(), controller_);
    const Broker* lb = broker(after.leader);
    const Broker* ob = broker(o);
    if (!ctl || lb == nullptr || ob == nullptr || !ob->registered()) continue;
    auto info = ctl->brokers().find(o);
    if (info == ctl->brokers().end() || info->second.epoch != ob->broker_epoch()) continue;
    const Replica* lr = lb->replica(p);
    const Replica* orr = ob->replica(p);
    if (lr == nullptr || orr == nullptr || !lr->leader || lr->leader_epoch != after.leader_epoch) continue;
    const int64_t leo = orr->log.log_end_offset();
    if (leo < lr->leso || leo < lr->log.high_watermark()) {
      violation("S8", p, fmt::format("observer {} was promoted with LEO {} below leader {}'s {} {} (D2)", name(o), leo,
                                     name(after.leader), leo < lr->leso ? "LESO" : "HW",
                                     leo < lr->leso ? lr->leso : lr->log.high_watermark()));
      return;
    }
  }
}

// --- L5 ------------------------------------------------------------------------------------

BrokerId ObserverChecker::caught_up_observer(const PartitionState& st) const {
  if (st.leader == kNoBroker) return kNoBroker;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  const Broker* lb = broker(st.leader);
  if (!ctl || lb == nullptr) return kNoBroker;
  const Replica* lr = lb->replica(st.partition);
  // The leader must know it leads this epoch with the controller's current state, and have
  // no ISR change in flight (one at a time, D1): otherwise it is not yet its turn.
  if (lr == nullptr || !lr->leader || lr->leader_epoch != st.leader_epoch ||
      lr->meta.partition_epoch != st.partition_epoch || lr->pending_isr) {
    return kNoBroker;
  }
  const Instant now = rc_.sim().now();
  for (BrokerId o : st.observers) {
    if (contains(st.isr, o)) continue;
    auto info = ctl->brokers().find(o);
    if (info == ctl->brokers().end() || !info->second.registered || info->second.fenced) continue;
    const Broker* ob = broker(o);
    if (ob == nullptr || ob->broker_epoch() != info->second.epoch) continue;
    // Fetching from this leader in its epoch, recently: the leader can judge D2.
    auto f = lr->followers.find(o);
    if (f == lr->followers.end() || f->second.fetched_in_epoch != lr->leader_epoch ||
        now - f->second.last_fetch > config_.replica_fetch_wait_max + Duration::seconds(1)) {
      continue;
    }
    const int64_t leo = ob->replica(st.partition)->log.log_end_offset();
    if (leo >= lr->leso && leo >= lr->log.high_watermark()) return o;
  }
  return kNoBroker;
}

void ObserverChecker::sample() {
  check_full_isr();
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  const Instant now = rc_.sim().now();
  const int32_t min_isr = config_.min_insync_replicas;
  for (const auto& [p, st] : ctl->partitions()) {
    PartitionWatch& w = watch_[p];
    // Promotion: the policy holds and a caught-up observer waits outside the ISR.
    const BrokerId waiting =
        promotion_wanted(st, st.isr, st.leader, min_isr) ? caught_up_observer(st) : kNoBroker;
    if (waiting == kNoBroker) {
      w.promotion_pending_since.reset();
    } else if (!w.promotion_pending_since) {
      w.promotion_pending_since = now;
    } else if (now - *w.promotion_pending_since > promotion_bound_ && !w.promotion_reported) {
      w.promotion_reported = true;
      rc_.violation("L5", InvariantKind::kLiveness,
                    fmt::format("partition {}: policy {} held for {} with observer {} caught up outside ISR {}, "
                                "and it was not promoted",
                                p, to_string(st.promotion), format_duration(now - *w.promotion_pending_since),
                                name(waiting), list_text(st.isr)));
    }
    // Demotion: the sync replicas of the ISR satisfy the policy again, observers remain.
    bool promoted = false;
    for (BrokerId o : st.observers) promoted = promoted || contains(st.isr, o);
    const bool due = promoted && st.leader != kNoBroker && demotion_due(st, st.isr, kNoBroker, min_isr);
    if (!due) {
      w.demotion_pending_since.reset();
    } else if (!w.demotion_pending_since) {
      w.demotion_pending_since = now;
    } else if (now - *w.demotion_pending_since > promotion_bound_ && !w.demotion_reported) {
      w.demotion_reported = true;
      rc_.violation("L5", InvariantKind::kLiveness,
                    fmt::format("partition {}: promoted observers still in ISR {} {} after the sync replicas "
                                "returned (policy {}, G3)",
                                p, list_text(st.isr), format_duration(now - *w.demotion_pending_since),
                                to_string(st.promotion)));
    }
  }
}

// --- convergence and the end state -----------------------------------------------------

std::optional<std::pair<std::string, std::string>> ObserverChecker::unconverged() {
  sample();
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return std::make_pair(std::string("L7"), std::string("the controller is down"));
  for (const auto& [p, st] : ctl->partitions()) {
    std::vector<BrokerId> promoted;
    for (BrokerId o : st.observers) {
      if (contains(st.isr, o)) promoted.push_back(o);
    }
    if (promoted.empty()) continue;
    const bool due = demotion_due(st, st.isr, kNoBroker, config_.min_insync_replicas);
    return std::make_pair(std::string(due ? "L5" : "L2"),
                          fmt::format("partition {}: observers {} still in ISR {}{}", p, list_text(promoted),
                                      list_text(st.isr), due ? " although demotion is due (G3)" : ""));
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> ObserverChecker::observers_behind() {
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return std::make_pair(std::string("L7"), std::string("the controller is down"));
  for (const auto& [p, st] : ctl->partitions()) {
    const Broker* lb = st.leader == kNoBroker ? nullptr : broker(st.leader);
    if (lb == nullptr) return std::make_pair(std::string("L2"), fmt::format("partition {} has no live leader", p));
    const int64_t leo = lb->replica(p)->log.log_end_offset();
    // What the sync replicas were just required to hold (ReplicationChecker::unconverged:
    // the leader's LEO, or under load its LEO of the previous poll).
    const int64_t target = std::min(leo, base_.converged_below(p));
    for (BrokerId o : st.observers) {
      const Broker* ob = broker(o);
      if (ob == nullptr) return std::make_pair(std::string("L2"), fmt::format("partition {}: observer {} is down", p, name(o)));
      const int64_t oleo = ob->replica(p)->log.log_end_offset();
      if (oleo < target || oleo > leo) {
        return std::make_pair(std::string("L2"), fmt::format("partition {}: observer {} has LEO {}, leader {}", p, name(o),
                                                             oleo, oleo > leo ? leo : target));
      }
    }
  }
  return std::nullopt;
}

void ObserverChecker::verify_acked_everywhere() {
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  for (const auto& [p, st] : ctl->partitions()) {
    std::vector<BrokerId> hosts = st.replicas;
    hosts.insert(hosts.end(), st.observers.begin(), st.observers.end());
    for (const Acked& a : watch_[p].acked) {
      // Acknowledged after the last convergence poll's mark: still on its way to observers.
      if (a.offset >= base_.converged_below(p)) continue;
      for (BrokerId b : hosts) {
        const Broker* br = broker(b);
        if (br != nullptr && a.offset < br->replica(p)->log.log_start_offset()) continue;  // retention
        const auto e = br == nullptr ? std::nullopt : br->replica(p)->log.entry_at(a.offset);
        if (!e || e->record_id != a.record_id) {
          rc_.violation("S1", InvariantKind::kSafety,
                        fmt::format("partition {}: acknowledged record {:#x} at offset {} is {} on {} {} at the end",
                                    p, a.record_id, a.offset,
                                    e ? fmt::format("replaced by {:#x}", e->record_id) : std::string("missing"),
                                    is_observer(st, b) ? "observer" : "replica", name(b)),
                        base_.excuse(p));
          return;
        }
      }
      ++acked_verified_;
    }
  }
}

void ObserverChecker::check_write_availability(Duration bound) {
  if (!lost_at_) return;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  const Instant now = rc_.sim().now();
  for (const auto& [p, st] : ctl->partitions()) {
    const auto& first = watch_[p].first_write_after_loss;
    const Duration waited = (first ? *first : now) - *lost_at_;
    if (waited <= bound || (!first && now - *lost_at_ <= bound)) continue;
    rc_.violation("L5", InvariantKind::kLiveness,
                  fmt::format("partition {}: {} acknowledged write {} after the datacenter loss, above the bound {} "
                              "(session timeout + request timeout + metadata and backoff)",
                              p, first ? "first" : "no", first ? format_duration(waited) : "within " + format_duration(waited),
                              format_duration(bound)));
    return;
  }
}

void ObserverChecker::report_metrics() {
  const Instant now = rc_.sim().now();
  Duration longest;
  for (auto& [p, w] : watch_) {
    Duration l = w.longest_under_min_isr;
    if (w.under_min_isr_since) l = std::max(l, now - *w.under_min_isr_since);
    longest = std::max(longest, l);
  }
  rc_.metric("observer_promotions", static_cast<int64_t>(promotions_));
  rc_.metric("observer_demotions", static_cast<int64_t>(demotions_));
  rc_.metric("max_under_min_isr_ns", longest.ns());
  rc_.metric("acked_verified_everywhere", static_cast<int64_t>(acked_verified_));
  if (!lost_at_) return;
  rc_.metric("dc_lost_at_ns", lost_at_->since_start().ns());
  rc_.metric("dc_down_ns", since(lost_at_, returned_at_));
  rc_.metric("loss_to_first_write_ns", since(lost_at_, first_write_after_loss_));
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  int64_t every = ctl ? 0 : -1;  // without the controller nobody knows: "never", not "instant"
  if (ctl) {
    for (const auto& [p, st] : ctl->partitions()) {
      const int64_t t = since(lost_at_, watch_[p].first_write_after_loss);
      every = t < 0 || every < 0 ? -1 : std::max(every, t);
    }
  }
  rc_.metric("loss_to_every_partition_write_ns", every);
  rc_.metric("return_to_full_isr_ns", since(returned_at_, full_isr_at_));
  rc_.metric("acked_during_loss", static_cast<int64_t>(acked_during_loss_));
  rc_.metric("not_enough_replicas_during_loss", static_cast<int64_t>(not_enough_replicas_during_loss_));
}

}  // namespace faultline::kafka
