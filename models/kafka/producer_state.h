// models/kafka/producer_state.h
// B6: what a replica knows about idempotent producers, as Kafka's ProducerStateManager keeps
// it: per producer id its epoch and the metadata of its last five batches (first and last
// sequence, first and last offset). The leader checks a batch against it before appending
// (ProducerAppendInfo.checkProducerEpoch / checkSequence, ProducerStateEntry.findDuplicateBatch);
// every replica updates it on every append, leader or follower (followers never check, as
// Kafka checks sequences only for AppendOrigin.CLIENT), and the log rebuilds it from its
// entries after a truncation, a full truncation and recovery.
//
// Departure (Kafka's ProducerStateManager.truncateAndReload): Kafka reloads the latest
// snapshot at or below the truncation point and replays the log above it; snapshots also hold
// producers whose batches retention has already deleted. The model replays its whole local
// log, so a producer whose every batch lies below the local log start is forgotten, and is
// then accepted at any sequence, as Kafka accepts a producer it has no state for (its
// "no current producer epoch" case). Producers here write continuously, so the last five
// batches of a live producer are always in the local log.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <span>

#include "models/kafka/types.h"

namespace faultline::kafka {

// Kafka's BatchMetadata.
struct ProducerBatchMeta {
  int32_t first_seq = kNoSequence;
  int32_t last_seq = kNoSequence;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  bool operator==(const ProducerBatchMeta&) const = default;
};

// Kafka's ProducerStateEntry (without transactions).
struct ProducerStateEntry {
  int16_t epoch = kNoProducerEpoch;
  std::deque<ProducerBatchMeta> batches;  // oldest first, at most kBatchesToRetain
};

// The leader's verdict on an incoming batch.
struct SequenceCheck {
  Errc error = Errc::kNone;   // kNone, kOutOfOrderSequence or kInvalidProducerEpoch
  bool duplicate = false;     // a resend of a retained batch: answer with its offset, append nothing
  int64_t duplicate_offset = -1;
  bool unknown_producer = false;  // no state for this producer: any sequence is accepted
};

class ProducerStateTable {
 public:
  // ProducerStateEntry.NUM_BATCHES_TO_RETAIN: why an idempotent producer may have at most five
  // requests in flight per partition.
  static constexpr size_t kBatchesToRetain = 5;

  // The checks UnifiedLog.append makes for a client batch, in Kafka's order: a duplicate of a
  // retained batch of the same epoch first (analyzeAndValidateProducerState), then the epoch
  // (older: INVALID_PRODUCER_EPOCH), then the sequence (checkSequence: a new epoch must start
  // at 0, the same epoch must continue at last + 1, a producer with no state may start
  // anywhere).
  SequenceCheck check(ProducerId pid, int16_t epoch, int32_t first_seq, int32_t last_seq) const;

  // Entries just appended at the log end, in order: each run of one producer batch updates
  // its producer (ProducerStateEntry.addBatch; a new epoch clears the retained batches). A run
  // that continues the producer's last batch (a batch split across two fetches) extends it.
  template <typename It>
  void append(It first, It last) {
    while (first != last) {
      if (first->producer_id == kNoProducerId) {
        ++first;
        continue;
      }
      It end = first;
      It tail = first;
      while (++end != last && same_batch(*tail, *end)) tail = end;
      add_batch(*first, *tail);
      first = end;
    }
  }
  void append(std::span<const LogEntry> entries) { append(entries.begin(), entries.end()); }
  void clear() { producers_.clear(); }

  // Whether `next` continues `prev`'s producer batch: same producer, epoch and base
  // sequence, and the next sequence.
  static bool same_batch(const LogEntry& prev, const LogEntry& next) {
    return prev.producer_id != kNoProducerId && next.producer_id == prev.producer_id &&
           next.producer_epoch == prev.producer_epoch && next.base_sequence == prev.base_sequence &&
           next.sequence == prev.sequence + 1;
  }

  const ProducerStateEntry* find(ProducerId pid) const;
  const std::map<ProducerId, ProducerStateEntry>& producers() const { return producers_; }

 private:
  // One producer batch, [first, last], of one producer.
  void add_batch(const LogEntry& first, const LogEntry& last);

  std::map<ProducerId, ProducerStateEntry> producers_;
};

}  // namespace faultline::kafka
