// scenarios/kafka/timeline_probe.h
// What a timeline (reports/timeline.h) samples of a Kafka cluster: per live broker and
// partition replica, its LEO and HW and, while it leads, the size of its ISR.
#pragma once

#include <vector>

#include "models/kafka/types.h"
#include "scenarios/scenario.h"

namespace faultline::kafka {

RunContext::CounterProbe replica_counters(Simulation& sim, std::vector<NodeId> brokers, PartitionId partitions);

}  // namespace faultline::kafka
