#include "models/kafka/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "models/kafka/log_format.h"
#include "models/kafka/marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

using namespace log_format;

LogConfig LogConfig::from(const ReplicationConfig& c) {
  LogConfig out;
  out.segment_bytes = c.segment_bytes;
  out.segment_ms = c.segment_ms;
  out.flush_on_append = c.flush_on_append;
  out.hw_checkpoint_interval = c.hw_checkpoint_interval;
  out.recovery_point_checkpoint_interval = c.recovery_point_checkpoint_interval;
  out.epochs_below_local_start = c.tiered;
  return out;
}

// --- construction and state ---------------------------------------------------------------

PartitionLog::PartitionLog(NodeContext& ctx, PartitionId partition, LogConfig config)
    : ctx_(ctx),
      partition_(partition),
      config_(config),
      mu_(ctx.scheduler(), "partition-log"),
      ckpt_mu_(ctx.scheduler(), "partition-log-checkpoints"),
      flush_requests_(ctx.scheduler(), "partition-log-flush") {
  FL_ASSERT(partition >= 0, partition);
  FL_ASSERT(config_.segment_bytes >= kRecordAccountingBytes, config_.segment_bytes);
  FL_ASSERT(config_.segment_ms > Duration::zero() && config_.hw_checkpoint_interval > Duration::zero() &&
                config_.recovery_point_checkpoint_interval > Duration::zero(),
            format_duration(config_.segment_ms), format_duration(config_.hw_checkpoint_interval),
            format_duration(config_.recovery_point_checkpoint_interval));
}

void PartitionLog::require_open(const char* what) const {
  FL_ASSERT(recovered_ && "recover() must run before the log is used", what, partition_);
  FL_ASSERT(!closed_ && "the log was shut down", what, partition_);
}

PartitionLog::Segment PartitionLog::new_segment(int64_t base) {
  Segment s;
  s.base_offset = base;
  s.end_offset = base;
  s.id = next_segment_id_++;
  s.file = segment_file(partition_, base);
  return s;
}

std::vector<SegmentInfo> PartitionLog::segments() const {
  std::vector<SegmentInfo> out;
  for (const auto& [base, s] : segments_) out.push_back({s.base_offset, s.end_offset, false});
  if (!out.empty()) out.back().active = true;
  return out;
}

std::vector<LogEntry> PartitionLog::read(int64_t from, uint32_t max_records, int64_t upto_exclusive) const {
  const int64_t end = std::min(upto_exclusive, log_end_offset());
  if (from < log_start_ || from >= end) return {};
  auto n = static_cast<size_t>(std::min<int64_t>(end - from, max_records));
  const auto first = entries_.begin() + (from - log_start_);
  // B6: never end inside an idempotent producer's batch when the rest is readable: Kafka
  // serves whole batches, and a follower holding a batch's head only would hold producer
  // state no resend matches (its sequence check answers OUT_OF_ORDER, the producer bumps
  // its epoch and the head ends up committed twice; found by review, reproduced with
  // max_batch=600). A read capped by `upto_exclusive` (a consumer's HW) may still end inside.
  const auto avail = static_cast<size_t>(end - from);
  while (n > 0 && n < avail &&
         ProducerStateTable::same_batch(first[static_cast<std::ptrdiff_t>(n) - 1], first[static_cast<std::ptrdiff_t>(n)])) {
    ++n;
  }
  return std::vector<LogEntry>(first, first + static_cast<std::ptrdiff_t>(n));
}


void PartitionLog::set_high_watermark(int64_t hw) {
  require_open("set_high_watermark");
  FL_ASSERT(log_start_ <= hw && hw <= log_end_offset() && "S5: log start <= HW <= LEO", partition_, log_start_, hw,
            log_end_offset());
  hw_ = hw;
}

// --- the leader-epoch cache ---------------------------------------------------------------

std::optional<EpochEndOffset> PartitionLog::end_offset_for_epoch(Epoch requested) const {
  if (requested < 0 || epochs_.empty()) return std::nullopt;  // UNDEFINED_EPOCH_OFFSET
  if (requested == epochs_.back().epoch) return EpochEndOffset{requested, log_end_offset()};
  const auto higher = std::upper_bound(epochs_.begin(), epochs_.end(), requested,
                                       [](Epoch e, const EpochStart& x) { return e < x.epoch; });
  if (higher == epochs_.end()) return std::nullopt;  // newer than every epoch we know
  if (higher == epochs_.begin()) return EpochEndOffset{requested, higher->start_offset};
  return EpochEndOffset{std::prev(higher)->epoch, higher->start_offset};
}

std::optional<int64_t> PartitionLog::assign_locked(Epoch epoch, int64_t start_offset) {
  FL_ASSERT(epoch >= 0 && log_start_ <= start_offset && start_offset <= log_end_offset(), partition_, epoch,
            start_offset, log_start_, log_end_offset());
  std::vector<EpochStart> next = epochs_;
  const std::optional<int64_t> lowest = cache_assign(next, epoch, start_offset);
  if (!lowest) return std::nullopt;
  write_epoch_checkpoint(next);
  epochs_ = std::move(next);
  return lowest;
}

void PartitionLog::assign_epoch(Epoch epoch, int64_t start_offset) {
  Lock lock(mu_);
  require_open("assign_epoch");
  if (auto lowest = assign_locked(epoch, start_offset)) check_invariants(*lowest);
}

int64_t PartitionLog::begin_leader_epoch(Epoch epoch) {
  Lock lock(mu_);
  require_open("begin_leader_epoch");
  FL_ASSERT(epoch >= latest_epoch() && "a new leader's epoch is not older than any it knows", partition_, epoch,
            latest_epoch());
  const int64_t leso = log_end_offset();
  if (auto lowest = assign_locked(epoch, leso)) check_invariants(*lowest);
  return leso;
}

// --- appends ------------------------------------------------------------------------------

void PartitionLog::maybe_roll_locked(size_t records) {
  const Segment& s = active();
  const int64_t held = s.end_offset - s.base_offset;
  if (held == 0) return;  // an empty segment never rolls (Kafka needs size > 0 too)
  // Kafka's shouldRoll: the batch would not fit, or the first batch is older than segment.ms.
  if ((static_cast<uint64_t>(held) + records) * kRecordAccountingBytes > config_.segment_bytes) {
    roll_locked("size");
  } else if (s.first_append_at && ctx_.now() - *s.first_append_at > config_.segment_ms) {
    roll_locked("time");
  }
}

void PartitionLog::roll_locked(const char* why) {
  const int64_t base = log_end_offset();
  const int64_t old_base = active().base_offset;
  FL_ASSERT(active().end_offset == base, active().end_offset, base);
  const std::string file = segment_file(partition_, base);
  FL_ASSERT(!ctx_.disk().exists(file) && "a segment file already holds the next base offset", file);
  if (active().unsynced_cut) {
    // F5: the cut becomes durable before a file created after it can hold data (see log.h).
    ctx_.disk().fsync(file_of(active()));
    active().unsynced_cut = false;
  }
  ctx_.disk().write(file, std::string());  // creates it; the directory entry is durable at once
  segments_.emplace(base, new_segment(base));
  // F1: the rolled segment is flushed in the background; the recovery point follows.
  if (recovery_point_ < base) flush_requests_.send(base);
  cover(ctx_, Mark::kSegmentRolled);
  ctx_.trace("log-roll", {{"partition", partition_}, {"segment", old_base}, {"next", base}, {"why", why}});
}

void PartitionLog::append_batch_locked(std::span<const LogEntry> batch) {
  maybe_roll_locked(batch.size());
  Segment& s = active();  // stable: segments only change under mu_, which we hold
  const size_t first = entries_.size();
  std::string blob = encode_batch(batch, 0, batch.size());
  const uint64_t blob_bytes = blob.size();
  ctx_.disk().append(file_of(s), std::move(blob));
  // The batch is in the page cache: now memory may show it.
  s.batches.push_back({s.file_bytes, batch.front().offset, static_cast<uint32_t>(batch.size()), batch.front().epoch});
  s.file_bytes += blob_bytes;
  s.end_offset += static_cast<int64_t>(batch.size());
  if (!s.first_append_at) s.first_append_at = ctx_.now();
  entries_.insert(entries_.end(), batch.begin(), batch.end());
  producers_.append(batch);  // B6: every replica tracks producer state on every append
  FL_ASSERT(entries_.size() == first + batch.size() && s.end_offset == log_end_offset(), s.end_offset,
            log_end_offset());
}

int64_t PartitionLog::append_as_leader(Epoch epoch, const std::vector<uint64_t>& record_ids) {
  Lock lock(mu_);
  return append_as_leader_locked(epoch, record_ids, ProducerBatch{});
}

LeaderAppend PartitionLog::append_as_leader(Epoch epoch, const std::vector<uint64_t>& record_ids,
                                            const ProducerBatch& producer, bool check_sequence) {
  FL_ASSERT(producer.producer_id != kNoProducerId, partition_);
  Lock lock(mu_);
  require_open("append_as_leader");
  LeaderAppend out;
  // B6, under the log's lock as in Kafka's UnifiedLog.append: two requests of one producer
  // are checked and appended one after the other, never against the same state.
  if (check_sequence) {  // else BUG(no-sequence-check): appended whatever its sequence
    const auto last_seq = producer.base_sequence + static_cast<int32_t>(record_ids.size()) - 1;
    const SequenceCheck c =
        producers_.check(producer.producer_id, producer.producer_epoch, producer.base_sequence, last_seq);
    out.unknown_producer = c.unknown_producer;
    if (c.duplicate) {
      out.duplicate = true;
      out.base_offset = c.duplicate_offset;
      return out;
    }
    if (c.error != Errc::kNone) {
      out.error = c.error;
      return out;
    }
  }
  out.base_offset = append_as_leader_locked(epoch, record_ids, producer);
  return out;
}

int64_t PartitionLog::append_as_leader_locked(Epoch epoch, const std::vector<uint64_t>& record_ids,
                                              const ProducerBatch& producer) {
  FL_ASSERT(!record_ids.empty(), partition_);
  require_open("append_as_leader");
  FL_ASSERT(epoch >= 0 && epoch >= latest_epoch() && "S9: a leader appends in an epoch no older than any it knows",
            partition_, epoch, latest_epoch());
  const int64_t base = log_end_offset();
  if (epoch != latest_epoch()) assign_locked(epoch, base);  // Kafka's maybeAssignEpochStartOffset
  const bool idempotent = producer.producer_id != kNoProducerId;
  std::vector<LogEntry> batch;
  batch.reserve(record_ids.size());
  for (size_t i = 0; i < record_ids.size(); ++i) {
    LogEntry e{base + static_cast<int64_t>(i), epoch, record_ids[i]};
    if (idempotent) {
      e.producer_id = producer.producer_id;
      e.producer_epoch = producer.producer_epoch;
      e.sequence = producer.base_sequence + static_cast<int32_t>(i);
      e.base_sequence = producer.base_sequence;
    }
    batch.push_back(e);
  }
  append_batch_locked(batch);
  if (config_.flush_on_append) advance_recovery_point(fsync_segments(log_end_offset()));
  check_invariants(base);
  return base;
}

void PartitionLog::rebuild_producer_state_locked() {
  producers_.clear();
  producers_.append(entries_.begin(), entries_.end());
}

void PartitionLog::append_as_follower(const std::vector<LogEntry>& entries) {
  if (entries.empty()) return;
  Lock lock(mu_);
  require_open("append_as_follower");
  const int64_t base = log_end_offset();
  const Epoch last = base > log_start_ ? entries_.back().epoch : kNoEpoch;
  FL_ASSERT(entries.front().offset == base && "a follower appends at its LEO", partition_, entries.front().offset,
            base);
  FL_ASSERT(entries.front().epoch >= 0 && entries.front().epoch >= last && "S9: epochs never decrease along a log",
            partition_, entries.front().epoch, last);
  for (size_t i = 1; i < entries.size(); ++i) {
    FL_ASSERT(entries[i].offset == entries[i - 1].offset + 1 && entries[i].epoch >= entries[i - 1].epoch,
              "fetched entries are contiguous with non-decreasing epochs", partition_, entries[i - 1].offset,
              entries[i - 1].epoch, entries[i].offset, entries[i].epoch);
  }
  // Entries older than the cache's latest epoch can only come after a truncation to the LEO,
  // which drops the cache entries starting there (a leader's epoch that never got a batch;
  // Kafka's truncateTo does this even when it truncates nothing). Do it here too, so that
  // the cache stays consistent whichever call comes first: Kafka's assign alone would also
  // remove the entry of the epoch these entries continue.
  if (entries.front().epoch < latest_epoch()) {
    std::vector<EpochStart> epochs = epochs_;
    if (cache_truncate_from_end(epochs, base) > 0) {
      write_epoch_checkpoint(epochs);
      epochs_ = std::move(epochs);
    }
  }
  // One batch per run of one epoch; each new epoch enters the cache before its data.
  size_t i = 0;
  while (i < entries.size()) {
    size_t j = i;
    while (j < entries.size() && entries[j].epoch == entries[i].epoch) ++j;
    if (entries[i].epoch != latest_epoch()) assign_locked(entries[i].epoch, entries[i].offset);
    append_batch_locked(std::span<const LogEntry>(entries).subspan(i, j - i));
    i = j;
  }
  if (config_.flush_on_append) advance_recovery_point(fsync_segments(log_end_offset()));
  // From the previous entry: the first new epoch must agree with the cache entry before it.
  check_invariants(std::max(log_start_, base - 1));
}

// --- flushing and the recovery point ------------------------------------------------------

std::vector<PartitionLog::Synced> PartitionLog::fsync_segments(int64_t target) {
  std::vector<Synced> synced;
  if (segments_.empty()) return synced;
  int64_t from = std::max(recovery_point_, segments_.begin()->first);
  while (from < target && !segments_.empty()) {
    auto it = segments_.upper_bound(from);
    if (it == segments_.begin()) break;
    --it;
    const Segment& s = it->second;
    if (s.end_offset <= from) break;  // truncated meanwhile
    // Captured right before the call: fsync makes the content at its start durable, and no
    // other fiber runs between here and that snapshot.
    const Synced done{s.base_offset, s.id, s.end_offset};
    ctx_.disk().fsync(file_of(s));
    synced.push_back(done);
    from = done.end_offset;
  }
  return synced;
}

void PartitionLog::advance_recovery_point(const std::vector<Synced>& synced) {
  int64_t rp = recovery_point_;
  for (const Synced& s : synced) {
    auto it = segments_.find(s.base_offset);
    // Cut, rewritten or removed since its fsync started: what became durable is not this
    // segment's content any more, and a later flush will cover it.
    if (it == segments_.end() || it->second.id != s.id) break;
    if (s.base_offset > rp) break;  // something below was not flushed
    rp = std::max(rp, s.end_offset);
  }
  if (rp <= recovery_point_) return;
  FL_ASSERT(rp <= log_end_offset() && "the recovery point never passes the LEO", partition_, rp, log_end_offset());
  recovery_point_ = rp;
  cover(ctx_, Mark::kRecoveryPointAdvanced);
  ctx_.trace("log-flushed", {{"partition", partition_}, {"recovery_point", rp}});
}

void PartitionLog::flusher() {
  for (;;) {
    const std::optional<int64_t> target = flush_requests_.recv();
    FL_ASSERT(target.has_value());  // no deadline: only a kill ends this wait
    if (closed_) return;
    const std::vector<Synced> synced = fsync_segments(*target);
    Lock lock(mu_);
    if (closed_) return;
    advance_recovery_point(synced);
  }
}

// --- checkpoints --------------------------------------------------------------------------

void PartitionLog::write_epoch_checkpoint(const std::vector<EpochStart>& epochs) {
  Lock lock(ckpt_mu_);
  ctx_.disk().write_atomically(leader_epoch_file(partition_), epoch_checkpoint_text(epochs));
}

void PartitionLog::write_offset_checkpoint(const std::string& file, int64_t value) {
  Lock lock(ckpt_mu_);
  ctx_.disk().write_atomically(file, offset_checkpoint_text(value));
}

void PartitionLog::checkpoint_high_watermark() {
  Lock lock(ckpt_mu_);
  const int64_t hw = hw_;  // read under the lock: the value written is the one recorded
  if (hw == hw_checkpointed_) return;
  ctx_.disk().write_atomically(high_watermark_file(partition_), offset_checkpoint_text(hw));
  hw_checkpointed_ = hw;
}

void PartitionLog::checkpoint_recovery_point() {
  Lock lock(ckpt_mu_);
  // Read under the lock. Whoever shrinks the durable data lowers recovery_point_ and then
  // waits here before touching a segment, so this value stays covered by durable data until
  // the write has completed (S12).
  const int64_t rp = recovery_point_;
  if (rp == recovery_point_checkpointed_) return;
  FL_ASSERT(rp <= log_end_offset() && "S12", partition_, rp, log_end_offset());
  ctx_.disk().write_atomically(recovery_point_file(partition_), offset_checkpoint_text(rp));
  recovery_point_checkpointed_ = rp;
}

void PartitionLog::checkpointer() {
  Instant next_hw = ctx_.now() + config_.hw_checkpoint_interval;
  Instant next_rp = ctx_.now() + config_.recovery_point_checkpoint_interval;
  for (;;) {
    ctx_.sleep_until(std::min(next_hw, next_rp));
    if (closed_) return;
    if (ctx_.now() >= next_hw) {
      checkpoint_high_watermark();
      next_hw = std::max(next_hw + config_.hw_checkpoint_interval, ctx_.now());
    }
    if (ctx_.now() >= next_rp) {
      checkpoint_recovery_point();
      next_rp = std::max(next_rp + config_.recovery_point_checkpoint_interval, ctx_.now());
    }
  }
}

void PartitionLog::start_background() {
  FL_ASSERT(recovered_ && !background_ && !closed_, partition_, recovered_, background_, closed_);
  background_ = true;
  ctx_.spawn(fmt::format("log-flusher-p{}", partition_), [this] { flusher(); });
  ctx_.spawn(fmt::format("log-checkpointer-p{}", partition_), [this] { checkpointer(); });
}

// --- invariants ---------------------------------------------------------------------------

void PartitionLog::check_segments() const {
  FL_ASSERT(!segments_.empty(), partition_);
  FL_ASSERT(segments_.begin()->first == log_start_ && "the first segment starts at the log start", partition_,
            segments_.begin()->first, log_start_);
  int64_t next = log_start_;
  for (const auto& [base, s] : segments_) {
    FL_ASSERT(base == s.base_offset && base == next && "segments are contiguous", partition_, base, next);
    uint64_t position = 0;
    int64_t offset = base;
    for (const Batch& b : s.batches) {
      FL_ASSERT(b.position == position && b.base_offset == offset && b.count > 0, partition_, base, b.position,
                position, b.base_offset, offset);
      position += kHeaderBytes + kBodyFixedBytes + kRecordBytes * uint64_t{b.count};
      offset += b.count;
    }
    FL_ASSERT(position == s.file_bytes && offset == s.end_offset, partition_, base, position, s.file_bytes, offset,
              s.end_offset);
    next = s.end_offset;
  }
  FL_ASSERT(next == log_end_offset(), partition_, next, log_end_offset());
}

void PartitionLog::check_invariants(int64_t from) const {
  const int64_t leo = log_end_offset();
  // (4)
  FL_ASSERT(log_start_ <= hw_ && hw_ <= leo && "S5: log start <= HW <= LEO", partition_, log_start_, hw_, leo);
  FL_ASSERT(log_start_ <= recovery_point_ && recovery_point_ <= leo, partition_, log_start_, recovery_point_, leo);
  FL_ASSERT(!segments_.empty() && segments_.rbegin()->second.end_offset == leo, partition_, leo);
  // (3), the cache alone
  for (size_t i = 0; i < epochs_.size(); ++i) {
    const EpochStart& e = epochs_[i];
    FL_ASSERT(e.epoch >= 0 && (config_.epochs_below_local_start || log_start_ <= e.start_offset) &&
                  e.start_offset <= leo && "A2: epoch cache entries lie in [log start, LEO]",
              partition_, e.epoch, e.start_offset, log_start_, leo);
    if (i > 0) {
      FL_ASSERT(epochs_[i - 1].epoch < e.epoch && epochs_[i - 1].start_offset < e.start_offset &&
                    "A2: the epoch cache is strictly increasing in both",
                partition_, epochs_[i - 1].epoch, epochs_[i - 1].start_offset, e.epoch, e.start_offset);
    }
  }
  // (1), (2) and (3) against the entries, from `from` on.
  int64_t o = std::max(from, log_start_);
  if (o >= leo) return;
  auto covering = std::upper_bound(epochs_.begin(), epochs_.end(), o,
                                   [](int64_t off, const EpochStart& x) { return off < x.start_offset; });
  FL_ASSERT(covering != epochs_.begin() && "every entry's epoch is in the cache", partition_, o);
  --covering;
  Epoch previous = o > log_start_ ? entries_[static_cast<size_t>(o - 1 - log_start_)].epoch : kNoEpoch;
  for (; o < leo; ++o) {
    const LogEntry& e = entries_[static_cast<size_t>(o - log_start_)];
    FL_ASSERT(e.offset == o && "offsets are contiguous", partition_, e.offset, o);
    FL_ASSERT(e.epoch >= previous && "S9: epochs never decrease along the log", partition_, o, previous, e.epoch);
    while (std::next(covering) != epochs_.end() && std::next(covering)->start_offset <= o) ++covering;
    FL_ASSERT(covering->epoch == e.epoch && "the epoch cache agrees with the entries", partition_, o, e.epoch,
              covering->epoch, covering->start_offset);
    previous = e.epoch;
  }
}

}  // namespace faultline::kafka
