// tests/kafka_reassignment_test.cpp
// Partition reassignment (KIP-455): the controller's half with fake brokers, then whole
// `reassignment` runs with real brokers, with and without the reassign-without-catch-up
// switch.
#include <gtest/gtest.h>

#include "scenarios/scenario.h"
#include "tests/run_fixture.h"
#include "tests/kafka_controller_fixture.h"

namespace faultline::kafka {
namespace {

using test::Brokers;
using test::ControllerCluster;

// The new replica is added beside the old ones; nothing is removed until it is in the ISR.
TEST(Reassignment, NewReplicasAreAddedFirstAndTheOldOnesLeaveOnceTheyJoinTheIsr) {
  ControllerCluster t({.brokers = 4});
  t.start_all(4);
  const PartitionState before = t.partition();
  ASSERT_EQ(before.leader, 1u);
  ASSERT_TRUE(t.controller().reassign(0, {4, 2, 3}));  // 1 -> 4, and 4 is preferred now
  PartitionState during = t.partition();
  EXPECT_EQ(during.replicas, (Brokers{4, 2, 3, 1}));
  EXPECT_EQ(during.adding, (Brokers{4}));
  EXPECT_EQ(during.removing, (Brokers{1}));
  EXPECT_EQ(during.isr, before.isr) << "the ISR is untouched until the new replica catches up";
  EXPECT_EQ(during.leader, 1u);
  EXPECT_EQ(during.partition_epoch, before.partition_epoch + 1);
  EXPECT_EQ(t.changes.back().why, kWhyReassignment);
  EXPECT_FALSE(t.controller().reassign(0, {2, 3, 4})) << "one reassignment at a time";

  // The leader (1) adds 4 to the ISR through D2: the reassignment completes in that change,
  // 1 leaves the replicas and the ISR, and since it led, the first live target ISR member
  // (4, in preference order) is elected.
  const AlterPartitionResponse r = t.alter_isr(0, {1, 2, 3, 4});
  EXPECT_EQ(r.error, Errc::kNone);
  const PartitionState after = t.partition();
  EXPECT_EQ(after.replicas, (Brokers{4, 2, 3}));
  EXPECT_TRUE(after.adding.empty());
  EXPECT_TRUE(after.removing.empty());
  EXPECT_EQ(after.isr, (Brokers{2, 3, 4}));
  EXPECT_EQ(after.leader, 4u);
  EXPECT_EQ(after.leader_epoch, during.leader_epoch + 1);
}

TEST(Reassignment, ALeaderThatStaysKeepsLeadingAndItsEpoch) {
  ControllerCluster t({.brokers = 4});
  t.start_all(4);
  ASSERT_TRUE(t.controller().reassign(0, {1, 2, 4}));  // 3 -> 4
  const PartitionState during = t.partition();
  t.alter_isr(0, {1, 2, 3, 4});
  EXPECT_EQ(t.partition().replicas, (Brokers{1, 2, 4}));
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2, 4}));
  EXPECT_EQ(t.partition().leader, 1u);
  EXPECT_EQ(t.partition().leader_epoch, during.leader_epoch);
}

TEST(Reassignment, BadTargetsAreRefusedAndChangeNothing) {
  ControllerCluster t({.brokers = 4});
  t.start_all(4);
  const PartitionState before = t.partition();
  EXPECT_FALSE(t.controller().reassign(0, {}));
  EXPECT_FALSE(t.controller().reassign(0, {2, 2, 3}));
  EXPECT_FALSE(t.controller().reassign(0, {1, 2, 3})) << "the current replicas: nothing to do";
  EXPECT_FALSE(t.controller().reassign(7, {1, 2, 4})) << "no such partition";
  EXPECT_EQ(t.partition(), before);
}

// The switch: new replicas join the ISR empty, so the reassignment completes at once and the
// replicas holding the data leave.
TEST(Reassignment, WithoutCatchUpTheEmptyNewReplicaIsInTheIsrAtOnce) {
  ControllerCluster t({.brokers = 4, .bug_reassign_without_catch_up = true});
  t.start_all(4);
  ASSERT_TRUE(t.controller().reassign(0, {4, 2, 3}));
  EXPECT_EQ(t.partition().replicas, (Brokers{4, 2, 3}));
  EXPECT_EQ(t.partition().isr, (Brokers{2, 3, 4}));
  EXPECT_EQ(t.partition().leader, 4u);
}

RunResult run(uint64_t seed, std::vector<std::string> bugs = {}) {
  return faultline::test::run_scenario("reassignment", seed, std::move(bugs));
}

// Whole runs: replicas move while brokers crash; the moved-off brokers delete their logs,
// new ones are created from metadata, and every acknowledged write survives.
TEST(ReassignmentRuns, ReplicasMoveWhileBrokersCrashAndNothingIsLost) {
  uint64_t completed = 0, created = 0, removed = 0, moved_leader = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    const RunResult r = run(seed);
    ASSERT_EQ(r.verdict, Verdict::kPass) << "seed " << seed << ": " << faultline::test::why(r);
    completed += r.marks.at("A1.reassignment-completed");
    created += r.marks.at("A1.replica-created");
    removed += r.marks.at("A1.replica-removed");
    moved_leader += r.marks.at("A1.reassignment-moved-leader");
    EXPECT_GT(r.metrics.at("acked"), 100) << seed;
  }
  EXPECT_GT(completed, 3u);
  EXPECT_GT(created, 3u);
  EXPECT_GT(removed, 3u);
  EXPECT_GT(moved_leader, 0u);
}

// Found by `faultline fuzz --scenario reassignment`: with RF 1 the only replica moved from b0
// to b1, b1 was killed right after it took over, and on restart it recovered only its initial
// placement's logs, so the partition's log (whole in its page cache) was not loaded when it
// was elected again (S6: LEO 0 below the true HW). Brokers now load every partition log on
// their disk at start, as LogManager.loadLogs does.
TEST(ReassignmentRuns, ARestartedBrokerLoadsTheLogsAReassignmentGaveIt) {
  RunRequest req;
  req.scenario = "reassignment";
  req.seed = 4384537988929940374ULL;
  req.sets = {{"brokers", "3"}, {"min.insync.replicas", "1"}, {"partitions", "1"}, {"power_losses", "0"}, {"rf", "1"}};
  req.plan_text = "5s kill node=next-leader:p0 for=50ms\n8.337s reassign\n";
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << faultline::test::why(r);
  EXPECT_GT(r.marks.at("A1.reassignment-completed"), 0u);
}

TEST(ReassignmentRuns, WithoutCatchUpACommittedRecordIsMissingFromTheIsr) {
  const RunResult r = run(1, {"reassign-without-catch-up"});
  ASSERT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.violations.front().invariant, "S6");
}

}  // namespace
}  // namespace faultline::kafka
