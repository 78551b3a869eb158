// models/kafka/tier/tier_rpc.h
// The tier-state log's RPC: leaders append tier events (H2, H3) to the controller, which
// holds every partition's tier-state log (a metadata log with the controller's guarantees:
// a committed event is never lost while the controller lives; see README "Departures", A4)
// and answers with the state after the event. Any broker can read a partition's state.
#pragma once

#include <string>

#include "models/kafka/tier/tier_state.h"
#include "models/kafka/types.h"

namespace faultline::kafka {

struct TierAppendRequest {
  BrokerId leader = kNoBroker;
  int64_t broker_epoch = -1;
  PartitionId partition = 0;
  TierEvent event;
};
struct TierAppendResponse {
  Errc error = Errc::kNone;  // kStaleBrokerEpoch, kUnknownPartition; kNone: see outcome
  TierState::Outcome outcome = TierState::Outcome::kApplied;
  std::string reason;
  int32_t tier_epoch = 0;
  int64_t tier_end_offset = 0;
};
struct TierDescribeRequest {
  PartitionId partition = 0;
};
struct TierDescribeResponse {
  Errc error = Errc::kNone;
  TierState state;  // without its event log (TierState::without_log)
};

inline constexpr const char* kTierAppend = "TierAppend";
inline constexpr const char* kTierDescribe = "TierDescribe";

}  // namespace faultline::kafka
