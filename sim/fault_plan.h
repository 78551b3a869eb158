// sim/fault_plan.h
// A fault plan: an explicit, timed list of faults (style.md, example 7). A scenario either
// draws one from the seed (sim/nemesis.h) or is handed one; either way the run is driven by
// the plan alone, so a plan printed as text, edited or shrunk, and parsed back replays the
// same run without the nemesis.
//
// Each event is a window: the fault starts at `at` and heals at `at + duration` (a zero
// duration means an instantaneous fault such as dropping connections, or, for crashes and
// network faults, "until the final heal"). Keeping start and heal in one event is what
// makes shrinking sound: removing an event removes its heal with it.
//
// Text form, one event per line, fields in a fixed order ('#' starts a comment):
//   1.5s kill node=n1 for=800ms
//   2s power-loss node=n2 for=1s
//   2s kill node=next-leader:p0 delay=300ms for=4s
//   3s partition a=n0,n1 b=n2 for=5s
//   3s partition-one-way from=n0 to=n2 for=5s
//   4s isolate-dc dc=dc1 for=3s
//   5s drop-connections a=n1 b=n0,n2
//   6s link-delay a=n0 b=n1 delay=50ms jitter=10ms for=2s
//   7s disk-stall node=n1 for=2s
//   7s disk-stall node=diverging:p0 for=4s
//   7s disk-slow node=n1 factor=10 for=2s
//   8s restart node=leader:p1 for=3s
//   8s disk-replace node=n2 for=5s
//   8s power-loss node=next-registered delay=2s for=3s
//   9s s3-errors slowdown=1/10 internal=1/20 for=3s
//   9s s3-latency extra=200ms for=3s
//   9s s3-outage for=4s
//   9s s3-ambiguous rate=1/2 for=3s
//   10s elect-preferred
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/prng.h"
#include "sim/time.h"

namespace faultline {

enum class FaultKind {
  kKill,             // process kill: page cache survives, peers see connection resets
  kPowerLoss,        // power loss: unsynced data lost (F3), peers see silence
  kPartition,        // a <-> b blocked
  kPartitionOneWay,  // from -> to blocked
  kIsolateDc,        // every link between the datacenter and the rest blocked
  kDropConnections,  // connections between a and b broken once (instantaneous)
  kLinkDelay,        // extra latency and jitter between a and b
  kDiskStall,        // writes and fsyncs block for the window (F4)
  kDiskSlow,         // disk latencies multiplied by factor
  kS3Errors,         // 503 / 500 at rates
  kS3Latency,        // extra object-store latency
  kS3Outage,         // every object-store request fails
  kS3Ambiguous,      // writes time out with unknown outcome at a rate
  kRestart,          // controlled shutdown (D3: clean-shutdown marker), restart after the window
  kDiskReplace,      // power loss, then the node returns with an empty disk (same id)
  kElectPreferred,   // an operation, not a fault: a preferred-leader election (instantaneous)
  kReassign,         // an operation, not a fault: a partition reassignment, chosen by the scenario (instantaneous)
  kCount,
};
const char* to_string(FaultKind k);
// Kinds that take a node down for their window: kill, power-loss, restart, disk-replace.
bool is_crash(FaultKind k);
// The object store's kinds (I2): s3-errors, s3-latency, s3-outage, s3-ambiguous.
bool is_object_store_fault(FaultKind k);
// Kinds aimed at one node (node=): the crashes, disk-stall and disk-slow. Only these take
// role names (Topology::roles) and a delay.
bool is_node_aimed(FaultKind k);
// Kinds whose first node set may be one role: the node-aimed kinds, and link-delay, whose
// `a=` may name a role ("delay everything to and from the new leader of p0"); its `b=` then
// loses the role's holder when the fault strikes. A link delay's `delay` is its latency, so
// it strikes as soon as its target is known.
bool takes_role(FaultKind k);

std::optional<FaultKind> fault_kind_from_string(const std::string& s);

struct FaultEvent {
  Duration at;                 // since the start of the run
  FaultKind kind = FaultKind::kKill;
  Duration duration;           // the window; see the header comment for zero
  std::vector<std::string> a;  // node, a / from, or empty
  std::vector<std::string> b;  // b / to, or empty
  std::string dc;              // isolate-dc
  Duration delay;              // link-delay: extra; s3-latency: extra; node-aimed kinds: see below
  Duration jitter;             // link-delay
  uint32_t factor = 1;         // disk-slow
  Ratio rate{0, 1};            // s3-errors: slowdown; s3-ambiguous: rate
  Ratio rate2{0, 1};           // s3-errors: internal

  std::string to_text() const;
  bool operator==(const FaultEvent& o) const;
};

// How long after its target is known a fault strikes: the node-aimed kinds' `delay`, else 0.
Duration arming_delay(const FaultEvent& e);

struct FaultPlan {
  std::vector<FaultEvent> events;  // in order of `at` (stable for equal times)

  std::string to_text() const;
  // Parses the text form; on error returns nullopt with "line N: what is wrong".
  static std::optional<FaultPlan> parse(const std::string& text, std::string* error);
  void sort();
  bool operator==(const FaultPlan& o) const { return events == o.events; }
};

// Which node names and datacenters a plan may mention; checked before a run starts.
struct Topology {
  struct Node {
    std::string name;
    std::string dc;
  };
  std::vector<Node> nodes;
  // Names a crash may target that stand for whichever node holds a role when the fault is
  // applied (e.g. "leader:p0"), resolved by the scenario (FaultControl::set_resolver), or
  // that name a future holder (e.g. "next-leader:p0": whoever is elected next), which the
  // scenario reports when it happens (FaultControl::set_watcher). Node-aimed kinds take them
  // (is_node_aimed: crashes, disk stalls and slowness): the nemesis can then aim at state
  // and at protocol moments, not just at nodes. Such a fault strikes its `delay` after its
  // target is known: at once for a node or a current role, when the moment comes for a
  // future one ("kill the new leader 300ms into its term", "stall the disk of the follower
  // that is told to truncate", "lose power 2s after a broker registers again").
  std::vector<std::string> roles;
  std::vector<std::string> dcs() const;  // sorted, unique
  std::optional<uint32_t> find(const std::string& name) const;
};

// Checks names and parameters against the topology; "" if the plan can run.
std::string validate_plan(const FaultPlan& plan, const Topology& topology);

}  // namespace faultline
