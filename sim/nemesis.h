// sim/nemesis.h
// Draws a fault plan from a seed and a fault budget, with swarm selection (TigerBeetle's
// swarm testing, Groce et al. 2012): each seed first decides which fault kinds are on at
// all and how strong they are, then draws the faults. Runs that leave some kinds off reach
// states that an everything-always-on nemesis never reaches (a cluster that is never
// partitioned but crashes a lot, say).
//
// The nemesis draws from its own stream, Prng(seed, "nemesis"), and only produces a plan:
// running the plan it printed gives the same trace as running the nemesis itself.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/fault_plan.h"
#include "sim/prng.h"

namespace faultline {

struct NemesisOptions {
  Duration start = Duration::seconds(1);  // no fault starts before this
  Duration end = Duration::seconds(20);   // ... or at/after this
  uint32_t max_faults = 8;                // the fault budget: at most this many events
  Duration mean_duration = Duration::seconds(2);  // mean fault window (exponential-ish)
  Duration max_duration = Duration::seconds(8);   // longest fault window
  std::vector<FaultKind> kinds;           // kinds the scenario can take (empty: none)
  // Lossy crashes allowed (the excuse budget): power losses and disk replacements, which
  // lose even what was fsynced. Beyond it a drawn power loss or disk replacement is a kill.
  uint32_t max_power_losses = 1;
  std::vector<std::string> crashable;     // nodes (or roles) that may crash or restart
  // Most crashable nodes down at once (0: no limit). A scenario sets it to stay within what
  // its system tolerates (e.g. RF - 1 brokers), so that a sweep with every bug switch off
  // reports nothing; crash events that would exceed it are dropped from the plan.
  uint32_t max_down = 0;
  // How long a restarted node still counts as down for max_down: the time it needs to
  // rejoin (re-register, catch up, re-enter the ISR) before it can stand in for another.
  Duration rejoin_grace = Duration::zero();
  bool swarm = true;                      // off: every allowed kind is on, at mean strength
  // Chained crashes (election steering): a crash aimed at a role listed here as (role,
  // successor), e.g. ("leader:p0", "next-leader:p0"), may be followed by a kill of the
  // successor a delay after it takes over, the delay drawn uniformly in [0,
  // max_successor_delay]. How often: successor_per_two chances in two, or, unset, drawn per
  // seed (never, half the time, always; also without swarm). Chained kills count against
  // max_faults and max_down like any crash. The follow-up is a plan event of its own, so
  // replay and shrinking treat it like any other. Drawn after the rest of the plan, from a
  // stream of its own: a scenario without successors gets the same plans as before.
  std::vector<std::pair<std::string, std::string>> successors;
  Duration max_successor_delay = Duration::seconds(1);
  // Chances in two that a crash aimed at a role is chained; unset: drawn per seed (swarm).
  std::optional<uint32_t> successor_per_two;
  // How long a takeover may take after the crash that causes it (failure detection plus
  // election); for max_down a chained kill counts as down from the first crash until this
  // plus its delay, its window and the rejoin grace.
  Duration successor_wait = Duration::seconds(12);
  // Faults armed on protocol moments: future roles the scenario's watcher reports when the
  // moment comes. A drawn disk stall or slowdown may be aimed at one of `disk_moments` (e.g.
  // "diverging", the follower next told to truncate), striking at the moment itself; a crash
  // of a role with successors (a leader) may bring a stall on a disk moment armed when the
  // crash's window ends (the old leader comes back and is told to truncate); a stall on a
  // moment may bring a kill or restart of its `moment_followups` partner; and any crash may
  // be followed by a crash aimed at one of `crash_moments` (e.g. "next-registered", whoever
  // registers next), armed when the first crash's window ends and striking a delay in
  // [0, max_moment_delay] after the moment. How often: moment_per_two chances in two each,
  // or, unset, drawn per seed (never, half the time, always). Drawn after everything else
  // from a stream of its own, so a scenario without moments gets the same plans as before;
  // the added faults count against max_faults. A crash whose moment does not come within
  // successor_wait expires, which is also what max_down assumes; a disk fault waits for its
  // moment until the heal.
  // Roles a drawn link delay may be aimed at (its a=, e.g. "next-leader:p0": delay
  // everything to and from whoever takes over, around the election), with b= every node.
  std::vector<std::string> delay_moments;
  std::vector<std::string> disk_moments;
  std::vector<std::string> crash_moments;
  Duration max_moment_delay = Duration::seconds(3);
  std::optional<uint32_t> moment_per_two;
  // (disk moment, crash moment) pairs: a disk fault aimed at the first may be joined by a
  // kill aimed at the second, armed at the same time, so that both strike at the same
  // moment, the kill its delay later. E.g. ("diverging", "diverging-leader"): the follower
  // told to truncate stalls, and the leader that told it dies during the stall, so a new
  // leader's fetcher meets the truncation in flight (issue 9's race).
  std::vector<std::pair<std::string, std::string>> moment_followups;
};

// Every fault kind, for scenarios that support them all.
std::vector<FaultKind> all_fault_kinds();

FaultPlan draw_plan(const Topology& topology, const NemesisOptions& options, Prng prng);

}  // namespace faultline
