#include "scenarios/kafka/producer_order.h"

#include <fmt/format.h>

namespace faultline::kafka {

void ProducerOrderChecker::on_committed(PartitionId p, const LogEntry& e) {
  if (e.producer_id == kNoProducerId) return;
  ++judged_;
  auto [at, fresh] = committed_at_[p].emplace(e.record_id, e.offset);
  if (!fresh && *at != e.offset) {
    report_(p,
            fmt::format("record {:#x} of producer {} (epoch {}, sequence {}) is committed twice, at offsets {} and {}: "
                        "a retried batch appended again",
                        e.record_id, e.producer_id, e.producer_epoch, e.sequence, *at, e.offset),
            {e.record_id});
    return;
  }
  Last& last = last_[{p, e.producer_id, e.producer_epoch}];
  if (last.offset >= 0 && e.sequence <= last.sequence) {
    report_(p,
            fmt::format("producer {} (epoch {}): sequence {} committed at offset {} after sequence {} at offset {}: "
                        "{}",
                        e.producer_id, e.producer_epoch, e.sequence, e.offset, last.sequence, last.offset,
                        e.sequence == last.sequence ? "duplicated" : "reordered"),
            {last.record_id, e.record_id});
  }
  last = {e.sequence, e.offset, e.record_id};
}

}  // namespace faultline::kafka
