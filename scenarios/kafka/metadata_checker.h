// scenarios/kafka/metadata_checker.h
// S22, with the KRaft quorum (A4): no committed metadata record is ever lost or replaced
// across a controller failover, and a broker applies committed metadata only.
//
// The ledger: the record committed at each offset of the metadata log, as the first
// controller to commit that offset applied it. Every later commit of the offset, by any
// controller (including one replaying its log after a restart), must be the same record in
// the same epoch; a difference means a committed change was lost. A broker's metadata of
// version v must show each partition as the ledger's first v records left it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/kafka/controller.h"
#include "scenarios/scenario.h"

namespace faultline::kafka {

class MetadataChecker {
 public:
  // `report(partition, message)`: an S22 violation (partition -1: the log as a whole).
  using Report = std::function<void(PartitionId, const std::string&)>;
  explicit MetadataChecker(Report report) : report_(std::move(report)) {}

  // ControllerHooks::on_committed: true the first time `offset` is committed anywhere.
  bool on_committed(NodeId controller, int64_t offset, const QuorumEntry& entry);
  // BrokerHooks::on_metadata_applied.
  void on_metadata_applied(NodeId broker, const MetadataResponse& md);

  int64_t committed_records() const { return static_cast<int64_t>(ledger_.size()); }
  uint64_t checks() const { return checks_; }

 private:
  struct Committed {
    Epoch epoch;
    std::string text;  // describe(): what the record says
  };
  Report report_;
  std::vector<Committed> ledger_;
  // Per partition, (version from which it holds, state), in version order.
  std::map<PartitionId, std::vector<std::pair<int64_t, PartitionState>>> history_;
  uint64_t checks_ = 0;
  bool reported_ = false;  // one S22 finding per run is enough to tell the story
};

// "partition 0 leader 1 epoch 3 isr [1,2] ...": a record, for ledgers and messages.
std::string describe(const QuorumEntry& entry);

}  // namespace faultline::kafka
