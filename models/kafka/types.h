// models/kafka/types.h
// The vocabulary of the replication model: records, log entries, partition state as the
// controller holds it (rule A1), the error codes of produce and fetch (B3, C2), and the RPC
// messages between brokers, the controller and clients. Plain data, no behaviour.
//
// Payload bytes are not modelled, identities are: a record is its id, unique per produce
// attempt, so the checkers can tell a duplicate (a retry that landed twice) from a loss.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/time.h"
#include "sim/trace.h"

namespace faultline::kafka {

using BrokerId = NodeId;  // a broker's id is its node id
inline constexpr BrokerId kNoBroker = UINT32_MAX;
using PartitionId = int32_t;
using Epoch = int32_t;
inline constexpr Epoch kNoEpoch = -1;

// B6: the idempotent producer's identity. Producer id 0 means "no producer id" (Kafka's -1:
// a non-idempotent producer's records carry no producer state).
using ProducerId = uint64_t;
inline constexpr ProducerId kNoProducerId = 0;
inline constexpr int16_t kNoProducerEpoch = -1;
inline constexpr int32_t kNoSequence = -1;

// The controllers' node ids: one, or the voters of a KRaft quorum (A4). Converts from one
// node id, the single-controller case.
struct ControllerIds {
  std::vector<NodeId> ids;
  ControllerIds() = default;
  ControllerIds(NodeId id) : ids{id} {}  // NOLINT(google-explicit-constructor): one controller
  explicit ControllerIds(std::vector<NodeId> voters) : ids(std::move(voters)) {}
};

// One record in a replica's log (A2).
struct LogEntry {
  int64_t offset = 0;
  Epoch epoch = kNoEpoch;  // the leader epoch of the leader that appended it (A3)
  // Unique per produce attempt without idempotence; an idempotent producer resends the same
  // records with the same ids (and sequences), as Kafka resends the same batch (B6).
  uint64_t record_id = 0;
  // B6, Kafka's batch header fields carried per record: producer id and epoch, this
  // record's sequence and its batch's base sequence (so the producer batches inside a log
  // batch can be told apart when producer state is rebuilt from the log).
  ProducerId producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t sequence = kNoSequence;
  int32_t base_sequence = kNoSequence;
  bool operator==(const LogEntry&) const = default;
};

// G2: when the leader promotes caught-up observers into the ISR (Confluent's
// observerPromotionPolicy). The policy is part of the placement, so it travels in metadata
// with the replicas and observers. See models/kafka/placement.h for the predicates.
enum class PromotionPolicy : uint8_t {
  kNone,              // never: observers stay asynchronous whatever happens
  kUnderMinIsr,       // while |ISR| < min ISR (the 2.5 DC default, G4)
  kUnderReplicated,   // while some sync replica is out of the ISR
  kLeaderIsObserver,  // while the leader is itself an observer
};

// The controller's view of one partition (A1). Sorted broker lists.
struct PartitionState {
  PartitionId partition = 0;
  std::vector<BrokerId> replicas;   // sync replicas, in preference order
  std::vector<BrokerId> observers;  // G1: replicate, never in the ISR unless promoted
  PromotionPolicy promotion = PromotionPolicy::kNone;  // G2
  BrokerId leader = kNoBroker;
  Epoch leader_epoch = 0;
  int32_t partition_epoch = 0;
  std::vector<BrokerId> isr;
  std::vector<BrokerId> elr;  // D4 (KIP-966)
  // KIP-966's lastKnownElr as Kafka uses it (PartitionChangeBuilder.maybeUpdateLastKnownLeader):
  // the leader the partition had when it last became leaderless, while it has none (E1).
  std::vector<BrokerId> last_known_elr;
  // KIP-455 (PartitionRegistration.addingReplicas / removingReplicas): during a reassignment
  // `replicas` is the target followed by the replicas being removed; `adding` are target
  // replicas not yet in the ISR at its start, `removing` the ones leaving. Both empty
  // otherwise. Sorted.
  std::vector<BrokerId> adding;
  std::vector<BrokerId> removing;
  bool operator==(const PartitionState&) const = default;
};

enum class Errc : uint8_t {
  kNone,
  kNotLeader,                      // NOT_LEADER_OR_FOLLOWER
  kNotEnoughReplicas,              // B3: nothing appended
  kNotEnoughReplicasAfterAppend,   // B3: appended, committed without enough replicas
  kRequestTimedOut,                // B3: ambiguous
  kFencedLeaderEpoch,              // C2: the request's epoch is older than the leader's
  kUnknownLeaderEpoch,             // C2: newer than the leader's
  kOffsetOutOfRange,               // C2: below the log start offset (or above the LEO)
  kStaleBrokerEpoch,               // controller: a request from a previous registration
  kFencedBroker,                   // controller: the broker is fenced
  kInvalidRequest,                 // controller: stale partition epoch, not the leader, ...
  kUnknownPartition,
  kKafkaStorageError,              // H5: a remote read failed (object store error): retriable
  kOffsetMovedToTieredStorage,     // H5: a follower below the leader's local log start
  kIneligibleReplica,              // D1/D2: an added ISR member is not eligible: roll back
  kOperationNotAttempted,          // D1: the request was not attempted (stale sender): roll back
  kInvalidUpdateVersion,           // D1: stale partition epoch: wait for newer metadata
  kDuplicateBrokerRegistration,    // D3: the previous incarnation's session is still valid
  kOutOfOrderSequence,             // B6: a gap in an idempotent producer's sequence
  kInvalidProducerEpoch,           // B6: a batch from an older epoch of the producer
  kNotController,                  // A4: the request reached a controller that is not active
};
const char* to_string(Errc e);
// Errors a producer retries (B5).
bool is_retriable(Errc e);

// --- client <-> broker -----------------------------------------------------------------
struct ProduceRequest {
  PartitionId partition = 0;
  std::vector<uint64_t> record_ids;
  int acks = -1;  // 0, 1 or -1 (all)
  Duration timeout = Duration::seconds(30);
  // B6: set by an idempotent producer (kNoProducerId otherwise); the records are numbered
  // base_sequence, base_sequence + 1, ...
  ProducerId producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  // Which attempt of this batch (1, 2, ...): for checkers only, like record ids (B3 judges
  // what one request appended; an idempotent resend carries the same records).
  uint32_t attempt = 1;
};
struct ProduceResponse {
  Errc error = Errc::kNone;
  int64_t base_offset = -1;
  Epoch leader_epoch = kNoEpoch;
};

// Also used by consumers (replica_id == kNoBroker): they read up to the HW only (E3, S13).
struct FetchRequest {
  PartitionId partition = 0;
  BrokerId replica_id = kNoBroker;
  int64_t fetch_offset = 0;
  Epoch last_fetched_epoch = kNoEpoch;     // C1
  Epoch current_leader_epoch = kNoEpoch;   // C1: the leader epoch the fetcher believes
  int64_t broker_epoch = -1;               // C1
  uint32_t max_records = 500;
  Duration max_wait = Duration::millis(500);  // long poll when there is nothing new
};
struct EpochEndOffset {
  Epoch epoch = kNoEpoch;
  int64_t end_offset = -1;
};
struct FetchResponse {
  Errc error = Errc::kNone;
  Epoch leader_epoch = kNoEpoch;
  std::vector<LogEntry> records;
  int64_t high_watermark = 0;
  int64_t log_start_offset = 0;
  std::optional<EpochEndOffset> diverging_epoch;  // C3
  // With OFFSET_OUT_OF_RANGE: the leader's LEO (C8). Kafka's follower asks for it with a
  // ListOffsets request (AbstractFetcherThread.fetchOffsetAndTruncate); the model carries it
  // in the answer, one round trip fewer.
  int64_t log_end_offset = -1;
};

// --- broker <-> controller ---------------------------------------------------------------
struct RegisterBrokerRequest {
  BrokerId broker = kNoBroker;
  bool clean_shutdown = true;  // false after a crash (D4: leaves the ELR)
  // KIP-966's previousBrokerEpoch: the broker epoch the clean shutdown was made under, from
  // the broker's clean-shutdown file (-1 if none). The controller takes a shutdown as clean
  // only if it matches the epoch it last gave this broker (ClusterControlManager).
  int64_t previous_broker_epoch = -1;
  // Kafka's incarnation id: one per process start. A registration of another incarnation
  // while the old one's session is valid is refused (D3, DUPLICATE_BROKER_REGISTRATION).
  uint64_t incarnation = 0;
};
struct RegisterBrokerResponse {
  Errc error = Errc::kNone;
  int64_t broker_epoch = -1;
};
// What a broker's replica holds, for KIP-966 unclean recovery (the controller elects the
// longest log when every ISR and ELR member went through an unclean shutdown).
struct ReplicaLogInfo {
  PartitionId partition = 0;
  Epoch last_epoch = kNoEpoch;
  int64_t log_end_offset = 0;
};
struct HeartbeatRequest {
  BrokerId broker = kNoBroker;
  int64_t broker_epoch = -1;
  std::vector<ReplicaLogInfo> logs;
};
struct HeartbeatResponse {
  Errc error = Errc::kNone;
  bool fenced = false;
};
struct BrokerInfo {
  BrokerId broker = kNoBroker;
  int64_t epoch = -1;
  bool registered = false;
  bool fenced = true;
};
// Brokers and clients poll the controller; a response carries the whole (small) picture, or,
// to a poller that already has the committed version, the version alone (nothing new), as a
// KRaft broker's metadata fetch at the log end returns no records.
struct MetadataRequest {
  uint64_t known_version = 0;
};
struct MetadataResponse {
  Errc error = Errc::kNone;  // kNotController from a controller that is not active (A4)
  uint64_t version = 0;
  std::vector<PartitionState> partitions;
  std::vector<BrokerInfo> brokers;
};
// D1/D2: the leader proposes a new ISR.
struct AlterPartitionRequest {
  BrokerId leader = kNoBroker;
  int64_t broker_epoch = -1;
  PartitionId partition = 0;
  Epoch leader_epoch = kNoEpoch;
  int32_t partition_epoch = 0;
  std::vector<BrokerId> new_isr;
  // The broker epoch each proposed member fetched with (D2: must be its current one).
  std::vector<int64_t> member_epochs;
};
struct AlterPartitionResponse {
  Errc error = Errc::kNone;
  PartitionState state;  // the controller's state after handling the request
};

// D3: controlled shutdown. The controller moves the broker's leaderships away, takes it out of
// every ISR (keeping it eligible in the ELR) and keeps it fenced until it registers again.
struct ControlledShutdownRequest {
  BrokerId broker = kNoBroker;
  int64_t broker_epoch = -1;
};
struct ControlledShutdownResponse {
  Errc error = Errc::kNone;
};

// RPC method names.
inline constexpr const char* kProduce = "Produce";
inline constexpr const char* kFetch = "Fetch";
inline constexpr const char* kRegisterBroker = "RegisterBroker";
inline constexpr const char* kHeartbeat = "Heartbeat";
inline constexpr const char* kMetadata = "Metadata";
inline constexpr const char* kAlterPartition = "AlterPartition";
inline constexpr const char* kControlledShutdown = "ControlledShutdown";

}  // namespace faultline::kafka
