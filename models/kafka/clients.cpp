#include "models/kafka/clients.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/kafka/marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

void MetadataCache::start() {
  ctx_.spawn("metadata", [this] {
    for (;;) {
      auto resp = controller_.call<MetadataResponse>(kMetadata, MetadataRequest{version_}, Duration::seconds(5));
      if (resp.ok() && resp.value->version > version_) {
        version_ = resp.value->version;
        for (const PartitionState& st : resp.value->partitions) partitions_[st.partition] = st;
      }
      ctx_.sleep_for(poll_interval_);
    }
  });
}

const PartitionState* MetadataCache::partition(PartitionId p) const {
  auto it = partitions_.find(p);
  return it == partitions_.end() ? nullptr : &it->second;
}

Producer::Producer(NodeContext& ctx, ProducerConfig config, ControllerIds controller, std::vector<PartitionId> partitions,
                   const ProducerHooks& hooks, Duration metadata_poll_interval)
    : ctx_(ctx),
      config_(config),
      partitions_(std::move(partitions)),
      hooks_(hooks),
      metadata_(ctx, std::move(controller), metadata_poll_interval),
      producer_id_(idempotent() ? static_cast<ProducerId>(ctx.id()) + 1 : kNoProducerId) {}

void Producer::start() {
  metadata_.start();
  for (PartitionId p : partitions_) ctx_.spawn(fmt::format("producer-p{}", p), [this, p] { run(p); });
}

void Producer::run(PartitionId p) {
  const std::string request_fiber = fmt::format("produce-p{}", p);  // named once, not per request
  for (;;) {
    ctx_.sleep_for(config_.interval);
    uint32_t& in_flight = in_flight_[p];
    if (in_flight >= std::max<uint32_t>(1, config_.max_in_flight)) continue;  // pipeline full: no batch this tick
    ++in_flight;
    ctx_.spawn(request_fiber, [this, p] {
      send(p);
      --in_flight_[p];
    });
  }
}

void Producer::send(PartitionId p) {
  const Instant give_up = ctx_.now() + config_.delivery_timeout;
  const bool idem = idempotent();
  // B6: one batch for all attempts, numbered once.
  std::vector<uint64_t> batch;
  int32_t base_sequence = kNoSequence;
  int16_t epoch = producer_epoch_;
  auto number = [&] {
    epoch = producer_epoch_;
    int32_t& next = next_sequence_[p];
    base_sequence = next;
    next += static_cast<int32_t>(batch.size());
  };
  if (idem) {
    const uint64_t records = 1 + ctx_.prng().below(std::max<uint32_t>(1, config_.max_batch));
    batch.reserve(records);
    for (uint64_t i = 0; i < records; ++i) batch.push_back(next_record_id());
    number();
  }
  uint32_t attempt = 0;
  while (ctx_.now() < give_up) {
    const PartitionState* st = metadata_.partition(p);
    if (st == nullptr || st->leader == kNoBroker) {
      ctx_.sleep_for(config_.retry_backoff);
      continue;
    }
    ProduceRequest req{p, {}, config_.acks, config_.request_timeout};
    req.attempt = ++attempt;
    if (idem) {
      req.record_ids = batch;  // B6: the same records, the same sequences
      req.producer_id = producer_id_;
      req.producer_epoch = epoch;
      req.base_sequence = base_sequence;
    } else {
      // A batch of records, each with a fresh id for this attempt (a retry never reuses one).
      const uint64_t records = 1 + ctx_.prng().below(std::max<uint32_t>(1, config_.max_batch));
      req.record_ids.reserve(records);
      for (uint64_t i = 0; i < records; ++i) req.record_ids.push_back(next_record_id());
    }
    if (hooks_.on_attempt) {
      for (uint64_t id : req.record_ids) hooks_.on_attempt(ctx_.id(), p, id, config_.acks);
    }
    const Instant sent_at = ctx_.now();
    const NodeId broker = st->leader;
    auto resp = ctx_.call<ProduceResponse>(broker, kProduce, req, config_.request_timeout + Duration::seconds(1));
    if (resp.status == RpcStatus::kTimeout && hooks_.on_unanswered) hooks_.on_unanswered(ctx_.id(), p, broker, sent_at);
    const Errc error = resp.ok() ? resp.value->error : Errc::kRequestTimedOut;
    const int64_t base = resp.ok() ? resp.value->base_offset : -1;
    for (size_t i = 0; i < req.record_ids.size(); ++i) {
      const int64_t offset = base >= 0 ? base + static_cast<int64_t>(i) : -1;
      if (hooks_.on_result) hooks_.on_result(ctx_.id(), p, req.record_ids[i], config_.acks, error, offset);
    }
    if (error == Errc::kNone) {
      if (idem && epoch == producer_epoch_) {
        int32_t& acked = last_acked_sequence_.try_emplace(p, kNoSequence).first->second;
        acked = std::max(acked, base_sequence + static_cast<int32_t>(batch.size()) - 1);
      }
      return;
    }
    bool retriable = is_retriable(error);
    if (idem && error == Errc::kOutOfOrderSequence && epoch == producer_epoch_) {
      // B6, Kafka's TransactionManager.canRetry: a batch that is not the next one after the
      // last acknowledged waits for the earlier ones; the next one refused means the leader
      // really lacks acknowledged records (an unclean election): bump the epoch, number
      // this batch from 0 under it, and send it again (requestEpochBumpForPartition).
      retriable = true;
      auto acked = last_acked_sequence_.find(p);
      if (base_sequence == (acked == last_acked_sequence_.end() ? kNoSequence : acked->second) + 1) {
        bump_epoch(p);
        number();
      }
    }
    if (!retriable) break;
    cover(ctx_, Mark::kProducerRetried);
    ctx_.sleep_for(config_.retry_backoff);  // B5 (B6: the same batch again)
  }
  // B6: the batch failed for good and its sequence is unresolved (it may or may not be in
  // the log): a new epoch, and every partition numbers from 0 again.
  if (idem && epoch == producer_epoch_) bump_epoch(p);
}

void Producer::bump_epoch(PartitionId p) {
  cover(ctx_, Mark::kProducerEpochBumped);
  ++producer_epoch_;
  next_sequence_.clear();
  last_acked_sequence_.clear();
  ctx_.trace("producer-epoch-bump", {{"partition", p}, {"epoch", producer_epoch_}});
}

Consumer::Consumer(NodeContext& ctx, ControllerIds controller, std::vector<PartitionId> partitions, const ConsumerHooks& hooks,
                   Duration metadata_poll_interval)
    : ctx_(ctx), partitions_(std::move(partitions)), hooks_(hooks), metadata_(ctx, std::move(controller), metadata_poll_interval) {}

void Consumer::start() {
  metadata_.start();
  for (PartitionId p : partitions_) ctx_.spawn(fmt::format("consume-p{}", p), [this, p] { consume(p); });
}

void Consumer::consume(PartitionId p) {
  int64_t position = 0;
  Epoch last_epoch = kNoEpoch;
  uint64_t rewound = rewinds_;
  for (;;) {
    if (rewound != rewinds_) {
      rewound = rewinds_;
      if (hooks_.on_rewind) hooks_.on_rewind(ctx_.id(), p, position);
      position = 0;
      last_epoch = kNoEpoch;
    }
    const PartitionState* st = metadata_.partition(p);
    if (st == nullptr || st->leader == kNoBroker) {
      ctx_.sleep_for(Duration::millis(200));
      continue;
    }
    FetchRequest req;
    req.partition = p;
    req.replica_id = kNoBroker;
    req.fetch_offset = position;
    req.last_fetched_epoch = last_epoch;  // KIP-320: validate the position on every fetch
    req.current_leader_epoch = st->leader_epoch;
    const NodeId leader = st->leader;
    auto resp = ctx_.call<FetchResponse>(leader, kFetch, req, Duration::seconds(5));
    if (resp.ok() && resp.value->error == Errc::kOffsetOutOfRange && resp.value->log_start_offset > position) {
      // Retention deleted what we had not read yet: auto.offset.reset=earliest moves us up
      // to the log start (E3: nothing below it can be read again).
      cover(ctx_, Mark::kConsumerOutOfRange);
      if (hooks_.on_reset) hooks_.on_reset(ctx_.id(), p, position, resp.value->log_start_offset);
      position = resp.value->log_start_offset;
      last_epoch = kNoEpoch;
      continue;
    }
    if (!resp.ok() || resp.value->error != Errc::kNone) {
      ctx_.sleep_for(Duration::millis(200));
      continue;
    }
    const FetchResponse& f = *resp.value;
    if (f.diverging_epoch) {
      // The leader's log diverges from what we read: move back to where they agree. Any
      // offset read again may now bind a different record, which S3 forbids for offsets
      // that were below the HW when read.
      cover(ctx_, Mark::kConsumerDivergence);
      const int64_t to = std::min(position, f.diverging_epoch->end_offset);
      if (hooks_.on_reset) hooks_.on_reset(ctx_.id(), p, position, to);
      position = std::max<int64_t>(to, 0);
      last_epoch = f.diverging_epoch->epoch;
      continue;
    }
    for (const LogEntry& e : f.records) {
      if (hooks_.on_read) hooks_.on_read(ctx_.id(), p, leader, e);
      position = e.offset + 1;
      last_epoch = e.epoch;
    }
  }
}

}  // namespace faultline::kafka
