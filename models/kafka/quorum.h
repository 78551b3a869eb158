// models/kafka/quorum.h
// The KRaft metadata quorum (rule A4): the controllers' replicated metadata log, after
// Kafka's KafkaRaftClient (raft/src/main/java/org/apache/kafka/raft/KafkaRaftClient.java).
//
// What it follows from KRaft:
//   - Voters hold a durable epoch and vote (the quorum-state file) and a log of (epoch,
//     record) entries. A candidate bumps the epoch and votes for itself; a voter grants one
//     vote per epoch, only to a candidate whose log is at least as up to date as its own
//     (last epoch, then end offset: handleVoteRequest / isLogUpToDate).
//   - The elected leader appends a LeaderChange record at the start of its epoch, tells the
//     others (BeginQuorumEpoch), and counts an offset as committed (its high watermark) once
//     a majority of voters hold it and it is at or above the epoch's start offset
//     (LeaderState.maybeUpdateHighWatermark): entries of older epochs commit only with one
//     of its own, as in Raft.
//   - Followers pull (FetchRequest with fetch offset and last fetched epoch). The leader
//     answers FENCED_LEADER_EPOCH to an older epoch and a diverging epoch with its end offset
//     when the follower's log has diverged (validateOffsetAndEpoch); the follower truncates
//     there and fetches again. A follower that hears nothing from its leader for the fetch
//     timeout starts an election (pollFollowerAsVoter).
//   - A leader that has not been fetched from by a majority within 1.5 fetch timeouts
//     resigns (LeaderState.checkQuorumTimer, KIP-996's check quorum).
//   - A node that learns of a higher epoch, from any request or response, moves to it as
//     a follower (transitionToUnattached / transitionToFollower).
//
// Departures (README, "Departures"):
//   - Durability: the log and the quorum state live in a QuorumDisk that survives every
//     crash of the process, as if every append were fsynced at once. KRaft fsyncs an append
//     before it counts toward the high watermark (the leader's flushLeaderLog before
//     updateLocalState; a follower before its next fetch), so what the model keeps and
//     Kafka might lose was never counted. A power loss of a controller is therefore a kill:
//     nothing unflushed is lost (Kafka restarts a former leader as Resigned because it may
//     have been; here it restarts as a follower with no leader and campaigns).
//   - No pre-vote: a voter cut off from the others campaigns again and again, and its
//     epoch, once it is back, deposes the leader (KIP-996 prevents that).
//   - No pre-vote (KIP-996), no snapshots, no observers in the quorum: brokers read the
//     active controller's committed image by polling (Controller::on_metadata) instead of
//     fetching the log. They see committed metadata only, possibly late, as KRaft brokers do.
//   - Records carry a whole new state of one partition, broker or tier log rather than a
//     delta (PartitionChangeRecord); replayed in order the result is the same.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <variant>
#include <vector>

#include "models/kafka/tier/tier_state.h"
#include "models/kafka/types.h"
#include "sim/node_context.h"

namespace faultline::kafka {

// Metadata records. `why` points at a string literal (the kWhy* causes of controller.h).
struct LeaderChangeRecord {
  NodeId leader = kNoBroker;
};
struct PartitionRecord {
  PartitionState state;
  const char* why = "";
};
struct BrokerRecord {
  BrokerInfo info;
  uint64_t incarnation = 0;
  const char* why = "";
};
// A tier event as the tier-state log receives it (H3); replaying applies it again, which
// gives the same outcome on the same state. `not_leader` records the controller's own
// fencing of a deposed leader's InitLeader, decided on partition state.
struct TierRecord {
  PartitionId partition = 0;
  TierEvent event;
  bool not_leader = false;
};
using MetadataRecord = std::variant<LeaderChangeRecord, PartitionRecord, BrokerRecord, TierRecord>;

struct QuorumEntry {
  Epoch epoch = 0;
  MetadataRecord record;
};

// What survives a controller's crash: KRaft's quorum-state file and its metadata log.
struct QuorumDisk {
  Epoch epoch = 0;
  NodeId voted_for = kNoBroker;
  NodeId leader = kNoBroker;  // the leader of `epoch`, once known (QuorumStateData.leaderId)
  std::vector<QuorumEntry> log;
};

struct QuorumConfig {
  std::vector<NodeId> voters;  // every controller's node id, including this one
  Duration fetch_timeout = Duration::seconds(2);     // controller.quorum.fetch.timeout.ms
  Duration election_timeout = Duration::seconds(1);  // controller.quorum.election.timeout.ms
  Duration rpc_timeout = Duration::seconds(1);       // controller.quorum.request.timeout.ms, shortened
  Duration fetch_max_wait = Duration::millis(500);   // the leader's long poll
  uint32_t fetch_max_entries = 200;
  // vote-without-log-check (synthetic Raft bug): a voter grants its vote without comparing
  // logs, so a candidate missing committed records can lead and overwrite them.
  bool bug_vote_without_log_check = false;
};

// Told to the state machine (the Controller), synchronously, from inside the quorum.
struct QuorumListener {
  // Every committed entry, in offset order from 0, once per process lifetime.
  std::function<void(int64_t offset, const QuorumEntry&)> on_commit;
  // This node leads `epoch` and its LeaderChange record is committed and applied, so
  // on_commit has seen everything committed before its term (KafkaRaftClient fires
  // handleLeaderChange once the listener has caught up past the epoch start offset).
  std::function<void(Epoch epoch)> on_become_leader;
  // This node no longer leads (resigned, or a higher epoch was seen).
  std::function<void()> on_resign;
};

class Quorum {
 public:
  enum class Role : uint8_t { kFollower, kCandidate, kLeader };

  // `disk` must outlive the process (the scenario owns it).
  Quorum(NodeContext& ctx, QuorumConfig config, QuorumDisk& disk, QuorumListener listener);
  Quorum(const Quorum&) = delete;
  Quorum& operator=(const Quorum&) = delete;

  // Serves Vote, BeginQuorumEpoch and QuorumFetch and spawns the role fiber. A sole voter
  // elects itself here, before any other fiber runs.
  void start();

  Role role() const { return role_; }
  bool leading() const { return role_ == Role::kLeader; }
  Epoch epoch() const { return disk_.epoch; }
  NodeId leader() const { return leader_; }
  int64_t high_watermark() const { return hw_; }
  int64_t end_offset() const { return static_cast<int64_t>(disk_.log.size()); }
  const std::vector<QuorumEntry>& log() const { return disk_.log; }

  // As leader: appends `record` in the current epoch and returns its offset. A sole voter
  // commits it (and tells on_commit) before returning.
  int64_t append(MetadataRecord record);
  // Blocks until `offset` is committed (true), or this node stops leading `epoch` (false).
  bool await_commit(int64_t offset, Epoch epoch);

 private:
  struct VoteRequest;
  struct VoteResponse;
  struct BeginEpochRequest;
  struct BeginEpochResponse;
  struct FetchRequest;
  struct FetchResponse;

  void run();
  void follow();
  void campaign();
  void lead();

  VoteResponse on_vote(NodeId from, const VoteRequest& req);
  BeginEpochResponse on_begin_epoch(NodeId from, const BeginEpochRequest& req);
  FetchResponse on_fetch(NodeId from, const FetchRequest& req);
  // As follower: handles a fetch answer; false if it said another epoch or leader.
  bool handle_fetch_response(const FetchResponse& resp);

  // A higher epoch was seen: follow `leader` (kNoBroker: unknown yet) in `epoch`.
  void become_follower(Epoch epoch, NodeId leader);
  void become_leader();
  void resign(const char* why);
  void announce(Epoch epoch, NodeId voter);  // BeginQuorumEpoch to a voter that is not fetching
  void request_vote(NodeId voter, Epoch epoch);
  void changed();  // wakes the role fiber

  // (epoch, end offset) of the largest epoch <= `epoch` in the log: where it ends here.
  std::pair<Epoch, int64_t> end_offset_for(Epoch epoch) const;
  Epoch last_epoch() const { return disk_.log.empty() ? 0 : disk_.log.back().epoch; }
  bool majority(size_t n) const { return n * 2 > config_.voters.size(); }
  void maybe_advance_hw();
  void set_hw(int64_t hw);
  void apply_committed();
  void truncate_to(int64_t offset);

  NodeContext& ctx_;
  QuorumConfig config_;
  QuorumDisk& disk_;
  QuorumListener listener_;
  Role role_ = Role::kFollower;
  NodeId leader_ = kNoBroker;
  int64_t hw_ = 0;       // volatile: learnt from the leader, or counted as leader
  int64_t applied_ = 0;  // entries told to on_commit
  // As leader: where its epoch starts, and each voter's fetch offset and last fetch time.
  int64_t epoch_start_ = 0;
  std::map<NodeId, int64_t> fetched_;
  std::map<NodeId, Instant> last_fetch_;
  std::vector<NodeId> votes_;  // as candidate: who granted
  Instant follower_deadline_;  // as follower: when silence from the leader starts an election
  uint64_t generation_ = 0;    // bumped on every role or epoch change
  WaitQueue role_waiters_{"quorum-role"};      // the role fiber, waiting for a change
  WaitQueue commit_waiters_{"quorum-commit"};  // await_commit callers
  WaitQueue data_waiters_{"quorum-data"};      // long-polling fetches
};

const char* to_string(Quorum::Role r);

}  // namespace faultline::kafka
