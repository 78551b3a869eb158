// scenarios/kafka/producer_order.h
// S21, judged on every committed log as it grows: the records of one idempotent producer id
// and epoch appear once each and in the order sent (sequence order), and no record id (a
// retried batch resends the same ids) is committed twice. Jepsen's Kafka checker reports
// the same two anomalies as "duplicate" and "reorder". Gaps are not judged here: a batch that
// failed for good was never acknowledged, and losing acknowledged records is S1's business.
//
// Fed by the ReplicationChecker with each offset the first time a leader's HW passes it, in
// offset order per partition. Records without a producer id (acks 0/1, or idempotence off)
// are left alone: B5 allows their duplicates.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "models/kafka/types.h"
#include "scenarios/kafka/dense_tables.h"

namespace faultline::kafka {

class ProducerOrderChecker {
 public:
  using Report = std::function<void(PartitionId, const std::string& message, const std::vector<uint64_t>& records)>;
  explicit ProducerOrderChecker(Report report) : report_(std::move(report)) {}

  void on_committed(PartitionId p, const LogEntry& e);
  uint64_t judged() const { return judged_; }

 private:
  struct Last {
    int32_t sequence = kNoSequence;
    int64_t offset = -1;
    uint64_t record_id = 0;
  };
  Report report_;
  std::map<PartitionId, RecordTable<int64_t>> committed_at_;  // partition -> record id -> offset
  std::map<std::tuple<PartitionId, ProducerId, int16_t>, Last> last_;
  uint64_t judged_ = 0;
};

}  // namespace faultline::kafka
