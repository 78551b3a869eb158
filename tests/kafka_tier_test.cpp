// Tiered storage, first slice (issue 10): the archiver (H1, H2) against the fake S3 and the
// tier-state log held by the controller (H3), judged by the tier checker (S15, S19, S20).
#include <gtest/gtest.h>

#include "scenarios/scenario.h"

namespace faultline {
namespace {

RunResult run(uint64_t seed, std::vector<std::string> bugs = {}) {
  RunRequest r;
  r.scenario = "s3-outage";
  r.seed = seed;
  r.bugs = std::move(bugs);
  return execute(r);
}

// While S3 fails in every way it can and leaders die mid-upload, every run archives, every
// Complete segment holds the committed records (S15, checked at each UploadComplete), and
// new leaders fence their predecessors' uploads (H3) in some runs.
TEST(TieredStorage, LeadersArchiveCommittedSegmentsThroughS3Faults) {
  uint64_t fenced = 0, retried = 0, collected = 0, moved = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const RunResult r = run(seed);
    EXPECT_EQ(r.verdict, Verdict::kPass) << seed << ": " << (r.violations.empty() ? r.crash : r.violations[0].message);
    EXPECT_GT(r.metrics.at("tier_uploads_complete"), 10) << seed;
    EXPECT_GT(r.metrics.at("tier_bytes_archived"), 0) << seed;
    EXPECT_GE(r.marks.at("H3.init-leader"), 3u) << seed << ": every partition's leader opens its tier epoch";
    // H4 and H5: the hotset deleted archived segments, and the reader that started from
    // offset 0 read them back from the object store, every one in order (S16 otherwise).
    EXPECT_GT(r.marks.at("C8.log-start-moved"), 0u) << seed;
    // ... and the reader rewound once the healed archive has caught up reads it back in
    // every run.
    EXPECT_GT(r.marks.at("H5.remote-read"), 0u) << seed;
    EXPECT_GT(r.metrics.at("tier_reader_records"), 300) << seed;
    EXPECT_GT(r.marks.at("H6.remote-retention"), 0u) << seed;
    fenced += r.marks.at("H3.upload-fenced") > 0;
    collected += r.marks.at("H3.gc-deleted") > 0;
    moved += r.marks.at("H5.follower-moved-to-tiered") > 0;
    retried += r.metrics.at("tier_put_retries") > 0;
  }
  EXPECT_GT(fenced, 0u) << "no seed had a new leader fence an upload in progress";
  EXPECT_GT(collected, 0u) << "no seed had GC delete a fenced upload";
  EXPECT_GT(moved, 0u) << "no follower fell below its leader's local log start and rebuilt from the store";
  EXPECT_GT(retried, 5u) << "S3 faults should make archivers retry";
}

// Fenced uploads' objects are garbage: without GC they are still there at quiescence (S18).
TEST(TieredStorage, KeepFailedUploadsIsCaughtAsALeak) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const RunResult r = run(seed, {"keep-failed-uploads"});
    if (r.verdict == Verdict::kPass) continue;
    EXPECT_EQ(r.violations.front().invariant, "S18") << r.violations.front().message;
    EXPECT_NE(r.violations.front().message.find("delete-initiate"), std::string::npos) << r.violations.front().message;
    return;
  }
  ADD_FAILURE() << "keep-failed-uploads was not caught in 60 seeds of s3-outage";
}

// The hotset may delete only what is Complete on the object store (H4).
TEST(TieredStorage, DeleteBeforeUploadCompleteIsCaughtAsS14) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const RunResult r = run(seed, {"delete-before-upload-complete"});
    if (r.verdict != Verdict::kFail) continue;
    EXPECT_EQ(r.violations.front().invariant, "S14") << r.violations.front().message;
    return;
  }
  ADD_FAILURE() << "delete-before-upload-complete was not caught in 30 seeds of s3-outage";
}

// H6: retention that counts an upload in progress as archived deletes too much (S17).
TEST(TieredStorage, CountIncompleteUploadsIsCaughtAsPrematureDeletion) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const RunResult r = run(seed, {"count-incomplete-uploads"});
    if (r.verdict != Verdict::kFail) continue;
    EXPECT_EQ(r.violations.front().invariant, "S17") << r.violations.front().message;
    return;
  }
  ADD_FAILURE() << "count-incomplete-uploads was not caught in 30 seeds of s3-outage";
}

TEST(TieredStorage, TierAboveHwIsCaughtAsS15) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    const RunResult r = run(seed, {"tier-above-hw"});
    if (r.verdict != Verdict::kFail) continue;
    EXPECT_EQ(r.violations.front().invariant, "S15") << r.violations.front().message;
    return;
  }
  ADD_FAILURE() << "tier-above-hw was not caught in 150 seeds of s3-outage";
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// disk-stall: tiering goes on through stalled and slowed disks around leader changes.
TEST(TieredStorage, DiskStallRunsArchiveReadBackAndRetain) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    RunRequest req;
    req.scenario = "disk-stall";
    req.seed = seed;
    const RunResult r = execute(req);
    EXPECT_EQ(r.verdict, Verdict::kPass) << seed << ": " << (r.violations.empty() ? r.crash : r.violations[0].message);
    EXPECT_GT(r.metrics.at("tier_uploads_complete"), 10) << seed;
    EXPECT_GT(r.marks.at("H6.remote-retention"), 0u) << seed;
    EXPECT_GT(r.marks.at("C8.log-start-moved"), 0u) << seed;
  }
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// H7: during a full object-store outage produce and local fetch go on; local data that is not
// archived is never deleted, so local bytes grow past the hotset; after the outage archiving
// catches up and the local logs come back within the hotset (L4, judged at quiescence).
TEST(TieredStorage, ProduceGoesOnThroughAFullOutageAndTheHotsetRecovers) {
  RunRequest calm;
  calm.scenario = "s3-outage";
  calm.seed = 5;
  calm.plan_text = "";  // no fault at all
  RunRequest outage = calm;
  outage.plan_text = "10s s3-outage for=30s\n";
  const RunResult quiet = execute(calm);
  const RunResult out = execute(outage);
  ASSERT_EQ(quiet.verdict, Verdict::kPass) << (quiet.violations.empty() ? quiet.crash : quiet.violations[0].message);
  ASSERT_EQ(out.verdict, Verdict::kPass) << (out.violations.empty() ? out.crash : out.violations[0].message);
  EXPECT_GE(out.metrics.at("acked") * 10, quiet.metrics.at("acked") * 9) << "acks=all writes went on during the outage";
  EXPECT_GT(out.metrics.at("tier_peak_local_bytes"), 4 * quiet.metrics.at("tier_peak_local_bytes") / 2)
      << "unarchived local data piled up during the outage";
  EXPECT_GT(out.metrics.at("tier_peak_local_bytes"), 10 * 32 * 1024);
  EXPECT_GT(out.metrics.at("tier_put_retries"), 0);
  // The backlog the outage left is archived within seconds of its end (7s for this seed).
  EXPECT_GE(out.metrics.at("tier_outage_to_zero_lag_ns"), 0);
  EXPECT_LT(out.metrics.at("tier_outage_to_zero_lag_ns"), Duration::seconds(30).ns());
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// The multi-region case: a datacenter lost while leaders archive; its returning replicas come
// back below their leaders' local log start and rebuild from the archive (H5).
TEST(TieredStorage, DcLossTieredArchivesThroughTheLossAndTheReturn) {
  uint64_t moved = 0, retried = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    RunRequest req;
    req.scenario = "dc-loss";
    req.seed = seed;
    req.sets = {{"tiered", "true"}};
    const RunResult r = execute(req);
    EXPECT_EQ(r.verdict, Verdict::kPass) << seed << ": " << (r.violations.empty() ? r.crash : r.violations[0].message);
    EXPECT_GT(r.metrics.at("tier_uploads_complete"), 10) << seed;
    EXPECT_GT(r.marks.at("H6.remote-retention"), 0u) << seed;
    EXPECT_GT(r.marks.at("H5.remote-read"), 0u) << seed << ": the late reader reads back from the store";
    moved += r.marks.at("H5.follower-moved-to-tiered") > 0;
    retried += r.marks.at("H2.put-retried") > 0;
  }
  EXPECT_GT(moved, 2u);
  EXPECT_GT(retried, 2u) << "dc-loss draws object-store faults of its own when tiered";
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// Two controlled shutdowns in a row: b0 leads p2 for half a second in epoch 2, appends past
// the HW and shuts down; b1 (which never saw epoch 2) leads epoch 3, and its hotset deletes
// local segments past the epoch-1/epoch-3 boundary. When b0 returns with last epoch 2, the
// leader must still know that epoch 1 ended at 248 (its cache is not truncated at its local
// log start, A2/H4), so b0 truncates there; with the cache cut at the local start it answered
// (2, 251) and b0 kept three divergent records below its new HW (S2). Found by the 500-seed
// s3-outage sweep once restarts joined it (seed 493, with a plan pinned here until
// truncations stopped fsyncing (F5) moved every timing); seed 485 of the default nemesis now
// takes the same path: a leader answering an older epoch below its local log start, and the
// follower truncating there.
TEST(TieredStorage, AFollowerDivergedInAShortEpochTruncatesBelowItsLeadersLocalLogStart) {
  RunRequest req;
  req.scenario = "s3-outage";
  req.seed = 485;
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("C3.diverging-older-epoch"), 0u) << "the leader answered epoch 2 with an older epoch";
  EXPECT_GT(r.marks.at("C7.follower-truncated"), 0u);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

RunResult run_plan(const std::string& plan) {
  RunRequest req;
  req.scenario = "s3-outage";
  req.seed = 1;  // b2 leads every partition in this seed's first epoch
  req.plan_text = plan;
  return execute(req);
}

// H2, H3: a live leader cut off from the controller mid-upload (the store is out, so it is
// retrying a PUT) loses leadership: its successor's InitLeader fences the upload, and when
// the partition heals the old leader abandons it and its late tier events are fenced by
// their older tier epoch (S20 would fail if one were applied).
TEST(TieredStorage, ALeaderCutOffMidUploadIsFencedAndAbandonsTheUpload) {
  const RunResult r = run_plan("10s s3-outage for=30s\n12s partition a=b2 b=ctl for=12s\n");
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("H3.upload-fenced"), 0u);
  EXPECT_GT(r.marks.at("H2.upload-abandoned"), 0u);
  EXPECT_GT(r.marks.at("H3.stale-epoch-fenced"), 0u);
  EXPECT_GT(r.marks.at("H3.gc-deleted"), 0u) << "the fenced uploads' objects are collected";
}

// H3: the controller's replies to the leader are lost for 3 s; the archiver retries each
// tier event after its RPC timeout, and the repeats change nothing.
TEST(TieredStorage, TierEventsRetriedAfterALostReplyAreIdempotent) {
  const RunResult r = run_plan("20s partition-one-way from=ctl to=b2 for=3s\n");
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("H3.idempotent-repeat"), 0u);
  EXPECT_EQ(r.marks.at("H3.transition-rejected"), 0u) << "a retried event is a repeat, not a refusal";
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// H6 after an unclean election: b0, cut off from the leader b2 and out of the ISR, is elected
// uncleanly once b2 (power loss) and b1 (kill) are down. The archive holds committed records
// b0 never had; its archiver fences them out of the lineage at once (tier end back to the
// cut, their objects garbage for GC), archives its own records from there, and returning
// followers whose hotset deleted past b0's LEO truncate fully (Kafka's truncateTo below the
// first segment) instead of fetching above b0's LEO forever. The losses are excused by the
// unclean election; nothing else may fail, and nothing may leak (S18).
TEST(TieredStorage, AnUncleanLeaderFencesArchivedSegmentsOutsideItsLineage) {
  RunRequest req;
  req.scenario = "s3-outage";
  req.seed = 1;
  req.sets = {{"unclean.leader.election.enable", "true"}, {"elr", "false"}};
  req.plan_text = "10s partition a=b0 b=b1,b2 for=20s\n25s power-loss node=b2 for=20s\n25.1s kill node=b1 for=20s\n";
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("E1.unclean-election"), 0u);
  EXPECT_EQ(r.marks.at("H6.lineage-fenced"), 3u) << "every partition's archive ran past b0's log";
  EXPECT_GT(r.marks.at("C8.follower-full-truncation"), 0u);
  EXPECT_GT(r.marks.at("H3.gc-deleted"), 0u);
  bool excused = false;
  for (const Violation& v : r.violations) excused |= v.excused && v.invariant == "S1";
  EXPECT_TRUE(excused) << "the unclean election lost acknowledged records, excused";
  // The same plan with the defaults (ELR on, unclean election off): the partitions stay
  // offline until b1 or b2 returns (KIP-966's unclean recovery then elects the longest log),
  // nothing leaves the lineage and nothing needs an excuse.
  req.sets = {};
  const RunResult clean = execute(req);
  EXPECT_EQ(clean.verdict, Verdict::kPass) << (clean.violations.empty() ? clean.crash : clean.violations[0].message);
  EXPECT_TRUE(clean.violations.empty());
  EXPECT_GT(clean.marks.at("E1.partition-offline"), 0u);
  EXPECT_EQ(clean.marks.at("H6.lineage-fenced"), 0u);
}

}  // namespace
}  // namespace faultline
