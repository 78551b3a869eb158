// The fake object store's contract (sim/object_store.h, semantics.md I1-I3): strong
// read-after-write, last-linearized-writer-wins, faults that are values and apply nothing
// when they refuse, ambiguous timeouts whose outcome is a function of the seed, callers that
// die mid-request, and a ground truth that checkers can replay.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "sim/object_store.h"
#include "sim/scheduler.h"

namespace faultline {
namespace {

using namespace literals;
using S = ObjectStatus;

constexpr Instant at(Duration d) { return Instant::zero() + d; }

// No jitter: every leg takes exactly `base`, so timings can be asserted to the nanosecond.
ObjectStoreOptions fixed_latency(Duration base = 5_ms) {
  ObjectStoreOptions o;
  o.latency_base = base;
  o.latency_jitter_mean = 0_ms;
  return o;
}

constexpr NodeId kMaxNode = 8;

// One scheduler and one store. Callers are fibers of nodes 0..kMaxNode-1, each with its own
// client; the destructor unwinds them while the store they reference is still alive.
struct World {
  explicit World(uint64_t seed = 1, ObjectStoreOptions o = fixed_latency()) : store(s, seed, o) {}
  ~World() {
    for (NodeId n = 0; n < kMaxNode; ++n) s.kill_node(n);
  }
  void client(NodeId node, std::function<void(ObjectStoreClient&)> body) {
    ASSERT_LT(node, kMaxNode);
    s.spawn(node, "client", [this, node, body = std::move(body)] {
      ObjectStoreClient c(store, node);
      body(c);
    });
  }
  RunOutcome run(Duration until = 10_min) { return s.run_until(at(until)); }
  std::vector<ObjectCall> calls(ObjectOp op) const {
    std::vector<ObjectCall> out;
    for (const ObjectCall& c : store.calls()) {
      if (c.op == op) out.push_back(c);
    }
    return out;
  }

  Trace trace;
  Scheduler s{trace};
  ObjectStore store;
};

// Counts destructions: proof that a killed fiber's stack really unwound.
struct Guard {
  int* count;
  ~Guard() { ++*count; }
};

// --- I1: consistency -----------------------------------------------------------------------

TEST(ObjectStore, PutIsVisibleToGetHeadAndListAtOnceFromAnyNode) {
  World w;
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.put("seg/0001", "abc"), S::kOk);
    EXPECT_EQ(w.s.now(), at(10_ms));  // one 5 ms leg there, one back
    const GetResult g = c.get("seg/0001");
    EXPECT_EQ(g.status, S::kOk);
    EXPECT_EQ(g.bytes, "abc");
  });
  // Another node asks the moment the writer hears back: the write is already linearized.
  w.client(2, [&](ObjectStoreClient& c) {
    w.s.sleep_until(at(10_ms));
    const HeadResult h = c.head("seg/0001");
    EXPECT_EQ(h.status, S::kOk);
    EXPECT_EQ(h.size_bytes, 3u);
    const ListResult l = c.list("seg/");
    EXPECT_EQ(l.status, S::kOk);
    EXPECT_EQ(l.keys, std::vector<std::string>{"seg/0001"});
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  ASSERT_EQ(w.store.objects().count("seg/0001"), 1u);
  EXPECT_EQ(w.store.objects().at("seg/0001").written_at, at(5_ms));  // the linearization point
  EXPECT_EQ(w.store.counters().ok, 4u);
}

TEST(ObjectStore, OverwriteReplacesTheWholeObjectAndDeleteRemovesIt) {
  World w;
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.put("k", "first, longer value"), S::kOk);
    EXPECT_EQ(c.put("k", "second"), S::kOk);
    EXPECT_EQ(c.get("k").bytes, "second");
    EXPECT_EQ(c.head("k").size_bytes, 6u);
    EXPECT_EQ(w.store.objects().at("k").version, 2u);
    EXPECT_EQ(c.del("k"), S::kOk);
    EXPECT_EQ(c.get("k").status, S::kNotFound);
    EXPECT_EQ(c.head("k").status, S::kNotFound);
    EXPECT_TRUE(c.list("").keys.empty());
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_TRUE(w.store.objects().empty());
  EXPECT_EQ(w.store.counters().writes_applied, 3u);
}

TEST(ObjectStore, DeleteOfAMissingKeySucceeds) {
  World w;
  w.client(1, [&](ObjectStoreClient& c) { EXPECT_EQ(c.del("never-written"), S::kOk); });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  const auto dels = w.calls(ObjectOp::kDelete);
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_TRUE(dels[0].applied);
  EXPECT_EQ(dels[0].status, S::kOk);
}

TEST(ObjectStore, ListReturnsSortedKeysUnderThePrefixOnly) {
  World w;
  w.client(1, [&](ObjectStoreClient& c) {
    for (const char* k : {"b/2", "a/1", "b/10", "b0", "b/1", "c"}) ASSERT_EQ(c.put(k, "x"), S::kOk);
    EXPECT_EQ(c.list("b/").keys, (std::vector<std::string>{"b/1", "b/10", "b/2"}));
    EXPECT_EQ(c.list("").keys, (std::vector<std::string>{"a/1", "b/1", "b/10", "b/2", "b0", "c"}));
    EXPECT_TRUE(c.list("d").keys.empty());
    EXPECT_EQ(c.del("b/10"), S::kOk);
    EXPECT_EQ(c.list("b/").keys, (std::vector<std::string>{"b/1", "b/2"}));
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
}

TEST(ObjectStore, ConcurrentPutsToOneKeyLastLinearizedWriterWins) {
  // Node 1 always issues first; with jitter the other PUT sometimes reaches the service
  // later. The winner must follow the linearization order, never the issue order.
  std::map<NodeId, int> wins;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    World w(seed, ObjectStoreOptions{});
    std::string seen_after;
    w.client(1, [&](ObjectStoreClient& c) { EXPECT_EQ(c.put("k", "from-1"), S::kOk); });
    w.client(2, [&](ObjectStoreClient& c) { EXPECT_EQ(c.put("k", "from-2"), S::kOk); });
    w.client(3, [&](ObjectStoreClient& c) {
      w.s.sleep_for(5_s);  // both are long done
      seen_after = c.get("k").bytes;
    });
    ASSERT_EQ(w.run().reason, StopReason::kDrained);
    const auto puts = w.calls(ObjectOp::kPut);
    ASSERT_EQ(puts.size(), 2u);
    ASSERT_TRUE(puts[0].applied && puts[1].applied);
    ASSERT_EQ(puts[0].caller, 1u);  // issued first
    const bool second_won = puts[1].applied_order > puts[0].applied_order;
    const ObjectCall& last = second_won ? puts[1] : puts[0];
    const ObjectCall& first = second_won ? puts[0] : puts[1];
    EXPECT_LE(first.applied_at, last.applied_at);  // applied_order follows time
    const std::string expected = last.caller == 1 ? "from-1" : "from-2";
    EXPECT_EQ(w.store.objects().at("k").bytes, expected) << "seed " << seed;
    EXPECT_EQ(w.store.objects().at("k").version, last.version);
    EXPECT_EQ(seen_after, expected) << "seed " << seed;
    ++wins[last.caller];
  }
  EXPECT_GT(wins[1], 0);
  EXPECT_GT(wins[2], 0);
}

// --- I2: faults ----------------------------------------------------------------------------

TEST(ObjectStore, EveryRequestRefusedWith503AppliesNothing) {
  World w;
  w.store.errors(Ratio::always(), Ratio::never(), at(1_min));
  w.client(1, [&](ObjectStoreClient& c) {
    for (int i = 0; i < 20; ++i) EXPECT_EQ(c.put(fmt::format("k{}", i), "x"), S::kSlowDown);
    EXPECT_EQ(c.del("k0"), S::kSlowDown);
    EXPECT_EQ(c.get("k0").status, S::kSlowDown);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_TRUE(w.store.objects().empty());
  for (const ObjectCall& c : w.store.calls()) EXPECT_FALSE(c.applied) << c.id;
  EXPECT_EQ(w.store.counters().rejected, 22u);
  EXPECT_EQ(w.store.counters().writes_applied, 0u);
}

TEST(ObjectStore, EveryRequestRefusedWith500AppliesNothing) {
  World w;
  w.store.errors(Ratio::never(), Ratio::always(), at(1_min));
  w.client(1, [&](ObjectStoreClient& c) {
    for (int i = 0; i < 10; ++i) EXPECT_EQ(c.put(fmt::format("k{}", i), "x"), S::kInternalError);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_TRUE(w.store.objects().empty());
  EXPECT_EQ(w.store.counters().internal_error, 10u);
}

TEST(ObjectStore, ZeroErrorRatesLetEveryRequestThrough) {
  World w;
  w.store.errors(Ratio::never(), Ratio::never(), at(1_min));
  w.client(1, [&](ObjectStoreClient& c) {
    for (int i = 0; i < 50; ++i) EXPECT_EQ(c.put(fmt::format("k{}", i), "x"), S::kOk);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_EQ(w.store.objects().size(), 50u);
}

TEST(ObjectStore, ErrorRatesRefuseRoughlyTheirShareAndOnlyRefusedWritesAreMissing) {
  World w(7, ObjectStoreOptions{});
  w.store.errors(Ratio{1, 4}, Ratio{1, 5}, at(60_min));
  constexpr int kPuts = 2000;
  w.client(1, [&](ObjectStoreClient& c) {
    for (int i = 0; i < kPuts; ++i) c.put(fmt::format("k{:04}", i), "x");
  });
  ASSERT_EQ(w.run(120_min).reason, StopReason::kDrained);
  const ObjectStoreCounters& n = w.store.counters();
  // Expected 500 and 400; bounds at about five standard deviations.
  EXPECT_NEAR(static_cast<double>(n.slow_down), 500.0, 100.0);
  EXPECT_NEAR(static_cast<double>(n.internal_error), 400.0, 90.0);
  EXPECT_EQ(n.ok + n.slow_down + n.internal_error, static_cast<uint64_t>(kPuts));
  for (const ObjectCall& c : w.store.calls()) {
    EXPECT_EQ(c.applied, c.status == S::kOk) << c.id;
    EXPECT_EQ(w.store.objects().count(c.key), c.status == S::kOk ? 1u : 0u) << c.key;
  }
}

TEST(ObjectStore, ErrorWindowEndsAtItsDeadline) {
  World w;
  w.store.errors(Ratio::always(), Ratio::never(), at(1_s));
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.put("during", "x"), S::kSlowDown);
    w.s.sleep_until(at(1_s));
    EXPECT_EQ(c.put("after", "x"), S::kOk);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_EQ(w.store.objects().count("during"), 0u);
  EXPECT_EQ(w.store.objects().count("after"), 1u);
}

TEST(ObjectStore, OutageRefusesWhatReachesTheServiceDuringItAndNothingAfter) {
  World w;  // 5 ms per leg
  w.s.at(at(0_ms), [&] { w.store.outage(at(1_s)); });
  w.client(1, [&](ObjectStoreClient& c) {
    w.s.sleep_for(1_ms);
    EXPECT_EQ(c.put("a", "x"), S::kSlowDown);
    EXPECT_EQ(w.s.now(), at(11_ms));  // refused after the normal latency, not a hang
    EXPECT_EQ(c.get("a").status, S::kSlowDown);
    EXPECT_EQ(c.list("").status, S::kSlowDown);
    w.s.sleep_until(at(994_ms));
    EXPECT_EQ(c.put("b", "x"), S::kSlowDown);  // reaches the service at 999 ms
  });
  w.client(2, [&](ObjectStoreClient& c) {
    w.s.sleep_until(at(996_ms));
    EXPECT_EQ(c.put("c", "x"), S::kOk);  // sent during the outage, arrives at 1001 ms
    EXPECT_EQ(c.put("d", "x"), S::kOk);
    EXPECT_EQ(c.get("c").status, S::kOk);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  std::vector<std::string> keys;
  for (const auto& [k, o] : w.store.objects()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"c", "d"}));
}

TEST(ObjectStore, HealEndsEveryFaultAtOnce) {
  World w;
  w.store.outage(at(1_min));
  w.store.errors(Ratio::always(), Ratio::never(), at(1_min));
  w.store.latency_spike(1_s, at(1_min));
  w.store.ambiguous_timeouts(Ratio::always(), at(1_min));
  w.s.at(at(1_ms), [&] { w.store.heal(); });
  w.client(1, [&](ObjectStoreClient& c) {
    w.s.sleep_for(1_ms);
    EXPECT_EQ(c.put("k", "x"), S::kOk);
    EXPECT_EQ(w.s.now(), at(11_ms));
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
}

TEST(ObjectStore, LatencySpikeAddsLatencyOnlyToLegsStartingInsideItsWindow) {
  World w;  // 5 ms per leg
  w.store.latency_spike(100_ms, at(1_s));
  std::vector<Duration> took;
  w.client(1, [&](ObjectStoreClient& c) {
    for (Instant start : {at(0_ms), at(900_ms), at(2_s)}) {
      w.s.sleep_until(start);
      EXPECT_EQ(c.get("k").status, S::kNotFound);
      took.push_back(w.s.now() - start);
    }
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  // Both legs inside; only the request leg inside (the reply leaves at 1005 ms); neither.
  EXPECT_EQ(took, (std::vector<Duration>{210_ms, 110_ms, 10_ms}));
}

TEST(ObjectStore, ASpikeLongerThanTheClientTimeoutTimesOutAWriteThatStillLands) {
  ObjectStoreOptions o = fixed_latency();
  o.client_timeout = 1_s;
  World w(1, o);
  w.store.latency_spike(2_s, at(1_min));
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.put("k", "x"), S::kTimeout);
    EXPECT_EQ(w.s.now(), at(1_s));
    EXPECT_EQ(w.store.objects().count("k"), 0u);
    EXPECT_EQ(w.store.writes_pending(), 1u);
    EXPECT_EQ(w.store.writes_settle_at(), at(2_s + 5_ms));
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_EQ(w.store.objects().count("k"), 1u);
  EXPECT_EQ(w.store.counters().writes_applied_unobserved, 1u);
  EXPECT_EQ(w.store.writes_pending(), 0u);
}

// --- I2: ambiguous timeouts ----------------------------------------------------------------

struct AmbiguousPut {
  bool applied = false;
  Instant applied_at;
  ObjectStatus status = S::kOk;
  Instant completed_at;
  bool visible_when_client_gave_up = false;
  bool visible_at_end = false;
  uint64_t trace_hash = 0;
  bool operator==(const AmbiguousPut&) const = default;
};

// One PUT at t=0 under 100% ambiguous timeouts, default (jittered) options.
AmbiguousPut ambiguous_put(uint64_t seed) {
  World w(seed, ObjectStoreOptions{});
  w.store.ambiguous_timeouts(Ratio::always(), at(1_s));
  AmbiguousPut out;
  w.client(1, [&](ObjectStoreClient& c) {
    out.status = c.put("k", "v");
    out.visible_when_client_gave_up = w.store.objects().count("k") == 1;
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  const ObjectCall& call = w.store.calls().at(0);
  EXPECT_TRUE(call.ambiguous);
  out.applied = call.applied;
  out.applied_at = call.applied_at;
  out.completed_at = call.completed_at;
  out.visible_at_end = w.store.objects().count("k") == 1;
  out.trace_hash = w.trace.hash();
  EXPECT_EQ(w.store.writes_pending(), 0u);
  return out;
}

TEST(ObjectStore, AmbiguousWriteOutcomeIsAFunctionOfTheSeed) {
  const Duration timeout = ObjectStoreOptions{}.client_timeout;
  int applied = 0, not_applied = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const AmbiguousPut a = ambiguous_put(seed);
    EXPECT_EQ(a, ambiguous_put(seed)) << "seed " << seed << " did not replay";
    EXPECT_EQ(a.status, S::kTimeout) << "seed " << seed;
    EXPECT_EQ(a.completed_at, at(timeout)) << "seed " << seed;
    EXPECT_EQ(a.visible_at_end, a.applied) << "seed " << seed;
    (a.applied ? applied : not_applied)++;
  }
  EXPECT_GT(applied, 0);
  EXPECT_GT(not_applied, 0);
}

TEST(ObjectStore, AnAmbiguousWriteCanLandAfterItsClientSawTheTimeout) {
  // Find a seed where the write lands late, then watch it from another node: absent right
  // after the writer gave up, present later, with nobody writing in between.
  uint64_t late_seed = 0;
  for (uint64_t seed = 1; seed <= 50 && late_seed == 0; ++seed) {
    const AmbiguousPut a = ambiguous_put(seed);
    if (a.applied && a.applied_at > a.completed_at) {
      EXPECT_FALSE(a.visible_when_client_gave_up);
      late_seed = seed;
    }
  }
  ASSERT_NE(late_seed, 0u) << "no seed in 1..50 applied an ambiguous write after the timeout";

  World w(late_seed, ObjectStoreOptions{});
  w.store.ambiguous_timeouts(Ratio::always(), at(1_s));
  std::vector<ObjectStatus> seen_by_reader;
  Instant gave_up;
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.put("k", "v"), S::kTimeout);
    gave_up = w.s.now();
    EXPECT_EQ(w.store.ambiguous_writes_pending(), 1u);
  });
  w.client(2, [&](ObjectStoreClient& c) {
    w.s.sleep_until(at(ObjectStoreOptions{}.client_timeout + 1_ms));
    seen_by_reader.push_back(c.get("k").status);
    w.s.sleep_until(at(1_min));
    seen_by_reader.push_back(c.get("k").status);
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_EQ(seen_by_reader, (std::vector<ObjectStatus>{S::kNotFound, S::kOk}));
  EXPECT_GT(w.store.calls().at(0).applied_at, gave_up);
  EXPECT_EQ(w.store.counters().writes_applied_unobserved, 1u);
}

TEST(ObjectStore, AmbiguousReadsSimplyTimeOut) {
  World w;
  w.store.ambiguous_timeouts(Ratio::always(), at(1_min));
  w.client(1, [&](ObjectStoreClient& c) {
    EXPECT_EQ(c.get("k").status, S::kTimeout);
    EXPECT_EQ(c.head("k").status, S::kTimeout);
    EXPECT_EQ(c.list("").status, S::kTimeout);
    EXPECT_EQ(w.s.now(), at(30_s));  // three full client timeouts
  });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  for (const ObjectCall& c : w.store.calls()) {
    EXPECT_FALSE(c.applied);
    EXPECT_TRUE(c.ambiguous);
  }
  EXPECT_EQ(w.store.counters().lost, 3u);
}

// --- callers that die ----------------------------------------------------------------------

TEST(ObjectStore, AWriteInFlightLandsEvenIfItsCallerIsKilledWhileWaiting) {
  World w;  // 5 ms per leg: reaches the service at 5 ms, reply due at 10 ms
  int unwound = 0;
  bool continued = false;
  w.client(1, [&](ObjectStoreClient& c) {
    Guard g{&unwound};
    c.put("k", "v");
    continued = true;
  });
  w.s.at(at(2_ms), [&] { w.s.kill_node(1); });
  EXPECT_EQ(w.run().reason, StopReason::kDrained);
  EXPECT_EQ(unwound, 1);
  EXPECT_FALSE(continued);
  EXPECT_EQ(w.s.live_fibers(1), 0u);
  ASSERT_EQ(w.store.objects().count("k"), 1u);
  const ObjectCall& call = w.store.calls().at(0);
  EXPECT_TRUE(call.abandoned);
  EXPECT_FALSE(call.completed);
  EXPECT_EQ(call.completed_at, at(2_ms));
  EXPECT_TRUE(call.applied);
  EXPECT_EQ(call.applied_at, at(5_ms));
  EXPECT_EQ(w.store.counters().abandoned, 1u);
  EXPECT_EQ(w.store.counters().writes_applied_unobserved, 1u);
}

// --- properties ----------------------------------------------------------------------------

// A fiber's script: each step a put, delete or get of one of a few keys, then a pause.
struct Step {
  int kind = 0;  // 0 put, 1 delete, 2 get
  int key = 0;
  int pause_us = 0;
};
struct FaultEvent {
  int kind = 0;  // 0 errors, 1 outage, 2 latency spike, 3 ambiguous timeouts
  int start_ms = 0;
  int length_ms = 0;
  int rate_percent = 0;
};

// Readable counterexamples once RapidCheck has shrunk them.
void showValue(const Step& s, std::ostream& os) {
  os << (s.kind == 0 ? "put" : s.kind == 1 ? "del" : "get") << " k" << s.key << " +" << s.pause_us << "us";
}
void showValue(const FaultEvent& f, std::ostream& os) {
  const char* kinds[] = {"errors", "outage", "latency-spike", "ambiguous-timeouts"};
  os << kinds[f.kind] << " @" << f.start_ms << "ms for " << f.length_ms << "ms at " << f.rate_percent << "%";
}

struct Outcome {
  uint64_t trace_hash = 0;
  ObjectStoreCounters counters;
  std::string failure;  // empty: every check passed
};

// Runs the scripts (one node each) against the fault plan, then checks the ground truth
// against a model that replays the applied calls in linearization order.
Outcome run_and_check(uint64_t seed, const std::vector<std::vector<Step>>& scripts, const std::vector<FaultEvent>& plan) {
  ObjectStoreOptions o;
  o.client_timeout = 2_s;
  o.ambiguous_late_max = 4_s;
  World w(seed, o);
  for (const FaultEvent& f : plan) {
    w.s.at(at(Duration::millis(f.start_ms)), [&w, f] {
      const Instant until = w.s.now() + Duration::millis(f.length_ms);
      const Ratio rate = Ratio::percent(static_cast<uint64_t>(f.rate_percent));
      switch (f.kind) {
        case 0: w.store.errors(Ratio::percent(static_cast<uint64_t>(f.rate_percent / 2)),
                               Ratio::percent(static_cast<uint64_t>(f.rate_percent / 2)), until); break;
        case 1: w.store.outage(until); break;
        case 2: w.store.latency_spike(Duration::millis(f.rate_percent * 30), until); break;
        default: w.store.ambiguous_timeouts(rate, until); break;
      }
    });
  }
  std::map<uint64_t, std::string> put_bytes;  // call id -> what it sent
  std::map<uint64_t, GetResult> got;          // call id -> what the caller saw
  for (size_t f = 0; f < scripts.size(); ++f) {
    w.client(static_cast<NodeId>(f), [&, f](ObjectStoreClient& c) {
      for (size_t i = 0; i < scripts[f].size(); ++i) {
        const Step& st = scripts[f][i];
        const std::string key = fmt::format("k{}", st.key);
        const uint64_t id = w.store.calls().size();  // the id the next call gets
        if (st.kind == 0) {
          put_bytes[id] = fmt::format("n{}-s{}", f, i);
          c.put(key, put_bytes[id]);
        } else if (st.kind == 1) {
          c.del(key);
        } else {
          got[id] = c.get(key);
        }
        w.s.sleep_for(Duration::micros(st.pause_us));
      }
    });
  }
  Outcome out;
  const RunOutcome r = w.run(10_min);
  auto fail = [&](std::string why) {
    if (out.failure.empty()) out.failure = std::move(why);
  };
  if (r.reason != StopReason::kDrained) fail(fmt::format("run ended {}: {}", to_string(r.reason), r.detail));
  if (w.store.writes_pending() != 0) fail("writes still pending at the end");

  // Replay in linearization order.
  std::vector<const ObjectCall*> applied;
  for (const ObjectCall& c : w.store.calls()) {
    if (!c.completed) fail(fmt::format("call {} never completed", c.id));
    if (c.completed_at - c.issued_at > o.client_timeout) fail(fmt::format("call {} waited too long", c.id));
    if ((c.status == S::kOk || c.status == S::kNotFound) && !c.applied) fail(fmt::format("call {} answered but not applied", c.id));
    if ((c.status == S::kSlowDown || c.status == S::kInternalError) && c.applied) fail(fmt::format("call {} refused but applied", c.id));
    if (c.applied) applied.push_back(&c);
  }
  std::sort(applied.begin(), applied.end(), [](const ObjectCall* a, const ObjectCall* b) { return a->applied_order < b->applied_order; });
  std::map<std::string, std::pair<uint64_t, std::string>> model;  // key -> (version, bytes)
  uint64_t writes = 0;
  Instant last_applied;
  for (size_t i = 0; i < applied.size(); ++i) {
    const ObjectCall& c = *applied[i];
    if (c.applied_order != i + 1) fail(fmt::format("applied_order has a gap at {}", c.id));
    if (c.applied_at < last_applied) fail(fmt::format("call {} linearized before its predecessor", c.id));
    if (c.applied_at < c.issued_at) fail(fmt::format("call {} applied before it was issued", c.id));
    last_applied = c.applied_at;
    if (c.op == ObjectOp::kPut) {
      if (c.version != ++writes) fail(fmt::format("put {} has version {}, expected {}", c.id, c.version, writes));
      model[c.key] = {c.version, put_bytes.at(c.id)};
    } else if (c.op == ObjectOp::kDelete) {
      if (c.version != ++writes) fail(fmt::format("delete {} has version {}, expected {}", c.id, c.version, writes));
      model.erase(c.key);
    } else if (c.op == ObjectOp::kGet) {
      const auto it = model.find(c.key);
      const uint64_t expected_version = it == model.end() ? 0 : it->second.first;
      if (c.version != expected_version) fail(fmt::format("get {} read version {}, latest was {}", c.id, c.version, expected_version));
      const GetResult& seen = got.at(c.id);
      if (seen.status == S::kOk && (it == model.end() || seen.bytes != it->second.second)) {
        fail(fmt::format("get {} returned '{}', not the latest write", c.id, seen.bytes));
      }
      if (seen.status == S::kNotFound && it != model.end()) fail(fmt::format("get {} missed a write", c.id));
    }
  }
  if (model.size() != w.store.objects().size()) fail("ground truth and replay differ in size");
  for (const auto& [key, v] : model) {
    const auto it = w.store.objects().find(key);
    if (it == w.store.objects().end() || it->second.version != v.first || it->second.bytes != v.second) {
      fail(fmt::format("ground truth for {} differs from the replay", key));
    }
  }
  out.trace_hash = w.trace.hash();
  out.counters = w.store.counters();
  return out;
}

// Up to four fibers, each with up to 30 steps; only for use inside a property.
std::vector<std::vector<Step>> draw_scripts() {
  const auto step = rc::gen::build<Step>(rc::gen::set(&Step::kind, rc::gen::inRange(0, 3)),
                                         rc::gen::set(&Step::key, rc::gen::inRange(0, 3)),
                                         rc::gen::set(&Step::pause_us, rc::gen::inRange(0, 20'000)));
  std::vector<std::vector<Step>> scripts(*rc::gen::inRange<size_t>(1, 5));
  for (auto& script : scripts) script = *rc::gen::container<std::vector<Step>>(*rc::gen::inRange<size_t>(0, 31), step);
  return scripts;
}

RC_GTEST_PROP(ObjectStoreProps, WithoutFaultsEveryReadSeesTheLatestLinearizedWrite, ()) {
  const auto seed = *rc::gen::inRange<uint64_t>(1, 1'000'000);
  const auto scripts = draw_scripts();
  const Outcome a = run_and_check(seed, scripts, {});
  RC_ASSERT(a.failure == std::string());
  RC_ASSERT(run_and_check(seed, scripts, {}).trace_hash == a.trace_hash);
}

RC_GTEST_PROP(ObjectStoreProps, UnderAnyFaultPlanRefusedCallsApplyNothingAndAppliedOnesLinearize, ()) {
  const auto seed = *rc::gen::inRange<uint64_t>(1, 1'000'000);
  const auto scripts = draw_scripts();
  const auto plan = *rc::gen::container<std::vector<FaultEvent>>(rc::gen::build<FaultEvent>(
      rc::gen::set(&FaultEvent::kind, rc::gen::inRange(0, 4)), rc::gen::set(&FaultEvent::start_ms, rc::gen::inRange(0, 300)),
      rc::gen::set(&FaultEvent::length_ms, rc::gen::inRange(0, 3'000)),
      rc::gen::set(&FaultEvent::rate_percent, rc::gen::inRange(0, 101))));
  const Outcome a = run_and_check(seed, scripts, plan);
  // Shows, per run of the suite, that the plans reach the interesting cases.
  RC_CLASSIFY(a.counters.rejected > 0, "some refused");
  RC_CLASSIFY(a.counters.lost > 0, "some lost");
  RC_CLASSIFY(a.counters.writes_applied_unobserved > 0, "a write landed after its caller gave up");
  RC_ASSERT(a.failure == std::string());
  RC_ASSERT(run_and_check(seed, scripts, plan).trace_hash == a.trace_hash);
}

}  // namespace
}  // namespace faultline
