// A property over random broker lifecycles (registrations, power losses, silences, waits,
// ISR changes and stale ones): the controller keeps its invariants (ISR and ELR within the
// replicas, clean elections from the ISR or, once it is empty, the ELR, no data-losing broker
// eligible, offline only while nobody electable is live).
#include <gtest/gtest.h>

#include <algorithm>
#include <rapidcheck/gtest.h>

#include "tests/kafka_controller_fixture.h"

namespace faultline::kafka {
namespace {

using namespace test;
using namespace literals;

// --- property ------------------------------------------------------------------------------

// One step of a random broker lifecycle plan.
enum class Op { kStart, kStartAfterPowerLoss, kGoSilent, kWait, kAlterIsr, kAlterStale };
struct Step {
  Op op = Op::kWait;
  BrokerId broker = 1;  // kStart, kStartAfterPowerLoss, kGoSilent
  uint32_t arg = 0;     // kWait: seconds; kAlter*: partition (bit 0) and member mask (bits 1-3)
};

void showValue(const Step& s, std::ostream& os) {
  const char* names[] = {"start", "start-after-power-loss", "go-silent", "wait", "alter-isr", "alter-stale"};
  os << names[static_cast<int>(s.op)] << "(broker " << s.broker << ", arg " << s.arg << ")";
}

struct PropertyConfig {
  int32_t min_isr;
  bool elr;
  bool unclean;
};

// Checks every change as it happens and the whole state after every step. Returns the
// first violation, or "" if none.
std::string run_plan(const PropertyConfig& pc, const std::vector<Step>& plan, std::set<std::string>* seen_whys) {
  ControllerCluster t({.partitions = {{1, 2, 3}, {3, 1, 2}}, .min_isr = pc.min_isr, .elr = pc.elr, .unclean = pc.unclean});
  std::string failure;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok && failure.empty()) failure = what;
  };
  auto in = [](const Brokers& s, BrokerId b) { return std::find(s.begin(), s.end(), b) != s.end(); };
  std::set<BrokerId> ever_registered;
  std::map<std::pair<BrokerId, PartitionId>, bool> lost_data;  // S11 ghost state
  int64_t last_epoch = 0;

  auto check_change = [&](const Change& c) {
    const PartitionState& b = c.before;
    const PartitionState& a = c.after;
    const std::string at = "p" + std::to_string(a.partition) + " " + c.why + ": ";
    check(a.partition_epoch == b.partition_epoch + 1, at + "partition epoch bumps by one");
    check(a.leader_epoch == b.leader_epoch + (a.leader != b.leader ? 1 : 0), at + "leader epoch bumps on leader change");
    check(a.replicas == b.replicas && a.observers == b.observers, at + "placement unchanged");
    for (BrokerId m : a.isr) check(in(a.replicas, m), at + "ISR within replicas");
    for (BrokerId m : a.elr) check(in(a.replicas, m) && !in(a.isr, m), at + "ELR within replicas, outside ISR");
    if (a.leader != kNoBroker) check(in(a.isr, a.leader), at + "leader in ISR");
    // Unclean: an unclean election, or KIP-966's recovery (the last known leader, or the
    // longest log), which only happens with ISR and ELR empty.
    const bool unclean =
        c.why == kWhyUncleanElection || c.why == kWhyUncleanRecovery || c.why == kWhyLastKnownLeader;
    // The change that empties ISR and ELR (a broker leaving them after an unclean restart)
    // may carry the election too, as Kafka's PartitionChangeBuilder builds one record: judge
    // what it left, not what it started from.
    if (c.why == kWhyUncleanRecovery || c.why == kWhyLastKnownLeader) {
      check(pc.elr && a.isr == Brokers{a.leader} && a.elr.empty(), at + "unclean recovery: the leader alone, no ELR");
    }
    if (c.why == kWhyLastKnownLeader) {
      check(b.last_known_elr == Brokers{a.leader} || b.leader == a.leader, at + "the last known leader is elected");
    }
    if (a.leader != kNoBroker && a.leader != b.leader && !unclean) {
      check(in(b.isr, a.leader) || (pc.elr && in(b.elr, a.leader)), at + "clean election from ISR or ELR");
    }
    if (pc.elr) {
      check(a.isr.size() < static_cast<size_t>(pc.min_isr) || a.elr.empty(), at + "ELR empty at min ISR");
    } else {
      check(a.elr.empty() && !a.isr.empty(), at + "without ELR the ISR never empties");
    }
    // S11: a replica that lost data rejoins only through the leader (D2), with ELR on.
    // Rejoining through the leader (D2), or an excused unclean election, makes it whole.
    if (c.why == kWhyAlterPartition) {
      for (BrokerId m : a.isr) lost_data[{m, a.partition}] = false;
    }
    if (unclean) lost_data[{a.leader, a.partition}] = false;
    if (pc.elr && !unclean) {
      for (BrokerId m : a.isr) check(!lost_data[{m, a.partition}], at + "no data-losing broker in the ISR");
      for (BrokerId m : a.elr) check(!lost_data[{m, a.partition}], at + "no data-losing broker in the ELR");
    }
  };
  auto check_state = [&] {
    for (const auto& [id, p] : t.controller().partitions()) {
      const std::string at = "p" + std::to_string(id) + ": ";
      auto live = [&](BrokerId b) { return t.broker(b).registered && !t.broker(b).fenced; };
      if (p.leader != kNoBroker) {
        check(live(p.leader), at + "leader is live");
        continue;
      }
      // Offline only while nobody electable is live.
      for (BrokerId r : p.replicas) {
        // E1: the ELR is electable only once the ISR is empty.
        const bool electable = in(p.isr, r) || (pc.elr && p.isr.empty() && in(p.elr, r)) || pc.unclean;
        check(!(electable && live(r)), at + "offline although broker " + std::to_string(r) + " is electable");
      }
    }
  };

  for (const Step& s : plan) {
    const size_t seen = t.changes.size();
    switch (s.op) {
      case Op::kStart:
      case Op::kStartAfterPowerLoss: {
        const bool clean = s.op == Op::kStart;
        if (!clean && ever_registered.contains(s.broker)) {
          for (PartitionId p : {0, 1}) lost_data[{s.broker, p}] = true;
        }
        ever_registered.insert(s.broker);
        const int64_t e = t.start_broker(s.broker, clean);
        check(e > last_epoch, "broker epochs strictly increase");
        last_epoch = e;
        break;
      }
      case Op::kGoSilent:
        t.stop_heartbeats(s.broker);
        break;
      case Op::kWait:
        t.run_for(Duration::seconds(s.arg % 15 + 1));
        break;
      case Op::kAlterIsr:
      case Op::kAlterStale: {
        const PartitionId p = static_cast<PartitionId>(s.arg & 1);
        const PartitionState before = t.partition(p);
        if (before.leader == kNoBroker) break;
        Brokers isr = {before.leader};
        for (BrokerId m = 1; m <= 3; ++m) {
          if (m != before.leader && ((s.arg >> m) & 1) != 0) isr.push_back(m);
        }
        AlterPartitionRequest req = t.propose(p, isr);
        if (s.op == Op::kAlterStale) req.partition_epoch -= 1;
        const AlterPartitionResponse r = t.alter(req.leader, req);
        // The fencer may change the partition while the request and response travel, so
        // the answer is one of the states the partition went through meanwhile: the one
        // the request met, or (if applied) the one it made.
        bool answered_with_a_real_state = r.state == before;
        bool applied = false;
        for (size_t i = seen; i < t.changes.size(); ++i) {
          const Change& c = t.changes[i];
          if (c.after.partition != p) continue;
          answered_with_a_real_state = answered_with_a_real_state || r.state == c.after;
          applied = applied || c.why == kWhyAlterPartition;
        }
        check(answered_with_a_real_state, "the response carries the controller's state");
        if (r.error != Errc::kNone) check(!applied, "a rejected request changes nothing");
        // A stale partition epoch is INVALID_UPDATE_VERSION, unless the partition changed in
        // flight: then a check Kafka makes first (leader, leader epoch, broker epoch) may answer.
        const bool changed_in_flight = std::any_of(t.changes.begin() + static_cast<std::ptrdiff_t>(seen),
                                                   t.changes.end(), [&](const Change& c) { return c.after.partition == p; });
        if (s.op == Op::kAlterStale) {
          check(r.error != Errc::kNone && (changed_in_flight || r.error == Errc::kInvalidUpdateVersion),
                "stale partition epoch rejected");
        }
        break;
      }
    }
    for (size_t i = seen; i < t.changes.size(); ++i) {
      check_change(t.changes[i]);
      const bool from_elr = t.changes[i].after.leader != kNoBroker &&
                            t.changes[i].after.leader != t.changes[i].before.leader &&
                            in(t.changes[i].before.elr, t.changes[i].after.leader);
      seen_whys->insert(from_elr ? "elected-from-elr" : t.changes[i].why);
      if (t.changes[i].after.leader == kNoBroker) seen_whys->insert("offline");
    }
    check_state();
    if (!failure.empty()) return failure;
  }
  return failure;
}

RC_GTEST_PROP(ControllerProps, RandomBrokerLifecyclesKeepTheControllerInvariants, ()) {
  const PropertyConfig pc{*rc::gen::inRange<int32_t>(1, 4), *rc::gen::arbitrary<bool>(),
                          *rc::gen::arbitrary<bool>()};
  const auto step = rc::gen::build<Step>(
      rc::gen::set(&Step::op, rc::gen::element(Op::kStart, Op::kStart, Op::kStartAfterPowerLoss, Op::kGoSilent,
                                               Op::kWait, Op::kWait, Op::kAlterIsr, Op::kAlterStale)),
      rc::gen::set(&Step::broker, rc::gen::inRange<BrokerId>(1, 4)),
      rc::gen::set(&Step::arg, rc::gen::inRange<uint32_t>(0, 16)));
  const auto plan = *rc::gen::container<std::vector<Step>>(step);
  RC_TAG(pc.elr ? "elr" : "no-elr");
  std::set<std::string> seen;
  const std::string failure = run_plan(pc, plan, &seen);
  RC_CLASSIFY(seen.contains("offline"), "a partition went offline");
  RC_CLASSIFY(seen.contains("elected-from-elr"), "a leader elected from the ELR");
  RC_CLASSIFY(seen.contains(kWhyUncleanElection), "an unclean election");
  RC_CLASSIFY(seen.contains(kWhyUncleanShutdown), "a broker left after an unclean shutdown");
  RC_CLASSIFY(seen.contains(kWhyAlterPartition), "an ISR change applied");
  RC_ASSERT(failure == std::string());
}

}  // namespace
}  // namespace faultline::kafka
