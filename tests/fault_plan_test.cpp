// Fault plans: the text form round-trips exactly, bad plans are rejected with the line
// number, and the nemesis draws deterministic, in-budget, swarm-varied plans.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

#include <set>

#include "sim/fault_plan.h"
#include "sim/nemesis.h"

namespace faultline {
namespace {

using namespace literals;

Topology three_dcs() {
  Topology t;
  for (int i = 0; i < 6; ++i) t.nodes.push_back({fmt::format("n{}", i), fmt::format("dc{}", i % 3 + 1)});
  return t;
}

const char* kEveryKind = R"(# every kind once
1.5s kill node=n1 for=800ms
2s power-loss node=n2 for=1s
3s partition a=n0,n1 b=n2 for=5s
3s partition-one-way from=n0 to=n2 for=5s
4s isolate-dc dc=dc1 for=3s
5s drop-connections a=n1 b=n0,n2
6s link-delay a=n0 b=n1 delay=50ms jitter=10ms for=2s
7s disk-stall node=n1 for=2s
7s disk-slow node=n1 factor=10 for=2s
9s s3-errors slowdown=1/10 internal=5% for=3s
9s s3-latency extra=200ms for=3s
9s s3-outage for=4s
9s s3-ambiguous rate=1/2 for=3s
10s restart node=n1 for=2s
10s disk-replace node=n2 delay=1s for=3s
11s elect-preferred
12s reassign
)";

TEST(FaultPlan, EveryKindParsesAndRoundTrips) {
  std::string error;
  auto plan = FaultPlan::parse(kEveryKind, &error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->events.size(), 17u);
  std::set<FaultKind> kinds;
  for (const auto& e : plan->events) kinds.insert(e.kind);
  EXPECT_EQ(kinds.size(), static_cast<size_t>(FaultKind::kCount));
  const std::string text = plan->to_text();
  auto again = FaultPlan::parse(text, &error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(*again, *plan);
  EXPECT_EQ(again->to_text(), text);
  EXPECT_NE(text.find("9s s3-errors slowdown=1/10 internal=5/100 for=3s"), std::string::npos) << text;
  EXPECT_EQ(validate_plan(*plan, three_dcs()), "");
}

TEST(FaultPlan, BadLinesAreRejectedWithTheirLineNumber) {
  const std::pair<const char*, const char*> cases[] = {
      {"1s explode node=n1", "line 1: unknown fault kind 'explode'"},
      {"\n\nsoon kill node=n1", "line 3: bad time 'soon'"},
      {"1s kill", "line 1: kill needs node="},
      {"1s kill node=n1 node=n2", "'node' given twice"},
      {"1s kill node=n1,n2", "exactly one node"},
      {"1s kill host=n1", "kill does not take 'host'"},
      {"1s disk-slow node=n1 factor=0", "factor wants an integer"},
      {"1s s3-errors slowdown=3/2 internal=0/1", "slowdown wants a ratio"},
      {"1s kill node=n1 for=forever", "for wants a duration"},
      {"1s partition a=n0, b=n1", "empty node name"},
      {"1s", "wants '<time> <kind>"},
  };
  for (const auto& [text, want] : cases) {
    std::string error;
    EXPECT_FALSE(FaultPlan::parse(text, &error)) << text;
    EXPECT_NE(error.find(want), std::string::npos) << "for '" << text << "' got: " << error;
  }
}

TEST(FaultPlan, UnknownNamesFailValidation) {
  std::string error;
  auto plan = FaultPlan::parse("1s kill node=n9 for=1s", &error);
  ASSERT_TRUE(plan);
  EXPECT_NE(validate_plan(*plan, three_dcs()).find("unknown node 'n9'"), std::string::npos);
  plan = FaultPlan::parse("1s isolate-dc dc=mars", &error);
  EXPECT_NE(validate_plan(*plan, three_dcs()).find("unknown datacenter 'mars'"), std::string::npos);
}

NemesisOptions everything() {
  NemesisOptions o;
  o.kinds = all_fault_kinds();
  o.max_faults = 12;
  o.crashable = {"n0", "n1", "n2", "n3", "n4", "n5"};
  return o;
}

TEST(Nemesis, SameSeedSamePlanAndPlansVaryAcrossSeeds) {
  const Topology t = three_dcs();
  EXPECT_EQ(draw_plan(t, everything(), Prng(5, "nemesis")), draw_plan(t, everything(), Prng(5, "nemesis")));
  std::set<std::string> texts;
  std::set<size_t> kinds_on;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const FaultPlan p = draw_plan(t, everything(), Prng(seed, "nemesis"));
    texts.insert(p.to_text());
    std::set<FaultKind> k;
    for (const auto& e : p.events) k.insert(e.kind);
    kinds_on.insert(k.size());
  }
  EXPECT_EQ(texts.size(), 50u);
  EXPECT_GE(kinds_on.size(), 4u);  // swarm: seeds differ in how many kinds they use
}

TEST(Nemesis, EveryKindAppearsAcrossSeeds) {
  std::set<FaultKind> seen;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    for (const auto& e : draw_plan(three_dcs(), everything(), Prng(seed, "nemesis")).events) seen.insert(e.kind);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(FaultKind::kCount));
}

TEST(FaultPlan, CrashDelayIsOptionalAndRoundTrips) {
  std::string error;
  auto plan = FaultPlan::parse("2s kill node=next-leader:p0 delay=300ms for=4s\n1s kill node=n1", &error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->events.at(1).delay, Duration::millis(300));
  EXPECT_EQ(plan->events.at(0).to_text(), "1s kill node=n1");  // no delay: not printed
  EXPECT_EQ(FaultPlan::parse(plan->to_text(), &error), plan);
  Topology t = three_dcs();
  EXPECT_NE(validate_plan(*plan, t), "");  // the role must be declared
  t.roles = {"next-leader:p0"};
  EXPECT_EQ(validate_plan(*plan, t), "");
  // Disk faults aim at nodes too (and at moments, with a delay); network faults do not.
  EXPECT_TRUE(FaultPlan::parse("1s disk-stall node=n1 delay=1s for=1s", &error)) << error;
  EXPECT_FALSE(FaultPlan::parse("1s partition a=n0 b=n1 delay=1s for=1s", &error));
  auto stall = FaultPlan::parse("1s disk-stall node=diverging for=4s", &error);
  ASSERT_TRUE(stall) << error;
  EXPECT_NE(validate_plan(*stall, t), "");  // the role must be declared
  t.roles.push_back("diverging");
  EXPECT_EQ(validate_plan(*stall, t), "");
  // A link delay's a= may be one role (delay the links of whoever holds it); b= may not.
  auto link = FaultPlan::parse("1s link-delay a=diverging b=n1 delay=1ms jitter=0s for=1s", &error);
  ASSERT_TRUE(link) << error;
  EXPECT_EQ(validate_plan(*link, t), "");
  auto backwards = FaultPlan::parse("1s link-delay a=n1 b=diverging delay=1ms jitter=0s for=1s", &error);
  ASSERT_TRUE(backwards) << error;
  EXPECT_NE(validate_plan(*backwards, t), "");
  auto partition = FaultPlan::parse("1s partition a=diverging b=n1 for=1s", &error);
  ASSERT_TRUE(partition) << error;
  EXPECT_NE(validate_plan(*partition, t), "");  // only node-aimed kinds and link-delay take roles
}

// Chained crashes: a crash aimed at a role with a successor may be followed by a kill of the
// successor, within the fault budget, counted as down for max_down until it can have struck.
TEST(Nemesis, ChainsFollowCrashesAimedAtRolesWithinBudgetAndMaxDown) {
  NemesisOptions o;
  o.kinds = {FaultKind::kKill};
  o.max_faults = 6;
  o.crashable = {"leader:p0"};
  o.successors = {{"leader:p0", "next-leader:p0"}};
  o.successor_per_two = 2;
  o.max_down = 2;
  o.start = Duration::seconds(1);
  o.end = Duration::seconds(60);
  Topology t = three_dcs();
  t.roles = {"leader:p0", "next-leader:p0"};
  int chained = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const FaultPlan p = draw_plan(t, o, Prng(seed, "nemesis"));
    EXPECT_LE(p.events.size(), o.max_faults);
    EXPECT_EQ(validate_plan(p, t), "");
    for (size_t i = 0; i < p.events.size(); ++i) {
      const FaultEvent& e = p.events[i];
      if (e.a.at(0) != "next-leader:p0") continue;
      ++chained;
      EXPECT_LE(e.delay, o.max_successor_delay);
      // Its cause is an earlier crash of the leader at the same time.
      EXPECT_TRUE(i > 0 && p.events[i - 1].a.at(0) == "leader:p0" && p.events[i - 1].at == e.at) << p.to_text();
    }
    // max_down: at most two windows (each stretched by the successor wait) overlap.
    for (const FaultEvent& e : p.events) {
      int overlapping = 0;
      for (const FaultEvent& f : p.events) {
        const Duration wait = f.a.at(0) == "next-leader:p0" ? o.successor_wait : Duration::zero();
        if (f.at <= e.at && e.at < f.at + wait + f.delay + f.duration + o.rejoin_grace) ++overlapping;
      }
      EXPECT_LE(overlapping, 2) << p.to_text();
    }
  }
  EXPECT_GT(chained, 20);
  o.successor_per_two = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    for (const auto& e : draw_plan(t, o, Prng(seed, "nemesis")).events) EXPECT_EQ(e.a.at(0), "leader:p0");
  }
}

RC_GTEST_PROP(NemesisProps, PlansStayInBudgetWindowAndRoundTrip, (uint64_t seed)) {
  NemesisOptions o = everything();
  o.max_power_losses = 1;
  const Topology t = three_dcs();
  const FaultPlan p = draw_plan(t, o, Prng(seed, "nemesis"));
  RC_ASSERT(p.events.size() <= o.max_faults);
  int power = 0;
  for (const auto& e : p.events) {
    RC_ASSERT(e.at >= o.start);
    RC_ASSERT(e.at < o.end);
    RC_ASSERT(e.duration <= o.max_duration);
    power += e.kind == FaultKind::kPowerLoss ? 1 : 0;
  }
  RC_ASSERT(power <= 1);
  RC_ASSERT(validate_plan(p, t).empty());
  std::string error;
  auto back = FaultPlan::parse(p.to_text(), &error);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == p);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

NemesisOptions moment_options() {
  NemesisOptions o;
  o.kinds = {FaultKind::kKill, FaultKind::kDiskStall, FaultKind::kRestart};
  o.max_faults = 30;  // swarm: 1..30 drawn, room left for the chained faults
  o.crashable = {"n0", "n1", "leader:p0"};
  o.successors = {{"leader:p0", "next-leader:p0"}};
  o.successor_per_two = 1;
  o.disk_moments = {"diverging"};
  o.crash_moments = {"next-registered"};
  o.moment_followups = {{"diverging", "diverging-leader"}};
  o.start = Duration::seconds(1);
  o.end = Duration::seconds(60);
  return o;
}

Topology moment_topology() {
  Topology t;
  t.nodes = {{"n0", "dc1"}, {"n1", "dc1"}, {"n2", "dc2"}};
  t.roles = {"leader:p0", "next-leader:p0", "diverging", "diverging-leader", "next-registered"};
  return t;
}

// Issue 9: faults armed on protocol moments. Disk stalls aimed at a moment strike at it (no
// delay); every leader-aimed crash may bring a stall armed with it; a moment stall may bring a
// kill or restart of its partner role, no later than the stall ends; crashes may bring a
// crash of whoever registers next. All within the budget, all valid plans.
TEST(Nemesis, MomentsArmDiskFaultsAndChainCrashesWithinTheBudget) {
  NemesisOptions o = moment_options();
  o.moment_per_two = 2;
  const Topology t = moment_topology();
  int stalls = 0, followups = 0, after_restart = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const FaultPlan p = draw_plan(t, o, Prng(seed, "nemesis"));
    EXPECT_LE(p.events.size(), o.max_faults);
    EXPECT_EQ(validate_plan(p, t), "") << p.to_text();
    for (const FaultEvent& e : p.events) {
      if (e.kind == FaultKind::kDiskStall) {
        EXPECT_EQ(e.a.at(0), "diverging") << "every stall retargeted with moment_per_two = 2";
        EXPECT_EQ(e.delay, Duration::zero());
        ++stalls;
      }
      if (e.a.at(0) == "diverging-leader") {
        ++followups;
        EXPECT_TRUE(e.kind == FaultKind::kKill || e.kind == FaultKind::kRestart);
        // Armed with a stall on the same moment, striking while that stall lasts.
        const bool paired = std::any_of(p.events.begin(), p.events.end(), [&](const FaultEvent& s) {
          return s.kind == FaultKind::kDiskStall && s.at == e.at && e.delay <= s.duration;
        });
        EXPECT_TRUE(paired) << p.to_text();
      }
      if (e.a.at(0) == "next-registered") {
        ++after_restart;
        EXPECT_LE(e.delay, o.max_moment_delay);
      }
    }
  }
  EXPECT_GT(stalls, 20);
  EXPECT_GT(followups, 10);
  EXPECT_GT(after_restart, 10);
}

// A scenario that never arms moments draws exactly the plans it drew before they existed.
TEST(Nemesis, WithoutMomentsThePlansAreUnchanged) {
  NemesisOptions with = moment_options();
  with.moment_per_two = 0;
  NemesisOptions without = moment_options();
  without.disk_moments.clear();
  without.crash_moments.clear();
  without.moment_followups.clear();
  const Topology t = moment_topology();
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    EXPECT_EQ(draw_plan(t, with, Prng(seed, "nemesis")), draw_plan(t, without, Prng(seed, "nemesis"))) << seed;
  }
}

}  // namespace
}  // namespace faultline
