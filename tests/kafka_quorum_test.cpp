// tests/kafka_quorum_test.cpp
// The KRaft metadata quorum (A4) and S22: three controllers with fake brokers that register
// and heartbeat through a ControllerChannel, faults applied by hand; then whole
// controller-failover runs, with and without the vote-without-log-check switch.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/kafka/controller.h"
#include "models/kafka/controller_channel.h"
#include "models/kafka/quorum_marks.h"
#include "scenarios/kafka/metadata_checker.h"
#include "scenarios/scenario.h"
#include "tests/run_fixture.h"
#include "sim/simulation.h"

namespace faultline::kafka {
namespace {

using namespace literals;

constexpr NodeId kControllers = 3;  // nodes 0..2; brokers are nodes 3..5

class QuorumCluster {
 public:
  explicit QuorumCluster(uint64_t seed, bool bug_vote_without_log_check = false)
      : sim_(seed), checker_([this](PartitionId, const std::string& m) { findings.push_back(m); }) {
    config_.replication.min_insync_replicas = 2;
    for (PartitionId p = 0; p < 2; ++p) {
      PartitionState s;
      s.partition = p;
      s.replicas = {3, 4, 5};
      config_.initial.push_back(s);
    }
    config_.quorum.voters = {0, 1, 2};
    config_.quorum.bug_vote_without_log_check = bug_vote_without_log_check;
    hooks_.on_committed = [this](NodeId c, int64_t offset, const QuorumEntry& e) {
      return checker_.on_committed(c, offset, e);
    };
    hooks_.on_partition_change = [this](const PartitionState&, const PartitionState&, const char*) { ++changes; };
    for (NodeId c = 0; c < kControllers; ++c) {
      ControllerConfig cc = config_;
      cc.disk = disks_.emplace_back(std::make_shared<QuorumDisk>());
      sim_.add_node({"ctl" + std::to_string(c), "dc" + std::to_string(c + 1)}, [this, cc](NodeContext& ctx) {
        auto ctl = std::make_shared<Controller>(ctx, cc, bugs_, hooks_);
        ctl->start();
        return ctl;
      });
    }
    for (BrokerId b = 3; b < 6; ++b) {
      sim_.add_node({"b" + std::to_string(b), "dc1"}, [](NodeContext&) { return std::shared_ptr<void>(); });
    }
    sim_.coverage().declare(quorum_mark_catalogue());
    for (NodeId n = 0; n < sim_.node_count(); ++n) sim_.start(n);
  }

  void run_for(Duration d) {
    const RunOutcome out = sim_.scheduler().run_for(d);
    ASSERT_EQ(out.reason, StopReason::kTimeBudget) << out.detail;
  }

  // Every broker registers through a ControllerChannel and heartbeats until `stop[b]`.
  void start_brokers() {
    for (BrokerId b = 3; b < 6; ++b) {
      sim_.node(b).spawn("broker", [this, b] {
        NodeContext& ctx = sim_.node(b);
        ControllerChannel channel(ctx, ControllerIds(std::vector<NodeId>{0, 1, 2}));
        int64_t epoch = -1;
        while (epoch < 0) {
          auto r = channel.call<RegisterBrokerResponse>(kRegisterBroker, RegisterBrokerRequest{b, true, -1, 0}, 1_s);
          if (r.ok() && r.value->error == Errc::kNone) epoch = r.value->broker_epoch;
          if (epoch < 0) ctx.sleep_for(200_ms);
        }
        while (!stopped_[b]) {
          channel.call<HeartbeatResponse>(kHeartbeat, HeartbeatRequest{b, epoch, {}}, 1_s);
          ctx.sleep_for(config_.replication.broker_heartbeat_interval);
        }
      });
    }
  }
  void stop_broker(BrokerId b) { stopped_[b] = true; }

  std::shared_ptr<Controller> ctl(NodeId c) { return sim_.process<Controller>(c); }
  // The active controllers (live and leading), in node order.
  std::vector<NodeId> active() {
    std::vector<NodeId> out;
    for (NodeId c = 0; c < kControllers; ++c) {
      if (auto p = ctl(c); p && p->active()) out.push_back(c);
    }
    return out;
  }
  uint64_t mark(const std::string& name) { return sim_.coverage().counts().at(name); }
  Simulation& sim() { return sim_; }
  const MetadataChecker& checker() const { return checker_; }

  std::vector<std::string> findings;  // S22
  uint64_t changes = 0;               // partition changes the hooks heard of (once each)

 private:
  ControllerConfig config_;
  BugSet bugs_;
  ControllerHooks hooks_;
  std::vector<std::shared_ptr<QuorumDisk>> disks_;
  std::map<BrokerId, bool> stopped_;
  Simulation sim_;
  MetadataChecker checker_;
};

NodeSet nodes(std::initializer_list<NodeId> ids) {
  NodeSet s;
  for (NodeId id : ids) s.add(id);
  return s;
}

TEST(Quorum, OneControllerBecomesActiveAndTheOthersAnswerNotController) {
  QuorumCluster c(1);
  c.start_brokers();
  c.run_for(5_s);
  const std::vector<NodeId> active = c.active();
  ASSERT_EQ(active.size(), 1u);
  // Every broker registered and unfenced, committed on every controller.
  for (NodeId n = 0; n < kControllers; ++n) {
    for (BrokerId b = 3; b < 6; ++b) {
      ASSERT_TRUE(c.ctl(n)->brokers().contains(b)) << n;
      EXPECT_FALSE(c.ctl(n)->brokers().at(b).fenced) << "controller " << n << " broker " << b;
    }
    EXPECT_EQ(c.ctl(n)->partitions().at(0).leader, 3u) << n;
  }
  // A standby says NOT_CONTROLLER; the active one serves committed metadata.
  auto out = std::make_shared<std::vector<MetadataResponse>>();
  c.sim().node(3).spawn("ask", [&c, out] {
    for (NodeId n = 0; n < kControllers; ++n) {
      auto r = c.sim().node(3).call<MetadataResponse>(n, kMetadata, MetadataRequest{}, 1_s);
      out->push_back(r.ok() ? *r.value : MetadataResponse{});
    }
  });
  c.run_for(1_s);
  ASSERT_EQ(out->size(), 3u);
  for (NodeId n = 0; n < kControllers; ++n) {
    if (n == active[0]) {
      EXPECT_EQ((*out)[n].error, Errc::kNone);
      EXPECT_EQ((*out)[n].version, c.ctl(n)->metadata_version());
      EXPECT_EQ((*out)[n].partitions.size(), 2u);
    } else {
      EXPECT_EQ((*out)[n].error, Errc::kNotController) << n;
    }
  }
  EXPECT_TRUE(c.findings.empty()) << c.findings.front();
}

// A4: on the active controller's loss another takes over with every committed change; the
// changes it makes then are seen by the checkers once each, and S22 holds throughout.
TEST(Quorum, ANewActiveControllerHasEveryCommittedChange) {
  QuorumCluster c(2);
  c.start_brokers();
  c.run_for(5_s);
  ASSERT_EQ(c.active().size(), 1u);
  const NodeId first = c.active()[0];
  const auto before = c.ctl(first)->partitions();
  const uint64_t version = c.ctl(first)->metadata_version();
  c.sim().crash(first, CrashKind::kPowerLoss);
  // Broker 3 (every partition's leader) goes silent: only a new active controller can
  // fence it and elect another leader.
  c.stop_broker(3);
  c.run_for(20_s);
  ASSERT_EQ(c.active().size(), 1u);
  const NodeId second = c.active()[0];
  EXPECT_NE(second, first);
  const auto& now = c.ctl(second)->partitions();
  for (const auto& [p, st] : before) {
    EXPECT_GT(now.at(p).partition_epoch, st.partition_epoch) << p;
    EXPECT_NE(now.at(p).leader, 3u) << "the silent broker was fenced and replaced, partition " << p;
  }
  EXPECT_TRUE(c.ctl(second)->brokers().at(3).fenced);
  EXPECT_GT(c.ctl(second)->metadata_version(), version);
  // The old active controller comes back from its durable log and catches up.
  c.sim().restart(first);
  c.run_for(10_s);
  EXPECT_EQ(c.ctl(first)->partitions(), c.ctl(second)->partitions());
  EXPECT_EQ(c.ctl(first)->metadata_version(), c.ctl(second)->metadata_version());
  EXPECT_TRUE(c.findings.empty()) << c.findings.front();
  EXPECT_GT(c.mark("A4.controller-activated"), 1u);
}

// A4: an active controller cut off from the other voters cannot commit; it resigns (check
// quorum), what it decided alone is dropped, and after the heal its log is cut back to the
// new leader's.
TEST(Quorum, AnIsolatedActiveControllerResignsAndItsUncommittedChangesAreDropped) {
  QuorumCluster c(3);
  c.start_brokers();
  c.run_for(5_s);
  ASSERT_EQ(c.active().size(), 1u);
  const NodeId old = c.active()[0];
  NodeSet others;
  for (NodeId n = 0; n < kControllers; ++n) {
    if (n != old) others.add(n);
  }
  // A broker stops heartbeating; its session (9 s) expires a second or so after the active
  // controller is cut off from the other voters, which it notices only after 3 s (check
  // quorum): it fences the broker alone, and that change cannot commit.
  c.stop_broker(5);
  c.run_for(8_s);
  const uint64_t rule = c.sim().network().partition(nodes({old}), others, /*one_way=*/false);
  c.run_for(15_s);
  EXPECT_FALSE(c.ctl(old)->active()) << "an isolated leader resigns";
  ASSERT_EQ(c.active().size(), 1u);
  EXPECT_NE(c.active()[0], old);
  EXPECT_GT(c.mark("A4.leader-resigned"), 0u);
  EXPECT_GT(c.mark("A4.uncommitted-reverted"), 0u);
  c.sim().network().heal(rule);
  c.run_for(10_s);
  EXPECT_GT(c.mark("A4.follower-truncated"), 0u) << "the old leader's uncommitted tail was cut";
  EXPECT_EQ(c.ctl(old)->metadata_version(), c.ctl(c.active()[0])->metadata_version());
  EXPECT_TRUE(c.ctl(old)->brokers().at(5).fenced);
  EXPECT_TRUE(c.findings.empty()) << c.findings.front();
}

// S22's ledger: the same offset committed twice with different records is a finding, and so
// is a broker applying a metadata version that was never committed or that shows another
// state than the ledger's.
TEST(MetadataChecker, ReportsALostCommitAndMetadataAheadOfTheLog) {
  std::vector<std::string> found;
  MetadataChecker m([&](PartitionId, const std::string& msg) { found.push_back(msg); });
  PartitionState s;
  s.partition = 0;
  s.leader = 1;
  s.leader_epoch = 1;
  EXPECT_TRUE(m.on_committed(0, 0, {1, LeaderChangeRecord{0}}));
  EXPECT_TRUE(m.on_committed(0, 1, {1, PartitionRecord{s, "election"}}));
  EXPECT_FALSE(m.on_committed(1, 1, {1, PartitionRecord{s, "election"}})) << "a replay is not news";
  EXPECT_TRUE(found.empty());
  MetadataResponse md;
  md.version = 2;
  md.partitions = {s};
  m.on_metadata_applied(3, md);
  EXPECT_TRUE(found.empty()) << found.front();

  PartitionState other = s;
  other.leader = 2;
  other.leader_epoch = 2;
  md.partitions = {other};
  m.on_metadata_applied(3, md);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("committed metadata log says leader 1"), std::string::npos) << found[0];

  MetadataChecker m2([&](PartitionId, const std::string& msg) { found.push_back(msg); });
  m2.on_committed(0, 0, {1, LeaderChangeRecord{0}});
  m2.on_committed(2, 0, {2, LeaderChangeRecord{2}});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_NE(found[1].find("a committed change was lost"), std::string::npos) << found[1];
  MetadataChecker m3([&](PartitionId, const std::string& msg) { found.push_back(msg); });
  md.version = 5;
  m3.on_metadata_applied(4, md);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_NE(found[2].find("only 0 metadata records were committed"), std::string::npos) << found[2];
}

RunResult run(uint64_t seed, std::vector<std::string> bugs = {}) {
  return faultline::test::run_scenario("controller-failover", seed, std::move(bugs));
}

// Whole runs: failovers happen, metadata is judged, and nothing is lost ...
TEST(ControllerFailoverRuns, FailoversKeepEveryCommittedChange) {
  uint64_t activations = 0;
  int64_t judged = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const RunResult r = run(seed);
    ASSERT_EQ(r.verdict, Verdict::kPass) << "seed " << seed << ": " << faultline::test::why(r);
    activations += r.marks.at("A4.controller-activated");
    judged += r.metrics.at("rule_checks_S22");
  }
  EXPECT_GT(activations, 10u) << "the active controller changed in some runs";
  EXPECT_GT(judged, 200);
}

// Review findings, as plans. (1) A restarted controller elected with an empty committed image
// served it until its LeaderChange record committed: a tiered reader was told nothing was
// archived and skipped records (S16). It now becomes active only once it has applied that
// record. (2) A follower's restart no longer deposes a healthy leader: it remembers its
// epoch's leader (QuorumStateData.leaderId) and follows it again.
TEST(ControllerFailoverRuns, ANewLeaderActsOnlyOnceCaughtUpAndARestartedFollowerFollowsAgain) {
  RunRequest req;
  req.scenario = "controller-failover";
  req.seed = 7;
  req.sets = {{"tiered", "true"}, {"segment.bytes", "16384"}};
  req.plan_text = "32.0s kill node=ctl2 for=200ms\n32.1s partition-one-way from=ctl2 to=ctl0 for=4s\n";
  const RunResult r = execute(req);
  EXPECT_EQ(r.verdict, Verdict::kPass) << (r.violations.empty() ? r.crash : r.violations[0].message);
  EXPECT_GT(r.marks.at("A4.controller-activated"), 1u);

  RunRequest restart;
  restart.scenario = "controller-failover";
  restart.seed = 5;
  restart.plan_text = "20s kill node=ctl1 for=3s\n";
  const RunResult f = execute(restart);
  EXPECT_EQ(f.verdict, Verdict::kPass) << (f.violations.empty() ? f.crash : f.violations[0].message);
  EXPECT_EQ(f.marks.at("A4.leader-deposed"), 0u) << "the restarted follower deposed the leader";
  EXPECT_EQ(f.marks.at("A4.controller-activated"), 1u);
}

// ... while a vote that ignores the logs lets a controller missing committed records lead
// and overwrite them: S22 (seed 28 is the first of 500 that catches it).
TEST(ControllerFailoverRuns, VoteWithoutLogCheckLosesACommittedChange) {
  const RunResult clean = run(28);
  EXPECT_EQ(clean.verdict, Verdict::kPass) << (clean.violations.empty() ? clean.crash : clean.violations[0].message);
  const RunResult r = run(28, {"vote-without-log-check"});
  ASSERT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.violations.front().invariant, "S22");
  EXPECT_GT(r.marks.at("A4.vote-for-shorter-log"), 0u);
}

}  // namespace
}  // namespace faultline::kafka
