// Kafka's own behaviour where the model used to be simpler (issue 13; semantics.md C2, C6,
// C8, C9): each test finds seeds of a default scenario that take the Kafka path, by its
// coverage mark, and requires them to pass while the rule checker judges the rule on every
// step, so that a model drifting back to the simpler behaviour fails the rule's check there.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "scenarios/scenario.h"

namespace faultline {
namespace {

// The first seed of `scenario` in [1, last] whose run reaches `mark`, with its result.
RunRequest request(const std::string& scenario, uint64_t seed, std::optional<std::string> plan = std::nullopt) {
  RunRequest req;
  req.scenario = scenario;
  req.seed = seed;
  req.plan_text = std::move(plan);
  return req;
}

std::optional<RunResult> first_reaching(const std::string& scenario, const std::string& mark, uint64_t last) {
  for (uint64_t seed = 1; seed <= last; ++seed) {
    RunResult r = execute(request(scenario, seed));
    if (r.marks.at(mark) > 0) return r;
  }
  return std::nullopt;
}

std::string why(const RunResult& r) { return r.violations.empty() ? r.crash : r.violations[0].message; }

// first_reaching, requiring that some seed reaches `mark` and that its run passes.
std::optional<RunResult> passing_run_reaching(const std::string& scenario, const std::string& mark, uint64_t last) {
  auto r = first_reaching(scenario, mark, last);
  if (!r) {
    ADD_FAILURE() << "no seed of 1.." << last << " of " << scenario << " reached " << mark;
    return r;
  }
  EXPECT_EQ(r->verdict, Verdict::kPass) << scenario << " seed " << r->seed << ": " << why(*r);
  return r;
}

// C6: follower HW = min(leader HW, own LEO), which can go down: a follower of a new leader
// whose HW trails its own takes the lower HW (Kafka's UnifiedLog.updateHighWatermark). The
// rule checker compares every follower's HW with the response it applied.
TEST(KafkaFidelity, AFollowersHwGoesDownToANewLeadersStaleHw) {
  const auto r = passing_run_reaching("broker-crash", "C6.follower-hw-lowered", 60);
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(r->metrics.at("rule_checks_C6"), 0);
}

// C9: a broker re-elected leader in a new epoch keeps its followers' fetch state (LEO,
// broker epoch), as Partition.makeLeader does for a leader that stays leader.
TEST(KafkaFidelity, AReelectedLeaderKeepsItsFollowersState) {
  const auto r = passing_run_reaching("partition", "C9.same-leader-reelected", 400);
  ASSERT_TRUE(r.has_value());
}

// C9: fetch state from an older incarnation of a follower than the leader recorded is
// rejected (Replica.updateFetchStateOrThrow); C2's checker requires NOT_LEADER_OR_FOLLOWER.
TEST(KafkaFidelity, FetchStateOfAnOlderIncarnationIsRejected) {
  const auto r = passing_run_reaching("partition", "C9.stale-broker-epoch-rejected", 300);
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(r->metrics.at("rule_checks_C2"), 0);
}

// D1: an AlterPartition rejected as stale (INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH)
// leaves the change pending, without a rollback, until newer metadata replaces it
// (Partition.handleAlterPartitionError returns without touching partitionState; makeLeader
// then installs the committed state).
TEST(KafkaFidelity, AStaleAlterPartitionWaitsForMetadataInsteadOfRollingBack) {
  const auto r = passing_run_reaching("partition", "D1.alter-partition-awaits-metadata", 150);
  ASSERT_TRUE(r.has_value());
  const auto replaced = passing_run_reaching("partition", "D1.pending-isr-replaced-by-metadata", 150);
  ASSERT_TRUE(replaced.has_value());
}

// D1: an AlterPartition without an answer is retried without a timeout (the
// AlterPartitionManager's channel retries), not rolled back after 30 s.
TEST(KafkaFidelity, AnUnansweredAlterPartitionIsRetried) {
  const auto r = passing_run_reaching("partition", "D1.alter-partition-unanswered", 300);
  ASSERT_TRUE(r.has_value());
}

// D3: a restarted broker is refused while its previous incarnation's session is valid
// (ClusterControlManager.registerBroker), and several expired sessions are fenced one per
// step, the stalest first (ReplicationControlManager.maybeFenceOneStaleBroker).
TEST(KafkaFidelity, ANewIncarnationWaitsForTheOldSessionAndFencingGoesOneAtATime) {
  const auto refused = passing_run_reaching("broker-crash", "D3.duplicate-registration-refused", 20);
  ASSERT_TRUE(refused.has_value());
  const auto several = passing_run_reaching("partition", "D3.fenced-one-of-several", 100);
  ASSERT_TRUE(several.has_value());
}

// Preferred-replica election (issue 13: leadership moves while nothing is broken): after b0
// was killed and came back into the ISR, an elect-preferred operation hands its partitions
// back to it in a new leader epoch; E1's rule check judges that election like any other.
TEST(KafkaFidelity, APreferredElectionHandsLeadershipBackToTheFirstReplica) {
  RunRequest req = request("broker-crash", 1, "5s kill node=b0 for=3s\n30s elect-preferred\n");
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << why(r);
  EXPECT_GT(r.marks.at("E1.preferred-leader-elected"), 0u);
  EXPECT_GT(r.metrics.at("rule_checks_E1"), 0);
  // Without the election nobody gives the partitions back.
  req.plan_text = "5s kill node=b0 for=3s\n";
  EXPECT_EQ(execute(req).marks.at("E1.preferred-leader-elected"), 0u);
}

// F3 and F5, as Kafka's LogLoader and LogSegment.truncateTo: after a kill, recovery keeps the
// re-validated tail in the page cache (the recovery point stays at its checkpoint), so a power
// loss three seconds later loses that tail, which the next recovery finds cut. With min ISR 2
// the other ISR members hold every acknowledged record: nothing acknowledged is lost and the
// run passes. With min ISR 1 the one power loss is over the budget (min ISR - 1 = 0): what it
// loses is excused, never a failure.
TEST(KafkaFidelity, AKillThenAPowerLossLosesTheRecoveredTailThatWasNeverFsynced) {
  RunRequest req = request("broker-crash", 1, "10s kill node=b1 for=2s\n13s power-loss node=b1 for=2s\n");
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << why(r);
  EXPECT_GT(r.marks.at("F3.recovered-tail-unsynced"), 0u) << "the kill's recovery left an unsynced tail";
  EXPECT_GT(r.marks.at("F3.recovery-dropped-tail"), 0u) << "the power loss took some of it";

  req.sets = {{"min.insync.replicas", "1"}};
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    req.seed = seed;
    const RunResult lossy = execute(req);
    EXPECT_EQ(lossy.verdict, Verdict::kPass) << "seed " << seed << ": " << why(lossy);
    for (const Violation& v : lossy.violations) EXPECT_TRUE(v.excused) << v.invariant << ": " << v.message;
  }
}

// E1, KIP-966's last known leader after kills only (cascade seed 71): it lost nothing, so its
// election excuses nothing; the run passes with no violation at all, excused or not.
TEST(KafkaFidelity, ALastKnownLeaderThatLostNothingExcusesNothing) {
  const RunResult r = execute(request("cascade", 71));
  EXPECT_EQ(r.verdict, Verdict::kPass) << why(r);
  EXPECT_GT(r.marks.at("E1.last-known-leader-elected"), 0u);
  EXPECT_TRUE(r.violations.empty()) << r.violations.front().invariant << ": " << r.violations.front().message;
}

}  // namespace
}  // namespace faultline
