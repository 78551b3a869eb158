// Plans found by `faultline fuzz` (runner/fuzz.h), shrunk, kept as regression tests: each
// failed before its fix and must pass now, reaching the path the fix added.
#include <gtest/gtest.h>

#include "scenarios/scenario.h"

namespace faultline {
namespace {

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
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("D4.clean-shutdown-epoch-mismatch"), 0u);
}

}  // namespace
}  // namespace faultline
