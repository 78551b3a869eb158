// One replica's partition log (models/kafka/log.h): offsets and the leader-epoch cache (A2,
// A3), Kafka's endOffsetFor, truncation (C7, C8), rolls and the asynchronous flush behind
// the recovery point (F1), checkpoints (F2), recovery after a kill, a power loss or a clean
// shutdown (F3), S5, S9 and S12. The property over random plans of appends, truncations and
// crashes is in kafka_log_props_test.cpp.
//
// Every test runs the log in a one-node simulation: the node's boot function recovers the
// log in a fiber, and the test drives it from fibers of that node, as a broker would.
// Ground truth (what is durable) comes from the node's Disk, never from the log.
#include <set>

#include "models/kafka/log_format.h"
#include "tests/kafka_log_fixture.h"

namespace faultline::kafka {
namespace {

// --- appends and the epoch cache ----------------------------------------------------------------

TEST(PartitionLogAppend, LeaderAppendsGetContiguousOffsetsAndEachEpochEntersTheCacheOnce) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    EXPECT_EQ(log.begin_leader_epoch(3), 0);  // A3: (3, LEO)
    EXPECT_EQ(log.append_as_leader(3, {7, 8}), 0);
    EXPECT_EQ(log.append_as_leader(3, {9}), 2);
    EXPECT_EQ(log.append_as_leader(5, {10}), 3);  // a newer epoch is assigned before its batch
  });
  const Entries want = {{0, 3, 7}, {1, 3, 8}, {2, 3, 9}, {3, 5, 10}};
  EXPECT_EQ(all(r.log()), want);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{3, 0}, {5, 3}}));
  EXPECT_EQ(r.log().log_end_offset(), 4);
  // The segment in the page cache holds exactly those entries, and the cache checkpoint is
  // on disk (durable: write_atomically).
  EXPECT_EQ(PartitionLog::decode_segment(*r.disk().cached_content(PartitionLog::segment_file(kP, 0))), want);
  EXPECT_EQ(r.disk().durable_content(PartitionLog::leader_epoch_file(kP)), "0\n2\n3 0\n5 3\n");
}

TEST(PartitionLogAppend, FollowerAppendAcrossEpochsBuildsTheCacheAndWritesOneBatchPerEpoch) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) { log.append_as_follower(entries(0, {1, 1, 2, 4, 4, 4})); });
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 2, 4, 4, 4}));
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {2, 2}, {4, 3}}));
  // Three batches: 12 bytes of header and 16 of batch fields each, 8 per record.
  EXPECT_EQ(r.disk().cached_size(PartitionLog::segment_file(kP, 0)), 3u * 28 + 6 * 26);  // 26 bytes a record (B6 fields)
}

TEST(PartitionLogAppend, AFollowerBatchOlderThanANewLeadersEmptyEpochReplacesIt) {
  // The replica became leader in epoch 7 but appended nothing; the next leader's data from
  // epoch 5 lands at the same offset. Kafka's assign removes the conflicting (7, 2).
  ReplicaNode r;
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {4, 4}));
    log.begin_leader_epoch(7);
    EXPECT_EQ(log.epoch_cache(), (Cache{{4, 0}, {7, 2}}));
    log.append_as_follower(entries(2, {5}));
  });
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{4, 0}, {5, 2}}));
}

TEST(PartitionLogAppend, AnAppendThatWouldLowerTheEpochIsACrashOfTheRun) {
  ReplicaNode r;
  r.run([](PartitionLog& log) { log.append_as_follower(entries(0, {3, 3})); });
  const RunOutcome out = r.try_run([](PartitionLog& log) { log.append_as_follower(entries(2, {2})); });
  EXPECT_EQ(out.reason, StopReason::kCrash);
  EXPECT_THAT(out.detail, HasSubstr("S9"));
}

TEST(PartitionLogAppend, ConcurrentProducersNeverInterleaveTheirBatches) {
  ReplicaNode r;  // small segments: many rolls while both append
  const int kAppends = 30;
  std::vector<std::vector<int64_t>> bases(2);
  for (int p = 0; p < 2; ++p) {
    r.sim().node(0).spawn("producer", [&r, &bases, p] {
      r.process().ready.wait();
      for (int i = 0; i < kAppends; ++i) {
        const uint64_t first = static_cast<uint64_t>(p) * 1000 + static_cast<uint64_t>(i) * 3;
        bases[p].push_back(r.log().append_as_leader(1, ids(first, 3)));
      }
    });
  }
  r.advance(1_s);
  ASSERT_EQ(r.log().log_end_offset(), 2 * kAppends * 3);
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(bases[p].size(), static_cast<size_t>(kAppends));
    for (int i = 0; i < kAppends; ++i) {
      const uint64_t first = static_cast<uint64_t>(p) * 1000 + static_cast<uint64_t>(i) * 3;
      const Entries got = r.log().read(bases[p][i], 3, INT64_MAX);
      const int64_t base = bases[p][i];
      EXPECT_EQ(got, (Entries{{base, 1, first}, {base + 1, 1, first + 1}, {base + 2, 1, first + 2}}));
    }
  }
  EXPECT_EQ(PartitionLog::end_offset_of(r.segment_files(false)), r.log().log_end_offset());
}

// --- endOffsetFor -------------------------------------------------------------------------------

TEST(PartitionLogEpochs, EndOffsetForEpochFollowsKafka) {
  ReplicaNode r;
  // The log starts at 10 (a full truncation), epochs 2, 3 and 5 start at 10, 12 and 13.
  r.run([](PartitionLog& log) {
    EXPECT_EQ(end_of(log, 1), std::nullopt);  // empty cache
    log.truncate_fully_and_start_at(10);
    log.append_as_follower(entries(10, {2, 2, 3, 5, 5}));
  });
  const PartitionLog& log = r.log();
  ASSERT_EQ(log.epoch_cache(), (Cache{{2, 10}, {3, 12}, {5, 13}}));
  // The latest epoch ends at the LEO.
  EXPECT_EQ(end_of(log, 5), (EpochEnd{5, 15}));
  // An earlier epoch ends where the next one starts.
  EXPECT_EQ(end_of(log, 2), (EpochEnd{2, 12}));
  EXPECT_EQ(end_of(log, 3), (EpochEnd{3, 13}));
  // An epoch this log never saw: the largest smaller one, ending where the next starts.
  EXPECT_EQ(end_of(log, 4), (EpochEnd{3, 13}));
  // Older than every cached epoch: Kafka answers the requested epoch and the first start.
  EXPECT_EQ(end_of(log, 1), (EpochEnd{1, 10}));
  // Newer than every cached epoch, or undefined: UNDEFINED_EPOCH_OFFSET.
  EXPECT_EQ(end_of(log, 6), std::nullopt);
  EXPECT_EQ(end_of(log, kNoEpoch), std::nullopt);
}

TEST(PartitionLogEpochs, AssignKeepsTheCacheMonotoneByRemovingWhatConflicts) {
  ReplicaNode r;
  r.run([&r](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1, 2, 2, 2}));
    EXPECT_EQ(log.begin_leader_epoch(5), 6);
    EXPECT_EQ(log.epoch_cache(), (Cache{{1, 0}, {2, 3}, {5, 6}}));
    const uint64_t written = r.disk().bytes_written();
    log.assign_epoch(5, 6);  // the same entry again: no change, no checkpoint write
    EXPECT_EQ(r.disk().bytes_written(), written);
    log.begin_leader_epoch(6);  // elected again before appending: (6, 6) replaces (5, 6)
    EXPECT_EQ(log.epoch_cache(), (Cache{{1, 0}, {2, 3}, {6, 6}}));
    log.assign_epoch(3, 6);  // an older epoch removes every newer entry
    EXPECT_EQ(log.epoch_cache(), (Cache{{1, 0}, {2, 3}, {3, 6}}));
  });
}


// --- truncation ---------------------------------------------------------------------------------

TEST(PartitionLogTruncate, TrimsEntriesSegmentFilesAndTheEpochCacheAndLowersTheHw) {
  ReplicaNode r;  // four records per segment: [0,4) e1, [4,8) e2, [8,10) e3
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3}));
    log.set_high_watermark(9);
  });
  ASSERT_EQ(r.segment_bases(), (std::vector<int64_t>{0, 4, 8}));
  TruncationReport rep;
  r.run([&rep](PartitionLog& log) { rep = log.truncate_to(5); });  // inside the batch [4,8)
  EXPECT_TRUE(rep.truncated);
  EXPECT_EQ(rep.log_end_offset_before, 10);
  EXPECT_EQ(rep.log_end_offset_after, 5);
  EXPECT_TRUE(rep.high_watermark_lowered);  // a follower never needs this outside C8: flag it
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1, 1, 2}));
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {2, 4}}));
  EXPECT_EQ(r.log().high_watermark(), 5);
  EXPECT_LE(r.log().recovery_point(), 5);
  // The segment after the point is gone; the one holding it keeps [4,5), durably.
  EXPECT_EQ(r.segment_bases(), (std::vector<int64_t>{0, 4}));
  const std::string seg4 = PartitionLog::segment_file(kP, 4);
  EXPECT_EQ(PartitionLog::decode_segment(*r.disk().cached_content(seg4)), entries(4, {2}));
  EXPECT_EQ(r.disk().durable_content(seg4), r.disk().cached_content(seg4));
  EXPECT_EQ(r.disk().durable_content(PartitionLog::leader_epoch_file(kP)), "0\n2\n1 0\n2 4\n");

  // At a segment's base: the segment stays, empty, as the active one (as in Kafka).
  r.run([](PartitionLog& log) { log.truncate_to(4); });
  EXPECT_EQ(r.log().segments(), (std::vector<SegmentInfo>{{0, 4, false}, {4, 4, true}}));
  EXPECT_EQ(r.disk().cached_size(seg4), 0u);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}}));
  r.run([](PartitionLog& log) { log.append_as_follower(entries(4, {5})); });
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {5, 4}}));
}

TEST(PartitionLogTruncate, AtOrPastTheLeoKeepsTheEntriesButDropsAnEpochThatNeverGotABatch) {
  // This replica became leader in epoch 2 and appended nothing before losing leadership;
  // the next leader answers a divergence at our LEO. Kafka's truncateTo truncates nothing
  // but still trims the cache, or the follower would keep asking about epoch 2.
  ReplicaNode r;
  r.run([&r](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1}));
    log.begin_leader_epoch(2);
    const TruncationReport rep = log.truncate_to(5);
    EXPECT_FALSE(rep.truncated);
    EXPECT_EQ(rep.log_end_offset_after, 2);
    EXPECT_EQ(log.epoch_cache(), (Cache{{1, 0}}));
    EXPECT_EQ(r.disk().durable_content(PartitionLog::leader_epoch_file(kP)), "0\n1\n1 0\n");
    const uint64_t written = r.disk().bytes_written();
    log.truncate_to(2);  // nothing left to trim: nothing written
    EXPECT_EQ(r.disk().bytes_written(), written);
    EXPECT_EQ(all(log), entries(0, {1, 1}));
  });
}

TEST(PartitionLogAppend, FollowerDataOfTheLastEpochAfterAnEmptyLeaderEpochKeepsTheCacheConsistent) {
  // The same situation without the truncation first: Kafka's assign alone would remove
  // (1, 0) too (its epoch is >= 1); the log trims the empty (2, 2) instead.
  ReplicaNode r;
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1}));
    log.begin_leader_epoch(2);
    log.append_as_follower(entries(2, {1, 1}));
  });
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}}));
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1, 1}));
}

TEST(PartitionLogTruncate, ACutInsideABatchIsARewriteAndDurable) {
  // Nothing was fsynced before the truncation; the kept prefix of the batch is written with
  // write_atomically, so a power loss right after it finds exactly the truncated log.
  ReplicaNode r({.config = large_segments(), .background = false});
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1}));
    log.append_as_follower(entries(3, {1, 1, 1}));
    log.truncate_to(2);
  });
  EXPECT_EQ(r.durable_leo(), 2);
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
  EXPECT_FALSE(rep.clean);
  EXPECT_EQ(rep.log_end_offset, 2);
  EXPECT_EQ(all(r.log()), entries(0, {1, 1}));
}

// F5 (Kafka's LogSegment.truncateTo): a cut at a batch boundary is not fsynced. A power loss
// before the next fsync may bring the cut batches back; recovery re-validates them, and the
// recovered log is always one whole version of the log: the cut one, or the fsynced one.
TEST(PartitionLogTruncate, AnUnsyncedTruncationMayComeBackAfterAPowerLoss) {
  std::set<int64_t> outcomes;
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    ReplicaNode r({.config = large_segments(), .background = false, .seed = seed});
    r.run([&r](PartitionLog& log) {
      log.append_as_follower(entries(0, {1, 1, 1}));
      log.append_as_follower(entries(3, {2, 2, 2}));
      r.disk().fsync(PartitionLog::segment_file(kP, 0));  // the six entries are durable
      log.truncate_to(3);
    });
    EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1}));
    EXPECT_EQ(r.durable_leo(), 6) << "the cut is in the page cache only";
    EXPECT_TRUE(r.s12_holds()) << "the recovery point checkpoint went down before the cut";
    const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
    outcomes.insert(rep.log_end_offset);
    ASSERT_TRUE(rep.log_end_offset == 3 || rep.log_end_offset == 6) << seed << ": " << rep.log_end_offset;
    EXPECT_EQ(all(r.log()), rep.log_end_offset == 3 ? entries(0, {1, 1, 1}) : entries(0, {1, 1, 1, 2, 2, 2}));
    EXPECT_EQ(r.log().epoch_cache(), rep.log_end_offset == 3 ? (Cache{{1, 0}}) : (Cache{{1, 0}, {2, 3}}));
  }
  EXPECT_EQ(outcomes, (std::set<int64_t>{3, 6})) << "both versions come back across seeds";
}

TEST(PartitionLogTruncate, FullTruncationStartsOverAtTheNewOffset) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 2, 2, 2, 2}));
    log.set_high_watermark(4);
    log.truncate_fully_and_start_at(20);  // C8: the leader's log start is past our LEO
  });
  const PartitionLog& log = r.log();
  EXPECT_EQ(log.log_start_offset(), 20);
  EXPECT_EQ(log.log_end_offset(), 20);
  EXPECT_EQ(log.high_watermark(), 20);
  EXPECT_EQ(log.recovery_point(), 20);
  EXPECT_TRUE(log.epoch_cache().empty());
  EXPECT_EQ(r.segment_bases(), (std::vector<int64_t>{20}));
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::log_start_offset_file(kP)), 20);
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::recovery_point_file(kP)), 20);
  EXPECT_EQ(r.disk().durable_content(PartitionLog::leader_epoch_file(kP)), "0\n0\n");

  r.run([](PartitionLog& l) { l.append_as_follower(entries(20, {3, 3})); });
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
  EXPECT_EQ(rep.log_start_offset, 20);
  const Entries got = all(r.log());
  const Entries appended = entries(20, {3, 3});
  EXPECT_LE(got.size(), 2u);
  EXPECT_EQ(got, Entries(appended.begin(), appended.begin() + static_cast<long>(got.size())));

  // Kafka: truncating below the log start is a full truncation there.
  r.run([](PartitionLog& l) { l.truncate_to(5); });
  EXPECT_EQ(r.log().log_start_offset(), 5);
  EXPECT_EQ(r.log().log_end_offset(), 5);
  EXPECT_EQ(r.segment_bases(), (std::vector<int64_t>{5}));
}

// --- rolls and flushes --------------------------------------------------------------------------

TEST(PartitionLogRoll, BySizeAndTheRecoveryPointFollowsTheBackgroundFsyncOnly) {
  ReplicaNode r;  // four records per segment
  r.run([](PartitionLog& log) { log.append_as_leader(1, ids(1, 3)); });
  r.run([](PartitionLog& log) { log.append_as_leader(1, ids(4, 2)); });  // 3 + 2 > 4: roll first
  EXPECT_EQ(r.log().segments(), (std::vector<SegmentInfo>{{0, 3, false}, {3, 5, true}}));
  // Hold the disk: the background flush of [0,3) cannot complete.
  r.disk().stall(r.sim().now() + 1_s);
  r.advance(500_ms);
  EXPECT_EQ(r.log().recovery_point(), 0);
  EXPECT_EQ(r.disk().durable_size(PartitionLog::segment_file(kP, 0)), 0u);
  r.advance(1_s);
  EXPECT_EQ(r.log().recovery_point(), 3);
  EXPECT_EQ(PartitionLog::decode_segment(*r.disk().durable_content(PartitionLog::segment_file(kP, 0))),
            (Entries{{0, 1, 1}, {1, 1, 2}, {2, 1, 3}}));
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::recovery_point_file(kP)), 3);  // the checkpointer caught up
  EXPECT_EQ(r.disk().durable_size(PartitionLog::segment_file(kP, 3)), 0u);  // the active one is not flushed
}

TEST(PartitionLogRoll, ByTimeOnTheFirstAppendAfterSegmentMs) {
  LogConfig c = large_segments();
  c.segment_ms = 1_s;
  ReplicaNode r({.config = c});
  r.run([](PartitionLog& log) { log.append_as_leader(1, {1}); });
  r.advance(500_ms);
  r.run([](PartitionLog& log) { log.append_as_leader(1, {2}); });
  EXPECT_EQ(r.log().segments().size(), 1u);
  r.advance(600_ms);  // the first batch is now 1.1 s old
  EXPECT_EQ(r.log().segments().size(), 1u);  // checked on append only
  r.run([](PartitionLog& log) { log.append_as_leader(1, {3}); });
  EXPECT_EQ(r.log().segments(), (std::vector<SegmentInfo>{{0, 2, false}, {2, 3, true}}));
}

TEST(PartitionLogRoll, FlushOnAppendMakesEveryAppendDurableBeforeItReturns) {
  LogConfig c = small_segments();
  c.flush_on_append = true;
  ReplicaNode r({.config = c, .background = false});
  r.run([&r](PartitionLog& log) {
    for (uint64_t i = 0; i < 7; ++i) {
      log.append_as_leader(1, {i});
      EXPECT_EQ(log.recovery_point(), log.log_end_offset());
      EXPECT_EQ(r.durable_leo(), log.log_end_offset());
    }
  });
}

// --- crashes and recovery -----------------------------------------------------------------------

TEST(PartitionLogCrash, AProcessKillLosesNothing) {
  ReplicaNode r;
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 2, 2, 2, 3, 3}));
    log.append_as_leader(3, {42});
  });
  const Entries before = all(r.log());
  const Cache cache = r.log().epoch_cache();
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kKill);
  EXPECT_FALSE(rep.clean);
  EXPECT_EQ(rep.bytes_truncated, 0u);
  EXPECT_EQ(rep.segments_deleted, 0u);
  EXPECT_EQ(all(r.log()), before);
  EXPECT_EQ(r.log().epoch_cache(), cache);
}

TEST(PartitionLogCrash, ATornLastBatchIsCutInThePageCache) {
  ReplicaNode r({.config = large_segments()});
  const std::string seg0 = PartitionLog::segment_file(kP, 0);
  r.run([&](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1}));  // 28 + 78 bytes
    log.append_as_follower(entries(3, {2, 2}));     // 28 + 52 bytes
    // The disk kept only the first 20 bytes of the second batch.
    r.disk().truncate(seg0, 106 + 20);
  });
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kKill);
  EXPECT_FALSE(rep.clean);
  EXPECT_EQ(rep.bytes_truncated, 20u);
  EXPECT_EQ(rep.log_end_offset, 3);
  EXPECT_EQ(rep.epochs_trimmed, 1u);  // (2, 3): its batch did not survive
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1}));
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}}));
  EXPECT_EQ(r.disk().cached_size(seg0), 106u);
  EXPECT_EQ(r.disk().durable_size(seg0), 0u) << "F3: recovery does not fsync what it re-validated or cut";
  EXPECT_EQ(r.log().recovery_point(), 0);
}

TEST(PartitionLogCrash, APowerLossKeepsAPrefixWithEveryFsyncedEntry) {
  // The same history under many disks: each power loss keeps a different unsynced suffix.
  int torn = 0, shortened = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    ReplicaNode r({.seed = seed});
    Entries appended = entries(0, {1, 1, 1, 2, 2, 2, 3, 3, 3});
    r.run([&](PartitionLog& log) {
      log.append_as_follower(Entries(appended.begin(), appended.begin() + 3));
      log.append_as_follower(Entries(appended.begin() + 3, appended.begin() + 5));  // rolls
      log.set_high_watermark(5);
    });
    r.advance(300_ms);  // the flusher syncs [0,3); the checkpointer writes HW 5 and RP 3
    ASSERT_EQ(r.log().recovery_point(), 3);
    r.run([&](PartitionLog& log) {
      log.append_as_follower(Entries(appended.begin() + 5, appended.begin() + 6));
      log.append_as_follower(Entries(appended.begin() + 6, appended.begin() + 8));  // rolls
      log.append_as_follower(Entries(appended.begin() + 8, appended.end()));
    });
    const int64_t rp = r.log().recovery_point();
    const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
    const Entries got = all(r.log());
    ASSERT_LE(got.size(), appended.size());
    EXPECT_EQ(got, Entries(appended.begin(), appended.begin() + static_cast<long>(got.size())));
    EXPECT_GE(r.log().log_end_offset(), rp);  // fsynced entries are never lost
    EXPECT_EQ(r.log().epoch_cache(), changes_of(got));
    EXPECT_EQ(r.log().high_watermark(), std::min<int64_t>(5, r.log().log_end_offset()));
    EXPECT_EQ(PartitionLog::end_offset_of(r.segment_files(false)), r.log().log_end_offset());
    r.expect_s12("after recovery");
    torn += rep.bytes_truncated > 0;
    shortened += got.size() < appended.size();
  }
  EXPECT_GT(torn, 0);  // the situation was really exercised
  EXPECT_GT(shortened, 0);
}

TEST(PartitionLogCrash, APowerLossTrimsTheEpochCacheToTheRecoveredLeo) {
  LogConfig c = small_segments();
  c.flush_on_append = true;
  ReplicaNode r({.config = c});
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1}));
    log.begin_leader_epoch(2);  // checkpointed, but no batch of epoch 2 exists
  });
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
  EXPECT_EQ(rep.log_end_offset, 2);
  EXPECT_EQ(rep.epochs_trimmed, 1u);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}}));
  EXPECT_EQ(r.disk().durable_content(PartitionLog::leader_epoch_file(kP)), "0\n1\n1 0\n");
}

// --- checkpoints --------------------------------------------------------------------------------

TEST(PartitionLogCheckpoints, HwRecoveryPointAndEpochCacheSurviveAKill) {
  ReplicaNode r;
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1, 2, 2, 2}));  // [0,3) rolls to [3,6)
    log.set_high_watermark(5);
  });
  r.advance(1_s);
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::high_watermark_file(kP)), 5);
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::recovery_point_file(kP)), 3);
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kKill);
  EXPECT_EQ(rep.high_watermark, 5);
  EXPECT_EQ(rep.checkpointed_recovery_point, 3);
  EXPECT_EQ(rep.revalidated_from, 3);  // the segment holding the recovery point, onward
  // F3: re-validated, not fsynced; the recovery point stays at min(checkpoint, LEO).
  EXPECT_EQ(rep.recovery_point, 3);
  EXPECT_LT(r.disk().durable_size(PartitionLog::segment_file(kP, 3)),
            r.disk().cached_size(PartitionLog::segment_file(kP, 3)));
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {2, 3}}));
}

TEST(PartitionLogCheckpoints, TheRecoveryPointNeverPassesTheDurableLeoWhateverCrashes) {
  // S12, probed against the disk every 50 us while a workload appends, rolls, truncates and
  // crashes (kills and power losses alternate).
  LogConfig c = small_segments();
  c.hw_checkpoint_interval = 3_ms;
  c.recovery_point_checkpoint_interval = 2_ms;
  ReplicaNode r({.config = c, .seed = 5});
  std::function<void()> probe = [&] {
    r.expect_s12("probe");
    r.sim().scheduler().after(50_us, probe);
  };
  r.sim().scheduler().after(50_us, probe);
  uint64_t next_id = 1;
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    r.sim().node(0).spawn("workload", [&r, &next_id] {
      r.process().ready.wait();
      PartitionLog& log = r.log();
      for (int i = 0;; ++i) {
        Epoch e = std::max(log.latest_epoch(), 0);
        if (i % 7 == 3) log.begin_leader_epoch(++e);
        log.append_as_leader(e, ids(next_id, 1 + static_cast<size_t>(i % 3)));
        next_id += 3;
        if (i % 5 == 4) log.truncate_to(std::max(log.log_start_offset(), log.log_end_offset() - 3));
        if (i % 23 == 22) log.truncate_fully_and_start_at(log.log_end_offset() + 2);
        log.set_high_watermark((log.log_start_offset() + log.log_end_offset()) / 2);
        r.sim().node(0).sleep_for(Duration::micros(300 + 100 * (i % 4)));
      }
    });
    const CrashKind kind = round % 2 == 0 ? CrashKind::kPowerLoss : CrashKind::kKill;
    r.sim().scheduler().after(Duration::micros(3'000 + 2'777 * round), [&r, kind] {
      r.expect_s12("right before the crash");
      r.crash(kind);
      r.sim().scheduler().stop();
    });
    const RunOutcome out = r.sim().scheduler().run_for(10_s);
    ASSERT_EQ(out.reason, StopReason::kStopped) << out.detail;
    r.expect_s12("while down");
    r.restart();
    r.expect_s12("after recovery");
  }
}

// --- clean shutdown -----------------------------------------------------------------------------

TEST(PartitionLogShutdown, ACleanShutdownRecoversCleanAndKeepsEverything) {
  ReplicaNode r;
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1, 2, 2, 2, 2}));
    log.set_high_watermark(6);
    log.begin_leader_epoch(3);
    log.shutdown_cleanly();
  });
  EXPECT_TRUE(r.log().closed());
  EXPECT_TRUE(r.disk().exists(PartitionLog::clean_shutdown_file(kP)));
  EXPECT_EQ(r.durable_leo(), 7);
  EXPECT_EQ(r.durable_checkpoint(PartitionLog::recovery_point_file(kP)), 7);
  // Even a power loss finds nothing unsynced.
  const RecoveryReport rep = r.crash_and_restart(CrashKind::kPowerLoss);
  EXPECT_TRUE(rep.clean);
  EXPECT_EQ(rep.revalidated_from, 7);  // nothing re-validated
  EXPECT_EQ(all(r.log()), entries(0, {1, 1, 1, 2, 2, 2, 2}));
  EXPECT_EQ(r.log().high_watermark(), 6);
  EXPECT_EQ(r.log().recovery_point(), 7);
  EXPECT_EQ(r.log().epoch_cache(), (Cache{{1, 0}, {2, 3}}));  // (3, 7) had no batch: trimmed
  EXPECT_FALSE(r.disk().exists(PartitionLog::clean_shutdown_file(kP)));
  EXPECT_FALSE(r.crash_and_restart(CrashKind::kKill).clean);  // the marker is used up
}

TEST(PartitionLogShutdown, AMutationAfterTheShutdownIsACrashOfTheRun) {
  ReplicaNode r;
  r.run([](PartitionLog& log) { log.shutdown_cleanly(); });
  // (A crash ends the simulation's run for good: this test can do nothing after it.)
  const RunOutcome late = r.try_run([](PartitionLog& log) { log.append_as_leader(3, {9}); });
  EXPECT_EQ(late.reason, StopReason::kCrash);
  EXPECT_THAT(late.detail, HasSubstr("shut down"));
}

// --- the on-disk format -------------------------------------------------------------------------

TEST(PartitionLogFormat, FilesAreNamedByPartitionAndZeroPaddedBaseOffset) {
  EXPECT_EQ(PartitionLog::directory(3), "p3/");
  EXPECT_EQ(PartitionLog::segment_file(3, 42), "p3/00000000000000000042.log");
  EXPECT_EQ(PartitionLog::segment_base("p3/00000000000000000042.log"), 42);
  EXPECT_EQ(PartitionLog::segment_base("p3/00000000000000000042.log.tmp"), std::nullopt);
  EXPECT_EQ(PartitionLog::segment_base("p3/leader-epoch-checkpoint"), std::nullopt);
  EXPECT_EQ(PartitionLog::parse_offset_checkpoint("0\n17\n"), 17);
  EXPECT_EQ(PartitionLog::parse_offset_checkpoint("0\n17"), std::nullopt);
}

TEST(PartitionLogFormat, DecodeSegmentReturnsTheWholeValidBatchesOfAnyPrefix) {
  ReplicaNode r({.config = large_segments()});
  r.run([](PartitionLog& log) {
    log.append_as_follower(entries(0, {1, 1, 1}));  // bytes [0, 106)
    log.append_as_follower(entries(3, {2}));        // [106, 160)
    log.append_as_follower(entries(4, {2, 2}));     // [160, 240)
  });
  const std::string bytes = *r.disk().cached_content(PartitionLog::segment_file(kP, 0));
  ASSERT_EQ(bytes.size(), 240u);
  const Entries full = entries(0, {1, 1, 1, 2, 2, 2});
  for (size_t n = 0; n <= bytes.size(); ++n) {
    const size_t whole = n < 106 ? 0 : n < 160 ? 3 : n < 240 ? 4 : 6;
    EXPECT_EQ(PartitionLog::decode_segment(bytes.substr(0, n)),
              Entries(full.begin(), full.begin() + static_cast<long>(whole)))
        << n;
  }
  std::string corrupt = bytes;
  corrupt[106 + 30] ^= 0x40;  // a record id of the second batch
  EXPECT_EQ(PartitionLog::decode_segment(corrupt), Entries(full.begin(), full.begin() + 3));
  // The contiguous end over several segments, as a checker computes the durable LEO.
  EXPECT_EQ(PartitionLog::end_offset_of({}), std::nullopt);
  EXPECT_EQ(PartitionLog::end_offset_of({{0, bytes}, {6, ""}}), 6);
  EXPECT_EQ(PartitionLog::end_offset_of({{0, bytes.substr(0, 120)}, {6, ""}}), 3);  // a bad tail ends it
  EXPECT_EQ(PartitionLog::end_offset_of({{0, bytes.substr(0, 106)}, {6, bytes}}), 3);  // so does a gap
}

TEST(PartitionLogFormat, EncodedBatchBytesAreTheFormatFieldByField) {
  // The encoder writes into one buffer of its final size; pin it to the format, spelled out
  // with the field helpers (little-endian; the checksum of the body and its length).
  std::vector<LogEntry> batch = {{41, 7, 0x1122334455667788ULL}, {42, 7, 5}};
  batch[0].producer_id = 9;
  batch[0].producer_epoch = 3;
  batch[0].sequence = 100;
  batch[0].base_sequence = 100;
  batch[1].producer_id = 9;
  batch[1].producer_epoch = 3;
  batch[1].sequence = 101;
  batch[1].base_sequence = 100;
  using namespace log_format;
  std::string body;
  put_u64(body, 41);
  put_u32(body, 7);
  put_u32(body, 2);
  for (const LogEntry& e : batch) {
    put_u64(body, e.record_id);
    put_u64(body, e.producer_id);
    put_u16(body, static_cast<uint16_t>(e.producer_epoch));
    put_u32(body, static_cast<uint32_t>(e.sequence));
    put_u32(body, static_cast<uint32_t>(e.base_sequence));
  }
  std::string want;
  put_u32(want, static_cast<uint32_t>(body.size()));
  put_u64(want, batch_checksum(body));
  want += body;
  EXPECT_EQ(encode_batch(batch, 0, 2), want);
  EXPECT_EQ(PartitionLog::decode_segment(want), batch);
  EXPECT_EQ(encode_batch(batch, 1, 1).size(), kHeaderBytes + kBodyFixedBytes + kRecordBytes);
}

TEST(PartitionLogFormat, TheBatchChecksumSeesEveryByteAndTheLength) {
  using namespace log_format;
  const std::string body(2 * kRecordBytes + kBodyFixedBytes, 'r');  // 68 bytes: a padded last word
  const uint64_t base = batch_checksum(body);
  for (size_t i = 0; i < body.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = body;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_NE(batch_checksum(flipped), base) << i << " " << bit;
    }
  }
  // Changes to two words do not cancel (through multiplies alone, two flips of bit 63 would).
  for (size_t a = 0; a + 8 <= body.size(); a += 8) {
    for (size_t b = a + 8; b + 8 <= body.size(); b += 8) {
      for (int bit = 56; bit < 64; ++bit) {
        std::string two = body;
        two[a + bit / 8] = static_cast<char>(two[a + bit / 8] ^ (1 << (bit % 8)));
        two[b + bit / 8] = static_cast<char>(two[b + bit / 8] ^ (1 << (bit % 8)));
        EXPECT_NE(batch_checksum(two), base) << a << " " << b << " " << bit;
      }
    }
  }
  // A zero byte cut from the end (the padding's value) is still a different batch.
  const std::string with_zero = body + std::string(1, '\0');
  EXPECT_NE(batch_checksum(with_zero), base);
  EXPECT_NE(batch_checksum(with_zero.substr(0, with_zero.size() - 1)), batch_checksum(with_zero));
}

}  // namespace
}  // namespace faultline::kafka
