#include "sim/nemesis.h"

#include <algorithm>

#include "sim/assert.h"

namespace faultline {

std::vector<FaultKind> all_fault_kinds() {
  std::vector<FaultKind> out;
  for (uint32_t k = 0; k < static_cast<uint32_t>(FaultKind::kCount); ++k) out.push_back(static_cast<FaultKind>(k));
  return out;
}

namespace {

// A random non-empty proper subset of `names` (or all of them if only one).
std::vector<std::string> random_subset(Prng& prng, const std::vector<std::string>& names, size_t max_size) {
  std::vector<std::string> pool = names;
  std::vector<std::string> out;
  const size_t size = 1 + prng.below(std::max<size_t>(1, std::min(max_size, pool.size())));
  for (size_t i = 0; i < size && !pool.empty(); ++i) {
    const size_t pick = prng.below(pool.size());
    out.push_back(pool[pick]);
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> complement(const std::vector<std::string>& all, const std::vector<std::string>& some) {
  std::vector<std::string> out;
  for (const auto& n : all) {
    if (std::find(some.begin(), some.end(), n) == some.end()) out.push_back(n);
  }
  return out;
}

}  // namespace

FaultPlan draw_plan(const Topology& topology, const NemesisOptions& o, Prng prng) {
  FaultPlan plan;
  if (o.kinds.empty() || o.max_faults == 0 || o.end <= o.start) return plan;
  std::vector<std::string> all;
  for (const auto& n : topology.nodes) all.push_back(n.name);
  const std::vector<std::string> dcs = topology.dcs();

  // Swarm: which kinds are on for this seed (at least one), and how hard it hits.
  std::vector<FaultKind> on;
  for (FaultKind k : o.kinds) {
    if (!o.swarm || prng.chance(Ratio{1, 2})) on.push_back(k);
  }
  if (on.empty()) on.push_back(o.kinds[prng.below(o.kinds.size())]);
  const uint32_t faults = o.swarm ? 1 + static_cast<uint32_t>(prng.below(o.max_faults)) : o.max_faults;
  const Duration mean = o.swarm ? o.mean_duration / 2 + prng.uniform(Duration::zero(), o.mean_duration) : o.mean_duration;

  uint32_t power_losses = 0;
  for (uint32_t i = 0; i < faults; ++i) {
    FaultEvent e;
    e.kind = on[prng.below(on.size())];
    e.at = prng.uniform(o.start, o.end - Duration::millis(1));
    e.duration = std::clamp(prng.exponential(mean), Duration::millis(50), o.max_duration);
    switch (e.kind) {
      case FaultKind::kPowerLoss:
      case FaultKind::kDiskReplace:
        if (power_losses >= o.max_power_losses) e.kind = FaultKind::kKill;  // stay in budget
        else ++power_losses;
        [[fallthrough]];
      case FaultKind::kKill:
      case FaultKind::kRestart:
        if (o.crashable.empty()) continue;
        e.a = {o.crashable[prng.below(o.crashable.size())]};
        break;
      case FaultKind::kDiskStall:
      case FaultKind::kDiskSlow:
        e.a = {all[prng.below(all.size())]};
        e.factor = static_cast<uint32_t>(prng.range(2, 50));
        if (e.kind == FaultKind::kDiskStall) e.factor = 1;
        break;
      case FaultKind::kPartition:
      case FaultKind::kPartitionOneWay:
      case FaultKind::kDropConnections:
      case FaultKind::kLinkDelay: {
        if (all.size() < 2) continue;
        e.a = random_subset(prng, all, all.size() - 1);
        const auto rest = complement(all, e.a);
        e.b = random_subset(prng, rest, rest.size());
        if (e.kind == FaultKind::kDropConnections) e.duration = Duration::zero();
        if (e.kind == FaultKind::kLinkDelay) {
          e.delay = prng.uniform(Duration::millis(1), Duration::millis(200));
          e.jitter = prng.uniform(Duration::zero(), e.delay);
        }
        break;
      }
      case FaultKind::kIsolateDc:
        if (dcs.size() < 2) continue;
        e.dc = dcs[prng.below(dcs.size())];
        break;
      case FaultKind::kS3Errors:
        e.rate = Ratio{prng.below(60), 100};
        e.rate2 = Ratio{prng.below(30), 100};
        break;
      case FaultKind::kS3Latency:
        e.delay = prng.uniform(Duration::millis(50), Duration::seconds(2));
        break;
      case FaultKind::kS3Outage:
        break;
      case FaultKind::kS3Ambiguous:
        e.rate = Ratio{1 + prng.below(100), 100};
        break;
      case FaultKind::kElectPreferred:
      case FaultKind::kReassign:
        e.duration = Duration::zero();  // instantaneous
        break;
      case FaultKind::kCount:
        FL_UNREACHABLE("kCount is not a fault");
    }
    plan.events.push_back(std::move(e));
  }
  if (!o.successors.empty()) {
    Prng chains = prng.fork();
    const uint64_t drawn_per_two = chains.below(3);  // 0, 1 or 2 chances in two
    const uint64_t per_two = std::min<uint64_t>(2, o.successor_per_two.value_or(drawn_per_two));
    const size_t drawn = plan.events.size();
    for (size_t i = 0; i < drawn && plan.events.size() < o.max_faults; ++i) {  // within the budget
      const FaultEvent e = plan.events[i];  // a copy: push_back below may move the vector
      if (!is_crash(e.kind)) continue;
      auto succ = std::find_if(o.successors.begin(), o.successors.end(), [&](const auto& s) { return s.first == e.a[0]; });
      if (succ == o.successors.end() || !chains.chance(Ratio{per_two, 2})) continue;
      FaultEvent next;
      next.at = e.at;
      next.kind = FaultKind::kKill;
      next.a = {succ->second};
      next.delay = chains.uniform(Duration::zero(), o.max_successor_delay);
      next.duration = std::clamp(chains.exponential(mean), Duration::millis(50), o.max_duration);
      plan.events.push_back(std::move(next));
    }
  }
  if (!o.disk_moments.empty() || !o.crash_moments.empty() || !o.delay_moments.empty()) {
    Prng moments = prng.fork();
    const uint64_t drawn_per_two = moments.below(3);
    const uint64_t per_two = std::min<uint64_t>(2, o.moment_per_two.value_or(drawn_per_two));
    // Disk faults retargeted to a moment (crashes are not: a crash waiting for a restart that
    // no other crash causes would never strike; see the chained crashes below).
    for (FaultEvent& e : plan.events) {
      const bool disk = e.kind == FaultKind::kDiskStall || e.kind == FaultKind::kDiskSlow;
      if (!disk || o.disk_moments.empty() || !moments.chance(Ratio{per_two, 2})) continue;
      e.a = {o.disk_moments[moments.below(o.disk_moments.size())]};
      e.delay = Duration::zero();  // at the moment itself: the stall must catch the truncation
    }
    // Link delays retargeted to a role: the new leader's links slow down as its term begins.
    for (FaultEvent& e : plan.events) {
      if (e.kind != FaultKind::kLinkDelay || o.delay_moments.empty() || !moments.chance(Ratio{per_two, 2})) continue;
      e.a = {o.delay_moments[moments.below(o.delay_moments.size())]};
      e.b = all;
    }
    // A crash aimed at a role with successors (a leader) starts elections whose followers may
    // be told to truncate: arm a disk stall on that moment with the crash, so that the first
    // such truncation blocks while leadership may move on again (the successor's kill).
    const size_t drawn = plan.events.size();
    for (size_t i = 0; i < drawn && !o.disk_moments.empty() && plan.events.size() < o.max_faults; ++i) {
      const FaultEvent e = plan.events[i];
      const bool leads = is_crash(e.kind) && std::any_of(o.successors.begin(), o.successors.end(),
                                                          [&](const auto& s) { return s.first == e.a.at(0); });
      if (!leads || !moments.chance(Ratio{per_two, 2})) continue;
      FaultEvent stall;
      stall.at = e.at;
      stall.kind = FaultKind::kDiskStall;
      stall.a = {o.disk_moments[moments.below(o.disk_moments.size())]};
      stall.duration = std::clamp(moments.exponential(mean), Duration::millis(50), o.max_duration);
      plan.events.push_back(std::move(stall));
    }
    const size_t with_stalls = plan.events.size();
    for (size_t i = 0; i < with_stalls && plan.events.size() < o.max_faults; ++i) {
      const FaultEvent e = plan.events[i];
      if (e.kind != FaultKind::kDiskStall && e.kind != FaultKind::kDiskSlow) continue;
      auto follow = std::find_if(o.moment_followups.begin(), o.moment_followups.end(),
                                 [&](const auto& f) { return f.first == e.a.at(0); });
      if (follow == o.moment_followups.end() || !moments.chance(Ratio{per_two, 2})) continue;
      FaultEvent kill;
      kill.at = e.at;
      // A restart moves leadership at once (D3) where a kill waits for the session timeout.
      const bool restarts = std::find(o.kinds.begin(), o.kinds.end(), FaultKind::kRestart) != o.kinds.end();
      kill.kind = restarts && moments.chance(Ratio{1, 2}) ? FaultKind::kRestart : FaultKind::kKill;
      kill.a = {follow->second};
      kill.delay = moments.uniform(Duration::zero(), std::min(o.max_moment_delay, e.duration));
      kill.duration = std::clamp(moments.exponential(mean), Duration::millis(50), o.max_duration);
      plan.events.push_back(std::move(kill));
    }
    // A crash may be followed by another aimed at a crash moment (e.g. whoever registers next:
    // most likely the crashed node itself, back from the crash), armed when the first crash's
    // window ends. Power losses stay within the budget.
    uint32_t lossy = 0;
    for (const FaultEvent& e : plan.events) lossy += e.kind == FaultKind::kPowerLoss || e.kind == FaultKind::kDiskReplace;
    const size_t crashes = plan.events.size();
    for (size_t i = 0; i < crashes && !o.crash_moments.empty() && plan.events.size() < o.max_faults; ++i) {
      const FaultEvent e = plan.events[i];
      if (!is_crash(e.kind) || e.duration == Duration::zero() || !moments.chance(Ratio{per_two, 2})) continue;
      FaultEvent next;
      next.at = std::min(e.at + e.duration, o.end - Duration::millis(1));
      next.kind = FaultKind::kKill;
      if (lossy < o.max_power_losses && moments.chance(Ratio{1, 2})) {
        next.kind = FaultKind::kPowerLoss;
        ++lossy;
      }
      next.a = {o.crash_moments[moments.below(o.crash_moments.size())]};
      next.delay = moments.uniform(Duration::zero(), o.max_moment_delay);
      next.duration = std::clamp(moments.exponential(mean), Duration::millis(50), o.max_duration);
      plan.events.push_back(std::move(next));
    }
  }
  plan.sort();
  if (o.max_down > 0) {
    // Replay the crash windows in time order and drop the crashes that would take more than
    // max_down nodes down at once (a node counts as down until its window ends).
    std::vector<FaultEvent> kept;
    std::vector<std::pair<Duration, std::string>> down;  // (up again at, node)
    for (FaultEvent& e : plan.events) {
      if (is_crash(e.kind)) {
        std::erase_if(down, [&](const auto& d) { return d.first <= e.at; });
        // A role may stand for a different node each time: only a node name is "already down".
        const bool role = std::find(topology.roles.begin(), topology.roles.end(), e.a[0]) != topology.roles.end();
        const bool already =
            !role && std::any_of(down.begin(), down.end(), [&](const auto& d) { return d.second == e.a[0]; });
        if (!already && down.size() >= o.max_down) continue;
        if (e.duration == Duration::zero()) e.duration = o.max_duration;  // must come back
        // A strike that waits for a takeover (a delay, a future role) lands later.
        const bool waits = std::any_of(o.successors.begin(), o.successors.end(),
                                       [&](const auto& s) { return s.second == e.a[0]; }) ||
                           std::find(o.crash_moments.begin(), o.crash_moments.end(), e.a[0]) != o.crash_moments.end() ||
                           std::any_of(o.moment_followups.begin(), o.moment_followups.end(),
                                       [&](const auto& f) { return f.second == e.a[0]; });
        const Duration lands = (waits ? o.successor_wait : Duration::zero()) + e.delay;
        if (!already) down.emplace_back(e.at + lands + e.duration + o.rejoin_grace, e.a[0]);
      }
      kept.push_back(std::move(e));
    }
    plan.events = std::move(kept);
  }
  return plan;
}

}  // namespace faultline
