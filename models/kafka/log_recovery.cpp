#include "models/kafka/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "models/kafka/log_format.h"
#include "models/kafka/marks.h"
#include "sim/assert.h"

namespace faultline::kafka {

using namespace log_format;

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

// Cuts segment `s` (base <= offset <= end) to [base, offset). At a batch boundary that is an
// ftruncate in the page cache, not fsynced (F5, as Kafka's LogSegment.truncateTo): a power
// loss before the next fsync of the file may bring the cut batches back, or keep part of what
// was appended after the cut; recovery re-validates either (the recovery point checkpoint was
// lowered first). Inside a batch the segment is rewritten with the batch's kept prefix as a
// batch of its own, through write_atomically: a truncate-then-append would leave the prefix
// missing if the process died between the two. (Kafka never cuts inside a batch: it
// truncates at the start of the batch holding the offset.)
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
    disk.write_atomically(file, std::move(content));  // durable: no unsynced cut left
    s.unsynced_cut = false;
    s.batches.resize(b);
    s.batches.push_back({cut.position, cut.base_offset, static_cast<uint32_t>(kept), cut.epoch});
    s.file_bytes = bytes;
  }
  s.end_offset = offset;
  s.id = next_segment_id_++;  // a flush that started before must not count for this content
  if (s.end_offset == s.base_offset) s.first_append_at.reset();
  if (cut.base_offset == offset) {
    s.unsynced_cut = true;
    cover(ctx_, Mark::kTruncationUnsynced);
  }
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
    if (!producers_.producers().empty()) cover(ctx_, Mark::kProducerStateRebuilt);
    rebuild_producer_state_locked();  // B6: Kafka's ProducerStateManager.truncateAndReload
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

void PartitionLog::restore_epoch_history(const std::vector<EpochStart>& history) {
  Lock lock(mu_);
  require_open("restore_epoch_history");
  FL_ASSERT(config_.epochs_below_local_start && log_end_offset() == log_start_ && epochs_.empty() &&
                "only an empty tiered log takes an archived epoch history",
            partition_, log_start_, log_end_offset(), epochs_.size());
  if (history.empty()) return;
  FL_ASSERT(history.back().start_offset <= log_start_, partition_, history.back().start_offset, log_start_);
  write_epoch_checkpoint(history);
  epochs_ = history;
  check_invariants(log_start_);
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
  producers_.clear();
  epochs_.clear();
  log_start_ = offset;
  hw_ = offset;
  recovery_point_ = offset;  // nothing below it exists, and the new segment's name is durable
  checkpoint_recovery_point();
}

// --- retention -----------------------------------------------------------------------------

int64_t PartitionLog::delete_segments_below(int64_t below) {
  Lock lock(mu_);
  require_open("delete_segments_below");
  const int64_t limit = std::min(below, hw_);
  std::vector<int64_t> doomed;
  for (auto it = segments_.begin(); std::next(it) != segments_.end(); ++it) {  // never the active one
    if (it->second.end_offset > limit) break;
    doomed.push_back(it->first);
  }
  if (doomed.empty()) return log_start_;
  const int64_t from = log_start_;
  for (int64_t base : doomed) {
    const std::string file = segment_file(partition_, base);
    const bool removed = ctx_.disk().remove(file);
    FL_ASSERT(removed && "a segment file vanished", file);
    segments_.erase(base);
  }
  const int64_t start = segments_.begin()->first;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(start - log_start_));
  log_start_ = start;
  recovery_point_ = std::max(recovery_point_, start);  // nothing below the log start exists
  std::vector<EpochStart> epochs = epochs_;
  if (!config_.epochs_below_local_start) cache_truncate_from_start(epochs, start);
  if (epochs != epochs_) {
    write_epoch_checkpoint(epochs);
    epochs_ = std::move(epochs);
  }
  write_offset_checkpoint(log_start_offset_file(partition_), start);
  log_start_checkpointed_ = start;
  check_segments();
  check_invariants(log_start_);
  cover(ctx_, Mark::kLogStartMoved);
  ctx_.trace("log-retention", {{"partition", partition_}, {"from", from}, {"log_start", start}});
  return start;
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
    disk.truncate(l.file, *cut_at);  // not fsynced (F3), like every truncation (F5)
  }
  // F3, as Kafka's LogLoader: what was re-validated is not fsynced, and the recovery point
  // stays at min(checkpoint, LEO) below. After a kill the re-validated tail is in the page
  // cache only, so a power loss before the next flush may still lose it (or bring back what
  // the cut above removed); the next recovery re-validates from the same checkpoint.

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
    // F5: the last segment may carry a cut that the crashed process never fsynced (or the
    // one made just above): treat it as such until it is fsynced.
    s.unsynced_cut = !report.clean && ctx_.incarnation() > 0 && i + 1 == keep;
    segments_.emplace(l.base, std::move(s));
  }
  rebuild_producer_state_locked();  // B6: Kafka's LogLoader rebuilds producer state after recovery
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
  if (!config_.epochs_below_local_start) cache_truncate_from_start(epochs, log_start_);
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
  // F3: min(checkpoint, LEO), and not below the log start (nothing below it exists; the
  // checkpoint may lag a retention or a full truncation).
  recovery_point_ = std::clamp(rp_ckpt, log_start_, leo);
  if (!report.clean && recovery_point_ < leo && ctx_.incarnation() > 0) cover(ctx_, Mark::kRecoveredTailUnsynced);
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
  // An active segment emptied by an unsynced truncation holds no offset for the fsyncs above
  // to cover; without this a power loss after the marker could bring its cut batches back
  // under a marker that vouches for the empty file (F5).
  ctx_.disk().fsync(file_of(active()));
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

}  // namespace faultline::kafka
