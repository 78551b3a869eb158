// The log start offset and the leader-epoch cache (A2, C3, H4, H5): where Kafka truncates the
// cache from the start and where, with tiered storage, it keeps it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/kafka_log_fixture.h"

namespace faultline::kafka {
namespace {

LogConfig tiered_small_segments() {
  LogConfig c = small_segments();
  c.epochs_below_local_start = true;
  return c;
}

// Epochs 1 at 0 and 3 at 8 (4-record segments: [0,4) [4,8) [8,12) and the active [12,14)),
// everything committed; then the segments below 12 go.
void fill_and_delete_below_12(PartitionLog& log) {
  log.append_as_follower(entries(0, {1, 1, 1, 1}));
  log.append_as_follower(entries(4, {1, 1, 1, 1}));
  log.append_as_follower(entries(8, {3, 3, 3, 3}));
  log.append_as_follower(entries(12, {3, 3}));
  EXPECT_EQ(log.segments().size(), 4u);
  log.set_high_watermark(14);
  EXPECT_EQ(log.delete_segments_below(12), 12);
}

// Kafka's retention (UnifiedLog.deleteOldSegments -> truncateFromStart): the surviving epoch
// moves to the new log start, and an older epoch is answered with that start.
TEST(PartitionLogStart, RetentionTruncatesTheEpochCacheFromTheStart) {
  ReplicaNode r;
  r.run(fill_and_delete_below_12);
  EXPECT_EQ(r.log().log_start_offset(), 12);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{3, 12}}));
  EXPECT_EQ(end_of(r.log(), 2), (EpochEnd{2, 12}));
}

// Tiered (H4): a local deletion is UnifiedLog.maybeIncrementLocalLogStartOffset, which leaves
// the cache alone, so a follower whose last epoch is 2 (diverged at 8) still learns that
// epoch 1 ended at 8, not at the local log start 12 (issue 10's s3-outage seed 493, where the
// follower kept three divergent records below a new HW: S2).
TEST(PartitionLogStart, ATieredLocalDeletionKeepsTheEpochHistoryForDivergenceChecks) {
  ReplicaNode r({.config = tiered_small_segments()});
  r.run(fill_and_delete_below_12);
  EXPECT_EQ(r.log().log_start_offset(), 12);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {3, 8}}));
  EXPECT_EQ(end_of(r.log(), 2), (EpochEnd{1, 8}));
  // ... and across a restart: recovery does not truncate it either.
  r.crash_and_restart(CrashKind::kKill);
  EXPECT_EQ(r.log().log_start_offset(), 12);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {3, 8}}));
  EXPECT_EQ(end_of(r.log(), 2), (EpochEnd{1, 8}));
}

// H5: a follower rebuilt at its leader's local log start takes the archived epoch history,
// and it survives a power loss (it is checkpointed).
TEST(PartitionLogStart, ARebuiltTieredLogTakesTheArchivedHistory) {
  ReplicaNode r({.config = tiered_small_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 2}));
    log.truncate_fully_and_start_at(20);
    EXPECT_TRUE(log.epoch_cache().empty());
    log.restore_epoch_history({{1, 0}, {3, 8}, {4, 19}});
    log.append_as_follower(entries(20, {4, 5}));
    EXPECT_EQ(log.epoch_cache(), (Cache{{1, 0}, {3, 8}, {4, 19}, {5, 21}}));
  });
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {3, 8}, {4, 19}, {5, 21}}));
  EXPECT_EQ(end_of(r.log(), 2), (EpochEnd{1, 8}));
  // A power loss takes the unflushed records (and their epoch 5), never the history.
  r.crash_and_restart(CrashKind::kPowerLoss);
  const Cache after = r.log().epoch_cache();
  ASSERT_GE(after.size(), 3u);
  EXPECT_EQ(Cache(after.begin(), after.begin() + 3), (Cache{{1, 0}, {3, 8}, {4, 19}}));
}

// Only an empty tiered log takes a history: anything else would rewrite epochs under records.
TEST(PartitionLogStart, RestoringAHistoryIntoALogWithRecordsIsACrashOfTheRun) {
  ReplicaNode r({.config = tiered_small_segments()});
  const RunOutcome out = r.try_run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1}));
    log.restore_epoch_history({{1, 0}});
  });
  EXPECT_FALSE(r.done());
  EXPECT_THAT(out.detail, ::testing::HasSubstr("only an empty tiered log takes an archived epoch history"));
}

}  // namespace
}  // namespace faultline::kafka
