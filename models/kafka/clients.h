// models/kafka/clients.h
// The clients: a producer (acks 0, 1 or all; retries of retriable errors up to a delivery
// timeout, B5) and a consumer that reads up to the HW, follows leader changes and validates
// its position against the new leader's epochs (E3, KIP-320).
//
// The producer keeps one pipeline per partition, as Kafka's record accumulator does: a slow
// or stuck partition does not hold up the others, and up to
// max.in.flight.requests.per.connection batches of one partition are outstanding at once
// (without idempotence, a retry may then land after a later batch: ordering is not checked).
//
// Without idempotence, every produce attempt carries fresh record ids, so a retry that lands
// twice is a duplicate the checker can see, never a silent merge with the first attempt.
//
// B6, the idempotent producer (the default with acks=all): the producer has a producer id and
// epoch and numbers each partition's records; a retry resends the same batch (same record
// ids, same sequences), which the leader appends once. A batch that fails for good (delivery
// timeout, or an error it may not retry) leaves its sequence unresolved: the producer bumps its
// epoch and every partition's sequence starts again at 0, as Kafka's TransactionManager does
// for an idempotent producer (bumpIdempotentEpochAndResetIdIfNeeded, KIP-360). So does
// OUT_OF_ORDER_SEQUENCE_NUMBER for the batch right after the last acknowledged one (the
// leader lost acknowledged records), and that batch is sent again under the new epoch.
// Departures:
// the producer id is the node's own (no InitProducerId round trip, which cannot fail here),
// and the epoch bump is local; batches of the old epoch still in flight then fail for good
// instead of being re-sequenced under the new one (their records are never acknowledged, so
// no checker counts on them).
//
// Clients find leaders by polling the controller's metadata, so they too may act on stale
// metadata.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "models/kafka/config.h"
#include "models/kafka/controller_channel.h"
#include "models/kafka/types.h"
#include "sim/node_context.h"

namespace faultline::kafka {

struct ProducerHooks {
  // An attempt is about to be sent.
  std::function<void(NodeId producer, PartitionId, uint64_t record_id, int acks)> on_attempt;
  // The attempt's outcome: error kNone with its offset, an error code, or kRequestTimedOut
  // for a request that got no answer (ambiguous: it may have been appended).
  std::function<void(NodeId producer, PartitionId, uint64_t record_id, int acks, Errc error, int64_t offset)> on_result;
  // A produce request sent at `sent_at` got no answer at all before the client gave up (the
  // network or the broker was silent), as opposed to a broker answering REQUEST_TIMED_OUT.
  std::function<void(NodeId producer, PartitionId, NodeId broker, Instant sent_at)> on_unanswered;
};

struct ConsumerHooks {
  // The consumer read `entry` from `partition` (served by `from`).
  std::function<void(NodeId consumer, PartitionId, NodeId from, const LogEntry& entry)> on_read;
  // The consumer moved its position back after a divergence answer.
  std::function<void(NodeId consumer, PartitionId, int64_t from, int64_t to)> on_reset;
  // The consumer went back to offset 0 of the partition on request (Consumer::rewind),
  // from `from`; every read of the partition after this call comes after the rewind.
  std::function<void(NodeId consumer, PartitionId, int64_t from)> on_rewind;
};

// Polls the controller for partition leaders.
class MetadataCache {
 public:
  MetadataCache(NodeContext& ctx, ControllerIds controller, Duration poll_interval)
      : ctx_(ctx), controller_(ctx, std::move(controller)), poll_interval_(poll_interval) {}
  void start();
  const PartitionState* partition(PartitionId p) const;

 private:
  NodeContext& ctx_;
  ControllerChannel controller_;
  Duration poll_interval_;
  uint64_t version_ = 0;
  std::map<PartitionId, PartitionState> partitions_;
};

class Producer {
 public:
  Producer(NodeContext& ctx, ProducerConfig config, ControllerIds controller, std::vector<PartitionId> partitions,
           const ProducerHooks& hooks, Duration metadata_poll_interval);
  void start();

 private:
  // One partition's pipeline: a batch every `interval`, at most max_in_flight outstanding.
  void run(PartitionId p);
  // One batch, retried until it succeeds, fails for good or the delivery timeout passes
  // (B5): with fresh record ids, or (B6, idempotent) as the same batch.
  void send(PartitionId p);
  uint64_t next_record_id() { return (static_cast<uint64_t>(ctx_.id()) + 1) << 40 | ++attempts_; }
  bool idempotent() const { return config_.idempotence && config_.acks == -1 && config_.max_in_flight <= 5; }

  NodeContext& ctx_;
  ProducerConfig config_;
  std::vector<PartitionId> partitions_;
  const ProducerHooks& hooks_;
  MetadataCache metadata_;
  std::map<PartitionId, uint32_t> in_flight_;
  uint64_t attempts_ = 0;
  // B6
  ProducerId producer_id_ = kNoProducerId;
  int16_t producer_epoch_ = 0;
  std::map<PartitionId, int32_t> next_sequence_;
  std::map<PartitionId, int32_t> last_acked_sequence_;  // in the current epoch
  // B6: a new producer epoch; every partition's sequences start again at 0.
  void bump_epoch(PartitionId why);
};

class Consumer {
 public:
  Consumer(NodeContext& ctx, ControllerIds controller, std::vector<PartitionId> partitions, const ConsumerHooks& hooks,
           Duration metadata_poll_interval);
  void start();
  // Seeks every partition back to offset 0 (auto.offset.reset=earliest takes it up to the
  // log start): each partition's loop rewinds before its next fetch, after handling the
  // answer of a fetch in flight.
  void rewind() { ++rewinds_; }

 private:
  void consume(PartitionId p);

  NodeContext& ctx_;
  std::vector<PartitionId> partitions_;
  const ConsumerHooks& hooks_;
  MetadataCache metadata_;
  uint64_t rewinds_ = 0;
};

}  // namespace faultline::kafka
