#include "scenarios/kafka/tier_run.h"

#include <algorithm>

namespace faultline::kafka {

void TierRun::add_reader(Simulation& sim, ControllerIds controller, const std::vector<PartitionId>& partitions,
                         Duration metadata_poll, Instant at, const std::string& dc) {
  reader_hooks_ = base_.consumer_hooks();
  reader_hooks_.on_read = [this](NodeId c, PartitionId part, NodeId from, const LogEntry& e) {
    base_.consumer_hooks().on_read(c, part, from, e);
    checker_->on_reader_read(part, e);
  };
  reader_hooks_.on_rewind = [this](NodeId, PartitionId part, int64_t) { checker_->on_reader_rewound(part); };
  const NodeId reader = sim.add_node({"reader", dc}, [this, controller, partitions, metadata_poll](NodeContext& ctx) {
    auto cons = std::make_shared<Consumer>(ctx, controller, partitions, reader_hooks_, metadata_poll);
    cons->start();
    return cons;
  });
  reader_ = reader;
  sim.scheduler().at(at, [&sim, reader] { sim.start(reader); });
  checker_->expect_reader();
  sample(sim);
}

bool TierRun::await_quiescence(Simulation& sim) {
  const Instant settled = std::max(sim.object_store().writes_settle_at(), sim.now());
  sim.scheduler().at(settled + TierChecker::min_quiescence(config_) / 2, [this, &sim] {
    if (auto cons = sim.process<Consumer>(reader_)) cons->rewind();  // never started: nothing to rewind
  });
  return checker_->await_quiescence();
}

void TierRun::sample(Simulation& sim) {
  checker_->sample_local_bytes();
  sim.scheduler().after(Duration::seconds(1), [this, &sim] { sample(sim); });
}

void TierRun::note_outages(const FaultPlan& plan, Duration window) {
  std::optional<Instant> outage_end;
  for (const FaultEvent& e : plan.events) {
    if (e.kind != FaultKind::kS3Outage) continue;
    const Instant end = Instant::zero() + (e.duration == Duration::zero() ? window : e.at + e.duration);
    outage_end = std::max(outage_end.value_or(end), std::min(end, Instant::zero() + window));
  }
  if (outage_end) checker_->outage_ends(*outage_end);
}

FaultPlan TierRun::draw_object_store_faults(const Topology& topology, uint64_t seed, Duration start, Duration end,
                                            uint32_t max_faults) {
  NemesisOptions o;
  o.start = start;
  o.end = end;
  o.max_faults = max_faults;
  o.mean_duration = Duration::seconds(8);
  o.max_duration = Duration::seconds(30);
  o.kinds = {FaultKind::kS3Errors, FaultKind::kS3Latency, FaultKind::kS3Outage, FaultKind::kS3Ambiguous};
  return draw_plan(topology, o, Prng(seed, "tier-object-store"));
}

}  // namespace faultline::kafka
