// B6, the idempotent producer: the leader's sequence checks (Kafka's ProducerAppendInfo and
// ProducerStateEntry), producer state carried through truncation and recovery, and S21 in
// whole runs (no duplicate, no reordering; the no-sequence-check switch caught).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "models/kafka/producer_state.h"
#include "scenarios/scenario.h"
#include "tests/run_fixture.h"
#include "tests/kafka_log_fixture.h"

namespace faultline::kafka {
namespace {

constexpr ProducerId kPid = 7;

// One producer batch of `n` records at `offset`, sequences from `seq`.
Entries batch(int64_t offset, int32_t seq, int32_t n, int16_t pepoch = 0, Epoch epoch = 1) {
  Entries out;
  for (int32_t i = 0; i < n; ++i) {
    LogEntry e{offset + i, epoch, static_cast<uint64_t>(1000 + offset + i)};
    e.producer_id = kPid;
    e.producer_epoch = pepoch;
    e.sequence = seq + i;
    e.base_sequence = seq;
    out.push_back(e);
  }
  return out;
}

TEST(ProducerState, AnUnknownProducerIsAcceptedAtAnySequence) {
  ProducerStateTable t;
  const SequenceCheck c = t.check(kPid, 0, 42, 44);
  EXPECT_TRUE(c.unknown_producer);
  EXPECT_EQ(c.error, Errc::kNone);
  EXPECT_FALSE(c.duplicate);
}

TEST(ProducerState, TheNextSequenceIsAcceptedAndAGapIsOutOfOrder) {
  ProducerStateTable t;
  t.append(batch(0, 0, 3));  // sequences 0-2
  EXPECT_EQ(t.check(kPid, 0, 3, 4).error, Errc::kNone);
  EXPECT_EQ(t.check(kPid, 0, 4, 5).error, Errc::kOutOfOrderSequence);  // 3 missing
  EXPECT_EQ(t.check(kPid, 0, 1, 2).error, Errc::kOutOfOrderSequence);  // not a retained batch's range
}

TEST(ProducerState, AResendOfOneOfTheLastFiveBatchesIsADuplicateWithItsOffset) {
  ProducerStateTable t;
  for (int32_t b = 0; b < 6; ++b) t.append(batch(10 * b, 2 * b, 2));  // batch b: sequences 2b, 2b+1 at 10b
  for (int32_t b = 1; b < 6; ++b) {
    const SequenceCheck c = t.check(kPid, 0, 2 * b, 2 * b + 1);
    EXPECT_TRUE(c.duplicate) << b;
    EXPECT_EQ(c.duplicate_offset, 10 * b) << b;
  }
  // The sixth-newest is no longer retained: Kafka answers it OUT_OF_ORDER_SEQUENCE_NUMBER.
  const SequenceCheck oldest = t.check(kPid, 0, 0, 1);
  EXPECT_FALSE(oldest.duplicate);
  EXPECT_EQ(oldest.error, Errc::kOutOfOrderSequence);
  // A duplicate is judged in its epoch only.
  EXPECT_FALSE(t.check(kPid, 1, 10, 11).duplicate);
}

TEST(ProducerState, EpochsFenceOlderBatchesAndANewEpochStartsAtZero) {
  ProducerStateTable t;
  t.append(batch(0, 0, 2, /*pepoch=*/3));
  EXPECT_EQ(t.check(kPid, 2, 2, 3).error, Errc::kInvalidProducerEpoch);
  EXPECT_EQ(t.check(kPid, 4, 5, 6).error, Errc::kOutOfOrderSequence);
  EXPECT_EQ(t.check(kPid, 4, 0, 1).error, Errc::kNone);
  t.append(batch(2, 0, 2, /*pepoch=*/4));
  ASSERT_NE(t.find(kPid), nullptr);
  EXPECT_EQ(t.find(kPid)->epoch, 4);
  EXPECT_EQ(t.find(kPid)->batches.size(), 1u) << "a new epoch clears the retained batches";
}

TEST(ProducerState, ABatchSplitAcrossTwoAppendsIsOneBatch) {
  ProducerStateTable t;
  const Entries b = batch(0, 0, 4);
  t.append(Entries(b.begin(), b.begin() + 1));
  t.append(Entries(b.begin() + 1, b.end()));
  ASSERT_EQ(t.find(kPid)->batches.size(), 1u);
  EXPECT_EQ(t.find(kPid)->batches.back(), (ProducerBatchMeta{0, 3, 0, 3}));
  EXPECT_TRUE(t.check(kPid, 0, 0, 3).duplicate);
}

TEST(ProducerState, TwoCopiesOfOneBatchBackToBackAreTwoBatches) {
  ProducerStateTable t;
  Entries twice = batch(0, 0, 2);
  const Entries again = batch(2, 0, 2);
  twice.insert(twice.end(), again.begin(), again.end());
  t.append(twice);
  EXPECT_EQ(t.find(kPid)->batches.size(), 2u);
}

// --- the log: checks under its lock, state through truncation and recovery ---------------

std::vector<uint64_t> ids(int64_t from, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint64_t>(1000 + from + i));
  return out;
}

TEST(IdempotentLog, ADuplicateAppendsNothingAndAnswersTheOriginalOffset) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    EXPECT_EQ(log.append_as_leader(1, ids(0, 3), {kPid, 0, 0}, true).base_offset, 0);
    EXPECT_EQ(log.append_as_leader(1, ids(3, 2), {kPid, 0, 3}, true).base_offset, 3);
    const LeaderAppend dup = log.append_as_leader(1, ids(0, 3), {kPid, 0, 0}, true);
    EXPECT_TRUE(dup.duplicate);
    EXPECT_EQ(dup.base_offset, 0);
    EXPECT_EQ(log.log_end_offset(), 5);
    const LeaderAppend gap = log.append_as_leader(1, ids(9, 1), {kPid, 0, 9}, true);
    EXPECT_EQ(gap.error, Errc::kOutOfOrderSequence);
    EXPECT_EQ(log.log_end_offset(), 5);
    // BUG(no-sequence-check): the same resend is appended a second time.
    EXPECT_FALSE(log.append_as_leader(1, ids(0, 3), {kPid, 0, 0}, false).duplicate);
    EXPECT_EQ(log.log_end_offset(), 8);
  });
}

TEST(IdempotentLog, ATruncatedBatchIsNoLongerADuplicate) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_leader(1, ids(0, 2), {kPid, 0, 0}, true);
    log.append_as_leader(1, ids(2, 2), {kPid, 0, 2}, true);
    log.truncate_to(2);  // the second batch diverged and is gone
    // Its resend is the next sequence again (producer state was rebuilt from the log) ...
    const LeaderAppend again = log.append_as_leader(2, ids(2, 2), {kPid, 0, 2}, true);
    EXPECT_FALSE(again.duplicate);
    EXPECT_EQ(again.error, Errc::kNone);
    EXPECT_EQ(again.base_offset, 2);
    // ... and the first batch is still known.
    EXPECT_TRUE(log.append_as_leader(2, ids(0, 2), {kPid, 0, 0}, true).duplicate);
  });
}

TEST(IdempotentLog, RecoveryRebuildsProducerStateFromTheSegments) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_leader(1, ids(0, 2), {kPid, 0, 0}, true);
    log.append_as_leader(1, ids(2, 3), {kPid, 0, 2}, true);
  });
  const Entries before = all(r.log());
  r.crash_and_restart(CrashKind::kKill);
  EXPECT_EQ(all(r.log()), before) << "the producer fields survive the disk format";
  r.run([](PartitionLog& log) {
    const LeaderAppend dup = log.append_as_leader(1, ids(2, 3), {kPid, 0, 2}, true);
    EXPECT_TRUE(dup.duplicate);
    EXPECT_EQ(dup.base_offset, 2);
    EXPECT_EQ(log.append_as_leader(1, ids(7, 1), {kPid, 0, 6}, true).error, Errc::kOutOfOrderSequence);
  });
}

// Kafka serves whole batches: a read capped at a record count never ends inside an idempotent
// producer's batch (a follower holding a batch's head only would answer the resend
// OUT_OF_ORDER, and the producer's renumbered resend would commit the head twice).
TEST(IdempotentLog, AReadNeverEndsInsideAProducerBatch) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_leader(1, ids(0, 3), {kPid, 0, 0}, true);  // offsets 0-2
    log.append_as_leader(1, ids(3, 4), {kPid, 0, 3}, true);  // offsets 3-6
    EXPECT_EQ(log.read(0, 1, log.log_end_offset()).size(), 3u);
    EXPECT_EQ(log.read(0, 4, log.log_end_offset()).size(), 7u);
    EXPECT_EQ(log.read(4, 1, log.log_end_offset()).size(), 3u);
    EXPECT_EQ(log.read(0, 4, 5).size(), 5u) << "a bound below the batch's end (a consumer's HW) still cuts";
  });
}

// --- whole runs ------------------------------------------------------------------------------

RunResult run(const std::string& scenario, uint64_t seed, std::vector<std::string> bugs = {},
              std::map<std::string, std::string> sets = {}) {
  return faultline::test::run_scenario(scenario, seed, std::move(bugs), std::move(sets));
}

// With the producer's resends detected, runs full of retries pass S21 and B6 everywhere, and
// the leader really answered resends as duplicates (so the check had something to judge).
TEST(IdempotentRuns, ResendsAreAnsweredAsDuplicatesAndNothingIsCommittedTwice) {
  uint64_t duplicates = 0;
  uint64_t judged = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const RunResult r = run("partition", seed);
    ASSERT_EQ(r.verdict, Verdict::kPass) << "seed " << seed << ": "
                                         << (r.violations.empty() ? r.crash : r.violations[0].message);
    duplicates += r.marks.at("B6.duplicate-batch-answered");
    judged += static_cast<uint64_t>(r.metrics.at("rule_checks_S21"));
  }
  EXPECT_GT(duplicates, 0u);
  EXPECT_GT(judged, 1000u);
}

// The review's reproduction of a split batch (cascade seed 174 with 600-record batches): an
// in-sync follower whose fetch ended inside a batch was elected; it answered the resend
// OUT_OF_ORDER, the producer renumbered it under a new epoch, and its first 500 records were
// committed twice (S21). With whole-batch reads the run passes, S21 judging every record.
TEST(IdempotentRuns, LargeBatchesAreNeverSplitAcrossALeaderChange) {
  const RunResult r = run("cascade", 174, {}, {{"max_batch", "600"}, {"partitions", "1"}});
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.metrics.at("rule_checks_S21"), 10000);
}

// The switch: the rule checker sees the leader append out of sequence (B6) at once ...
TEST(IdempotentRuns, NoSequenceCheckIsCaughtAsB6AtTheAppend) {
  const RunResult r = run("partition", 2, {"no-sequence-check"});
  ASSERT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.violations.back().invariant, "B6");
}

// ... and without the rule checks, resends land twice or out of order, and S21 names the
// anomaly (Jepsen's "duplicate" and "reorder") and the batch's attempts.
TEST(IdempotentRuns, NoSequenceCheckIsCaughtAsS21) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const RunResult r = run("partition", seed, {"no-sequence-check"}, {{"rule_checks", "false"}});
    for (const Violation& v : r.violations) {
      if (v.invariant == "S21" && !v.excused) {
        EXPECT_THAT(v.message, ::testing::AnyOf(HasSubstr("committed twice"), HasSubstr("reordered"),
                                                HasSubstr("duplicated")));
        EXPECT_THAT(v.message, HasSubstr("attempts"));
        return;
      }
    }
  }
  ADD_FAILURE() << "no-sequence-check was not caught as S21 in 40 seeds of partition";
}

// Without idempotence a resend is a new record (B5): the same switch changes nothing, and S21
// judges nothing.
TEST(IdempotentRuns, WithoutIdempotenceThereIsNothingToJudge) {
  const RunResult r = run("partition", 1, {"no-sequence-check"}, {{"enable.idempotence", "false"}});
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_EQ(r.metrics.at("rule_checks_S21"), 0);
  EXPECT_EQ(r.marks.at("B6.duplicate-batch-answered"), 0u);
}

}  // namespace
}  // namespace faultline::kafka
