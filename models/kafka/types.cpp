#include "models/kafka/types.h"

namespace faultline::kafka {

const char* to_string(Errc e) {
  switch (e) {
    case Errc::kNone: return "NONE";
    case Errc::kNotLeader: return "NOT_LEADER_OR_FOLLOWER";
    case Errc::kNotEnoughReplicas: return "NOT_ENOUGH_REPLICAS";
    case Errc::kNotEnoughReplicasAfterAppend: return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
    case Errc::kRequestTimedOut: return "REQUEST_TIMED_OUT";
    case Errc::kFencedLeaderEpoch: return "FENCED_LEADER_EPOCH";
    case Errc::kUnknownLeaderEpoch: return "UNKNOWN_LEADER_EPOCH";
    case Errc::kOffsetOutOfRange: return "OFFSET_OUT_OF_RANGE";
    case Errc::kStaleBrokerEpoch: return "STALE_BROKER_EPOCH";
    case Errc::kFencedBroker: return "FENCED_BROKER";
    case Errc::kInvalidRequest: return "INVALID_REQUEST";
    case Errc::kUnknownPartition: return "UNKNOWN_TOPIC_OR_PARTITION";
    case Errc::kKafkaStorageError: return "KAFKA_STORAGE_ERROR";
    case Errc::kOffsetMovedToTieredStorage: return "OFFSET_MOVED_TO_TIERED_STORAGE";
    case Errc::kIneligibleReplica: return "INELIGIBLE_REPLICA";
    case Errc::kOperationNotAttempted: return "OPERATION_NOT_ATTEMPTED";
    case Errc::kInvalidUpdateVersion: return "INVALID_UPDATE_VERSION";
    case Errc::kDuplicateBrokerRegistration: return "DUPLICATE_BROKER_REGISTRATION";
    case Errc::kOutOfOrderSequence: return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case Errc::kInvalidProducerEpoch: return "INVALID_PRODUCER_EPOCH";
    case Errc::kNotController: return "NOT_CONTROLLER";
  }
  return "?";
}

bool is_retriable(Errc e) {
  switch (e) {
    case Errc::kNotLeader:
    case Errc::kNotEnoughReplicas:
    case Errc::kNotEnoughReplicasAfterAppend:
    case Errc::kRequestTimedOut:
    case Errc::kFencedLeaderEpoch:
    case Errc::kUnknownLeaderEpoch:
    case Errc::kUnknownPartition:
      return true;
    default:
      return false;
  }
}

}  // namespace faultline::kafka
