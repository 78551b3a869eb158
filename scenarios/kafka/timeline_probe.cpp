#include "scenarios/kafka/timeline_probe.h"

#include <fmt/format.h>

#include <utility>

#include "models/kafka/broker.h"

namespace faultline::kafka {

RunContext::CounterProbe replica_counters(Simulation& sim, std::vector<NodeId> brokers, PartitionId partitions) {
  return [&sim, brokers = std::move(brokers), partitions](std::vector<CounterSample>& out) {
    for (NodeId b : brokers) {
      const auto broker = sim.process<Broker>(b);
      if (!broker) continue;
      for (PartitionId p = 0; p < partitions; ++p) {
        const Replica* r = broker->replica(p);
        if (r == nullptr || r->removed || !r->log.recovered()) continue;
        const std::string track = fmt::format("p{}", p);
        out.push_back({b, track, "LEO", r->log.log_end_offset()});
        out.push_back({b, track, "HW", r->log.high_watermark()});
        out.push_back({b, track, "ISR", r->leader ? static_cast<int64_t>(r->isr.size()) : 0});
      }
    }
  };
}

}  // namespace faultline::kafka
