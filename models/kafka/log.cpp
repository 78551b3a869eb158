#include "models/kafka/log.h"

#include "models/kafka/marks.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "sim/assert.h"

namespace faultline::kafka {

namespace {

// --- the batch format (see the header) ----------------------------------------------------
constexpr uint64_t kHeaderBytes = 4 + 8;     // body length, checksum
constexpr uint64_t kBodyFixedBytes = 8 + 4 + 4;  // base offset, epoch, count
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t fnv1a(std::string_view bytes, uint64_t h = kFnvOffsetBasis) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t get_u32(std::string_view in, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
uint64_t get_u64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

// One batch: entries [first, first + count), contiguous and of one epoch.
template <typename Entries>
std::string encode_batch(const Entries& entries, size_t first, size_t count) {
  FL_ASSERT(count > 0 && first + count <= entries.size(), first, count, entries.size());
  std::string body;
  body.reserve(kBodyFixedBytes + 8 * count);
  put_u64(body, static_cast<uint64_t>(entries[first].offset));
  put_u32(body, static_cast<uint32_t>(entries[first].epoch));
  put_u32(body, static_cast<uint32_t>(count));
  for (size_t i = first; i < first + count; ++i) {
    FL_ASSERT(entries[i].offset == entries[first].offset + static_cast<int64_t>(i - first) &&
                  entries[i].epoch == entries[first].epoch && "a batch is contiguous and of one epoch",
              entries[i].offset, entries[i].epoch, entries[first].offset, entries[first].epoch);
    put_u64(body, entries[i].record_id);
  }
  std::string out;
  out.reserve(kHeaderBytes + body.size());
  put_u32(out, static_cast<uint32_t>(body.size()));
  put_u64(out, fnv1a(body, fnv1a(std::string_view(out).substr(0, 4))));
  out += body;
  return out;
}

// --- checkpoints --------------------------------------------------------------------------
constexpr const char* kCheckpointVersion = "0";

std::string offset_checkpoint_text(int64_t value) { return fmt::format("{}\n{}\n", kCheckpointVersion, value); }

std::string epoch_checkpoint_text(const std::vector<EpochStart>& epochs) {
  std::string out = fmt::format("{}\n{}\n", kCheckpointVersion, epochs.size());
  for (const EpochStart& e : epochs) out += fmt::format("{} {}\n", e.epoch, e.start_offset);
  return out;
}

// Splits "a\nb\n" into {"a", "b"}; nullopt unless every line ends with '\n'.
std::optional<std::vector<std::string_view>> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

template <typename T>
std::optional<T> parse_int(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::vector<EpochStart>> parse_epoch_checkpoint(const std::string& bytes) {
  auto lines = lines_of(bytes);
  if (!lines || lines->size() < 2 || (*lines)[0] != kCheckpointVersion) return std::nullopt;
  auto n = parse_int<size_t>((*lines)[1]);
  if (!n || lines->size() != 2 + *n) return std::nullopt;
  std::vector<EpochStart> out;
  for (size_t i = 0; i < *n; ++i) {
    std::string_view line = (*lines)[2 + i];
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto epoch = parse_int<Epoch>(line.substr(0, sp));
    auto start = parse_int<int64_t>(line.substr(sp + 1));
    if (!epoch || !start) return std::nullopt;
    out.push_back({*epoch, *start});
  }
  return out;
}

// --- the leader-epoch cache (Kafka's LeaderEpochFileCache) --------------------------------

// assign: nothing if `epoch` is the latest and start_offset is not below its start; else
// removes from the end every entry with epoch >= `epoch` or start >= start_offset and
// appends the new one. Returns the lowest start offset added or removed, if anything changed.
std::optional<int64_t> cache_assign(std::vector<EpochStart>& epochs, Epoch epoch, int64_t start_offset) {
  if (!epochs.empty() && epochs.back().epoch == epoch && start_offset >= epochs.back().start_offset) {
    return std::nullopt;
  }
  int64_t lowest = start_offset;
  while (!epochs.empty() && (epochs.back().epoch >= epoch || epochs.back().start_offset >= start_offset)) {
    lowest = std::min(lowest, epochs.back().start_offset);
    epochs.pop_back();
  }
  epochs.push_back({epoch, start_offset});
  return lowest;
}

// truncateFromEnd: removes every entry starting at or after end_offset. Returns how many.
uint32_t cache_truncate_from_end(std::vector<EpochStart>& epochs, int64_t end_offset) {
  uint32_t removed = 0;
  while (!epochs.empty() && epochs.back().start_offset >= end_offset) {
    epochs.pop_back();
    ++removed;
  }
  return removed;
}

// truncateFromStart: entries starting at or before start_offset collapse into one, the last
// of them, moved to start at start_offset.
void cache_truncate_from_start(std::vector<EpochStart>& epochs, int64_t start_offset) {
  size_t covered = 0;  // entries with start <= start_offset
  while (covered < epochs.size() && epochs[covered].start_offset <= start_offset) ++covered;
  if (covered == 0) return;
  const Epoch last = epochs[covered - 1].epoch;
  epochs.erase(epochs.begin(), epochs.begin() + static_cast<std::ptrdiff_t>(covered - 1));
  epochs.front() = {last, start_offset};
}

}  // namespace

LogConfig LogConfig::from(const ReplicationConfig& c) {
  LogConfig out;
  out.segment_bytes = c.segment_bytes;
  out.segment_ms = c.segment_ms;
  out.flush_on_append = c.flush_on_append;
  out.hw_checkpoint_interval = c.hw_checkpoint_interval;
  out.recovery_point_checkpoint_interval = c.recovery_point_checkpoint_interval;
  return out;
}

// --- file names and format, for checkers --------------------------------------------------

std::string PartitionLog::directory(PartitionId p) { return fmt::format("p{}/", p); }
std::string PartitionLog::segment_file(PartitionId p, int64_t base) {
  FL_ASSERT(base >= 0, base);
  return fmt::format("p{}/{:020d}.log", p, base);
}
std::string PartitionLog::leader_epoch_file(PartitionId p) { return directory(p) + "leader-epoch-checkpoint"; }
std::string PartitionLog::high_watermark_file(PartitionId p) { return directory(p) + "high-watermark-checkpoint"; }
std::string PartitionLog::recovery_point_file(PartitionId p) {
  return directory(p) + "recovery-point-offset-checkpoint";
}
std::string PartitionLog::log_start_offset_file(PartitionId p) { return directory(p) + "log-start-offset-checkpoint"; }
std::string PartitionLog::clean_shutdown_file(PartitionId p) { return directory(p) + "clean_shutdown"; }

std::optional<PartitionId> PartitionLog::partition_of(const std::string& file) {
  const size_t slash = file.find('/');
  if (slash == std::string::npos || slash < 2 || file[0] != 'p') return std::nullopt;
  return parse_int<PartitionId>(std::string_view(file).substr(1, slash - 1));
}

std::optional<int64_t> PartitionLog::segment_base(const std::string& file) {
  // "p<digits>/<20 digits>.log", nothing else (not the ".log.tmp" of a rewrite).
  if (!partition_of(file)) return std::nullopt;
  const size_t slash = file.find('/');
  const std::string_view name = std::string_view(file).substr(slash + 1);
  if (name.size() != 20 + 4 || !name.ends_with(".log")) return std::nullopt;
  const std::string_view digits = name.substr(0, 20);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return parse_int<int64_t>(digits);
}

std::optional<int64_t> PartitionLog::parse_offset_checkpoint(const std::string& bytes) {
  auto lines = lines_of(bytes);
  if (!lines || lines->size() != 2 || (*lines)[0] != kCheckpointVersion) return std::nullopt;
  return parse_int<int64_t>((*lines)[1]);
}

PartitionLog::Scan PartitionLog::scan_segment(std::string_view bytes, std::optional<int64_t> base) {
  Scan out;
  out.end_offset = base.value_or(-1);
  uint64_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    const uint64_t length = get_u32(bytes, pos);
    if (length < kBodyFixedBytes || length > bytes.size() - pos - kHeaderBytes) break;
    const std::string_view body = bytes.substr(pos + kHeaderBytes, length);
    if (get_u64(bytes, pos + 4) != fnv1a(body, fnv1a(bytes.substr(pos, 4)))) break;
    const auto base_offset = static_cast<int64_t>(get_u64(body, 0));
    const auto epoch = static_cast<Epoch>(get_u32(body, 8));
    const uint32_t count = get_u32(body, 12);
    if (count == 0 || length != kBodyFixedBytes + 8 * uint64_t{count} || epoch < 0 || base_offset < 0) break;
    if (out.end_offset >= 0 && base_offset != out.end_offset) break;
    out.batches.push_back({pos, base_offset, count, epoch});
    for (uint32_t i = 0; i < count; ++i) {
      out.entries.push_back({base_offset + i, epoch, get_u64(body, kBodyFixedBytes + 8 * uint64_t{i})});
    }
    out.end_offset = base_offset + count;
    pos += kHeaderBytes + length;
  }
  out.valid_bytes = pos;
  return out;
}

std::vector<LogEntry> PartitionLog::decode_segment(const std::string& bytes) {
  return scan_segment(bytes, std::nullopt).entries;
}

std::optional<int64_t> PartitionLog::end_offset_of(const std::map<int64_t, std::string>& segments) {
  if (segments.empty()) return std::nullopt;
  int64_t end = segments.begin()->first;
  for (const auto& [base, bytes] : segments) {
    if (base != end) break;  // a gap (or an overlap): recovery would drop this segment
    const Scan scan = scan_segment(bytes, base);
    end = scan.end_offset;
    if (scan.valid_bytes != bytes.size()) break;  // a bad tail: recovery cuts here
  }
  return end;
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
  const auto n = static_cast<size_t>(std::min<int64_t>(end - from, max_records));
  const auto first = entries_.begin() + (from - log_start_);
  return std::vector<LogEntry>(first, first + static_cast<std::ptrdiff_t>(n));
}

std::optional<LogEntry> PartitionLog::entry_at(int64_t offset) const {
  if (offset < log_start_ || offset >= log_end_offset()) return std::nullopt;
  return entries_[static_cast<size_t>(offset - log_start_)];
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
  ctx_.disk().write(file, std::string());  // creates it; the directory entry is durable at once
  segments_.emplace(base, new_segment(base));
  // F1: the rolled segment is flushed in the background; the recovery point follows.
  if (recovery_point_ < base) flush_requests_.send(base);
  cover(ctx_, Mark::kSegmentRolled);
  ctx_.trace("log-roll", {{"partition", partition_}, {"segment", old_base}, {"next", base}, {"why", why}});
}

void PartitionLog::append_batch_locked(const std::vector<LogEntry>& batch) {
  maybe_roll_locked(batch.size());
  Segment& s = active();  // stable: segments only change under mu_, which we hold
  const size_t first = entries_.size();
  const std::string blob = encode_batch(batch, 0, batch.size());
  ctx_.disk().append(file_of(s), blob);
  // The batch is in the page cache: now memory may show it.
  s.batches.push_back({s.file_bytes, batch.front().offset, static_cast<uint32_t>(batch.size()), batch.front().epoch});
  s.file_bytes += blob.size();
  s.end_offset += static_cast<int64_t>(batch.size());
  if (!s.first_append_at) s.first_append_at = ctx_.now();
  entries_.insert(entries_.end(), batch.begin(), batch.end());
  FL_ASSERT(entries_.size() == first + batch.size() && s.end_offset == log_end_offset(), s.end_offset,
            log_end_offset());
}

int64_t PartitionLog::append_as_leader(Epoch epoch, const std::vector<uint64_t>& record_ids) {
  FL_ASSERT(!record_ids.empty(), partition_);
  Lock lock(mu_);
  require_open("append_as_leader");
  FL_ASSERT(epoch >= 0 && epoch >= latest_epoch() && "S9: a leader appends in an epoch no older than any it knows",
            partition_, epoch, latest_epoch());
  const int64_t base = log_end_offset();
  if (epoch != latest_epoch()) assign_locked(epoch, base);  // Kafka's maybeAssignEpochStartOffset
  std::vector<LogEntry> batch;
  batch.reserve(record_ids.size());
  for (size_t i = 0; i < record_ids.size(); ++i) {
    batch.push_back({base + static_cast<int64_t>(i), epoch, record_ids[i]});
  }
  append_batch_locked(batch);
  if (config_.flush_on_append) advance_recovery_point(fsync_segments(log_end_offset()));
  check_invariants(base);
  return base;
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
    append_batch_locked(std::vector<LogEntry>(entries.begin() + static_cast<std::ptrdiff_t>(i),
                                              entries.begin() + static_cast<std::ptrdiff_t>(j)));
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

// --- truncation ---------------------------------------------------------------------------

void PartitionLog::remove_segments_above_locked(int64_t offset) {
  // Highest first: a crash part-way leaves a contiguous prefix of segments.
  while (!segments_.empty() && segments_.rbegin()->first > offset) {
    const std::string file = file_of(segments_.rbegin()->second);
    const bool removed = ctx_.disk().remove(file);
    FL_ASSERT(removed && "a segment file vanished", file);
    segments_.erase(std::prev(segments_.end()));
  }
}

// Cuts segment `s` (base <= offset <= end) to [base, offset), durably. At a batch boundary
// that is an ftruncate and an fsync. Inside a batch the segment is rewritten with the batch's
// kept prefix as a batch of its own, through write_atomically: a truncate-then-append would
// leave the prefix missing if the process died between the two.
void PartitionLog::cut_segment_locked(Segment& s, int64_t offset) {
  FL_ASSERT(s.base_offset <= offset && offset <= s.end_offset, s.base_offset, offset, s.end_offset);
  if (offset == s.end_offset) return;
  Disk& disk = ctx_.disk();
  const std::string file = file_of(s);
  size_t b = 0;
  while (s.batches[b].base_offset + s.batches[b].count <= offset) ++b;
  const Batch cut = s.batches[b];
  if (cut.base_offset == offset) {
    disk.truncate(file, cut.position);
    s.batches.resize(b);
    s.file_bytes = cut.position;
  } else {
    std::string content;
    for (size_t i = 0; i < b; ++i) {
      content += encode_batch(entries_, static_cast<size_t>(s.batches[i].base_offset - log_start_), s.batches[i].count);
    }
    FL_ASSERT(content.size() == cut.position, content.size(), cut.position);
    const auto kept = static_cast<size_t>(offset - cut.base_offset);
    content += encode_batch(entries_, static_cast<size_t>(cut.base_offset - log_start_), kept);
    const uint64_t bytes = content.size();
    disk.write_atomically(file, std::move(content));
    s.batches.resize(b);
    s.batches.push_back({cut.position, cut.base_offset, static_cast<uint32_t>(kept), cut.epoch});
    s.file_bytes = bytes;
  }
  s.end_offset = offset;
  s.id = next_segment_id_++;  // a flush that started before must not count for this content
  if (s.end_offset == s.base_offset) s.first_append_at.reset();
  // Durable before returning: a power loss must never bring the cut entries back under
  // entries appended after them (the disk may revert an unsynced truncation).
  if (cut.base_offset == offset) disk.fsync(file);
}

TruncationReport PartitionLog::truncate_to(int64_t offset) {
  Lock lock(mu_);
  require_open("truncate_to");
  TruncationReport report;
  report.log_end_offset_before = log_end_offset();
  report.log_end_offset_after = log_end_offset();
  report.high_watermark_before = hw_;
  if (offset >= log_end_offset()) {
    // Kafka's UnifiedLog.truncateTo has no effect on the data here, but "always truncate
    // epoch cache since we may have a conflicting epoch entry at the end of the log from the
    // leader": a broker that became leader and appended nothing keeps (epoch, LEO), and its
    // fetches would diverge forever without making progress.
    std::vector<EpochStart> epochs = epochs_;
    if (cache_truncate_from_end(epochs, log_end_offset()) > 0) {
      write_epoch_checkpoint(epochs);
      epochs_ = std::move(epochs);
      check_invariants(log_end_offset());
    }
    return report;
  }
  FL_ASSERT(offset >= 0, partition_, offset);
  if (offset < log_start_) {
    truncate_fully_locked(offset);  // Kafka's truncateTo below the first segment
  } else {
    // S12: the durable data is about to shrink; its checkpoint goes down first.
    recovery_point_ = std::min(recovery_point_, offset);
    checkpoint_recovery_point();
    remove_segments_above_locked(offset);
    cut_segment_locked(active(), offset);
    std::vector<EpochStart> epochs = epochs_;
    if (cache_truncate_from_end(epochs, offset) > 0) write_epoch_checkpoint(epochs);
    entries_.resize(static_cast<size_t>(offset - log_start_));
    epochs_ = std::move(epochs);
    hw_ = std::min(hw_, offset);
    recovery_point_ = std::min(recovery_point_, offset);
  }
  report.truncated = true;
  report.log_end_offset_after = log_end_offset();
  report.high_watermark_lowered = hw_ < report.high_watermark_before;
  check_segments();
  check_invariants(log_end_offset());
  ctx_.trace("log-truncate", {{"partition", partition_},
                              {"from", report.log_end_offset_before},
                              {"to", report.log_end_offset_after},
                              {"hw_lowered", report.high_watermark_lowered}});
  return report;
}

void PartitionLog::truncate_fully_and_start_at(int64_t offset) {
  Lock lock(mu_);
  require_open("truncate_fully_and_start_at");
  const int64_t leo_before = log_end_offset();
  truncate_fully_locked(offset);
  check_segments();
  check_invariants(log_start_);
  ctx_.trace("log-truncate-fully", {{"partition", partition_}, {"from", leo_before}, {"start", offset}});
}

void PartitionLog::truncate_fully_locked(int64_t offset) {
  FL_ASSERT(offset >= 0, partition_, offset);
  Disk& disk = ctx_.disk();
  // S12: every segment goes. Until the new one exists a prefix of the old ones may be all
  // that is left, and then only the new one, which may start below the old log start.
  recovery_point_ = std::min({recovery_point_, log_start_, offset});
  checkpoint_recovery_point();
  remove_segments_above_locked(-1);
  disk.write(segment_file(partition_, offset), std::string());
  segments_.emplace(offset, new_segment(offset));
  if (!epochs_.empty()) write_epoch_checkpoint({});
  if (log_start_checkpointed_ != offset) {
    write_offset_checkpoint(log_start_offset_file(partition_), offset);
    log_start_checkpointed_ = offset;
  }
  entries_.clear();
  epochs_.clear();
  log_start_ = offset;
  hw_ = offset;
  recovery_point_ = offset;  // nothing below it exists, and the new segment's name is durable
  checkpoint_recovery_point();
}

// --- recovery and shutdown ----------------------------------------------------------------

RecoveryReport PartitionLog::recover() {
  Lock lock(mu_);
  FL_ASSERT(!recovered_ && "recover() runs once per process", partition_);
  Disk& disk = ctx_.disk();
  const std::string dir = directory(partition_);
  RecoveryReport report;
  report.clean = disk.exists(clean_shutdown_file(partition_));

  // Checkpoints: whole or absent (F2); absent means the log never wrote one.
  auto read_offset = [&](const std::string& file) -> std::optional<int64_t> {
    auto bytes = disk.read(file);
    if (!bytes) return std::nullopt;
    auto v = parse_offset_checkpoint(*bytes);
    FL_ASSERT(v.has_value() && "a checkpoint is never torn", file, *bytes);
    return v;
  };
  const std::optional<int64_t> log_start_ckpt = read_offset(log_start_offset_file(partition_));
  const int64_t hw_ckpt = read_offset(high_watermark_file(partition_)).value_or(0);
  const int64_t rp_ckpt = read_offset(recovery_point_file(partition_)).value_or(0);
  std::vector<EpochStart> epochs_ckpt;
  if (auto bytes = disk.read(leader_epoch_file(partition_))) {
    auto parsed = parse_epoch_checkpoint(*bytes);
    FL_ASSERT(parsed.has_value() && "a checkpoint is never torn", *bytes);
    epochs_ckpt = std::move(*parsed);
  }
  report.checkpointed_recovery_point = rp_ckpt;

  struct Loaded {
    int64_t base;
    std::string file;
    std::string bytes;
    Scan scan;
  };
  std::vector<Loaded> loaded;
  for (const std::string& file : disk.list(dir)) {
    if (auto base = segment_base(file)) loaded.push_back({*base, file, disk.read(file).value_or(""), {}});
  }

  // Nothing is trusted without the marker; it goes before anything changes.
  if (report.clean) disk.remove(clean_shutdown_file(partition_));
  for (const std::string& file : disk.list(dir)) {
    if (file.ends_with(".tmp")) {
      disk.remove(file);  // an interrupted write_atomically
      cover(ctx_, Mark::kTempCheckpointRemoved);
    }
  }
  if (loaded.empty()) {
    // A fresh disk, or a crash inside truncate_fully_and_start_at between deleting the last
    // segment and creating the new one.
    const int64_t base = log_start_ckpt.value_or(0);
    disk.write(segment_file(partition_, base), std::string());
    loaded.push_back({base, segment_file(partition_, base), std::string(), {}});
  }

  // Segments before `first_region` were fsynced whole (they lie below the recovery point's
  // segment): trusted, and any damage there is a broken S12, asserted. From it on, each
  // batch is re-validated (F3). With the marker everything is trusted.
  size_t first_region = report.clean ? loaded.size() : 0;
  if (!report.clean) {
    for (size_t i = 0; i < loaded.size(); ++i) {
      if (loaded[i].base <= rp_ckpt) first_region = i;
    }
  }
  size_t keep = loaded.size();
  std::optional<uint64_t> cut_at;  // the valid bytes of loaded[keep - 1], if it must be cut
  int64_t leo = loaded.front().base;
  for (size_t i = 0; i < loaded.size(); ++i) {
    Loaded& l = loaded[i];
    if (i > 0 && l.base != leo) {
      FL_ASSERT(i > first_region && "segments below the recovery point are contiguous", partition_, l.file, leo,
                rp_ckpt, report.clean);
      keep = i;
      break;
    }
    l.scan = scan_segment(l.bytes, l.base);
    leo = l.scan.end_offset;
    if (l.scan.valid_bytes != l.bytes.size()) {
      FL_ASSERT(i >= first_region && "a bad batch below the recovery point: fsynced data was lost", partition_,
                l.file, l.scan.valid_bytes, l.bytes.size(), rp_ckpt, report.clean);
      keep = i + 1;
      cut_at = l.scan.valid_bytes;
      break;
    }
  }
  FL_ASSERT(leo >= rp_ckpt && "S12: the recovery point checkpoint was above the durable data", partition_, leo,
            rp_ckpt, report.clean);
  report.revalidated_from = report.clean ? leo : loaded[first_region].base;

  // Drop what follows the first bad batch: later segments first, highest first (a crash
  // part-way leaves a prefix), then the cut, which the fsyncs below make durable.
  for (size_t j = loaded.size(); j-- > keep;) {
    report.bytes_truncated += loaded[j].bytes.size();
    report.records_dropped += scan_segment(loaded[j].bytes, loaded[j].base).entries.size();
    ++report.segments_deleted;
    disk.remove(loaded[j].file);
  }
  if (cut_at) {
    Loaded& l = loaded[keep - 1];
    report.bytes_truncated += l.bytes.size() - *cut_at;
    disk.truncate(l.file, *cut_at);
  }
  // Make what was re-validated durable before the recovery point may cover it (S12). This
  // is more than Kafka 3.x does (it keeps min(checkpoint, LEO) and flushes later), and it is
  // needed: a kill can leave a truncation unsynced (truncate_to killed between its cut and
  // its fsync), and a later power loss would otherwise bring the cut entries back under a
  // recovery point, or a clean-shutdown marker, that vouched for the shorter file.
  if (!report.clean) {
    for (size_t i = first_region; i < keep; ++i) disk.fsync(loaded[i].file);
  }

  // Memory.
  segments_.clear();
  entries_.clear();
  for (size_t i = 0; i < keep; ++i) {
    Loaded& l = loaded[i];
    Segment s = new_segment(l.base);
    s.batches = std::move(l.scan.batches);
    s.end_offset = l.scan.end_offset;
    s.file_bytes = l.scan.valid_bytes;
    // Batches carry no timestamps: a recovered segment's age for segment_ms starts now.
    if (!s.batches.empty()) s.first_append_at = ctx_.now();
    entries_.insert(entries_.end(), l.scan.entries.begin(), l.scan.entries.end());
    segments_.emplace(l.base, std::move(s));
  }
  // The log start is the first segment's base: a checkpoint above it is only possible from
  // a truncate_fully_and_start_at that crashed before any entry was appended at its offset.
  log_start_ = segments_.begin()->first;
  FL_ASSERT(log_start_ckpt.value_or(0) <= log_start_ || leo == log_start_, partition_, log_start_ckpt.value_or(0),
            log_start_, leo);

  // The epoch cache: the checkpoint's entries below the re-validated region, then one entry
  // per epoch change among the re-validated batches (assign removes whatever they
  // contradict), trimmed to [log start, LEO] (truncateFromStart, truncateFromEnd).
  std::vector<EpochStart> epochs = epochs_ckpt;
  if (!report.clean) {
    cache_truncate_from_end(epochs, report.revalidated_from);
    for (size_t i = first_region; i < keep; ++i) {
      for (const Batch& b : segments_.at(loaded[i].base).batches) {
        if (epochs.empty() || epochs.back().epoch != b.epoch) cache_assign(epochs, b.epoch, b.base_offset);
      }
    }
  }
  cache_truncate_from_start(epochs, log_start_);
  cache_truncate_from_end(epochs, leo);
  for (const EpochStart& e : epochs_ckpt) {
    if (std::find(epochs.begin(), epochs.end(), e) == epochs.end()) ++report.epochs_trimmed;
  }
  if (epochs != epochs_ckpt) write_epoch_checkpoint(epochs);
  epochs_ = std::move(epochs);

  hw_ = std::clamp(hw_ckpt, log_start_, leo);
  if (report.clean) {
    FL_ASSERT(rp_ckpt == leo && "a clean shutdown flushed everything", partition_, rp_ckpt, leo);
  }
  recovery_point_ = leo;  // everything is fsynced: trusted, or re-validated and synced above
  hw_checkpointed_ = hw_ckpt;
  recovery_point_checkpointed_ = rp_ckpt;
  log_start_checkpointed_ = log_start_ckpt.value_or(0);
  if (log_start_checkpointed_ != log_start_) {
    // Keep the checkpoint equal to the first segment's base, so that a later crash with no
    // segment left restarts at the right offset.
    write_offset_checkpoint(log_start_offset_file(partition_), log_start_);
    log_start_checkpointed_ = log_start_;
  }
  recovered_ = true;

  report.log_start_offset = log_start_;
  report.log_end_offset = leo;
  report.high_watermark = hw_;
  report.recovery_point = recovery_point_;
  if (ctx_.incarnation() > 0) {  // a restart, not the first boot on an empty disk
    cover(ctx_, report.clean ? Mark::kRecoveryClean : Mark::kRecoveryUnclean);
    if (!report.clean && report.checkpointed_recovery_point > 0) cover(ctx_, Mark::kRecoveryFromCheckpoint);
    if (report.bytes_truncated > 0) cover(ctx_, Mark::kRecoveryDroppedTail);
  }
  check_segments();
  check_invariants(log_start_);
  ctx_.trace("log-recovered", {{"partition", partition_},
                               {"clean", report.clean},
                               {"log_start", log_start_},
                               {"leo", leo},
                               {"hw", hw_},
                               {"recovery_point", recovery_point_},
                               {"revalidated_from", report.revalidated_from},
                               {"bytes_truncated", report.bytes_truncated},
                               {"segments_deleted", report.segments_deleted}});
  return report;
}

void PartitionLog::shutdown_cleanly() {
  Lock lock(mu_);
  require_open("shutdown_cleanly");
  advance_recovery_point(fsync_segments(log_end_offset()));
  FL_ASSERT(recovery_point_ == log_end_offset() && "a clean shutdown flushes everything", partition_,
            recovery_point_, log_end_offset());
  write_epoch_checkpoint(epochs_);
  write_offset_checkpoint(log_start_offset_file(partition_), log_start_);
  log_start_checkpointed_ = log_start_;
  checkpoint_high_watermark();
  checkpoint_recovery_point();
  // Last: the marker promises that everything above is durable.
  ctx_.disk().write(clean_shutdown_file(partition_), std::string());
  closed_ = true;
  cover(ctx_, Mark::kCleanShutdownMarkerWritten);
  ctx_.trace("log-clean-shutdown", {{"partition", partition_}, {"leo", log_end_offset()}, {"hw", hw_}});
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
      position += kHeaderBytes + kBodyFixedBytes + 8 * uint64_t{b.count};
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
    FL_ASSERT(e.epoch >= 0 && log_start_ <= e.start_offset && e.start_offset <= leo &&
                  "A2: epoch cache entries lie in [log start, LEO]",
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
