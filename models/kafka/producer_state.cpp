#include "models/kafka/producer_state.h"

namespace faultline::kafka {

SequenceCheck ProducerStateTable::check(ProducerId pid, int16_t epoch, int32_t first_seq, int32_t last_seq) const {
  SequenceCheck out;
  const ProducerStateEntry* e = find(pid);
  if (e == nullptr || e->epoch == kNoProducerEpoch) {
    out.unknown_producer = true;  // checkSequence: "no current producer epoch": accept any sequence
    return out;
  }
  // ProducerStateEntry.findDuplicateBatch: same epoch, exactly the sequence range of a
  // retained batch.
  if (epoch == e->epoch) {
    for (const ProducerBatchMeta& b : e->batches) {
      if (b.first_seq == first_seq && b.last_seq == last_seq) {
        out.duplicate = true;
        out.duplicate_offset = b.first_offset;
        return out;
      }
    }
  }
  // ProducerAppendInfo.checkProducerEpoch.
  if (epoch < e->epoch) {
    out.error = Errc::kInvalidProducerEpoch;
    return out;
  }
  // ProducerAppendInfo.checkSequence.
  if (epoch != e->epoch) {
    if (first_seq != 0) out.error = Errc::kOutOfOrderSequence;
    return out;
  }
  const int32_t last = e->batches.empty() ? kNoSequence : e->batches.back().last_seq;
  if (int64_t{first_seq} != int64_t{last} + 1) out.error = Errc::kOutOfOrderSequence;
  return out;
}

void ProducerStateTable::add_batch(const LogEntry& first, const LogEntry& last) {
  ProducerStateEntry& p = producers_[first.producer_id];
  if (p.epoch != first.producer_epoch) {  // ProducerStateEntry.maybeUpdateProducerEpoch
    p.epoch = first.producer_epoch;
    p.batches.clear();
  }
  ProducerBatchMeta* tail = p.batches.empty() ? nullptr : &p.batches.back();
  if (tail != nullptr && first.sequence != first.base_sequence && tail->first_seq == first.base_sequence &&
      tail->last_seq + 1 == first.sequence && tail->last_offset + 1 == first.offset) {
    tail->last_seq = last.sequence;  // the rest of a batch whose head came in an earlier append
    tail->last_offset = last.offset;
    return;
  }
  if (p.batches.size() == kBatchesToRetain) p.batches.pop_front();
  p.batches.push_back({first.sequence, last.sequence, first.offset, last.offset});
}

const ProducerStateEntry* ProducerStateTable::find(ProducerId pid) const {
  auto it = producers_.find(pid);
  return it == producers_.end() ? nullptr : &it->second;
}

}  // namespace faultline::kafka
