#include "models/kafka/quorum.h"

#include <algorithm>
#include <utility>

#include "models/kafka/quorum_marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

namespace {
constexpr const char* kQuorumVote = "QuorumVote";
constexpr const char* kQuorumBeginEpoch = "QuorumBeginEpoch";
constexpr const char* kQuorumFetch = "QuorumFetch";
}  // namespace

struct Quorum::VoteRequest {
  Epoch epoch = 0;
  NodeId candidate = kNoBroker;
  Epoch last_epoch = 0;
  int64_t end_offset = 0;
};
struct Quorum::VoteResponse {
  Epoch epoch = 0;
  bool granted = false;
};
struct Quorum::BeginEpochRequest {
  Epoch epoch = 0;
  NodeId leader = kNoBroker;
};
struct Quorum::BeginEpochResponse {
  Epoch epoch = 0;
};
struct Quorum::FetchRequest {
  Epoch epoch = 0;
  int64_t fetch_offset = 0;
  Epoch last_fetched_epoch = 0;
  int64_t known_hw = 0;  // lets the leader answer at once when only its HW moved
};
struct Quorum::FetchResponse {
  Errc error = Errc::kNone;
  Epoch epoch = 0;
  NodeId leader = kNoBroker;
  std::optional<std::pair<Epoch, int64_t>> diverging;  // (epoch, end offset)
  std::vector<QuorumEntry> entries;                    // from the fetch offset
  int64_t hw = 0;
};

const char* to_string(Quorum::Role r) {
  switch (r) {
    case Quorum::Role::kFollower: return "follower";
    case Quorum::Role::kCandidate: return "candidate";
    case Quorum::Role::kLeader: return "leader";
  }
  return "?";
}

Quorum::Quorum(NodeContext& ctx, QuorumConfig config, QuorumDisk& disk, QuorumListener listener)
    : ctx_(ctx), config_(std::move(config)), disk_(disk), listener_(std::move(listener)) {
  std::sort(config_.voters.begin(), config_.voters.end());
  FL_ASSERT(std::binary_search(config_.voters.begin(), config_.voters.end(), ctx_.id()) && "a controller is a voter",
            ctx_.id());
}

void Quorum::start() {
  ctx_.serve<VoteRequest, VoteResponse>(kQuorumVote, [this](NodeId from, VoteRequest r) { return on_vote(from, r); });
  ctx_.serve<BeginEpochRequest, BeginEpochResponse>(
      kQuorumBeginEpoch, [this](NodeId from, BeginEpochRequest r) { return on_begin_epoch(from, r); });
  ctx_.serve<FetchRequest, FetchResponse>(kQuorumFetch, [this](NodeId from, FetchRequest r) { return on_fetch(from, r); });
  ctx_.trace("quorum-start", {{"epoch", disk_.epoch}, {"end_offset", end_offset()}, {"voters", static_cast<uint64_t>(config_.voters.size())}});
  if (config_.voters.size() == 1) {
    // A sole voter needs nobody's vote: it leads a new epoch from the start.
    ++disk_.epoch;
    disk_.voted_for = ctx_.id();
    become_leader();
  } else if (disk_.leader != kNoBroker && disk_.leader != ctx_.id()) {
    // QuorumState.initialize: a voter that knew its epoch's leader restarts as its follower.
    leader_ = disk_.leader;
    follower_deadline_ = ctx_.now() + config_.fetch_timeout;
  } else {
    // Unattached (or resigned, if it led): it waits an election timeout for a leader to
    // reach it before it campaigns.
    follower_deadline_ = ctx_.now() + ctx_.prng().uniform(config_.election_timeout, config_.election_timeout * 2);
  }
  ctx_.spawn("quorum", [this] { run(); });
}

void Quorum::run() {
  for (;;) {
    switch (role_) {
      case Role::kFollower: follow(); break;
      case Role::kCandidate: campaign(); break;
      case Role::kLeader: lead(); break;
    }
  }
}

void Quorum::changed() {
  ++generation_;
  role_waiters_.notify_all(ctx_.scheduler());
  data_waiters_.notify_all(ctx_.scheduler());
}

// --- roles -----------------------------------------------------------------------------

void Quorum::follow() {
  const uint64_t gen = generation_;
  while (gen == generation_) {
    if (ctx_.now() >= follower_deadline_) {
      // pollFollowerAsVoter / pollUnattachedAsVoter: the fetch (or election) timeout passed.
      if (leader_ != kNoBroker) cover(ctx_, QuorumMark::kFollowerTimedOut);
      role_ = Role::kCandidate;
      changed();
      return;
    }
    if (leader_ == kNoBroker) {
      role_waiters_.wait(ctx_.scheduler(), follower_deadline_);
      continue;
    }
    FetchRequest req{.epoch = disk_.epoch, .fetch_offset = end_offset(), .last_fetched_epoch = last_epoch(), .known_hw = hw_};
    auto r = ctx_.call<FetchResponse>(leader_, kQuorumFetch, req, config_.fetch_max_wait + config_.rpc_timeout);
    if (gen != generation_) return;
    if (!r.ok()) {
      role_waiters_.wait(ctx_.scheduler(), std::min(follower_deadline_, ctx_.now() + Duration::millis(100)));
      continue;
    }
    if (handle_fetch_response(*r.value)) follower_deadline_ = ctx_.now() + config_.fetch_timeout;
  }
}

bool Quorum::handle_fetch_response(const FetchResponse& resp) {
  if (resp.epoch > disk_.epoch) {
    become_follower(resp.epoch, resp.leader);
    return false;
  }
  if (resp.error != Errc::kNone) return false;
  if (resp.diverging) {
    // KafkaRaftClient.handleFetchResponse -> log.truncateToEndOffset: cut back to where the
    // diverging epoch ends in both logs, then fetch again from there.
    const auto [epoch, end] = *resp.diverging;
    const int64_t to = std::min(end, end_offset_for(epoch).second);
    cover(ctx_, QuorumMark::kFollowerTruncated);
    truncate_to(to);
    return true;
  }
  for (const QuorumEntry& e : resp.entries) disk_.log.push_back(e);
  // The follower's HW is the leader's, capped at what it holds; a new leader that has not
  // yet committed in its epoch may know less than this follower did: the HW never goes back.
  const int64_t hw = std::min(resp.hw, end_offset());
  if (hw > hw_) set_hw(hw);
  return true;
}

void Quorum::campaign() {
  // transitionToCandidate: a new epoch, a vote for itself, persisted before asking.
  ++disk_.epoch;
  disk_.voted_for = ctx_.id();
  disk_.leader = kNoBroker;
  leader_ = kNoBroker;
  votes_ = {ctx_.id()};
  changed();
  const uint64_t gen = generation_;
  const Epoch epoch = disk_.epoch;
  ctx_.trace("quorum-candidate", {{"epoch", epoch}, {"last_epoch", last_epoch()}, {"end_offset", end_offset()}});
  for (NodeId v : config_.voters) {
    if (v != ctx_.id()) ctx_.spawn("quorum-vote", [this, v, epoch] { request_vote(v, epoch); });
  }
  const Instant deadline = ctx_.now() + ctx_.prng().uniform(config_.election_timeout, config_.election_timeout * 2);
  while (gen == generation_ && ctx_.now() < deadline) role_waiters_.wait(ctx_.scheduler(), deadline);
  // Still a candidate at the deadline: the election failed (split vote, or too few voters
  // reachable); run() campaigns again in the next epoch.
  if (gen == generation_) cover(ctx_, QuorumMark::kElectionTimedOut);
}

void Quorum::request_vote(NodeId voter, Epoch epoch) {
  VoteRequest req{.epoch = epoch, .candidate = ctx_.id(), .last_epoch = last_epoch(), .end_offset = end_offset()};
  auto r = ctx_.call<VoteResponse>(voter, kQuorumVote, req, config_.rpc_timeout);
  if (!r.ok()) return;
  if (r.value->epoch > disk_.epoch) {
    become_follower(r.value->epoch, kNoBroker);
    return;
  }
  if (role_ != Role::kCandidate || disk_.epoch != epoch || !r.value->granted) return;
  if (std::find(votes_.begin(), votes_.end(), voter) == votes_.end()) votes_.push_back(voter);
  if (majority(votes_.size())) become_leader();
}

void Quorum::become_leader() {
  role_ = Role::kLeader;
  leader_ = ctx_.id();
  disk_.leader = ctx_.id();
  epoch_start_ = end_offset();
  fetched_.clear();
  last_fetch_.clear();
  for (NodeId v : config_.voters) last_fetch_[v] = ctx_.now();
  // LeaderState: the epoch begins with a LeaderChange record; nothing of older epochs is
  // counted as committed until it is.
  QuorumEntry change;
  change.epoch = disk_.epoch;
  change.record.emplace<LeaderChangeRecord>().leader = ctx_.id();
  disk_.log.push_back(std::move(change));
  changed();
  cover(ctx_, QuorumMark::kLeaderElected);
  if (epoch_start_ > hw_) cover(ctx_, QuorumMark::kLeaderInheritsUncommitted);
  ctx_.trace("quorum-leader", {{"epoch", disk_.epoch}, {"epoch_start", epoch_start_}, {"hw", hw_}});
  // The state machine hears of the term once the LeaderChange record is applied
  // (apply_committed), which for a sole voter is now.
  const Epoch epoch = disk_.epoch;
  for (NodeId v : config_.voters) {
    if (v != ctx_.id()) ctx_.spawn("quorum-announce", [this, epoch, v] { announce(epoch, v); });
  }
  maybe_advance_hw();
}

void Quorum::announce(Epoch epoch, NodeId voter) {
  // LeaderState / maybeSendBeginQuorumEpochRequests: for the whole term, every half fetch
  // timeout, BeginQuorumEpoch to a voter that has not fetched from this leader lately; one
  // fiber per voter, so a silent voter delays nobody else.
  while (leading() && disk_.epoch == epoch) {
    auto f = last_fetch_.find(voter);
    const bool fetching = fetched_.contains(voter) && f != last_fetch_.end() &&
                          ctx_.now() - f->second <= config_.fetch_timeout / 2;
    if (!fetching) {
      auto r = ctx_.call<BeginEpochResponse>(voter, kQuorumBeginEpoch, BeginEpochRequest{epoch, ctx_.id()},
                                             config_.rpc_timeout);
      if (!leading() || disk_.epoch != epoch) return;
      if (r.ok() && r.value->epoch > disk_.epoch) {
        become_follower(r.value->epoch, kNoBroker);
        return;
      }
    }
    ctx_.sleep_for(config_.fetch_timeout / 2);
  }
}

void Quorum::lead() {
  const uint64_t gen = generation_;
  const Duration check = config_.fetch_timeout * 3 / 2;
  while (gen == generation_) {
    role_waiters_.wait(ctx_.scheduler(), ctx_.now() + config_.fetch_timeout / 2);
    if (gen != generation_) return;
    // LeaderState.timeUntilCheckQuorumExpires: a leader that a majority has not fetched
    // from lately cannot commit, and another leader may exist; it resigns.
    size_t heard = 0;
    for (NodeId v : config_.voters) {
      if (v == ctx_.id() || ctx_.now() - last_fetch_[v] <= check) ++heard;
    }
    if (!majority(heard)) resign("check-quorum");
  }
}

void Quorum::resign(const char* why) {
  FL_ASSERT(leading(), ctx_.id());
  cover(ctx_, QuorumMark::kLeaderResigned);
  ctx_.trace("quorum-resign", {{"epoch", disk_.epoch}, {"why", why}, {"end_offset", end_offset()}, {"hw", hw_}});
  role_ = Role::kFollower;
  leader_ = kNoBroker;
  disk_.leader = kNoBroker;
  follower_deadline_ = ctx_.now() + ctx_.prng().uniform(config_.election_timeout, config_.election_timeout * 2);
  changed();
  commit_waiters_.notify_all(ctx_.scheduler());
  if (listener_.on_resign) listener_.on_resign();
}

void Quorum::become_follower(Epoch epoch, NodeId leader) {
  FL_ASSERT(epoch >= disk_.epoch, epoch, disk_.epoch);
  const bool was_leader = leading();
  if (epoch > disk_.epoch) {
    disk_.epoch = epoch;
    disk_.voted_for = kNoBroker;
  }
  role_ = Role::kFollower;
  leader_ = leader;
  disk_.leader = leader;
  follower_deadline_ = leader != kNoBroker
                           ? ctx_.now() + config_.fetch_timeout
                           : ctx_.now() + ctx_.prng().uniform(config_.election_timeout, config_.election_timeout * 2);
  changed();
  ctx_.trace("quorum-follow", {{"epoch", epoch}, {"leader", leader == kNoBroker ? int64_t{-1} : int64_t{leader}}});
  if (was_leader) {
    cover(ctx_, QuorumMark::kLeaderDeposed);
    commit_waiters_.notify_all(ctx_.scheduler());
    if (listener_.on_resign) listener_.on_resign();
  }
}

// --- handlers --------------------------------------------------------------------------

Quorum::VoteResponse Quorum::on_vote(NodeId, const VoteRequest& req) {
  if (req.epoch > disk_.epoch) become_follower(req.epoch, kNoBroker);
  if (req.epoch < disk_.epoch) return {.epoch = disk_.epoch, .granted = false};
  // KafkaRaftClient.handleVoteRequest: one vote per epoch, none while a leader of this epoch
  // is known, and only for a log at least as up to date (last epoch, then end offset).
  const bool up_to_date =
      req.last_epoch > last_epoch() || (req.last_epoch == last_epoch() && req.end_offset >= end_offset());
  bool granted = (disk_.voted_for == kNoBroker || disk_.voted_for == req.candidate) && leader_ == kNoBroker &&
                 role_ == Role::kFollower;
  if (granted && !up_to_date) {
    if (config_.bug_vote_without_log_check) {
      // BUG(vote-without-log-check): the vote ignores the logs, so a candidate that lacks
      // committed records can win and overwrite them.
      cover(ctx_, QuorumMark::kVoteForShorterLog);
    } else {
      cover(ctx_, QuorumMark::kVoteRefusedLog);
      granted = false;
    }
  }
  if (granted) {
    disk_.voted_for = req.candidate;
    follower_deadline_ = ctx_.now() + ctx_.prng().uniform(config_.election_timeout, config_.election_timeout * 2);
  }
  ctx_.trace("quorum-vote", {{"epoch", req.epoch}, {"candidate", req.candidate}, {"granted", granted}});
  return {.epoch = disk_.epoch, .granted = granted};
}

Quorum::BeginEpochResponse Quorum::on_begin_epoch(NodeId, const BeginEpochRequest& req) {
  if (req.epoch < disk_.epoch) return {.epoch = disk_.epoch};
  FL_ASSERT(!(req.epoch == disk_.epoch && leading()) && "two leaders in one epoch", req.epoch, req.leader);
  if (req.epoch > disk_.epoch || leader_ != req.leader) become_follower(req.epoch, req.leader);
  return {.epoch = disk_.epoch};
}

Quorum::FetchResponse Quorum::on_fetch(NodeId from, const FetchRequest& req) {
  FetchResponse resp;
  resp.epoch = disk_.epoch;
  resp.leader = leader_;
  if (req.epoch < disk_.epoch) {
    resp.error = Errc::kFencedLeaderEpoch;
    return resp;
  }
  if (req.epoch > disk_.epoch || !leading()) {
    // The fetcher knows of an epoch this node has not (yet) led: it is not the leader.
    resp.error = Errc::kNotLeader;
    return resp;
  }
  // validateOffsetAndEpoch: the follower's last fetched epoch must end at or after its
  // fetch offset here, else its log diverged at that epoch's end.
  if (req.fetch_offset > 0) {
    const auto [epoch, end] = end_offset_for(req.last_fetched_epoch);
    if (epoch != req.last_fetched_epoch || end < req.fetch_offset) {
      resp.diverging = std::make_pair(epoch, end);
      return resp;
    }
  }
  fetched_[from] = req.fetch_offset;
  last_fetch_[from] = ctx_.now();
  maybe_advance_hw();
  const Epoch epoch = disk_.epoch;
  if (req.fetch_offset == end_offset() && req.known_hw >= hw_) {
    // Long poll: answer when there is something new (an append or a higher HW) or at the
    // wait's end.
    data_waiters_.wait(ctx_.scheduler(), ctx_.now() + config_.fetch_max_wait);
    if (!leading() || disk_.epoch != epoch) {
      resp.epoch = disk_.epoch;
      resp.leader = leader_;
      resp.error = Errc::kNotLeader;
      return resp;
    }
  }
  const int64_t end = std::min(end_offset(), req.fetch_offset + static_cast<int64_t>(config_.fetch_max_entries));
  resp.entries.assign(disk_.log.begin() + req.fetch_offset, disk_.log.begin() + end);
  resp.hw = hw_;
  return resp;
}

// --- log -------------------------------------------------------------------------------

int64_t Quorum::append(MetadataRecord record) {
  FL_ASSERT(leading() && "only the leader appends to the metadata log", ctx_.id());
  disk_.log.push_back({disk_.epoch, std::move(record)});
  const int64_t offset = end_offset() - 1;
  data_waiters_.notify_all(ctx_.scheduler());
  maybe_advance_hw();
  return offset;
}

bool Quorum::await_commit(int64_t offset, Epoch epoch) {
  for (;;) {
    if (!leading() || disk_.epoch != epoch) return false;
    if (hw_ > offset) return true;
    commit_waiters_.wait(ctx_.scheduler());
  }
}

std::pair<Epoch, int64_t> Quorum::end_offset_for(Epoch epoch) const {
  for (int64_t i = end_offset() - 1; i >= 0; --i) {
    if (disk_.log[static_cast<size_t>(i)].epoch <= epoch) return {disk_.log[static_cast<size_t>(i)].epoch, i + 1};
  }
  return {0, 0};
}

void Quorum::maybe_advance_hw() {
  if (!leading()) return;
  std::vector<int64_t> ends;
  for (NodeId v : config_.voters) {
    if (v == ctx_.id()) {
      ends.push_back(end_offset());
    } else {
      auto it = fetched_.find(v);
      ends.push_back(it == fetched_.end() ? 0 : it->second);
    }
  }
  std::sort(ends.begin(), ends.end(), std::greater<>());
  // Held by a majority: the (n/2 + 1)-th largest end offset.
  const int64_t held = ends[config_.voters.size() / 2];
  if (held > epoch_start_ && held > hw_) set_hw(held);
}

void Quorum::set_hw(int64_t hw) {
  FL_ASSERT(hw > hw_ && hw <= end_offset(), hw, hw_, end_offset());
  hw_ = hw;
  commit_waiters_.notify_all(ctx_.scheduler());
  data_waiters_.notify_all(ctx_.scheduler());
  apply_committed();
}

void Quorum::apply_committed() {
  while (applied_ < hw_) {
    const int64_t offset = applied_++;
    if (listener_.on_commit) listener_.on_commit(offset, disk_.log[static_cast<size_t>(offset)]);
    // Caught up past this term's LeaderChange record: the state machine may act as leader.
    if (offset == epoch_start_ && leading() && listener_.on_become_leader) listener_.on_become_leader(disk_.epoch);
  }
}

void Quorum::truncate_to(int64_t offset) {
  if (offset >= end_offset()) return;
  ctx_.trace("quorum-truncate", {{"epoch", disk_.epoch}, {"from", end_offset()}, {"to", offset}, {"hw", hw_}});
  if (offset < hw_) {
    // Raft's leader completeness: a committed entry is in every later leader's log, so a
    // follower never cuts below its HW. Only a broken vote gets here.
    FL_ASSERT(config_.bug_vote_without_log_check && "a committed metadata record was truncated", offset, hw_);
    cover(ctx_, QuorumMark::kCommittedTruncated);
    hw_ = offset;
    applied_ = std::min(applied_, offset);
  }
  disk_.log.resize(static_cast<size_t>(offset));
}

}  // namespace faultline::kafka
