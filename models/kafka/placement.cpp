#include "models/kafka/placement.h"

#include <fmt/format.h>

#include <algorithm>

namespace faultline::kafka {

namespace {

bool contains(const std::vector<BrokerId>& v, BrokerId b) { return std::find(v.begin(), v.end(), b) != v.end(); }

constexpr PromotionPolicy kPolicies[] = {PromotionPolicy::kNone, PromotionPolicy::kUnderMinIsr,
                                         PromotionPolicy::kUnderReplicated, PromotionPolicy::kLeaderIsObserver};

}  // namespace

const char* to_string(PromotionPolicy p) {
  switch (p) {
    case PromotionPolicy::kNone: return "none";
    case PromotionPolicy::kUnderMinIsr: return "under-min-isr";
    case PromotionPolicy::kUnderReplicated: return "under-replicated";
    case PromotionPolicy::kLeaderIsObserver: return "leader-is-observer";
  }
  return "?";
}

std::optional<PromotionPolicy> promotion_policy_from_string(std::string_view text) {
  for (PromotionPolicy p : kPolicies) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

std::vector<std::string> promotion_policy_names() {
  std::vector<std::string> out;
  for (PromotionPolicy p : kPolicies) out.emplace_back(to_string(p));
  return out;
}

std::optional<std::vector<PartitionState>> place(const PlacementPolicy& policy, const std::vector<BrokerSite>& brokers,
                                                 int32_t partitions, std::string* error) {
  uint32_t sync_total = 0;
  std::vector<std::vector<BrokerId>> by_dc;
  for (const DcPlacement& d : policy.dcs) {
    std::vector<BrokerId> here;
    for (const BrokerSite& b : brokers) {
      if (b.dc == d.dc) here.push_back(b.broker);
    }
    std::sort(here.begin(), here.end());
    if (here.size() < d.sync_replicas + d.observers) {
      *error = fmt::format("datacenter {} has {} brokers, the placement needs {} ({} sync replicas, {} observers)",
                           d.dc, here.size(), d.sync_replicas + d.observers, d.sync_replicas, d.observers);
      return std::nullopt;
    }
    sync_total += d.sync_replicas;
    by_dc.push_back(std::move(here));
  }
  if (sync_total == 0) {
    *error = "a placement needs at least one sync replica";
    return std::nullopt;
  }
  std::vector<PartitionState> out;
  const size_t dcs = policy.dcs.size();
  for (int32_t i = 0; i < partitions; ++i) {
    PartitionState st;
    st.partition = i;
    st.promotion = policy.promotion;
    for (size_t k = 0; k < dcs; ++k) {
      const size_t d = (static_cast<size_t>(i) + k) % dcs;  // datacenters take turns leading
      const std::vector<BrokerId>& here = by_dc[d];
      const DcPlacement& want = policy.dcs[d];
      for (uint32_t j = 0; j < want.sync_replicas + want.observers; ++j) {
        const BrokerId b = here[(static_cast<size_t>(i) + j) % here.size()];
        (j < want.sync_replicas ? st.replicas : st.observers).push_back(b);
      }
    }
    std::sort(st.observers.begin(), st.observers.end());
    st.isr = st.replicas;
    std::sort(st.isr.begin(), st.isr.end());
    out.push_back(std::move(st));
  }
  return out;
}

bool is_observer(const PartitionState& st, BrokerId b) { return contains(st.observers, b); }

bool is_sync_replica(const PartitionState& st, BrokerId b) { return contains(st.replicas, b); }

size_t effective_min_isr(const PartitionState& st, int32_t min_insync_replicas) {
  return std::min<size_t>(static_cast<size_t>(std::max(min_insync_replicas, 1)), st.replicas.size());
}

std::vector<BrokerId> sync_members(const PartitionState& st, const std::vector<BrokerId>& isr) {
  std::vector<BrokerId> out;
  for (BrokerId b : isr) {
    if (is_sync_replica(st, b)) out.push_back(b);
  }
  return out;
}

bool promotion_wanted(const PartitionState& st, const std::vector<BrokerId>& isr, BrokerId leader,
                      int32_t min_insync_replicas) {
  if (st.observers.empty()) return false;
  switch (st.promotion) {
    case PromotionPolicy::kNone:
      return false;
    case PromotionPolicy::kUnderMinIsr:
      return isr.size() < effective_min_isr(st, min_insync_replicas);
    case PromotionPolicy::kUnderReplicated:
      for (BrokerId r : st.replicas) {
        if (!contains(isr, r)) return true;
      }
      return false;
    case PromotionPolicy::kLeaderIsObserver:
      return leader != kNoBroker && is_observer(st, leader);
  }
  return false;
}

bool demotion_due(const PartitionState& st, const std::vector<BrokerId>& isr, BrokerId leader,
                  int32_t min_insync_replicas) {
  // G3: only once enough sync replicas are back that the ISR stays at min ISR without the
  // promoted observers, whatever the policy (under `none` or `leader-is-observer` a sync
  // leader never "wants" promotion, which alone would demote down to the leader).
  const std::vector<BrokerId> sync = sync_members(st, isr);
  return sync.size() >= effective_min_isr(st, min_insync_replicas) &&
         !promotion_wanted(st, sync, leader, min_insync_replicas);
}

}  // namespace faultline::kafka
