// The controller (models/kafka/controller.h): registration and fencing, elections (E1),
// AlterPartition's checks (D1, D2), the ISR/ELR rules (D3, D4), the two controller bug
// switches (the property over random broker lifecycles is kafka_controller_props_test.cpp).
//
// A cluster here is the controller plus fake brokers: nodes with no model of their own whose
// fibers call the controller's RPCs directly, as the test tells them to.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "models/kafka/controller.h"
#include "models/kafka/placement.h"
#include "sim/simulation.h"
#include "tests/kafka_controller_fixture.h"

namespace faultline::kafka {
namespace {

using namespace test;
using namespace literals;

// --- registration, fencing, election -------------------------------------------------------

TEST(Controller, BrokersRegisterFencedWithIncreasingEpochsAndTheFirstLiveIsrMemberLeads) {
  ControllerCluster t({});
  const int64_t e2 = t.register_broker(2).broker_epoch;
  const int64_t e1 = t.register_broker(1).broker_epoch;
  const int64_t e3 = t.register_broker(3).broker_epoch;
  EXPECT_LT(e2, e1);
  EXPECT_LT(e1, e3);
  for (BrokerId b : {1u, 2u, 3u}) EXPECT_TRUE(t.broker(b).fenced) << b;
  EXPECT_EQ(t.partition().leader, kNoBroker);
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2, 3}));

  const HeartbeatResponse hb = t.heartbeat(2, e2);
  EXPECT_EQ(hb.error, Errc::kNone);
  EXPECT_FALSE(hb.fenced);
  EXPECT_FALSE(t.broker(2).fenced);
  EXPECT_EQ(t.partition().leader, 2u);  // the first ISR member to become live, not the preferred one
  EXPECT_EQ(t.partition().leader_epoch, 1);
  EXPECT_EQ(t.partition().partition_epoch, 1);

  t.heartbeat(1, e1);
  EXPECT_EQ(t.partition().leader, 2u);  // no preferred-leader election
  EXPECT_EQ(t.heartbeat(3, e3 - 1).error, Errc::kStaleBrokerEpoch);
  EXPECT_TRUE(t.broker(3).fenced);
  EXPECT_GT(t.register_broker(1).broker_epoch, e3);
}

TEST(Controller, SilentLeaderIsFencedAndReplacedFromTheIsrWithABumpedEpoch) {
  ControllerCluster t({});
  t.start_all();
  ASSERT_EQ(t.partition().leader, 1u);
  ASSERT_EQ(t.partition().leader_epoch, 1);

  t.stop_heartbeats(1);
  t.run_for(6_s);  // within the 9 s session
  EXPECT_FALSE(t.broker(1).fenced);
  EXPECT_EQ(t.partition().leader, 1u);
  t.run_for(6_s);
  EXPECT_TRUE(t.broker(1).fenced);
  EXPECT_EQ(t.partition().isr, (Brokers{2, 3}));
  EXPECT_EQ(t.partition().leader, 2u);
  EXPECT_EQ(t.partition().leader_epoch, 2);
  EXPECT_EQ(t.partition().partition_epoch, 2);
  EXPECT_EQ(t.changes.back().why, kWhyBrokerFenced);

  // A silent follower leaves the ISR without an election.
  t.stop_heartbeats(3);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{2}));
  EXPECT_EQ(t.partition().elr, (Brokers{3}));  // dropped below min ISR 2 (D4)
  EXPECT_EQ(t.partition().leader, 2u);
  EXPECT_EQ(t.partition().leader_epoch, 2);
  EXPECT_EQ(t.partition().partition_epoch, 3);
}

TEST(Controller, ALeaderThatRestartsLosesLeadershipBeforeItsSessionWouldExpire) {
  ControllerCluster t({});
  t.start_all();
  t.register_broker(1);  // a fast restart: its session never expired
  EXPECT_TRUE(t.broker(1).fenced);
  EXPECT_EQ(t.partition().isr, (Brokers{2, 3}));
  EXPECT_EQ(t.partition().leader, 2u);
  EXPECT_EQ(t.partition().leader_epoch, 2);
  EXPECT_EQ(t.changes.back().why, kWhyBrokerReregistered);
}

TEST(Controller, MetadataReturnsTheWholePictureAndItsVersion) {
  ControllerCluster t({.partitions = {{1, 2, 3}, {3, 1, 2}}});
  t.start_all();
  const auto md = t.call<MetadataResponse>(1, kMetadata, MetadataRequest{});
  EXPECT_EQ(md.version, t.controller().metadata_version());
  ASSERT_EQ(md.partitions.size(), 2u);
  EXPECT_EQ(md.partitions[0], t.partition(0));
  EXPECT_EQ(md.partitions[1], t.partition(1));
  ASSERT_EQ(md.brokers.size(), 3u);
  for (const BrokerInfo& b : md.brokers) EXPECT_FALSE(b.fenced) << b.broker;
  const uint64_t before = md.version;
  t.alter_isr(0, {1, 2});
  EXPECT_GT(t.call<MetadataResponse>(1, kMetadata, MetadataRequest{}).version, before);
}

TEST(Controller, MetadataToAPollerAtTheCommittedVersionCarriesTheVersionAlone) {
  ControllerCluster t({.partitions = {{1, 2, 3}}});
  t.start_all();
  const uint64_t version = t.controller().metadata_version();
  const auto same = t.call<MetadataResponse>(1, kMetadata, MetadataRequest{version});
  EXPECT_EQ(same.version, version);
  EXPECT_TRUE(same.partitions.empty());
  EXPECT_TRUE(same.brokers.empty());
  // One version behind: the whole picture again.
  const auto behind = t.call<MetadataResponse>(1, kMetadata, MetadataRequest{version - 1});
  EXPECT_EQ(behind.version, version);
  ASSERT_EQ(behind.partitions.size(), 1u);
  EXPECT_EQ(behind.partitions[0], t.partition(0));
  EXPECT_EQ(behind.brokers.size(), 3u);
}

TEST(Controller, ElectionFollowsReplicaPreferenceOrder) {
  ControllerCluster t({.partitions = {{1, 2, 3}, {1, 3, 2}}});
  t.start_all();
  ASSERT_EQ(t.partition(0).leader, 1u);
  ASSERT_EQ(t.partition(1).leader, 1u);
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition(0).leader, 2u);
  EXPECT_EQ(t.partition(1).leader, 3u);
}

// --- AlterPartition --------------------------------------------------------------------------

TEST(Controller, ShrinkFromTheLeaderIsAppliedWithOnlyThePartitionEpochBumped) {
  ControllerCluster t({});
  t.start_all();
  const PartitionState before = t.partition();
  const AlterPartitionResponse r = t.alter_isr(0, {1, 2});
  EXPECT_EQ(r.error, Errc::kNone);
  EXPECT_EQ(r.state, t.partition());
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2}));
  EXPECT_TRUE(t.partition().elr.empty());  // still at min ISR
  EXPECT_EQ(t.partition().leader, 1u);
  EXPECT_EQ(t.partition().leader_epoch, before.leader_epoch);
  EXPECT_EQ(t.partition().partition_epoch, before.partition_epoch + 1);
  EXPECT_EQ(t.changes.back().why, kWhyAlterPartition);
}

TEST(Controller, StaleOrMisdirectedAlterPartitionIsRejectedWithTheCurrentState) {
  ControllerCluster t({});
  t.start_all();
  t.alter_isr(0, {1, 2});
  const PartitionState current = t.partition();
  const size_t changes = t.changes.size();

  AlterPartitionRequest stale_partition_epoch = t.propose(0, {1});
  stale_partition_epoch.partition_epoch -= 1;
  AlterPartitionRequest stale_leader_epoch = t.propose(0, {1});
  stale_leader_epoch.leader_epoch -= 1;
  AlterPartitionRequest stale_broker_epoch = t.propose(0, {1});
  stale_broker_epoch.broker_epoch -= 1;
  AlterPartitionRequest from_follower = t.propose(0, {1, 2});
  from_follower.leader = 2;
  from_follower.broker_epoch = t.epoch_of(2);
  AlterPartitionRequest leader_left_out = t.propose(0, {2});

  struct Case {
    const char* what;
    NodeId from;
    AlterPartitionRequest req;
    Errc expected;
  };
  for (const Case& c : {Case{"stale partition epoch", 1, stale_partition_epoch, Errc::kInvalidUpdateVersion},
                        Case{"stale leader epoch", 1, stale_leader_epoch, Errc::kFencedLeaderEpoch},
                        Case{"stale broker epoch", 1, stale_broker_epoch, Errc::kStaleBrokerEpoch},
                        Case{"not the leader", 2, from_follower, Errc::kInvalidRequest},
                        Case{"leader not in the new ISR", 1, leader_left_out, Errc::kInvalidRequest}}) {
    const AlterPartitionResponse r = t.alter(c.from, c.req);
    EXPECT_EQ(r.error, c.expected) << c.what;
    EXPECT_EQ(r.state, current) << c.what;  // what the leader rolls back to
    EXPECT_EQ(t.partition(), current) << c.what;
  }
  EXPECT_EQ(t.changes.size(), changes);
}

TEST(Controller, RequestFromALeadersPreviousIncarnationIsAStaleBrokerEpoch) {
  ControllerCluster t({});
  t.start_all();
  const AlterPartitionRequest old = t.propose(0, {1, 2});
  t.start_broker(1);  // restarted: no longer leader, new broker epoch
  EXPECT_EQ(t.alter(1, old).error, Errc::kStaleBrokerEpoch);
  EXPECT_EQ(t.partition().isr, (Brokers{2, 3}));
}

// D3: every member of a proposed ISR is checked, kept ones too: a shrink that keeps a member
// the leader saw under another broker epoch is INELIGIBLE_REPLICA; -1 (not seen yet) passes.
TEST(Controller, KeptIsrMembersMustBeEligibleToo) {
  ControllerCluster t({});
  t.start_all();
  const PartitionState before = t.partition();
  AlterPartitionRequest stale_kept = t.propose(0, {1, 2});
  ASSERT_EQ(stale_kept.new_isr.size(), 2u);
  for (size_t i = 0; i < stale_kept.new_isr.size(); ++i) {
    if (stale_kept.new_isr[i] == 2) stale_kept.member_epochs[i] = t.epoch_of(2) - 1;
  }
  EXPECT_EQ(t.alter(1, stale_kept).error, Errc::kIneligibleReplica);
  EXPECT_EQ(t.partition(), before);
  AlterPartitionRequest unseen = t.propose(0, {1, 2});
  for (size_t i = 0; i < unseen.new_isr.size(); ++i) {
    if (unseen.new_isr[i] == 2) unseen.member_epochs[i] = -1;
  }
  EXPECT_EQ(t.alter(1, unseen).error, Errc::kNone);
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2}));
}

TEST(Controller, ExpansionNeedsALiveMemberFetchingWithItsCurrentBrokerEpoch) {
  ControllerCluster t({});
  t.start_all();
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);

  t.stop_heartbeats(3);
  t.wait_for_session_expiry();
  ASSERT_TRUE(t.broker(3).fenced);
  const PartitionState shrunk = t.partition();
  EXPECT_EQ(t.alter_isr(0, {1, 2, 3}).error, Errc::kIneligibleReplica);  // fenced
  EXPECT_EQ(t.partition(), shrunk);

  AlterPartitionRequest stale_member = t.propose(0, {1, 2, 3});  // carries 3's old epoch
  t.start_broker(3);
  EXPECT_EQ(t.alter(1, stale_member).error, Errc::kIneligibleReplica);  // fetched as its previous incarnation
  EXPECT_EQ(t.partition(), shrunk);

  const AlterPartitionResponse ok = t.alter_isr(0, {1, 2, 3});
  EXPECT_EQ(ok.error, Errc::kNone);
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2, 3}));
  EXPECT_EQ(t.partition().partition_epoch, shrunk.partition_epoch + 1);
}

TEST(Controller, ObserversAndStrangersCannotJoinTheIsrWithoutPromotion) {
  ControllerCluster t({.brokers = 5, .partitions = {{1, 2, 3}}, .observers = {{4}}});
  for (BrokerId b = 1; b <= 5; ++b) t.start_broker(b);
  ASSERT_EQ(t.alter_isr(0, {1}).error, Errc::kNone);  // far below min ISR, but the policy is none
  EXPECT_EQ(t.alter_isr(0, {1, 4}).error, Errc::kIneligibleReplica);  // observer: promotion disabled (G2)
  EXPECT_EQ(t.alter_isr(0, {1, 5}).error, Errc::kInvalidRequest);  // not in the placement
  EXPECT_EQ(t.partition().isr, (Brokers{1}));
  EXPECT_EQ(t.partition().observers, (Brokers{4}));
}

// --- observers and promotion (G2, G3) ---------------------------------------------------------

TEST(Controller, UnderMinIsrAnObserverJoinsOnlyWhileTheIsrIsBelowMinIsr) {
  ControllerCluster t({.brokers = 6,
                       .partitions = {{1, 2, 3, 4}},
                       .observers = {{5, 6}},
                       .min_isr = 3,
                       .promotion = PromotionPolicy::kUnderMinIsr});
  for (BrokerId b = 1; b <= 6; ++b) t.start_broker(b);
  EXPECT_EQ(t.alter_isr(0, {1, 2, 3, 4, 5}).error, Errc::kIneligibleReplica) << "|ISR| = 4 >= min ISR 3";
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
  EXPECT_EQ(t.partition().elr, (Brokers{3, 4}));
  const AlterPartitionResponse promoted = t.alter_isr(0, {1, 2, 5});
  EXPECT_EQ(promoted.error, Errc::kNone);
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2, 5}));
  EXPECT_TRUE(t.partition().elr.empty()) << "back at min ISR (D4), the observer counting toward it";
  EXPECT_EQ(t.partition().leader_epoch, 1) << "promotion is no election";
  // Now |ISR| = min ISR: the second observer is refused.
  EXPECT_EQ(t.alter_isr(0, {1, 2, 5, 6}).error, Errc::kIneligibleReplica);
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2, 5}));
  // The D2 half the controller owns applies to observers too: a stale member epoch fails.
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
  AlterPartitionRequest stale = t.propose(0, {1, 2, 6});
  stale.member_epochs.back() -= 1;
  EXPECT_EQ(t.alter(1, stale).error, Errc::kIneligibleReplica);
  // Demotion (G3) is an ordinary shrink: the leader may always drop a promoted observer.
  ASSERT_EQ(t.alter_isr(0, {1, 2, 6}).error, Errc::kNone);
  EXPECT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
}

TEST(Controller, EachPolicyAcceptsAnObserverOnlyInItsOwnCase) {
  // ISR {1,2,3} of sync replicas {1,2,3,4}, min ISR 2: under-replicated, but not under min ISR.
  for (const auto& [policy, accepted] : {std::pair{PromotionPolicy::kUnderReplicated, true},
                                         std::pair{PromotionPolicy::kUnderMinIsr, false},
                                         std::pair{PromotionPolicy::kLeaderIsObserver, false},
                                         std::pair{PromotionPolicy::kNone, false}}) {
    ControllerCluster t({.brokers = 5, .partitions = {{1, 2, 3, 4}}, .observers = {{5}}, .promotion = policy});
    for (BrokerId b = 1; b <= 5; ++b) t.start_broker(b);
    ASSERT_EQ(t.alter_isr(0, {1, 2, 3}).error, Errc::kNone);
    EXPECT_EQ(t.alter_isr(0, {1, 2, 3, 5}).error == Errc::kNone, accepted) << to_string(policy);
  }
}

TEST(Controller, APromotedObserverIsElectedLastAndHandsLeadershipBackWhenSyncReplicasReturn) {
  // Without ELR, so that the sync replicas dropped below min ISR are not eligible either.
  ControllerCluster t({.brokers = 4,
                       .partitions = {{1, 2, 3}},
                       .observers = {{4}},
                       .min_isr = 2,
                       .elr = false,
                       .promotion = PromotionPolicy::kUnderMinIsr});
  for (BrokerId b = 1; b <= 4; ++b) t.start_broker(b);
  t.stop_heartbeats(2);
  t.stop_heartbeats(3);
  t.wait_for_session_expiry();
  ASSERT_EQ(t.partition().isr, (Brokers{1}));
  ASSERT_EQ(t.alter_isr(0, {1, 4}).error, Errc::kNone);  // under min ISR: promoted (G2)

  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{4}));
  EXPECT_EQ(t.partition().leader, 4u) << "E1: no live sync ISR member, the promoted observer leads";
  const Epoch observer_epoch = t.partition().leader_epoch;

  t.start_broker(2);
  ASSERT_EQ(t.alter_isr(0, {2, 4}).error, Errc::kNone);
  EXPECT_EQ(t.partition().leader, 4u) << "one sync replica is still below min ISR: no hand-off";
  t.start_broker(3);
  ASSERT_EQ(t.alter_isr(0, {2, 3, 4}).error, Errc::kNone);
  EXPECT_EQ(t.partition().leader, 2u) << "G3: the sync replicas satisfy min ISR again";
  EXPECT_EQ(t.partition().leader_epoch, observer_epoch + 1);
  EXPECT_EQ(t.changes.back().why, kWhyObserverHandOff);
  EXPECT_EQ(t.partition().isr, (Brokers{2, 3, 4}));
  ASSERT_EQ(t.alter_isr(0, {2, 3}).error, Errc::kNone);  // the new leader demotes it
  EXPECT_EQ(t.partition().leader_epoch, observer_epoch + 1) << "demotion without an election";
}

TEST(Controller, AnObserverLeavingTheIsrNeverBecomesAnEligibleLeaderReplica) {
  ControllerCluster t({.brokers = 4,
                       .partitions = {{1, 2, 3}},
                       .observers = {{4}},
                       .min_isr = 3,
                       .promotion = PromotionPolicy::kUnderMinIsr});
  for (BrokerId b = 1; b <= 4; ++b) t.start_broker(b);
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
  ASSERT_EQ(t.alter_isr(0, {1, 2, 4}).error, Errc::kNone);
  ASSERT_TRUE(t.partition().elr.empty());
  t.stop_heartbeats(4);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{1, 2}));
  EXPECT_TRUE(t.partition().elr.empty()) << "D4 keeps sync replicas eligible, not observers";
}

// --- ELR (D4, KIP-966) -----------------------------------------------------------------------

// Min ISR 2, ISR {1,2} (3 was shrunk out while the ISR stayed at min ISR, so it may lack
// committed records), leader 1.
void shrink_to_one_and_two(ControllerCluster& t) {
  t.start_all();
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
  ASSERT_EQ(t.partition().leader, 1u);
}

TEST(Controller, MembersDroppedBelowMinIsrStayEligibleAndOneIsElectedWhenItReturns) {
  ControllerCluster t({});
  shrink_to_one_and_two(t);

  t.stop_heartbeats(2);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{1}));
  EXPECT_EQ(t.partition().elr, (Brokers{2}));
  EXPECT_EQ(t.partition().leader, 1u);

  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  EXPECT_TRUE(t.partition().isr.empty());  // with ELR the ISR may empty
  EXPECT_EQ(t.partition().elr, (Brokers{1, 2}));
  EXPECT_EQ(t.partition().leader, kNoBroker);  // 3 is live but not eligible: offline
  EXPECT_EQ(t.partition().leader_epoch, 2);    // losing the leader is a leader change too

  t.start_broker(1);  // clean restart
  EXPECT_EQ(t.partition().leader, 1u);
  EXPECT_EQ(t.partition().isr, (Brokers{1}));
  EXPECT_EQ(t.partition().elr, (Brokers{2}));  // still below min ISR: 2 stays eligible
  EXPECT_EQ(t.partition().leader_epoch, 3);
  EXPECT_EQ(t.changes.back().why, kWhyElection);

  // Back at min ISR the ELR clears.
  t.start_broker(2);
  ASSERT_EQ(t.alter_isr(0, {1, 2}).error, Errc::kNone);
  EXPECT_TRUE(t.partition().elr.empty());
}

TEST(Controller, ABrokerRestartingAfterAnUncleanShutdownLeavesTheElr) {
  ControllerCluster t({});
  shrink_to_one_and_two(t);
  t.stop_heartbeats(2);
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  ASSERT_EQ(t.partition().elr, (Brokers{1, 2}));

  t.start_broker(1, /*clean_shutdown=*/false);  // a power loss may have taken its tail
  EXPECT_EQ(t.partition().elr, (Brokers{2}));
  EXPECT_EQ(t.partition().leader, kNoBroker);  // live, but no longer eligible
  EXPECT_EQ(t.changes.back().why, kWhyUncleanShutdown);

  t.start_broker(2);
  EXPECT_EQ(t.partition().leader, 2u);
  EXPECT_EQ(t.partition().isr, (Brokers{2}));
  EXPECT_TRUE(t.partition().elr.empty());
}

// KIP-966's last known leader, as Kafka elects it (PartitionChangeBuilder
// .canElectLastKnownLeader): the partition remembers who led when it became leaderless; once
// ISR and ELR are both empty (every eligible member restarted uncleanly) that broker leads
// again as soon as it is live, an unclean recovery. Never while it is still fenced
// (KAFKA-19522); the elect-fenced-last-known-leader switch puts that bug back.
TEST(Controller, WithIsrAndElrEmptyTheLastKnownLeaderLeadsOnceItIsLive) {
  for (const bool bug : {false, true}) {
    SCOPED_TRACE(bug ? "elect-fenced-last-known-leader" : "fixed");
    ControllerCluster t({.bug_elect_fenced_last_known_leader = bug});
    shrink_to_one_and_two(t);
    t.stop_heartbeats(2);
    t.stop_heartbeats(1);
    t.wait_for_session_expiry();  // 1 is fenced first (one per step), then 2, the leader
    ASSERT_EQ(t.partition().elr, (Brokers{1, 2}));
    EXPECT_EQ(t.partition().last_known_elr, (Brokers{2})) << "2 led when the partition became leaderless";

    t.start_broker(1, /*clean_shutdown=*/false);
    EXPECT_EQ(t.partition().elr, (Brokers{2}));
    EXPECT_EQ(t.partition().leader, kNoBroker);

    // 2 registers after an unclean shutdown: it leaves the ELR, which empties; it is
    // registered but fenced until its first heartbeat.
    t.register_broker(2, /*clean_shutdown=*/false);
    EXPECT_TRUE(t.broker(2).fenced);
    EXPECT_TRUE(t.partition().elr.empty());
    if (bug) {
      EXPECT_EQ(t.partition().leader, 2u) << "elected while fenced";
      EXPECT_EQ(t.changes.back().why, kWhyLastKnownLeader);
      continue;
    }
    EXPECT_EQ(t.partition().leader, kNoBroker);
    EXPECT_TRUE(t.partition().isr.empty());
    t.start_broker(2, /*clean_shutdown=*/false);  // heartbeats: unfenced
    EXPECT_EQ(t.partition().leader, 2u);
    EXPECT_EQ(t.partition().isr, (Brokers{2}));
    EXPECT_EQ(t.changes.back().why, kWhyLastKnownLeader) << "an unclean election: the checkers excuse its losses";
    EXPECT_TRUE(t.partition().last_known_elr.empty()) << "forgotten once the partition has a leader";
  }
}

// KIP-966's previousBrokerEpoch: clean-shutdown markers written under another broker epoch
// than the one the controller last gave (a process that never registered writes -1) are not
// a clean shutdown. faultline fuzz found the S11 this allowed (tests/fuzz_regressions_test).
TEST(Controller, ACleanShutdownUnderAnotherBrokerEpochIsUnclean) {
  ControllerCluster t({});
  shrink_to_one_and_two(t);
  t.stop_heartbeats(2);
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  ASSERT_EQ(t.partition().elr, (Brokers{1, 2}));
  t.register_broker(1, /*clean_shutdown=*/true, /*previous_epoch=*/-1);
  EXPECT_EQ(t.partition().elr, (Brokers{2}));
  EXPECT_EQ(t.changes.back().why, kWhyUncleanShutdown);
  t.start_broker(2);  // markers under its last epoch: clean, stays eligible and leads
  EXPECT_EQ(t.partition().leader, 2u);
}

TEST(Controller, MembersRemovedWhileTheIsrStaysAtMinIsrAreNotEligible) {
  ControllerCluster t({.min_isr = 1});
  t.start_all();
  ASSERT_EQ(t.alter_isr(0, {1}).error, Errc::kNone);  // {1} is still at min ISR 1
  EXPECT_TRUE(t.partition().elr.empty());
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  EXPECT_TRUE(t.partition().isr.empty());
  EXPECT_EQ(t.partition().elr, (Brokers{1}));
  EXPECT_EQ(t.partition().leader, kNoBroker);  // 2 and 3 are live but out of sync
}

// --- without ELR ---------------------------------------------------------------------------

TEST(Controller, WithoutElrTheIsrFreezesAtItsLastMemberWhichIsReelectedAfterAnyRestart) {
  ControllerCluster t({.elr = false});
  shrink_to_one_and_two(t);
  t.stop_heartbeats(2);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{1}));
  EXPECT_TRUE(t.partition().elr.empty());

  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  EXPECT_EQ(t.partition().isr, (Brokers{1}));  // frozen
  EXPECT_EQ(t.partition().leader, kNoBroker);
  const Epoch offline_epoch = t.partition().leader_epoch;

  t.start_broker(1, /*clean_shutdown=*/false);  // even after a power loss
  EXPECT_EQ(t.partition().leader, 1u);
  EXPECT_EQ(t.partition().isr, (Brokers{1}));
  EXPECT_EQ(t.partition().leader_epoch, offline_epoch + 1);
}

// --- unclean election (E1) -------------------------------------------------------------------

// Min ISR 1, ISR shrunk to {1}, then 1 is fenced: 2 and 3 are live and out of sync.
PartitionState only_out_of_sync_replicas_live(bool unclean) {
  ControllerCluster t({.min_isr = 1, .unclean = unclean});
  t.start_all();
  EXPECT_EQ(t.alter_isr(0, {1}).error, Errc::kNone);
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  if (unclean) {
    EXPECT_EQ(t.changes.back().why, kWhyUncleanElection);
  }
  return t.partition();
}

TEST(Controller, WithUncleanElectionOffNoOutOfSyncReplicaIsElected) {
  const PartitionState p = only_out_of_sync_replicas_live(false);
  EXPECT_EQ(p.leader, kNoBroker);
  EXPECT_TRUE(p.isr.empty());
  EXPECT_EQ(p.elr, (Brokers{1}));
}

TEST(Controller, WithUncleanElectionOnTheFirstLiveReplicaIsElectedAndIsTheWholeIsr) {
  const PartitionState p = only_out_of_sync_replicas_live(true);
  EXPECT_EQ(p.leader, 2u);
  EXPECT_EQ(p.isr, (Brokers{2}));
  EXPECT_TRUE(p.elr.empty());  // nobody's log vouches for the new lineage
}

// --- bug switches ----------------------------------------------------------------------------

// ISR {1,3}, leader 1 goes silent; 2 is live but out of sync, 3 is in sync.
PartitionState leader_fails_with_an_out_of_sync_replica_first(bool bug, std::string* why) {
  ControllerCluster t({.bug_any_replica_election = bug});
  t.start_all();
  EXPECT_EQ(t.alter_isr(0, {1, 3}).error, Errc::kNone);
  t.stop_heartbeats(1);
  t.wait_for_session_expiry();
  *why = t.changes.back().why;
  return t.partition();
}

TEST(ControllerBugs, AnyReplicaElectionElectsAnOutOfSyncReplicaAndCallsItClean) {
  std::string why_fixed, why_bug;
  const PartitionState fixed = leader_fails_with_an_out_of_sync_replica_first(false, &why_fixed);
  const PartitionState buggy = leader_fails_with_an_out_of_sync_replica_first(true, &why_bug);
  EXPECT_EQ(fixed.leader, 3u);
  EXPECT_EQ(buggy.leader, 2u);
  EXPECT_EQ(buggy.isr, (Brokers{2}));
  EXPECT_EQ(why_bug, kWhyBrokerFenced);  // not reported as unclean: nothing excuses it
  EXPECT_EQ(why_fixed, why_bug);
  EXPECT_EQ(fixed.leader_epoch, buggy.leader_epoch);
}

TEST(ControllerBugs, AnyReplicaElectionChangesNothingWhileAnInSyncReplicaIsFirst) {
  ControllerCluster fixed({}), buggy({.bug_any_replica_election = true});
  for (ControllerCluster* t : {&fixed, &buggy}) {
    t->start_all();
    t->stop_heartbeats(1);
    t->wait_for_session_expiry();
  }
  EXPECT_EQ(fixed.partition(), buggy.partition());
}

// The ELR scenario with an unclean restart of the last ISR member, ELR configured on.
PartitionState last_member_returns_after_a_power_loss(bool bug) {
  ControllerCluster t({.bug_last_replica_standing = bug});
  EXPECT_TRUE(t.controller().elr_enabled() != bug);
  shrink_to_one_and_two(t);
  t.stop_heartbeats(2);
  t.wait_for_session_expiry();
  t.stop_heartbeats(1);  // 1 is the last ISR member standing
  t.wait_for_session_expiry();
  t.start_broker(1, /*clean_shutdown=*/false);
  return t.partition();
}

TEST(ControllerBugs, LastReplicaStandingFreezesTheIsrAndReelectsAMemberThatLostData) {
  const PartitionState fixed = last_member_returns_after_a_power_loss(false);
  EXPECT_EQ(fixed.leader, kNoBroker);
  EXPECT_TRUE(fixed.isr.empty());
  EXPECT_EQ(fixed.elr, (Brokers{2}));

  const PartitionState buggy = last_member_returns_after_a_power_loss(true);
  EXPECT_EQ(buggy.leader, 1u);
  EXPECT_EQ(buggy.isr, (Brokers{1}));
  EXPECT_TRUE(buggy.elr.empty());
}

TEST(Controller, TheSameSituationTracesTheSameRun) {
  auto run = [] {
    ControllerCluster t({});
    shrink_to_one_and_two(t);
    t.stop_heartbeats(2);
    t.wait_for_session_expiry();
    t.stop_heartbeats(1);
    t.wait_for_session_expiry();
    t.start_broker(1);
    return std::pair(t.sim().trace().hash(), t.sim().trace().records());
  };
  const auto first = run();
  EXPECT_EQ(run(), first);
  EXPECT_GT(first.second, 20u);
}

}  // namespace
}  // namespace faultline::kafka
