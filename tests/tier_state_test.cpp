// The tier-state machine of H3 (models/kafka/tier/tier_state.h): each rule pinned by a
// situation, then a property over random event sequences: invariants hold, repeats are
// no-ops, and replaying the applied events materialises the same state.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "models/kafka/tier/archiver.h"
#include "models/kafka/tier/tier_state.h"

namespace faultline::kafka {
namespace {

using Kind = TierEvent::Kind;
using Outcome = TierState::Outcome;

TierEvent init(int32_t epoch) { return {Kind::kInitLeader, epoch, "", 0, 0, {}}; }
TierEvent initiate(int32_t epoch, const std::string& id, int64_t base, int64_t end) {
  return {Kind::kUploadInitiate, epoch, id, base, end, {{epoch, base}}};
}
TierEvent step(Kind k, int32_t epoch, const std::string& id) { return {k, epoch, id, 0, 0, {}}; }

TEST(TierState, UploadsMoveTheTierEndOnlyWhenComplete) {
  TierState t;
  ASSERT_TRUE(t.apply(init(1)).changed());
  ASSERT_TRUE(t.apply(initiate(1, "a", 0, 10)).changed());
  EXPECT_EQ(t.tier_end_offset(), 0) << "H2: not before UploadComplete";
  EXPECT_EQ(t.apply(initiate(1, "b", 10, 20)).reason, std::string("upload-in-progress"));
  ASSERT_TRUE(t.apply(step(Kind::kUploadComplete, 1, "a")).changed());
  EXPECT_EQ(t.tier_end_offset(), 10);
  EXPECT_EQ(t.apply(step(Kind::kUploadComplete, 1, "a")).outcome, Outcome::kRepeated);
  EXPECT_EQ(t.apply(initiate(1, "c", 5, 15)).reason, std::string("overlaps-archived"));
  ASSERT_TRUE(t.apply(initiate(1, "b", 10, 20)).changed());
  EXPECT_EQ(t.apply(initiate(1, "b", 10, 20)).outcome, Outcome::kRepeated);
  EXPECT_EQ(t.apply(initiate(1, "b", 10, 21)).reason, std::string("segment-id-reused"));
}

TEST(TierState, ANewLeaderFencesTheUploadInProgressAndOlderEpochs) {
  TierState t;
  t.apply(init(1));
  t.apply(initiate(1, "a", 0, 10));
  ASSERT_TRUE(t.apply(init(2)).changed());
  EXPECT_EQ(t.find("a")->state, TierSegmentState::kDeleteInitiate) << "H3: fenced, left for GC";
  EXPECT_EQ(t.apply(step(Kind::kUploadComplete, 1, "a")).outcome, Outcome::kFenced) << "S20";
  EXPECT_EQ(t.apply(init(1)).outcome, Outcome::kFenced);
  EXPECT_EQ(t.apply(init(2)).outcome, Outcome::kRepeated);
  EXPECT_EQ(t.apply(initiate(3, "x", 0, 1)).reason, std::string("tier-epoch-not-initialised"));
  EXPECT_EQ(t.tier_end_offset(), 0);
  ASSERT_TRUE(t.apply(initiate(2, "b", 0, 10)).changed()) << "the new leader uploads the range again";
  ASSERT_TRUE(t.apply(step(Kind::kUploadComplete, 2, "b")).changed());
  EXPECT_EQ(t.tier_end_offset(), 10);
}

TEST(TierState, DeletionGoesThroughDeleteInitiate) {
  TierState t;
  t.apply(init(1));
  t.apply(initiate(1, "a", 0, 10));
  EXPECT_EQ(t.apply(step(Kind::kDeleteComplete, 1, "a")).reason, std::string("not-deleting"));
  t.apply(step(Kind::kUploadComplete, 1, "a"));
  ASSERT_TRUE(t.apply(step(Kind::kDeleteInitiate, 1, "a")).changed());
  EXPECT_TRUE(t.complete().empty());
  // Repeats of transitions applied before are no-ops, however far the segment has moved on
  // (an archiver retrying an UploadComplete whose reply it lost, after retention took it).
  const TierState::Result late = t.apply(step(Kind::kUploadComplete, 1, "a"));
  EXPECT_EQ(late.outcome, TierState::Outcome::kRepeated);
  EXPECT_EQ(late.reason, std::string("already-complete"));
  EXPECT_TRUE(t.complete().empty());
  ASSERT_TRUE(t.apply(step(Kind::kDeleteComplete, 1, "a")).changed());
  EXPECT_EQ(t.apply(step(Kind::kDeleteInitiate, 1, "a")).outcome, TierState::Outcome::kRepeated);
  EXPECT_EQ(t.apply(step(Kind::kUploadComplete, 1, "a")).outcome, TierState::Outcome::kRepeated);
  EXPECT_EQ(t.find("a")->state, TierSegmentState::kDeleteComplete);
  EXPECT_EQ(t.tier_end_offset(), 10) << "the tier end offset never goes back";
  EXPECT_EQ(t.retention_start(), 10) << "H6: a Complete segment taken out moves the retention start past it";
  t.apply(initiate(1, "b", 10, 20));
  t.apply(init(2));  // fences "b": a fenced upload is not retention
  EXPECT_EQ(t.find("b")->state, TierSegmentState::kDeleteInitiate);
  EXPECT_EQ(t.retention_start(), 10);
  // A fenced upload never completed: its late UploadComplete is not a repeat (and is fenced
  // first by its older epoch; in the current epoch it would be refused).
  EXPECT_EQ(t.apply(step(Kind::kUploadComplete, 1, "b")).outcome, TierState::Outcome::kFenced);
  t.apply(initiate(2, "c", 20, 30));
  t.apply(step(Kind::kDeleteInitiate, 2, "c"));
  EXPECT_EQ(t.apply(step(Kind::kUploadComplete, 2, "c")).reason, std::string("not-in-progress"));
}

// H6 after an unclean election: the segments above the cut leave the lineage (garbage, not
// retention) and the tier end goes back to the cut; cuts inside a segment or outside the
// archive are refused; a repeat is a no-op.
TEST(TierState, FenceLineageTakesTheSegmentsAboveTheCutOut) {
  TierState t;
  t.apply(init(1));
  for (const auto& [id, base] : std::vector<std::pair<std::string, int64_t>>{{"a", 0}, {"b", 10}, {"c", 20}}) {
    t.apply(initiate(1, id, base, base + 10));
    t.apply(step(Kind::kUploadComplete, 1, id));
  }
  t.apply(step(Kind::kDeleteInitiate, 1, "a"));  // retention: the log now starts at 10
  t.apply(init(2));
  auto fence = [](int64_t cut) { return TierEvent{Kind::kFenceLineage, 2, "", cut, 0, {}}; };
  EXPECT_EQ(t.apply(fence(15)).reason, std::string("cut-inside-a-segment"));
  EXPECT_EQ(t.apply(fence(5)).reason, std::string("cut-outside-the-archive"));
  EXPECT_EQ(t.apply({Kind::kFenceLineage, 1, "", 20, 0, {}}).outcome, Outcome::kFenced);
  ASSERT_TRUE(t.apply(fence(20)).changed());
  EXPECT_EQ(t.find("c")->state, TierSegmentState::kDeleteInitiate);
  EXPECT_EQ(t.find("b")->state, TierSegmentState::kUploadComplete);
  EXPECT_EQ(t.tier_end_offset(), 20);
  EXPECT_EQ(t.retention_start(), 10) << "a lineage fence is not retention";
  EXPECT_EQ(t.apply(fence(20)).outcome, Outcome::kRepeated);
  EXPECT_TRUE(t.apply(initiate(2, "c2", 20, 25)).changed()) << "the new leader archives its own records from the cut";
}

// Kafka's isRemoteSegmentWithinLeaderEpochs, as the archiver's lineage check.
TEST(TierLineage, ASegmentIsInTheLineageWhenItsEpochsAreTheLeadersOwn) {
  TierSegment s;
  s.base_offset = 10;
  s.end_offset = 20;
  s.epochs = {{1, 10}, {3, 15}};
  const std::vector<EpochStart> leader = {{1, 0}, {3, 15}, {4, 30}};
  EXPECT_TRUE(Archiver::within_lineage(s, leader, 40));
  EXPECT_FALSE(Archiver::within_lineage(s, leader, 18)) << "ends above the leader's LEO";
  EXPECT_FALSE(Archiver::within_lineage(s, {{1, 0}, {2, 14}, {4, 30}}, 40)) << "epoch 3 unknown to the leader";
  EXPECT_FALSE(Archiver::within_lineage(s, {{1, 0}, {3, 16}}, 40)) << "epoch 3 starts elsewhere";
  EXPECT_FALSE(Archiver::within_lineage(s, {{1, 0}, {3, 15}, {4, 18}}, 40)) << "epoch 3 ends before the segment does";
  EXPECT_FALSE(Archiver::within_lineage(s, {{1, 12}, {3, 15}}, 40)) << "epoch 1 starts after the segment's base";
  TierState t;
  t.apply(init(3));
  t.apply({Kind::kUploadInitiate, 3, "x", 10, 20, s.epochs});
  t.apply(step(Kind::kUploadComplete, 3, "x"));
  EXPECT_EQ(Archiver::lineage_cut(t, leader, 40), std::nullopt);
  EXPECT_EQ(Archiver::lineage_cut(t, leader, 18), std::optional<int64_t>(10));
}

// Random sequences of events, most of them plausible, some stale or out of order.
RC_GTEST_PROP(TierStateProps, InvariantsHoldRepeatsAreNoOpsAndReplayMaterialisesTheSameState, ()) {
  TierState t;
  const auto n = *rc::gen::inRange<size_t>(1, 60);
  std::vector<std::string> ids;
  int32_t epoch = 0;
  int64_t next_base = 0;
  for (size_t i = 0; i < n; ++i) {
    const int choice = *rc::gen::inRange(0, 6);
    const int32_t e = std::max(0, epoch - *rc::gen::inRange(0, 2));  // sometimes a stale epoch
    TierEvent ev;
    if (choice == 0) {
      ev = init(epoch + *rc::gen::inRange(0, 2));
    } else if (choice == 1 || ids.empty()) {
      const std::string id = "s" + std::to_string(i);
      const int64_t base = next_base - *rc::gen::inRange<int64_t>(0, 3);
      ev = initiate(e, id, base, base + *rc::gen::inRange<int64_t>(0, 8));
      ids.push_back(id);
    } else {
      const auto kind = static_cast<Kind>(*rc::gen::inRange(2, 5));
      ev = step(kind, e, ids[*rc::gen::inRange<size_t>(0, ids.size())]);
    }
    const TierState::Result r = t.apply(ev);  // asserts the invariants on every change
    if (ev.kind == Kind::kInitLeader && r.changed()) epoch = ev.tier_epoch;
    if (r.changed() && ev.kind == Kind::kUploadComplete) next_base = t.tier_end_offset();
    if (r.changed() && ev.kind != Kind::kInitLeader) {
      // Idempotent repeats: the same event again changes nothing.
      const TierState before = t;
      RC_ASSERT(t.apply(ev).outcome == Outcome::kRepeated);
      RC_ASSERT(t.segments() == before.segments());
    }
    if (r.outcome == Outcome::kFenced) RC_ASSERT(ev.tier_epoch < t.tier_epoch());
  }
  TierState replayed;
  for (const TierEvent& ev : t.log()) RC_ASSERT(replayed.apply(ev).changed());
  RC_ASSERT(replayed.segments() == t.segments());
  RC_ASSERT(replayed.tier_epoch() == t.tier_epoch());
  RC_ASSERT(replayed.tier_end_offset() == t.tier_end_offset());
}

}  // namespace
}  // namespace faultline::kafka
