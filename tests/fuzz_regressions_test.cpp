// Plans found by `faultline fuzz` (runner/fuzz.h), shrunk, kept as regression tests: each
// failed before its fix and must pass now, reaching the path the fix added.
#include <gtest/gtest.h>

#include "scenarios/scenario.h"

namespace faultline {
namespace {

// Runs `req` and requires it to pass, naming the first violation (or the crash) if not.
RunResult passes(const RunRequest& req) {
  RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  return r;
}

// broker-crash, fuzz seed 7, run 906, shrunk 7 -> 4 faults: b2 comes back with an empty disk,
// its recovery stalls on the disk, and a controlled restart hits before it has registered.
// It wrote clean-shutdown markers over its empty logs and came back "clean", so the
// controller kept it in the ELR with nothing (S11). Kafka's clean-shutdown file carries the
// broker epoch and the controller compares it (KIP-966's previousBrokerEpoch); a broker that
// never registered has none to match.
TEST(FuzzRegressions, AShutdownBeforeRegisteringIsNotClean) {
  RunRequest req;
  req.scenario = "broker-crash";
  req.seed = 906;
  req.plan_text =
      "5s disk-replace node=b2 for=92ms\n"
      "5s disk-stall node=leader:p0 delay=93ms for=2.694s\n"
      "7.793s restart node=b2 for=2.963s\n"
      "8.4s restart node=b0 for=1.254s\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.marks.at("D4.clean-shutdown-epoch-mismatch"), 0u);
}

// partition, fuzz seed 7, run 3740, shrunk 11 -> 4 faults: b0 (leader of epoch 0) is killed
// just as the controller makes it leader of epoch 1, returns with ten unreplicated records,
// and is cut off from the controller; b2 leads epoch 2 from offset 125, and its retention
// moves its log start (and the start of its epoch cache) to 127 before b0 follows again.
// Asked for epoch 0, b2 answers (0, 127): b0 truncated to 127 and kept its divergent 125 and
// 126 below its new HW (S2). Kafka would hide them below the leader's log start; this model
// starts the follower over there.
TEST(FuzzRegressions, AFollowerBelowItsLeadersEpochCacheStartsOverAtTheLeadersLogStart) {
  RunRequest req;
  req.scenario = "partition";
  req.seed = 3740;
  req.plan_text =
      "5.784s disk-stall node=b2 for=3.092s\n"
      "6.474s power-loss node=b1 for=1.71s\n"
      "8.14s kill node=b0 for=1.774s\n"
      "9.764s partition a=b0 b=ctl for=2.8s\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.marks.at("C8.follower-full-truncation"), 0u);
}

// dc-loss with produce_interval=20ms (fuzz seed 1, shrunk 6 -> 1 fault and the configuration
// to that one knob): the producers keep writing while the cluster converges, and across
// datacenters an append is always in flight, so no poll ever saw HW = LEO on every replica
// at once: L3 "did not converge" in every seed. Convergence now also counts a partition
// whose HW and replicas have reached the leader's LEO of the previous poll.
TEST(FuzzRegressions, ConvergenceUnderAWorkloadThatNeverPauses) {
  RunRequest req;
  req.scenario = "dc-loss";
  req.seed = 373072913;
  req.sets["produce_interval"] = "20ms";
  req.plan_text = "1s power-loss node=b2 for=50ms\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.metrics.at("converged_under_load"), 0);
}

// dc-loss, fuzz seed 21 (after fuzz faults got their full length), shrunk 11 -> 2 faults:
// two brokers lose power 5 s apart. The availability bound (G4, L5) was counted from the
// first loss, so the second one's interruption read as 18.3 s > 17.6 s. It now counts from
// the last loss event's start (the nemesis's own datacenter loss strikes at one moment).
TEST(FuzzRegressions, StaggeredLossesCountAvailabilityFromTheLast) {
  RunRequest req;
  req.scenario = "dc-loss";
  req.seed = 3396284236138309310u;
  req.sets["request.timeout.ms"] = "5s";
  req.sets["tiered"] = "true";
  req.plan_text = "1.098s power-loss node=b1 for=15.317s\n6.091s power-loss node=b2 for=7.411s\n";
  const RunResult r = passes(req);
  EXPECT_EQ(r.metrics.at("dc_lost_at_ns"), 6'091'000'000);
}

// broker-crash, fuzz seed 31, shrunk 6 -> 2 faults and the configuration to acks=1 with
// small segments and retention: b0, restarted after leading epoch 2 alone, came back with
// unreplicated epoch-2 records below its new leader's log start; the leader's epoch cache
// starts there and answered epoch 2 with that start (no divergence), so b0 kept them below
// its new HW (S2). Kafka hides them by raising the follower's log start; the model starts
// over at the leader's log start.
TEST(FuzzRegressions, AFollowerHoldingOnlyWhatItsLeaderDeletedStartsOverThere) {
  RunRequest req;
  req.scenario = "broker-crash";
  req.seed = 3000778812115625568u;
  req.sets = {{"acks", "1"}, {"elr", "false"}, {"hw_requires_min_isr", "false"}, {"max_batch", "1"},
              {"power_losses", "0"}, {"produce_interval", "50ms"}, {"retention.bytes", "65536"},
              {"segment.bytes", "32768"}};
  req.plan_text = "6.969s kill node=leader:p2 delay=152ms for=50ms\n16.584s restart node=b0 for=5.446s\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.marks.at("C8.follower-full-truncation"), 0u);
}

// broker-crash, 10-minute fuzz (seed 12), default configuration, shrunk 3 -> 2 faults: b2
// restarts cleanly, registers, and loses power 20 ms later; its new incarnation is refused
// registration while the old session is valid (D3), and meanwhile the leader adds the old
// incarnation to the ISR on the fetch state it had. D2's check compared the new
// incarnation's shorter log; it now skips a member whose current process is unregistered.
TEST(FuzzRegressions, AnIsrJoinIsJudgedOnTheIncarnationThatFetched) {
  RunRequest req;
  req.scenario = "broker-crash";
  req.seed = 3890765870762155519u;
  req.plan_text = "5s power-loss node=next-registered delay=20ms for=50ms\n5s restart node=b2 for=675ms\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.marks.at("D3.duplicate-registration-refused"), 0u);
}

// disk-stall, 10-minute fuzz (seed 12), shrunk 8 -> 4 faults, unclean election on: b1 is
// elected uncleanly while b2, the epoch-1 leader, is cut off; before b1's InitLeader the
// tier state rightly takes b2's retention (H3), which S17 judged on b1's shorter log
// ("-6144 bytes" kept). S17 now judges the log of the leader that asked.
TEST(FuzzRegressions, TierRetentionIsJudgedOnTheLogOfTheLeaderThatAsked) {
  RunRequest req;
  req.scenario = "disk-stall";
  req.seed = 1805381114921050414u;
  req.sets = {{"acks", "1"}, {"brokers", "4"}, {"elr", "false"}, {"hw_requires_min_isr", "false"},
              {"power_losses", "0"}, {"produce_interval", "50ms"}, {"retention.bytes", "65536"}, {"rf", "2"},
              {"unclean.leader.election.enable", "true"}};
  req.plan_text =
      "8.457s disk-stall node=b1 for=12.26s\n"
      "19.819s partition-one-way from=ctl,producer to=b1 for=509ms\n"
      "20.483s partition-one-way from=b0,b1,ctl,producer,consumer to=b2,b3 for=2.366s\n"
      "22.348s partition-one-way from=b0,b2,producer,consumer to=b1,b3,ctl for=7.909s\n";
  const RunResult r = passes(req);
  EXPECT_GT(r.marks.at("E1.unclean-election"), 0u);
}

}  // namespace
}  // namespace faultline
