#include "scenarios/kafka/checker.h"

#include <fmt/format.h>

#include <algorithm>

namespace faultline::kafka {

namespace {
bool contains(const std::vector<BrokerId>& v, BrokerId b) { return std::find(v.begin(), v.end(), b) != v.end(); }
}  // namespace

ReplicationChecker::ReplicationChecker(RunContext& rc, const ReplicationConfig& config, std::vector<NodeId> brokers,
                                       ControllerIds controller)
    : rc_(rc),
      config_(config),
      brokers_(std::move(brokers)),
      controller_(controller),
      rules_(rc, config, controller, [this](const std::string& rule, PartitionId p, const std::string& message) {
        // A broken rule is a broken step, whatever was lost or excused around it.
        if (report_rules_) rc_.violation(rule, InvariantKind::kSafety, fmt::format("partition {}: {}", p, message));
      }),
      order_([this](PartitionId p, const std::string& message, const std::vector<uint64_t>& records) {
        violation("S21", p, message, records);
      }),
      metadata_([this](PartitionId p, const std::string& message) {
        if (p < 0) {
          rc_.violation("S22", InvariantKind::kSafety, message);
        } else {
          violation("S22", p, message);
        }
      }) {
  // S22 (A4): the ledger of committed metadata records; it also decides which controller's
  // commit the other controller hooks hear of.
  controller_hooks_.on_committed = [this](NodeId c, int64_t offset, const QuorumEntry& e) {
    return metadata_.on_committed(c, offset, e);
  };
  broker_hooks_.on_metadata_applied = [this](NodeId b, const MetadataResponse& md) { metadata_.on_metadata_applied(b, md); };
  broker_hooks_.on_fetch_answered = [this](NodeId b, const FetchRequest& req, const FetchResponse& resp) {
    rules_.on_fetch_answered(b, req, resp);
  };
  broker_hooks_.on_follower_hw = [this](NodeId b, PartitionId p, int64_t response_hw) {
    rules_.on_follower_hw(b, p, response_hw);
  };
  broker_hooks_.on_follower_truncated = [this](NodeId b, PartitionId p, int64_t offset, Epoch fetched_in) {
    rules_.on_follower_truncated(b, p, offset, fetched_in);
  };
  broker_hooks_.on_isr_proposed = [this](NodeId b, PartitionId p, const std::vector<BrokerId>& isr) {
    rules_.on_isr_proposed(b, p, isr);
  };
  broker_hooks_.on_become_leader = [this](NodeId b, PartitionId p, Epoch e) { on_become_leader(b, p, e); };
  broker_hooks_.on_hw = [this](NodeId b, PartitionId p, int64_t o, int64_t n, bool leader, Epoch e) {
    on_hw(b, p, o, n, leader, e);
    rules_.check_bounds(b, p);
  };
  broker_hooks_.on_truncate = [this](NodeId b, PartitionId p, int64_t offset) {
    on_truncate(b, p, offset);
    rules_.check_bounds(b, p);
  };
  broker_hooks_.on_produce_appended = [this](NodeId, const ProduceRequest& req, int64_t) {
    rules_.on_produce_appended(req);
  };
  broker_hooks_.on_append = [this](NodeId b, PartitionId p, const std::vector<LogEntry>& entries) {
    if (!entries.empty()) replica_leo_[{b, p}] = entries.back().offset + 1;
    rules_.on_append(b, p, entries);
    rules_.check_bounds(b, p);
  };
  broker_hooks_.on_registered = [this](NodeId b, int64_t) { on_registered(b); };
  broker_hooks_.on_log_start = [this](NodeId b, PartitionId p, int64_t start) {
    // C8 (and H6's premise): a log start offset moves only over committed data, by retention
    // below the HW or by a full truncation to the leader's log start.
    if (start > true_hw(p)) {
      violation("C8", p, fmt::format("{} raised its log start offset to {} above the true HW {}: uncommitted data "
                                     "deleted", rc_.sim().trace().node_name(b), start, true_hw(p)));
    }
    rules_.check_bounds(b, p);
  };
  broker_hooks_.on_ack_all = [this](NodeId b, PartitionId p, int64_t last, const std::vector<BrokerId>& isr) {
    on_ack_all(b, p, last, isr);
  };
  broker_hooks_.on_consumer_read = [this](NodeId b, PartitionId p, int64_t upto, int64_t hw) {
    if (upto > hw) {
      violation("S13", p, fmt::format("{} served a consumer up to offset {} above its HW {}",
                                      rc_.sim().trace().node_name(b), upto - 1, hw));
    }
  };
  broker_hooks_.on_epoch_regression = [this](NodeId b, PartitionId p, int64_t offset, Epoch log_epoch, Epoch fetched) {
    violation("S9", p, fmt::format("follower {} was sent records of epoch {} at offset {} after its own epoch {}: "
                                   "its log's epochs would decrease",
                                   rc_.sim().trace().node_name(b), fetched, offset, log_epoch));
  };
  controller_hooks_.on_partition_change = [this](const PartitionState& before, const PartitionState& after,
                                                 const char* why) {
    on_partition_change(before, after, why);
    rules_.on_partition_change(before, after, why);
  };
  producer_hooks_.on_attempt = [this](NodeId, PartitionId p, uint64_t record_id, int acks) {
    ++attempts_;
    rules_.on_produce_attempt(record_id);
    RecordHistory& h = history_[record_id];
    h.partition = p;
    h.acks = acks;
    if (h.attempts++ == 0) h.first_sent_at = rc_.sim().now();
    h.sent_at = rc_.sim().now();
  };
  producer_hooks_.on_result = [this](NodeId pr, PartitionId p, uint64_t rid, int acks, Errc err, int64_t off) {
    on_result(pr, p, rid, acks, err, off);
    rules_.on_produce_result(p, rid, err);
  };
  producer_hooks_.on_unanswered = [this](NodeId pr, PartitionId p, NodeId b, Instant sent_at) {
    // L1: with the network healed and every broker up, a broker answers every produce
    // request within its timeout (success, an error, or REQUEST_TIMED_OUT).
    if (!healed_at_ || sent_at < *healed_at_ + Duration::seconds(5)) return;
    rc_.violation("L1", InvariantKind::kLiveness,
                  fmt::format("partition {}: {}'s produce request to {} sent at {} after the heal got no answer", p,
                              rc_.sim().trace().node_name(pr), rc_.sim().trace().node_name(b),
                              format_duration(sent_at.since_start())));
  };
  consumer_hooks_.on_read = [this](NodeId c, PartitionId p, NodeId from, const LogEntry& e) { on_read(c, p, from, e); };
}

std::optional<uint64_t> ReplicationChecker::committed(PartitionId p, int64_t o) const {
  auto g = ghosts_.find(p);
  if (g == ghosts_.end()) return std::nullopt;
  const Committed* c = g->second.committed.find(o);
  if (c == nullptr) return std::nullopt;
  return c->record_id;
}

void ReplicationChecker::report_metrics() const {
  rc_.metric("acked", static_cast<int64_t>(acked_count_));
  rc_.metric("consumed", static_cast<int64_t>(consumed_count_));
  rc_.metric("produce_attempts", static_cast<int64_t>(attempts_));
  rc_.metric("rule_checks_S21", static_cast<int64_t>(order_.judged()));
  rc_.metric("rule_checks_S22", static_cast<int64_t>(metadata_.checks()));
  rules_.report_counts();
}

const Broker* ReplicationChecker::broker(NodeId b) const { return rc_.sim().process_ptr<Broker>(b); }

void ReplicationChecker::violation(const std::string& invariant, PartitionId p, const std::string& message,
                                   const std::vector<uint64_t>& records) {
  std::string text = fmt::format("partition {}: {}", p, message);
  for (uint64_t r : records) text += fmt::format("; {:#x}: {}", r, history_of(r));
  // Lost page caches and unclean elections excuse lost or rewritten data, never a log whose
  // epochs go backwards (S9), a lossy replica kept in sync (S11) or metadata ahead of
  // durable data (S12).
  const bool excusable = invariant != "S9" && invariant != "S11" && invariant != "S12" && invariant != "S22";
  rc_.violation(invariant, InvariantKind::kSafety, text, excusable ? excuse_for(p) : std::string());
}

std::string ReplicationChecker::history_of(uint64_t record_id) const {
  const RecordHistory* found = history_.find(record_id);
  if (found == nullptr) return "never produced";
  const RecordHistory& h = *found;
  std::string out = fmt::format("sent at {} with acks={}", format_duration(h.first_sent_at.since_start()),
                                h.acks == -1 ? std::string("all") : std::to_string(h.acks));
  if (h.attempts > 1) {
    out += fmt::format(", {} attempts (the same batch, B6), the last at {}", h.attempts,
                       format_duration(h.sent_at.since_start()));
  }
  if (!h.answered_at) {
    out += ", no answer yet";
  } else if (*h.answered_at < h.sent_at) {
    out += fmt::format(", the last attempt unanswered (an earlier one ended {} at {})", to_string(h.answer),
                       format_duration(h.answered_at->since_start()));
  } else if (h.answer == Errc::kNone) {
    out += fmt::format(", answered ok at offset {} at {}", h.offset, format_duration(h.answered_at->since_start()));
  } else {
    out += fmt::format(", ended {} at {}", to_string(h.answer), format_duration(h.answered_at->since_start()));
  }
  if (h.reads > 0) out += fmt::format(", read {} times from {}", h.reads, format_duration(h.first_read_at->since_start()));
  return out;
}

std::string ReplicationChecker::excuse_for(PartitionId p) const {
  auto it = ghosts_.find(p);
  if (it == ghosts_.end()) return {};
  if (!it->second.excuse.empty()) return it->second.excuse;
  // More lossy crashes among the partition's replicas than min ISR - 1 can lose acked data.
  if (it->second.lossy_crashes > static_cast<uint32_t>(std::max(0, config_.min_insync_replicas - 1))) {
    return fmt::format("{} power losses of replicas, more than min.insync.replicas - 1", it->second.lossy_crashes);
  }
  return {};
}

void ReplicationChecker::snapshot_leos(NodeId b) {
  // What the replicas hold right before a power loss: S11 compares it with what they hold
  // when the broker registers again (the hooks alone could miss an append).
  const Broker* br = broker(b);
  if (br == nullptr) return;  // down already: the hooks' last view stands
  for (auto& [key, leo] : replica_leo_) {
    if (key.first == b && br->replica(key.second) != nullptr) leo = br->replica(key.second)->log.log_end_offset();
  }
  for (const auto& [p, g] : ghosts_) {
    if (const Replica* r = br->replica(p)) replica_leo_[{b, p}] = r->log.log_end_offset();
  }
}

void ReplicationChecker::check_durable(NodeId b) {
  // S12: the recovery point a crash leaves on disk (F2: the checkpoint) is never above the end
  // of the valid data the segments hold durably (F1: only fsynced bytes survive); else
  // recovery would skip re-validating data that may be gone or torn.
  Disk& disk = rc_.sim().disk(b);
  std::vector<PartitionId> partitions;  // every partition with a recovery point on this disk
  for (const std::string& f : disk.list("p")) {
    const auto p = PartitionLog::partition_of(f);
    if (p && f == PartitionLog::recovery_point_file(*p)) partitions.push_back(*p);
  }
  for (PartitionId p : partitions) {
    const auto rp_bytes = disk.durable_content(PartitionLog::recovery_point_file(p));
    if (!rp_bytes) continue;
    const auto rp = PartitionLog::parse_offset_checkpoint(*rp_bytes);
    std::map<int64_t, std::string> segments;
    for (const std::string& f : disk.list(PartitionLog::directory(p))) {
      if (const auto base = PartitionLog::segment_base(f)) segments[*base] = disk.durable_content(f).value_or("");
    }
    const auto end = PartitionLog::end_offset_of(segments);
    if (rp && end && *rp > *end) {
      violation("S12", p, fmt::format("{} lost power with a durable recovery point {} above the durable data's end {}",
                                      rc_.sim().trace().node_name(b), *rp, *end));
      return;
    }
  }
}

void ReplicationChecker::note_power_loss(NodeId b) {
  snapshot_leos(b);
  check_durable(b);
  // Counted for the partitions the broker hosts (known while its process runs; a broker
  // already down at the power loss is counted for all, which only widens the excuse).
  const Broker* br = broker(b);
  for (auto& [p, g] : ghosts_) {
    if (br == nullptr || br->replica(p) != nullptr) ++g.lossy_crashes;
  }
}

void ReplicationChecker::note_power_loss_except_observers(NodeId b) {
  snapshot_leos(b);
  check_durable(b);
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return;
  for (const auto& [p, st] : ctl->partitions()) {
    bool member = contains(st.replicas, b) || contains(st.isr, b);
    if (const Broker* leader = st.leader == kNoBroker ? nullptr : broker(st.leader)) {
      const Replica* r = leader->replica(p);
      if (r != nullptr && r->leader) member = member || contains(leader->maximal_isr(*r), b);
    }
    if (member) ++ghosts_[p].lossy_crashes;
  }
}

int64_t ReplicationChecker::true_hw(PartitionId p) const {
  auto it = ghosts_.find(p);
  if (it == ghosts_.end() || it->second.committed.empty()) return 0;
  return it->second.committed.last_key() + 1;
}

void ReplicationChecker::bind(PartitionId p, int64_t offset, uint64_t record_id, const char* how) {
  PartitionGhost& g = ghosts_[p];
  auto [was, fresh] = g.bound.emplace(offset, record_id);
  if (!fresh && *was != record_id) {
    violation("S3", p,
              fmt::format("offset {} was bound to record {:#x}, then {} returned record {:#x}", offset, *was, how,
                          record_id),
              {*was, record_id});
  }
}

void ReplicationChecker::on_become_leader(NodeId b, PartitionId p, Epoch epoch) {
  PartitionGhost& g = ghosts_[p];
  const Broker* br = broker(b);
  if (br == nullptr) return;
  const Replica* r = br->replica(p);
  // S1: every acknowledged acks=all record is at its offset in every later leader's log, or
  // below its log start offset, deleted by retention (which never passes the HW; C8 below).
  for (const Acked& a : g.acked) {
    if (a.offset < r->log.log_start_offset()) continue;
    const auto e = r->log.entry_at(a.offset);
    if (!e || e->record_id != a.record_id) {
      violation("S1", p,
                fmt::format("acked record {:#x} at offset {} (acked at {}) is {} in the log of new leader {} "
                            "(epoch {}, LEO {})",
                            a.record_id, a.offset, format_duration(a.at.since_start()),
                            e ? fmt::format("replaced by {:#x}", e->record_id) : std::string("missing"),
                            rc_.sim().trace().node_name(b), epoch, r->log.log_end_offset()),
                {a.record_id});
      return;
    }
  }
}

void ReplicationChecker::on_hw(NodeId b, PartitionId p, int64_t old_hw, int64_t new_hw, bool leader, Epoch epoch) {
  PartitionGhost& g = ghosts_[p];
  const Broker* br = broker(b);
  if (br == nullptr) return;
  const Replica* r = br->replica(p);
  if (leader) {
    // S4: a leader's HW never decreases in its term.
    auto [it, fresh] = g.leader_hw.emplace(std::make_pair(b, epoch), new_hw);
    if (!fresh) {
      if (new_hw < it->second) {
        violation("S4", p, fmt::format("leader {} HW went from {} down to {} in epoch {}",
                                       rc_.sim().trace().node_name(b), it->second, new_hw, epoch));
      }
      it->second = new_hw;
    }
    // S7: with no ISR change pending and the controller's latest state known to the leader,
    // the maximal ISR it computes the HW over includes every member of the committed ISR.
    if (const auto ctl = freshest_controller(rc_.sim(), controller_)) {
      auto pit = ctl->partitions().find(p);
      if (pit != ctl->partitions().end() && pit->second.leader == b && !r->pending_isr &&
          r->meta.partition_epoch == pit->second.partition_epoch) {
        for (BrokerId m : pit->second.isr) {
          if (!br->in_maximal_isr(*r, m)) {  // contains(maximal_isr(*r), m), without building it
            violation("S7", p, fmt::format("leader {} advanced the HW to {} over maximal ISR without {}, a member of "
                                           "the controller's ISR",
                                           rc_.sim().trace().node_name(b), new_hw, rc_.sim().trace().node_name(m)));
            return;
          }
        }
      }
    }
    // What the leader's HW passes is committed.
    for (int64_t o = std::max<int64_t>(old_hw, r->log.log_start_offset()); o < new_hw; ++o) {
      const auto e = r->log.entry_at(o);
      if (!e) continue;
      const Committed now{e->record_id, e->epoch};
      auto [c, inserted] = g.committed.emplace(o, now);
      if (!inserted && *c != now) {
        violation("S2", p, fmt::format("offset {} committed as {:#x} (epoch {}), now committed again as {:#x} (epoch {}) "
                                       "by leader {} epoch {}",
                                       o, c->record_id, c->epoch, e->record_id, e->epoch,
                                       rc_.sim().trace().node_name(b), epoch),
                  {c->record_id, e->record_id});
        return;
      }
      if (inserted) order_.on_committed(p, *e);  // S21
    }
    return;
  }
  // S2: a follower's entries below its HW match what was committed.
  for (int64_t o = std::max<int64_t>(old_hw, r->log.log_start_offset()); o < new_hw; ++o) {
    const Committed* c = g.committed.find(o);
    const auto e = r->log.entry_at(o);
    if (c != nullptr && e && *c != Committed{e->record_id, e->epoch}) {
      violation("S2", p, fmt::format("follower {} has {:#x} (epoch {}) at offset {} below its HW {}, committed was "
                                     "{:#x} (epoch {})",
                                     rc_.sim().trace().node_name(b), e->record_id, e->epoch, o, new_hw,
                                     c->record_id, c->epoch),
                {e->record_id, c->record_id});
      return;
    }
  }
}

void ReplicationChecker::on_registered(NodeId b) {
  // The process is back (or new): a replica shorter than the hooks last saw it lost an
  // unsynced tail in a power loss (F3). It must not lead or count as in sync until a leader
  // re-admits it through D2 (S11). The controller has already handled the registration.
  const Broker* br = broker(b);
  if (br == nullptr) return;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  for (auto& [key, had] : replica_leo_) {
    if (key.first != b) continue;
    const Replica* r = br->replica(key.second);
    if (r == nullptr) continue;
    const int64_t has = r->log.log_end_offset();
    if (has < had) {
      lost_data_[key] = {had, has};
      const PartitionState* st = nullptr;
      if (ctl) {
        auto pit = ctl->partitions().find(key.second);
        if (pit != ctl->partitions().end()) st = &pit->second;
      }
      if (st != nullptr && (st->leader == b || contains(st->isr, b) || contains(st->elr, b))) {
        violation("S11", key.second,
                  fmt::format("{} came back with LEO {} after a crash (it had {}) and is still {}",
                              rc_.sim().trace().node_name(b), has, had,
                              st->leader == b ? "leader" : contains(st->isr, b) ? "in the ISR" : "in the ELR"));
      }
    }
    had = has;
  }
}

void ReplicationChecker::check_rejoin(const PartitionState& before, const PartitionState& after, const char* why) {
  const std::string reason = why;
  // Unclean election and KIP-966's unclean recovery (every ISR and ELR member crashed
  // uncleanly: the longest log leads) are the documented ways around D2 (D4, E1).
  const bool unclean =
      reason == kWhyUncleanElection || reason == kWhyUncleanRecovery || reason == kWhyLastKnownLeader;
  for (auto it = lost_data_.begin(); it != lost_data_.end();) {
    const auto [b, p] = it->first;
    if (p != after.partition) {
      ++it;
      continue;
    }
    const bool joined = contains(after.isr, b) && !contains(before.isr, b);
    if (unclean || (joined && reason == kWhyAlterPartition)) {
      it = lost_data_.erase(it);  // re-admitted by a leader through D2 (S6 checks its log)
      continue;
    }
    const char* role = after.leader == b ? "leader" : contains(after.isr, b) ? "in the ISR"
                                                     : contains(after.elr, b) ? "in the ELR" : nullptr;
    if (role != nullptr) {
      violation("S11", p,
                fmt::format("{} lost data in a crash (LEO {} -> {}) and became {} ({}) before rejoining per D2",
                            rc_.sim().trace().node_name(b), it->second.first, it->second.second, role, why));
    }
    ++it;
  }
}

void ReplicationChecker::on_truncate(NodeId b, PartitionId p, int64_t offset) {
  if (const Broker* tb = broker(b); tb != nullptr && tb->replica(p) != nullptr) {
    replica_leo_[{b, p}] = tb->replica(p)->log.log_end_offset();
  }
  // S6: a member of the controller's ISR (in its current registration) never drops below the
  // true HW.
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  const Broker* br = broker(b);
  if (!ctl || br == nullptr || !br->registered()) return;
  auto pit = ctl->partitions().find(p);
  auto bit = ctl->brokers().find(b);
  if (pit == ctl->partitions().end() || bit == ctl->brokers().end()) return;
  if (bit->second.epoch != br->broker_epoch()) return;
  if (contains(pit->second.isr, b) && offset < true_hw(p)) {
    violation("S6", p, fmt::format("ISR member {} truncated to {} below the true HW {}", rc_.sim().trace().node_name(b),
                                   offset, true_hw(p)));
  }
}

void ReplicationChecker::on_ack_all(NodeId b, PartitionId p, int64_t last, const std::vector<BrokerId>& maximal_isr) {
  // S10: at the moment of a successful acks=all answer, |maximal ISR| >= min ISR and every
  // member has the record.
  const auto need = static_cast<size_t>(config_.min_insync_replicas);
  if (maximal_isr.size() < need) {
    violation("S10", p, fmt::format("{} acknowledged offset {} with maximal ISR of {} < min.insync.replicas {}",
                                    rc_.sim().trace().node_name(b), last, maximal_isr.size(), need));
    return;
  }
  const Broker* leader = broker(b);
  const auto mine = leader->replica(p)->log.entry_at(last);
  const Replica* lr = leader->replica(p);
  for (BrokerId m : maximal_isr) {
    const Broker* mb = broker(m);
    // Down since (its disk is what S1 will judge), or back and without the replica until
    // metadata names it again (a reassignment added it, KIP-455).
    if (mb == nullptr || mb->replica(p) == nullptr) continue;
    // A member that restarted since its last fetch had the record when the HW passed it;
    // what it recovered is judged by S1 and S6, not here.
    auto f = lr->followers.find(m);
    if (m != b && (f == lr->followers.end() || f->second.broker_epoch != mb->broker_epoch())) continue;
    if (last < mb->replica(p)->log.log_start_offset()) continue;  // committed, then deleted by retention
    const auto e = mb->replica(p)->log.entry_at(last);
    if (!e || !mine || *e != *mine) {
      violation("S10", p, fmt::format("{} acknowledged offset {} but ISR member {} does not have it",
                                      rc_.sim().trace().node_name(b), last, rc_.sim().trace().node_name(m)));
      return;
    }
  }
}

void ReplicationChecker::on_partition_change(const PartitionState& before, const PartitionState& after,
                                             const char* why) {
  const std::string reason = why;
  // Kafka counts the last known leader's election as unclean (KIP-966): it went through an
  // unclean shutdown, and what a power loss took from it is lost. Only then is it an excuse:
  // a last known leader that lost nothing (it was killed, or lost only what it never
  // acknowledged) holds every committed record, and a loss after it is a real one (found by
  // review: the excuse stuck to every later finding of the partition).
  const bool lossy_last_known =
      reason == kWhyLastKnownLeader && lost_data_.contains({after.leader, after.partition});
  check_rejoin(before, after, why);
  PartitionGhost& g = ghosts_[after.partition];
  if ((reason == kWhyUncleanElection || lossy_last_known) && g.excuse.empty()) {
    g.excuse = fmt::format("{} at {}",
                           reason == kWhyUncleanElection ? "unclean leader election"
                                                         : "last known leader elected after losing data",
                           format_duration(rc_.sim().now().since_start()));
  }
  // S9: leader epochs are unique and increase.
  if (after.leader_epoch < before.leader_epoch ||
      (after.leader != before.leader && after.leader != kNoBroker && after.leader_epoch <= before.leader_epoch)) {
    violation("S9", after.partition,
              fmt::format("leader epoch went from {} to {} ({})", before.leader_epoch, after.leader_epoch, why));
  }
  // L3: after a shrink is answered, the leader's HW catches up promptly with what the
  // remaining ISR holds (it no longer waits for the member that left).
  if (reason == kWhyAlterPartition && after.leader == before.leader && after.leader != kNoBroker &&
      after.isr.size() < before.isr.size() &&
      after.isr.size() >= static_cast<size_t>(config_.min_insync_replicas)) {
    const Broker* lb = broker(after.leader);
    if (lb != nullptr && lb->replica(after.partition) != nullptr && lb->replica(after.partition)->leader) {
      const Replica* lr = lb->replica(after.partition);
      int64_t target = lr->log.log_end_offset();
      for (BrokerId m : after.isr) {
        if (m == after.leader) continue;
        auto f = lr->followers.find(m);
        target = std::min(target, f == lr->followers.end() ? 0 : std::max<int64_t>(f->second.leo, 0));
      }
      // C5: a follower outside the ISR that the leader still counts as caught up holds the HW
      // too. The member a shrink removes was lagging when the leader proposed it, but an
      // answer that comes late (a controller failover in between, A4) may find it caught up
      // again, and then it holds the HW until it lags for replica.lag.time.max.
      for (const auto& [m, f] : lr->followers) {
        if (contains(after.isr, m) || f.leo < 0) continue;
        if (rc_.sim().now() - f.last_caught_up <= config_.replica_lag_time_max) target = std::min(target, f.leo);
      }
      const NodeId leader = after.leader;
      const PartitionId p = after.partition;
      const Epoch epoch = after.leader_epoch;
      const int32_t partition_epoch = after.partition_epoch;
      rc_.sim().scheduler().after(Duration::seconds(3), [this, leader, p, epoch, partition_epoch, target] {
        const Broker* b = broker(leader);
        if (b == nullptr) return;
        const Replica* r = b->replica(p);
        if (r == nullptr || !r->leader || r->leader_epoch != epoch || r->log.high_watermark() >= target) return;
        // Only once the leader has the answer (a lost response is not this rule's concern).
        if (r->meta.partition_epoch < partition_epoch || r->pending_isr) return;
        rc_.violation("L3", InvariantKind::kLiveness,
                      fmt::format("partition {}: 3s after an ISR shrink was answered, leader {} HW is {}, below {} "
                                  "which every remaining ISR member holds",
                                  p, rc_.sim().trace().node_name(leader), r->log.high_watermark(), target));
      });
    }
  }
  // S6: every live ISR member (in its current registration) has the committed prefix.
  const int64_t thw = true_hw(after.partition);
  for (BrokerId m : after.isr) {
    if (contains(before.isr, m)) continue;  // judge new members only; old ones at truncation
    const Broker* mb = broker(m);
    if (mb == nullptr || !mb->registered()) continue;
    // A broker that has not created the replica yet (a reassignment added it) holds nothing.
    const Replica* r = mb->replica(after.partition);
    const int64_t leo = r == nullptr ? 0 : r->log.log_end_offset();
    if (leo < thw) {
      violation("S6", after.partition,
                fmt::format("{} joined the ISR with LEO {} below the true HW {} ({})", rc_.sim().trace().node_name(m),
                            leo, thw, why));
      return;
    }
  }
}

void ReplicationChecker::on_result(NodeId producer, PartitionId p, uint64_t record_id, int acks, Errc error,
                                   int64_t offset) {
  RecordHistory& h = history_[record_id];
  h.answered_at = rc_.sim().now();
  h.answer = error;
  h.offset = offset;
  // Availability (L2 as a bound): once every fault has healed, and the sync replicas have had
  // a fetch whose answer a partition dropped time out (this network loses what a partition
  // drops; TCP would retransmit it), a session timeout to register again, a lag time to
  // catch up and rejoin, and 5s for metadata and AlterPartition, the ISR is at min ISR
  // again: NOT_ENOUGH_REPLICAS then means a healthy cluster refused a write.
  const Duration settle = config_.replica_fetch_wait_max + config_.rpc_timeout + config_.broker_session_timeout +
                          config_.replica_lag_time_max + Duration::seconds(5);
  if (error == Errc::kNotEnoughReplicas && healed_at_ && h.sent_at > *healed_at_ + settle) {
    rc_.violation("L2", InvariantKind::kLiveness,
                  fmt::format("partition {}: a produce sent {} after the heal (every broker up and healthy for longer "
                              "than session timeout + lag time + 5s) was answered NOT_ENOUGH_REPLICAS",
                              p, format_duration(h.sent_at - *healed_at_)));
  }
  if (error != Errc::kNone || acks != -1) return;
  // B6: an idempotent resend of a batch whose answer was lost is answered again, with the
  // original offset: the same acknowledgement, counted once.
  if (h.acked) {
    bind(p, offset, record_id, "a repeated acknowledgement");
    return;
  }
  h.acked = true;
  if (rc_.observed()) {
    rc_.checker_event(producer, "acks", fmt::format("ack p{} offset {}", p, offset),
                      {{"record", fmt::format("{:#x}", record_id)}, {"story", history_of(record_id)}});
  }
  PartitionGhost& g = ghosts_[p];
  ++acked_count_;
  g.acked.push_back({offset, record_id, rc_.sim().now()});
  bind(p, offset, record_id, "an acks=all acknowledgement");
  const Committed* c = g.committed.find(offset);
  if (c != nullptr && c->record_id != record_id) {
    violation("S3", p,
              fmt::format("acked record {:#x} at offset {} but {:#x} was committed there", record_id, offset,
                          c->record_id),
              {record_id, c->record_id});
  }
}

void ReplicationChecker::on_read(NodeId, PartitionId p, NodeId, const LogEntry& e) {
  ++consumed_count_;
  RecordHistory& h = history_[e.record_id];
  if (h.reads++ == 0) h.first_read_at = rc_.sim().now();
  bind(p, e.offset, e.record_id, "a consumer read");
}

std::optional<std::pair<std::string, std::string>> ReplicationChecker::unconverged() {
  using Pending = std::pair<std::string, std::string>;
  const auto ctl = freshest_controller(rc_.sim(), controller_);
  if (!ctl) return std::make_pair(std::string("L7"), std::string("the controller is down"));
  // Every partition is looked at (not only up to the first pending one), so that each
  // poll's LEO snapshot is complete for the next.
  std::optional<Pending> first;
  std::map<PartitionId, std::pair<BrokerId, int64_t>> now;
  int64_t moving = 0;  // partitions judged against the previous poll's LEO
  auto pending = [&](std::string invariant, std::string what) {
    if (!first) first = std::make_pair(std::move(invariant), std::move(what));
  };
  for (const auto& [p, st] : ctl->partitions()) {
    if (st.leader == kNoBroker) {
      pending("L2", fmt::format("partition {} has no leader", p));
      continue;
    }
    const Broker* leader = broker(st.leader);
    if (leader == nullptr) {
      pending("L2", fmt::format("partition {}: leader is down", p));
      continue;
    }
    const Replica* lr = leader->replica(p);
    if (lr == nullptr || !lr->leader) {
      pending("L2", fmt::format("partition {}: {} does not know it leads", p, rc_.sim().trace().node_name(st.leader)));
      continue;
    }
    const int64_t leo = lr->log.log_end_offset();
    now[p] = {st.leader, leo};
    std::vector<BrokerId> want = st.replicas;
    std::vector<BrokerId> isr = st.isr;
    std::sort(want.begin(), want.end());
    std::sort(isr.begin(), isr.end());
    if (isr != want) {
      pending("L2", fmt::format("partition {}: ISR has {} of {} replicas", p, isr.size(), want.size()));
      continue;
    }
    // Quiet: HW = LEO everywhere. Under load: the previous poll's LEO of the same leader.
    bool quiet = lr->log.high_watermark() == leo;
    for (BrokerId b : st.replicas) {
      const Broker* br = broker(b);
      quiet = quiet && br != nullptr && br->replica(p) != nullptr && br->replica(p)->log.log_end_offset() == leo;
    }
    int64_t target = leo;
    if (auto prev = poll_leo_.find(p); !quiet && prev != poll_leo_.end() && prev->second.first == st.leader &&
                                       prev->second.second <= leo) {
      target = prev->second.second;
    }
    converged_below_[p] = target;
    moving += target < leo ? 1 : 0;
    if (lr->log.high_watermark() < target) {
      pending("L3", fmt::format("partition {}: leader HW {} has not reached its LEO {} with a full ISR", p,
                                lr->log.high_watermark(), target == leo ? leo : target));
      continue;
    }
    for (BrokerId b : st.replicas) {
      const Broker* br = broker(b);
      if (br == nullptr || br->replica(p) == nullptr) {
        pending("L2", fmt::format("partition {}: replica down or not yet created", p));
        break;
      }
      const int64_t rleo = br->replica(p)->log.log_end_offset();
      if (rleo < target || rleo > leo) {
        pending("L6", fmt::format("partition {}: {} has LEO {}, leader {}", p, rc_.sim().trace().node_name(b), rleo,
                                  rleo > leo ? leo : target));
        break;
      }
    }
  }
  poll_leo_ = std::move(now);
  // How many partitions converged while still being written to (the metric shows the path).
  if (!first) rc_.metric("converged_under_load", moving);
  return first;
}

int64_t ReplicationChecker::converged_below(PartitionId p) const {
  auto it = converged_below_.find(p);
  return it == converged_below_.end() ? 0 : it->second;
}

}  // namespace faultline::kafka
