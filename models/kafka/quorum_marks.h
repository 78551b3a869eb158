// models/kafka/quorum_marks.h
// Coverage marks of the KRaft metadata quorum and of the controllers around it (rule A4,
// with S22). A catalogue of its own, declared only by runs with more than one controller,
// so single-controller sweeps do not list these as never reached.
#pragma once

#include <cstdint>

#include "sim/coverage.h"
#include "sim/node_context.h"

namespace faultline::kafka {

enum class QuorumMark : uint32_t {
  kLeaderElected,             // A4: a voter won an election
  kElectionTimedOut,          // A4: a candidate's election ended without a majority
  kFollowerTimedOut,          // A4: a follower heard nothing from its leader for the fetch timeout
  kLeaderResigned,            // A4: a leader not fetched from by a majority resigned (check quorum)
  kLeaderDeposed,             // A4: a leader saw a higher epoch and stepped down
  kLeaderInheritsUncommitted, // A4: a new leader holds records of older epochs not yet committed
  kFollowerTruncated,         // A4: a follower cut a diverging tail of its metadata log
  kVoteRefusedLog,            // A4: a vote refused to a candidate with a less up-to-date log
  kVoteForShorterLog,         // A4 guard: a vote granted to a less up-to-date log (bug switch)
  kCommittedTruncated,        // A4 guard: a committed record was cut (bug switch)
  kControllerActivated,       // A4: a controller became active and replayed the log
  kUncommittedReverted,       // A4: an active controller lost leadership with changes uncommitted
  kNotController,             // A4: a request reached a controller that is not active
  kAnsweredAfterCommit,       // A4: a controller's answer waited for its records to commit
  kClientRotated,             // A4: a broker or client moved on to another controller
  kCount,
};

inline constexpr uint32_t kQuorumMarkCatalogue = 3;
MarkCatalogue quorum_mark_catalogue();

inline void cover(NodeContext& ctx, QuorumMark m) { ctx.cover(kQuorumMarkCatalogue, static_cast<uint32_t>(m)); }

}  // namespace faultline::kafka
