// models/kafka/placement.h
// Replica placement across datacenters (G1) and the observer promotion policy (G2, G3).
//
// A placement says, per datacenter (rack), how many sync replicas and how many observers
// every partition gets, and which promotion policy its observers follow (Confluent's
// `confluent.placement.constraints` with `observerPromotionPolicy`). place() turns it into
// the per-partition replica and observer lists the controller starts from; from then on the
// lists and the policy travel in metadata (PartitionState).
//
// The policy predicates are shared by the leader (which proposes promotions and demotions)
// and the controller (which accepts an observer into the ISR only while the policy holds),
// so the two can never disagree about what the policy means:
//   promotion_wanted  G2: the policy calls for observers in this ISR now.
//   demotion_due      G3: the ISR's sync replicas alone no longer call for observers, so the
//                     promoted ones leave (after which promotion is not wanted: no flapping).
// Both take the effective min ISR of B3: min(min.insync.replicas, number of sync replicas).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/kafka/types.h"

namespace faultline::kafka {

const char* to_string(PromotionPolicy p);
// "none", "under-min-isr", "under-replicated", "leader-is-observer".
std::optional<PromotionPolicy> promotion_policy_from_string(std::string_view text);
// The names above, in declaration order (for parameter choices).
std::vector<std::string> promotion_policy_names();

// How many sync replicas and observers of every partition live in one datacenter.
struct DcPlacement {
  std::string dc;
  uint32_t sync_replicas = 0;
  uint32_t observers = 0;
};

struct PlacementPolicy {
  std::vector<DcPlacement> dcs;  // in the order the datacenters take turns leading
  PromotionPolicy promotion = PromotionPolicy::kUnderMinIsr;
};

struct BrokerSite {
  BrokerId broker = kNoBroker;
  std::string dc;
};

// Places `partitions` partitions on `brokers` following `policy`: within each datacenter
// partition i takes the brokers of that datacenter rotated by i (sync replicas first, then
// observers), and the datacenters take turns at the head of the preference order, so
// preferred leaders spread over both sites. Returns an error message instead when a
// datacenter has too few brokers or the placement has no sync replica.
std::optional<std::vector<PartitionState>> place(const PlacementPolicy& policy, const std::vector<BrokerSite>& brokers,
                                                 int32_t partitions, std::string* error);

bool is_observer(const PartitionState& st, BrokerId b);
bool is_sync_replica(const PartitionState& st, BrokerId b);
// B3's effective min ISR: min(min.insync.replicas, number of sync replicas).
size_t effective_min_isr(const PartitionState& st, int32_t min_insync_replicas);
// The members of `isr` that are sync replicas (promoted observers removed).
std::vector<BrokerId> sync_members(const PartitionState& st, const std::vector<BrokerId>& isr);

// G2: whether st.promotion calls for promoting observers into `isr` while `leader` leads.
bool promotion_wanted(const PartitionState& st, const std::vector<BrokerId>& isr, BrokerId leader,
                      int32_t min_insync_replicas);
// G3: whether promoted observers in `isr` should be demoted: the sync replicas of the ISR
// alone would not call for promotion. Always true for PromotionPolicy::kNone.
bool demotion_due(const PartitionState& st, const std::vector<BrokerId>& isr, BrokerId leader,
                  int32_t min_insync_replicas);

}  // namespace faultline::kafka
