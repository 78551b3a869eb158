// models/kafka/marks.h
// The replication model's coverage marks (sim/coverage.h): states and code paths worth
// reaching, at least one per numbered rule of semantics.md sections B-G that has a branch.
// A mark is named "<rule>.<what>"; the rule is where its branch is specified. The sweep
// summary reports, per mark, the fraction of runs that reached it, and names the marks no
// run reached: a path no seed reaches is one whose bugs no seed can find.
//
// Hitting a mark changes nothing (no state, no randomness, no trace record), so adding one
// never changes a trace hash. Add a mark with every model path you add.
#pragma once

#include <cstdint>

#include "sim/coverage.h"
#include "sim/node_context.h"

namespace faultline::kafka {

enum class Mark : uint32_t {
  // B: produce
  kProduceNotLeader,              // B1
  kProduceAcksOneAnswered,        // B2
  kProduceNotEnoughReplicas,      // B3
  kProduceNotEnoughAfterAppend,   // B3
  kProduceTimedOut,               // B3
  kProduceHeldForHw,              // B3
  kHwHeldBelowMinIsr,             // B4
  kProducerRetried,               // B5
  kDuplicateBatchAnswered,        // B6: a resent batch answered with its original offset
  kOutOfOrderSequenceRefused,     // B6: a gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER
  kInvalidProducerEpochRefused,   // B6: a batch of an older producer epoch refused
  kUnknownProducerAccepted,       // B6: no state for the producer: any sequence accepted
  kProducerEpochBumped,           // B6: a batch failed for good: new epoch, sequences from 0
  kProducerStateRebuilt,          // B6: producer state rebuilt from the log after a truncation
  // C: fetch, HW, truncation
  kFetchFencedLeaderEpoch,        // C2
  kFetchUnknownLeaderEpoch,       // C2
  kFetchNotLeader,                // C2
  kFetchOutOfRangeBelowStart,     // C2
  kFetchOutOfRangeAboveEnd,       // C2
  kFetchOutOfRangeUnknownEpoch,   // C2: the last fetched epoch has no end offset here
  kFollowerFencedStops,           // C2: FENCED_LEADER_EPOCH: the follower waits for metadata
  kDivergingEpochAnswered,        // C3
  kDivergingOlderEpoch,           // C3: the leader lacks the follower's last epoch
  kCaughtUpByPreviousFetch,       // C4
  kHwCountsCaughtUpNonMember,     // C5
  kHwHeldByPendingExpansion,      // C5
  kFollowerHwClampedToLeo,        // C6
  kFollowerHwLowered,             // C6: min(leader HW, LEO) below the follower's HW
  kFollowerTruncated,             // C7
  kTruncationLacksEpoch,          // C7: own cache lacks the diverging epoch
  kTruncationRepeated,            // C7: a second divergence right after a truncation
  kTruncationBlockedOnDisk,       // C7 with F4
  kLeaderChangeDuringTruncation,  // C7: become_follower waited for a truncation
  kLeaderChangeWaitedForAppend,   // B1/C7: a leader change waited for a leader append in flight
  kFollowerOffsetOutOfRange,      // C8
  kFollowerFullTruncation,        // C8
  kFollowerLogStartRaised,        // C8: the follower follows the leader's log start up
  kFollowerTruncatedToLeaderLeo,  // C8: OFFSET_OUT_OF_RANGE with the leader's LEO below ours
  kLogStartMoved,                 // C8: retention raised a log start offset
  kSameLeaderReelected,           // C9
  kStaleBrokerEpochFetch,         // C9
  kStaleBrokerEpochRejected,      // C9: fetch state older than the recorded broker epoch
  kHwSkipsStaleBrokerEpoch,       // C9: a caught-up follower of an old incarnation not counted
  // D: ISR
  kIsrShrinkProposed,             // D1
  kAlterPartitionRejected,        // D1
  kAlterPartitionUnanswered,      // D1
  kAlterPartitionAnswerStale,     // D1: an answer older than applied metadata, dropped
  kAlterPartitionAwaitsMetadata,  // D1: rejected as stale: the change waits for metadata
  kPendingIsrReplacedByMetadata,  // D1: newer metadata settled a pending change
  kIsrExpansionProposed,          // D2
  kExpansionRefusedBelowLeso,     // D2
  kExpansionRefusedStaleEpoch,    // D2 (controller: added member's broker epoch)
  kBrokerFenced,                  // D3
  kFencedOneOfSeveral,            // D3: several sessions expired; the stalest fenced first
  kDuplicateRegistrationRefused,  // D3: a new incarnation waited for the old session to expire
  kControlledShutdown,            // D3
  kCleanShutdownMarkerWritten,    // D3 / F1
  kUncleanRestartLeftIsr,         // D3
  kIsrFrozenAtLastMember,         // D3 without ELR
  kElrNonEmpty,                   // D4
  kIsrEmpty,                      // D4
  kElrMemberRestartedCleanly,     // D4: stays eligible across a clean restart
  kCleanShutdownEpochMismatch,    // D4: clean markers, but not under the epoch the controller gave
  // E: election, consumers
  kElectionFromIsr,               // E1
  kElectionFromElr,               // E1
  kPartitionOffline,              // E1
  kUncleanElection,               // E1
  kUncleanRecoveryElection,       // E1 (KIP-966 balanced recovery)
  kLastKnownLeaderElected,        // E1 (KIP-966 last known leader, as Kafka elects it)
  kElectionAmongDivergedLogs,     // E1: live candidates report different logs
  kPreferredLeaderElected,        // E1: a preferred-replica election moved leadership
  kNewLeaderHwBelowLeso,          // E2
  kConsumerDivergence,            // E3
  kConsumerOutOfRange,            // E3
  // F: disks and crashes
  kSegmentRolled,                 // F1
  kRecoveryPointAdvanced,         // F1
  kRecoveryClean,                 // F3 (after a clean shutdown)
  kRecoveryUnclean,               // F3
  kRecoveryFromCheckpoint,        // F3: an unclean recovery starting at a checkpointed recovery point
  kRecoveryDroppedTail,           // F3: re-validation cut a torn or lost tail
  kRecoveredTailUnsynced,         // F3: an unclean recovery kept a re-validated tail above the recovery point
  kTruncationUnsynced,            // F5: a truncation cut a segment in the page cache, not fsynced
  kRecoveryEmptyDisk,             // F3: a replaced disk
  kAppendBlockedOnDisk,           // F4: a leader append waited out a stalled or slow disk
  kTempCheckpointRemoved,         // F2
  // G: observers
  kObserverFetched,               // G1
  kObserverPromoted,              // G2
  kObserverPromotionRefused,      // G2 (controller: policy does not hold)
  kObserverDemoted,               // G3
  kObserverLeads,                 // G2 / E1
  // A1 with KIP-455: partition reassignment
  kReassignmentStarted,           // A1: the controller began a reassignment (adding, removing)
  kReassignmentCompleted,         // A1: every adding replica joined the ISR; the removing ones left
  kReassignmentMovedLeader,       // A1/E1: completing a reassignment removed the leader: a new one
  kReplicaCreated,                // A1: a broker created a replica a reassignment added
  kReplicaRemoved,                // A1: a broker deleted the replica a reassignment removed
  kReplicaReadded,                // A1: a removed replica was brought back by a later reassignment
  kCount,
};

inline constexpr uint32_t kKafkaMarkCatalogue = 1;

// The table, in enum order; see marks.cpp.
MarkCatalogue mark_catalogue();

inline void cover(NodeContext& ctx, Mark m) { ctx.cover(kKafkaMarkCatalogue, static_cast<uint32_t>(m)); }

}  // namespace faultline::kafka
