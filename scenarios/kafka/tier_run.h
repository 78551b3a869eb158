// scenarios/kafka/tier_run.h
// What every tiered scenario adds to its cluster (semantics.md H): the tier checker, the late
// reader (a consumer that starts from offset 0 once the hotset has deleted the oldest
// segments everywhere, so that it reads them back from the object store: H5, S16, L4), the
// sampler of local bytes (H4, H7) and the object-store faults a multi-region run draws beside
// its own faults. s3-outage, disk-stall and dc-loss --set tiered=true share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/kafka/clients.h"
#include "scenarios/kafka/tier_checker.h"
#include "sim/nemesis.h"

namespace faultline::kafka {

class TierRun {
 public:
  TierRun(RunContext& rc, ReplicationChecker& base, const ReplicationConfig& cfg, ControllerIds controller)
      : base_(base), config_(cfg), checker_(std::make_unique<TierChecker>(rc, base, cfg, controller)) {}

  TierChecker& checker() { return *checker_; }

  // Adds the late reader in `dc`, started at `at`, and starts sampling local bytes every second.
  void add_reader(Simulation& sim, ControllerIds controller, const std::vector<PartitionId>& partitions, Duration metadata_poll,
                  Instant at, const std::string& dc);
  // TierChecker::await_quiescence, with the late reader sent back to offset 0 halfway through
  // its shortest span, once the archive has caught up with the healed cluster (and retention
  // has trimmed what piled up during an outage): it reads everything again, from a healthy
  // archive first, so every run reads back from the object store.
  bool await_quiescence(Simulation& sim);
  // The end of the plan's last object-store outage (within `window`) for tier_outage_to_zero_lag_ns.
  void note_outages(const FaultPlan& plan, Duration window);

  // Object-store faults for a scenario whose own faults are elsewhere (dc-loss): 503 and 500
  // bursts, latency spikes, ambiguous timeouts and full outages in [start, end), drawn by the
  // nemesis from a stream of its own so that the scenario's other draws do not move.
  static FaultPlan draw_object_store_faults(const Topology& topology, uint64_t seed, Duration start, Duration end,
                                            uint32_t max_faults);

 private:
  void sample(Simulation& sim);

  ReplicationChecker& base_;
  ReplicationConfig config_;
  std::unique_ptr<TierChecker> checker_;
  ConsumerHooks reader_hooks_;
  NodeId reader_ = 0;
};

}  // namespace faultline::kafka
