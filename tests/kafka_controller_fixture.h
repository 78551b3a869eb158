// tests/kafka_controller_fixture.h
// A controller with fake brokers for the controller tests (kafka_controller_test.cpp and
// kafka_controller_props_test.cpp): nodes with no model of their own whose fibers call the
// controller's RPCs directly, as the test tells them to.
#pragma once

#include <gtest/gtest.h>

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

namespace faultline::kafka {
namespace test {

using namespace literals;
using Brokers = std::vector<BrokerId>;

constexpr NodeId kController = 0;

struct Options {
  uint32_t brokers = 3;                                 // node ids 1..brokers
  std::vector<Brokers> partitions = {{1, 2, 3}};        // replicas of partitions 0, 1, ...
  std::vector<Brokers> observers = {};                  // per partition, optional
  int32_t min_isr = 2;
  bool elr = true;
  bool unclean = false;
  bool bug_any_replica_election = false;
  bool bug_last_replica_standing = false;
  bool bug_elect_fenced_last_known_leader = false;
  bool bug_reassign_without_catch_up = false;
  uint64_t seed = 7;
  PromotionPolicy promotion = PromotionPolicy::kNone;   // G2, for every partition
};

struct Change {
  PartitionState before, after;
  std::string why;
};

class ControllerCluster {
 public:
  explicit ControllerCluster(const Options& o) : sim_(o.seed) {
    config_.replication.min_insync_replicas = o.min_isr;
    config_.replication.elr = o.elr;
    config_.replication.unclean_leader_election = o.unclean;
    config_.bug_any_replica_election = o.bug_any_replica_election;
    config_.bug_last_replica_standing = o.bug_last_replica_standing;
    config_.bug_elect_fenced_last_known_leader = o.bug_elect_fenced_last_known_leader;
    config_.bug_reassign_without_catch_up = o.bug_reassign_without_catch_up;
    for (size_t p = 0; p < o.partitions.size(); ++p) {
      PartitionState s;
      s.partition = static_cast<PartitionId>(p);
      s.replicas = o.partitions[p];
      if (p < o.observers.size()) s.observers = o.observers[p];
      s.promotion = o.promotion;
      config_.initial.push_back(s);
    }
    hooks_.on_partition_change = [this](const PartitionState& before, const PartitionState& after, const char* why) {
      changes.push_back({before, after, why});
    };
    sim_.add_node({"controller", "dc3"}, [this](NodeContext& ctx) {
      auto c = std::make_shared<Controller>(ctx, config_, bugs_, hooks_);
      c->start();
      return c;
    });
    for (BrokerId b = 1; b <= o.brokers; ++b) {
      sim_.add_node({"broker-" + std::to_string(b), b % 2 == 1 ? "dc1" : "dc2"},
                    [](NodeContext&) { return std::shared_ptr<void>(); });
    }
    for (NodeId n = 0; n < sim_.node_count(); ++n) sim_.start(n);
  }

  Controller& controller() { return *sim_.process<Controller>(kController); }
  const PartitionState& partition(PartitionId p = 0) { return controller().partitions().at(p); }
  const BrokerInfo& broker(BrokerId b) { return controller().brokers().at(b); }
  int64_t epoch_of(BrokerId b) const { return epochs_.at(b); }
  Simulation& sim() { return sim_; }

  void run_for(Duration d) {
    const RunOutcome out = sim_.scheduler().run_for(d);
    ASSERT_EQ(out.reason, StopReason::kTimeBudget) << out.detail;
  }

  // One RPC from `from` to the controller, run to completion.
  template <typename Resp, typename Req>
  Resp call(NodeId from, const char* method, Req req) {
    auto out = std::make_shared<std::optional<RpcResult<Resp>>>();
    sim_.node(from).spawn("test-call", [this, out, from, method, req] {
      *out = sim_.node(from).call<Resp>(kController, method, req, 5_s);
    });
    for (int i = 0; i < 500 && !out->has_value(); ++i) run_for(1_ms);
    if (!out->has_value() || !(*out)->ok()) {
      ADD_FAILURE() << method << " from " << from << " did not complete";
      return Resp{};
    }
    return *(*out)->value;
  }

  // The broker's process (re)starts: it registers; it does not heartbeat yet. A clean
  // shutdown names the epoch it was made under (KIP-966): by default the last one this
  // broker registered with.
  RegisterBrokerResponse register_broker(BrokerId b, bool clean_shutdown = true,
                                         std::optional<int64_t> previous_epoch = std::nullopt) {
    stop_heartbeats(b);  // a new process: the old one's heartbeats are gone
    auto last = epochs_.find(b);
    const int64_t previous = previous_epoch.value_or(clean_shutdown && last != epochs_.end() ? last->second : -1);
    const auto resp =
        call<RegisterBrokerResponse>(b, kRegisterBroker, RegisterBrokerRequest{b, clean_shutdown, previous});
    epochs_[b] = resp.broker_epoch;
    return resp;
  }
  HeartbeatResponse heartbeat(BrokerId b, int64_t epoch) {
    return call<HeartbeatResponse>(b, kHeartbeat, HeartbeatRequest{b, epoch, {}});
  }
  // Registers and heartbeats every heartbeat interval from now on (the first one at once,
  // so the broker is unfenced when this returns).
  int64_t start_broker(BrokerId b, bool clean_shutdown = true) {
    register_broker(b, clean_shutdown);
    const uint64_t generation = ++heartbeat_generation_[b];
    sim_.node(b).spawn("heartbeats", [this, b, generation] {
      while (heartbeat_generation_[b] == generation) {
        sim_.node(b).call<HeartbeatResponse>(kController, kHeartbeat, HeartbeatRequest{b, epochs_[b], {}}, 1_s);
        sim_.node(b).sleep_for(config_.replication.broker_heartbeat_interval);
      }
    });
    run_for(50_ms);
    return epochs_[b];
  }
  void start_all(uint32_t brokers = 3) {
    for (BrokerId b = 1; b <= brokers; ++b) start_broker(b);
  }
  // The broker hangs or is cut off from the controller: its heartbeats stop.
  void stop_heartbeats(BrokerId b) { ++heartbeat_generation_[b]; }
  // Long enough for a silent broker's session to expire and the fencer to notice.
  void wait_for_session_expiry() {
    run_for(config_.replication.broker_session_timeout + config_.replication.broker_heartbeat_interval * 2);
  }

  // What partition p's current leader would send to set the ISR to `isr`, with every
  // member's current broker epoch.
  AlterPartitionRequest propose(PartitionId p, Brokers isr) {
    const PartitionState& s = partition(p);
    AlterPartitionRequest req;
    req.leader = s.leader;
    req.broker_epoch = broker(s.leader).epoch;
    req.partition = p;
    req.leader_epoch = s.leader_epoch;
    req.partition_epoch = s.partition_epoch;
    for (BrokerId m : isr) {
      auto it = controller().brokers().find(m);
      req.member_epochs.push_back(it == controller().brokers().end() ? -1 : it->second.epoch);
    }
    req.new_isr = std::move(isr);
    return req;
  }
  AlterPartitionResponse alter(NodeId from, const AlterPartitionRequest& req) {
    return call<AlterPartitionResponse>(from, kAlterPartition, req);
  }
  AlterPartitionResponse alter_isr(PartitionId p, Brokers isr) {
    const AlterPartitionRequest req = propose(p, std::move(isr));
    return alter(req.leader, req);
  }

  std::vector<Change> changes;

 private:
  ControllerConfig config_;
  BugSet bugs_;
  ControllerHooks hooks_;
  std::map<BrokerId, int64_t> epochs_;
  std::map<BrokerId, uint64_t> heartbeat_generation_;
  Simulation sim_;  // last: its fibers and the controller reference everything above
};

}  // namespace test
}  // namespace faultline::kafka
