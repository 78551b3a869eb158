// models/kafka/log.h
// One replica's log of one partition (rules A2, A3, C7, C8, F1-F3): entries in memory, the
// same entries in segment files on the node's disk, the leader-epoch cache, and the
// checkpoints that let a restarted process find its way back.
//
// Invariants, asserted (FL_ASSERT, always on) on exit of every mutation:
//   (1) offsets are contiguous: the entries are exactly [log start offset, LEO);
//   (2) epochs never decrease along the log (S9);
//   (3) the epoch cache is strictly increasing in epoch and in start offset, every start
//       offset lies in [log start, LEO], and it agrees with the entries: the epoch of the
//       entry at o is the epoch of the last cache entry starting at or before o. Only an
//       entry starting at the LEO may have no entries yet (a new leader's epoch, A3);
//   (4) log start <= HW <= LEO (S5), and the recovery point <= LEO;
//   (5) S12: the recovery point, in memory and in its checkpoint, never exceeds the fsynced
//       LEO. The model cannot see the durable view, so this holds by construction (below);
//       a checker verifies it against Disk ground truth with decode_segment/end_offset_of.
//
// Files, under directory(p) = "p<partition>/":
//   <base offset, 20 digits>.log   a segment: a sequence of batches. Segments are contiguous:
//                                  each starts where the previous one ends; the last one is
//                                  the active segment, the only one appended to.
//   leader-epoch-checkpoint        "0\n<n>\n" then "<epoch> <start offset>\n" per entry
//   high-watermark-checkpoint      "0\n<offset>\n"  (also recovery-point-offset-checkpoint
//                                  and log-start-offset-checkpoint)
//   clean_shutdown                 present only between shutdown_cleanly() and the next
//                                  recover()
//   *.tmp                          left by a write_atomically that a crash interrupted;
//                                  recover() removes them
// A batch is one append's entries, all of one epoch, written with one Disk::append:
//   u32 body length | u64 checksum of the body and its length (log_format.h: batch_checksum)
//   | body = i64 base offset, i32 epoch,
//   u32 count, count x record           (little endian)
//   record = u64 record id, u64 producer id, u16 producer epoch, u32 sequence, u32 base sequence
//            (B6: Kafka keeps these in each batch's header; the model keeps them per record,
//            because a follower writes a fetched run of one leader epoch as one batch)
// so a torn tail after a power loss fails its length or checksum and is detected.
//
// Durability and the recovery point (F1, F2, S12):
// - Appends reach the page cache only. Each roll queues a flush of everything below the new
//   segment's base; the flusher fiber fsyncs those segments, and only when the fsyncs have
//   returned does the recovery point move, to the end each segment had when its fsync
//   started (the disk makes exactly that snapshot durable), and only if no truncation touched
//   the segment meanwhile. With flush_on_append every append is fsynced before it returns.
// - Nothing ever lowers the durable data below the recovery point's checkpoint without first
//   lowering that checkpoint: truncate_to and truncate_fully_and_start_at write the lowered
//   recovery point (write_atomically) before they touch a segment file. So the recovery
//   point checkpoint never exceeds the durable LEO, and the data below it is exactly what
//   was fsynced, which is why recovery may trust it without re-reading its batches' epochs.
// - Truncations are not fsynced (F5, Kafka's LogSegment.truncateTo): the recovery point
//   checkpoint goes down first, then the segment is cut in the page cache. A power loss
//   before the file's next fsync may bring the cut batches back or keep part of what was
//   appended after the cut (the disk's rule for a file rewritten since its fsync); either is
//   a whole, valid log above the recovery point, which recovery re-validates. Kafka writes
//   the recovery point checkpoint after the cut (LogManager.truncateTo); the model writes it
//   before, so that the checkpoint never exceeds the durable data (S12) even inside that
//   window, where Kafka's loader relies on taking min(checkpoint, LEO). One more fsync
//   stands in for the filesystem: a roll fsyncs a segment cut since its last fsync before it
//   creates the next segment. The model's disk draws every file's power-loss outcome on its
//   own, so without it a reverted cut (old batches) could come back under a newer segment's
//   data, a log no version ever had; a journaling filesystem (ext4, data=ordered) commits
//   the truncation before the blocks of a file created after it, so Kafka never sees that.
// - Checkpoints are written with write_atomically (F2). The epoch cache on every change,
//   before the data it describes (as Kafka assigns an epoch before appending the batch); the
//   HW and recovery point every hw_checkpoint_interval / recovery_point_checkpoint_interval
//   by the checkpointer fiber, when they changed.
//
// Concurrency: mutations block on the disk and are serialized by one Mutex, so two fibers
// (two produce handlers, a produce and a truncation) never interleave. In-memory state
// changes only when the disk call it depends on has returned (one deliberate exception: a
// truncation lowers the recovery point before writing its checkpoint, which only makes it
// more conservative), so a fiber killed inside a call leaves the disk as the disk contract
// says (that call had no effect) and nothing else. Reads never block: they serve memory,
// which never shows an entry before its batch is in the page cache (a truncation removes
// entries from memory once its disk calls have returned).
//
// Recovery (F3), recover(): with the clean-shutdown marker everything is trusted. Without it,
// segments below the one holding the checkpointed recovery point are trusted (they were
// fsynced, asserted), and from that segment on every batch is re-validated; the segments
// after the first bad or partial batch (or a gap between segments) are deleted, and the file
// is cut there, without an fsync (Kafka's LogLoader). The epoch cache is rebuilt from the
// re-validated batches and trimmed to [log start, LEO], HW = min(checkpoint, LEO), and the
// recovery point stays at min(checkpoint, LEO): after a kill the re-validated tail is still
// in the page cache only, and a power loss before the next flush can lose it.
// Batches carry no timestamps, so a recovered segment's age (segment_ms) starts at recovery.
//
// Producer state (B6, producer_state.h): updated on every append, rebuilt from the entries
// after a truncation and after recovery; a full truncation clears it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "models/kafka/config.h"
#include "models/kafka/producer_state.h"
#include "models/kafka/types.h"
#include "sim/node_context.h"
#include "sim/sync.h"

namespace faultline::kafka {

struct LogConfig {
  // Roll the active segment before an append that would take it past this many bytes, each
  // record counted as kRecordAccountingBytes (segment.bytes, scaled to this model).
  uint64_t segment_bytes = 64 * 1024;
  // Roll the active segment on an append once its first batch is older than this (segment.ms).
  Duration segment_ms = Duration::seconds(30);
  // Fsync every append before it returns, and advance the recovery point with it.
  bool flush_on_append = false;
  // How often the checkpointer writes the HW and the recovery point (if they changed).
  Duration hw_checkpoint_interval = Duration::seconds(5);
  Duration recovery_point_checkpoint_interval = Duration::seconds(60);
  // Tiered storage (H): the local log start is not the log start. Local deletions (H4, and a
  // follower following its leader's local start) and recovery leave the leader-epoch cache
  // alone, as Kafka's UnifiedLog.maybeIncrementLocalLogStartOffset does; Kafka truncates the
  // cache from the start only at the log start offset proper. Without this a leader whose
  // local log starts above an epoch boundary answers an older epoch with its first cached
  // start (LeaderEpochFileCache.endOffsetFor's floorEntry == null case), and a follower keeps
  // a divergent prefix below it (C3).
  bool epochs_below_local_start = false;

  static LogConfig from(const ReplicationConfig& c);
};

// One entry of the leader-epoch cache: `epoch` starts at `start_offset` (A2).
struct EpochStart {
  Epoch epoch = kNoEpoch;
  int64_t start_offset = 0;
  bool operator==(const EpochStart&) const = default;
};

// What recover() found and did, for traces and tests.
struct RecoveryReport {
  bool clean = true;                  // the clean-shutdown marker was there
  int64_t log_start_offset = 0;
  int64_t log_end_offset = 0;
  int64_t high_watermark = 0;
  int64_t recovery_point = 0;
  int64_t checkpointed_recovery_point = 0;  // as read from its checkpoint (0 if none)
  int64_t revalidated_from = 0;       // base of the first re-validated segment (LEO if clean)
  uint64_t bytes_truncated = 0;       // cut from the segment with the first bad batch, plus
                                      // every byte of the segments deleted after it
  uint64_t records_dropped = 0;       // well-formed records among those bytes
  uint32_t segments_deleted = 0;
  uint32_t epochs_trimmed = 0;        // checkpointed cache entries the recovered cache lacks
};

// What truncate_to did. The HW is lowered when it was above the truncation point, which a
// follower must never need except in a full truncation (C7, C8): the broker or a checker can
// flag it.
struct TruncationReport {
  bool truncated = false;             // false: offset >= LEO, no entry dropped (as in Kafka)
  int64_t log_end_offset_before = 0;
  int64_t log_end_offset_after = 0;
  int64_t high_watermark_before = 0;
  bool high_watermark_lowered = false;
};

// B6: an idempotent producer's batch header.
struct ProducerBatch {
  ProducerId producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
};

// What an idempotent leader append did.
struct LeaderAppend {
  Errc error = Errc::kNone;  // kOutOfOrderSequence or kInvalidProducerEpoch: nothing appended
  int64_t base_offset = -1;  // the new batch's, or the original's for a duplicate
  bool duplicate = false;    // a resend of a retained batch: nothing appended
  bool unknown_producer = false;
};

// A segment as the log knows it (for the tier archiver and tests).
struct SegmentInfo {
  int64_t base_offset = 0;
  int64_t end_offset = 0;  // exclusive
  bool active = false;
  bool operator==(const SegmentInfo&) const = default;
};

class PartitionLog {
 public:
  static constexpr uint64_t kRecordAccountingBytes = 1024;

  PartitionLog(NodeContext& ctx, PartitionId partition, LogConfig config);
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // --- lifecycle: blocking, from a fiber of this node --------------------------------
  // Loads checkpoints and segments (F3, see above). Call once, before anything else.
  RecoveryReport recover();
  // Spawns the flusher and the checkpointer; they die with the node. After recover().
  void start_background();
  // Fsyncs everything, writes every checkpoint and the clean-shutdown marker. The log
  // accepts no mutation afterwards; the process is expected to stop.
  void shutdown_cleanly();

  // --- state: non-blocking ------------------------------------------------------------
  PartitionId partition() const { return partition_; }
  int64_t log_start_offset() const { return log_start_; }
  int64_t log_end_offset() const { return log_start_ + static_cast<int64_t>(entries_.size()); }
  int64_t high_watermark() const { return hw_; }
  // F1: the first offset not known to be fsynced.
  int64_t recovery_point() const { return recovery_point_; }
  bool recovered() const { return recovered_; }
  bool closed() const { return closed_; }
  std::vector<SegmentInfo> segments() const;

  // --- leader-epoch cache -------------------------------------------------------------
  // kNoEpoch if the cache is empty.
  Epoch latest_epoch() const { return epochs_.empty() ? kNoEpoch : epochs_.back().epoch; }
  const std::vector<EpochStart>& epoch_cache() const { return epochs_; }
  // Kafka's LeaderEpochFileCache.endOffsetFor as UnifiedLog.endOffsetForEpoch exposes it:
  // - requested == latest cached epoch: (requested, LEO);
  // - otherwise, with E' the largest cached epoch <= requested and N the start offset of the
  //   first cached epoch > requested: (E', N);
  // - requested older than every cached epoch: (requested, start of the first cached
  //   epoch), as Kafka does: the follower then truncates to min(that, its own end for it);
  // - nullopt (Kafka's UNDEFINED_EPOCH_OFFSET) if requested is kNoEpoch, is newer than every
  //   cached epoch, or the cache is empty.
  std::optional<EpochEndOffset> end_offset_for_epoch(Epoch requested) const;
  // Kafka's LeaderEpochFileCache.assign: nothing if `epoch` is the latest epoch and
  // start_offset is not below its start; otherwise removes from the end every entry with
  // epoch >= `epoch` or start >= start_offset, appends (epoch, start_offset) and checkpoints
  // the cache. Blocking. Requires log start <= start_offset <= LEO.
  void assign_epoch(Epoch epoch, int64_t start_offset);
  // A3 for a new leader: assign_epoch(epoch, LEO) with no append slipping in between.
  // Returns the LEO, the new epoch's start offset (LESO).
  int64_t begin_leader_epoch(Epoch epoch);

  // --- mutations: blocking, serialized ------------------------------------------------
  // Appends one batch of `epoch` at the LEO (assigning the epoch first if it is newer than
  // the cache's latest); returns its base offset. `epoch` must be >= latest_epoch().
  int64_t append_as_leader(Epoch epoch, const std::vector<uint64_t>& record_ids);
  // B6, the same for an idempotent producer's batch: first, under the log's lock, the checks
  // of ProducerStateTable::check (unless !check_sequence, the no-sequence-check switch); a
  // duplicate returns the original batch's offset and a rejected batch its error, both
  // appending nothing.
  LeaderAppend append_as_leader(Epoch epoch, const std::vector<uint64_t>& record_ids, const ProducerBatch& producer,
                                bool check_sequence);
  // Appends entries fetched from the leader: they start at the LEO, are contiguous, and their
  // epochs never decrease, starting at or above the last entry's. Written as one batch per
  // run of equal epochs; each new epoch is assigned in the cache first (Kafka's order). If
  // they are older than the cache's latest epoch, cache entries at the LEO go first, as
  // truncate_to(LEO) would have done.
  void append_as_follower(const std::vector<LogEntry>& entries);
  // C7: drops [offset, LEO) from memory and disk, trims the epoch cache to entries starting
  // before `offset` (truncateFromEnd), HW = min(HW, offset), recovery point =
  // min(recovery point, offset). As in Kafka: with offset >= LEO nothing is truncated but
  // the cache still loses entries starting at the LEO (an epoch this replica assigned as
  // leader and never appended to); below the log start it becomes
  // truncate_fully_and_start_at(offset). The broker must call it even when offset >= LEO,
  // or a stale empty epoch at its LEO keeps the divergence check answering the same.
  TruncationReport truncate_to(int64_t offset);
  // C8: deletes every segment and the epoch cache; log start = LEO = HW = recovery point =
  // offset, in a new empty segment.
  void truncate_fully_and_start_at(int64_t offset);
  // H5, a tiered log just rebuilt at its leader's local log start (empty, LEO = log start):
  // the epoch history below it, as read from the archive (Kafka's
  // ReplicaFetcherTierStateMachine.buildRemoteLogAuxState assigns the archived leader-epoch
  // checkpoint). `history` is strictly increasing and starts at or below the log start.
  void restore_epoch_history(const std::vector<EpochStart>& history);
  // Retention (Kafka's UnifiedLog.deleteOldSegments): deletes the oldest segments that end
  // at or below min(`below`, HW), never the active one, and raises the log start offset to
  // the first remaining segment's base; the epoch cache loses what lies below it
  // (truncateFromStart), unless LogConfig::epochs_below_local_start. Files go first, lowest first, each removal durable at once, and the
  // log-start checkpoint after them: a crash part-way leaves a suffix of segments, whose
  // first base recovery takes as the log start (Kafka's LogLoader takes the larger of the
  // checkpoint and the first segment's base). Returns the log start offset. Blocking.
  int64_t delete_segments_below(int64_t below);
  // Non-blocking. Requires log start <= hw <= LEO.
  void set_high_watermark(int64_t hw);

  // B6: the producer state built from this log's entries (see producer_state.h).
  const ProducerStateTable& producer_state() const { return producers_; }

  // --- reads: non-blocking, from memory -----------------------------------------------
  // Entries from `from` up to min(upto_exclusive, LEO), at most max_records of them, except
  // that a read never ends inside an idempotent producer's batch whose rest is below that
  // bound (B6: Kafka serves whole batches); empty if `from` is outside [log start, LEO):
  // range checks are the caller's (C2).
  std::vector<LogEntry> read(int64_t from, uint32_t max_records, int64_t upto_exclusive) const;
  std::optional<LogEntry> entry_at(int64_t offset) const {
    if (offset < log_start_ || offset >= log_end_offset()) return std::nullopt;
    return entries_[static_cast<size_t>(offset - log_start_)];
  }

  // --- the on-disk format, for checkers (ground truth lives in the Disk, not here) -----
  static std::string directory(PartitionId p);                   // "p3/"
  static std::string segment_file(PartitionId p, int64_t base);  // "p3/00000000000000000042.log"
  // The partition whose directory holds `file` ("p3/..." -> 3), or nullopt.
  static std::optional<PartitionId> partition_of(const std::string& file);
  // The base offset of a segment file's name, or nullopt if `file` names no segment.
  static std::optional<int64_t> segment_base(const std::string& file);
  static std::string leader_epoch_file(PartitionId p);
  static std::string high_watermark_file(PartitionId p);
  static std::string recovery_point_file(PartitionId p);
  static std::string log_start_offset_file(PartitionId p);
  static std::string clean_shutdown_file(PartitionId p);
  // The offset in an offset checkpoint's bytes, or nullopt if they are not one.
  static std::optional<int64_t> parse_offset_checkpoint(const std::string& bytes);
  // The entries of the longest valid prefix of whole batches of a segment's bytes: it stops
  // at a partial batch, a bad checksum or a batch that does not continue the previous one.
  static std::vector<LogEntry> decode_segment(const std::string& bytes);
  // The end offset of the contiguous valid log in segments given as base offset -> bytes
  // (e.g. Disk::durable_content of every segment file of a partition): the first segment's
  // base plus its valid entries, continued through each next segment that starts exactly
  // where the previous valid data ends. nullopt if `segments` is empty: then (only inside
  // truncate_fully_and_start_at) recovery restarts empty at the log start checkpoint.
  static std::optional<int64_t> end_offset_of(const std::map<int64_t, std::string>& segments);

 private:
  struct Batch {
    uint64_t position = 0;  // in the segment file
    int64_t base_offset = 0;
    uint32_t count = 0;
    Epoch epoch = kNoEpoch;
  };
  struct Segment {
    int64_t base_offset = 0;
    int64_t end_offset = 0;
    uint64_t file_bytes = 0;
    // Unique per incarnation of the segment: a cut or rewrite gives it a new id, so a flush
    // that started before can tell that what it made durable is no longer this segment.
    uint64_t id = 0;
    std::string file;  // segment_file(partition, base_offset), made once: every append names it
    std::optional<Instant> first_append_at;  // for segment_ms
    std::vector<Batch> batches;
    // F5: cut in the page cache (or re-validated by recovery) and not fsynced since, as far
    // as this process knows: fsynced before a roll creates the next segment (see roll_locked).
    bool unsynced_cut = false;
  };
  // The longest valid prefix of whole batches of a segment's bytes. With `base`, the first
  // batch must start there; every later one must continue the previous one.
  struct Scan {
    std::vector<Batch> batches;
    std::vector<LogEntry> entries;
    uint64_t valid_bytes = 0;
    int64_t end_offset = 0;  // `base` (or -1) if there is no valid batch
  };
  static Scan scan_segment(std::string_view bytes, std::optional<int64_t> base);
  // A segment fsync that completed: its file was durable up to end_offset.
  struct Synced {
    int64_t base_offset = 0;
    uint64_t id = 0;
    int64_t end_offset = 0;
  };

  void require_open(const char* what) const;
  Segment& active() { return segments_.rbegin()->second; }
  Segment new_segment(int64_t base);
  const std::string& file_of(const Segment& s) const { return s.file; }

  // All with mu_ held.
  // Returns the lowest start offset it added or removed, nullopt if the cache did not change.
  std::optional<int64_t> assign_locked(Epoch epoch, int64_t start_offset);
  void append_batch_locked(std::span<const LogEntry> batch);
  void maybe_roll_locked(size_t records);
  void roll_locked(const char* why);
  void cut_segment_locked(Segment& s, int64_t offset);
  void remove_segments_above_locked(int64_t offset);
  void truncate_fully_locked(int64_t offset);
  void advance_recovery_point(const std::vector<Synced>& synced);
  // Both append_as_leader overloads: assigns a newer epoch, appends one batch (with
  // `producer`'s fields unless it has no producer id), flushes if configured.
  int64_t append_as_leader_locked(Epoch epoch, const std::vector<uint64_t>& record_ids,
                                  const ProducerBatch& producer);
  void rebuild_producer_state_locked();

  // Fsyncs every segment holding offsets in [recovery point, target), in order. May run
  // without mu_ (the flusher): segments that disappear meanwhile are skipped.
  std::vector<Synced> fsync_segments(int64_t target);

  // Checkpoint writes take ckpt_mu_ so that two writers of one file never interleave and a
  // value read under it is the one written.
  void write_epoch_checkpoint(const std::vector<EpochStart>& epochs);
  void write_offset_checkpoint(const std::string& file, int64_t value);
  void checkpoint_high_watermark();
  void checkpoint_recovery_point();

  void flusher();
  void checkpointer();

  // Invariants (1)-(4) for entries from `from` on, plus the cheap global ones.
  void check_invariants(int64_t from) const;
  void check_segments() const;

  NodeContext& ctx_;
  const PartitionId partition_;
  const LogConfig config_;
  Mutex mu_;
  Mutex ckpt_mu_;
  Channel<int64_t> flush_requests_;  // "flush everything below this offset"

  // [log_start_, LEO). A vector: checkers and fetches index it on every HW move and read;
  // only a log start raise (retention, rare) erases at the front.
  std::vector<LogEntry> entries_;
  std::map<int64_t, Segment> segments_;  // by base offset; never empty outside a mutation
  std::vector<EpochStart> epochs_;
  ProducerStateTable producers_;  // B6: from entries_, rebuilt after truncation and recovery
  int64_t log_start_ = 0;
  int64_t hw_ = 0;
  int64_t recovery_point_ = 0;
  uint64_t next_segment_id_ = 1;
  // What the checkpoints on disk hold (as far as this process knows).
  int64_t hw_checkpointed_ = 0;
  int64_t recovery_point_checkpointed_ = 0;
  int64_t log_start_checkpointed_ = 0;
  bool recovered_ = false;
  bool closed_ = false;
  bool background_ = false;
};

}  // namespace faultline::kafka
