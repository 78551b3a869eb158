// sim/disk.h
// One node's disk: named files, each with a page-cache view and a durable view, and the
// disk faults of rules F3 and F4 (semantics.md, section F).
//
// Contract:
// - Views. What reads see is the cached view (the page cache). What survives a power loss
//   is the durable view. append, write and truncate change the cached view only.
// - fsync snapshots the file's cached view when the call starts and makes that snapshot
//   durable when the call completes. POSIX promises no more than that: bytes written while
//   an fsync is in flight may or may not be flushed by it, and power_loss() already draws
//   the "flushed anyway" outcome, so the start snapshot is the choice that hides no bug. An
//   fsync interrupted by a kill makes nothing durable (the page cache keeps its data). An
//   fsync follows its file across a rename; a file removed meanwhile is simply gone.
// - Directory entries are durable metadata: create (by the first append or write), rename
//   and remove are durable as soon as the call returns, as if the filesystem journaled them
//   synchronously. So a file created and never fsynced survives a power loss as a file
//   whose durable content is empty (what else survives is drawn by the F3 rule below), and
//   rename moves a file with its own cached and durable views: renaming a never-fsynced
//   temp file over a checkpoint can leave an empty or torn checkpoint after a power loss.
//   write_atomically (temp file, fsync, rename; rule F2) is the correct pattern.
// - Model-facing calls block the calling fiber, which must belong to the disk's node, for a
//   simulated latency, and take effect atomically when they return: a call unwound by
//   NodeKilled had no effect. That a named file exists is asserted when the call starts and
//   again when it takes effect (fsync excepted: it follows its file, see above).
// - process_kill() loses nothing: the page cache belongs to the kernel, not the process.
// - power_loss() applies rule F3 to every file, drawing from the disk's own stream:
//   * if the durable view is a prefix of the cached view, the file becomes
//     cached[0 : durable + below(unsynced + 1)]: any unsynced suffix is lost, cut at any
//     byte, so a torn last record is possible and fsynced bytes never are;
//   * otherwise (truncated or rewritten since the last fsync) it becomes, with probability
//     1/2, the durable view, else a prefix of the cached view whose length is uniform
//     between their common prefix and the cached length. An approximation: a real
//     filesystem can also mix old and new blocks or expose zero-filled ranges.
//   A power loss cuts the owner's process too: the caller must crash the owner's process in
//   the same event. A disk call that resumes after a power loss fails an assertion, since it
//   would apply a pre-crash write to the post-crash disk. fsyncs in flight are discarded.
// - stall(until) (rule F4) holds every write-path call (append, write, truncate, fsync,
//   rename, remove) that starts or is in flight before `until`: device time does not pass
//   while stalled, so a call in flight resumes its remaining latency when the stall ends.
//   Nothing is lost. Reads are served from the page cache and are neither stalled nor
//   slowed. Overlapping stalls extend to the latest end. Stalls and slowdowns belong to the
//   device, so they outlast process kills and power losses; heal() ends them.
// - Every fault is traced under the owner node, and so is every completed fsync; appends
//   are not (the hot path).
// - Ground truth (cached_size, durable_content, ...) is for checkers and tests, not models.
#pragma once

#include <cstdint>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/time.h"
#include "sim/trace.h"

namespace faultline {

struct DiskOptions {
  // Fixed cost of every call that changes the page cache or the directory (append, write,
  // truncate, rename, remove): the system call and its bookkeeping.
  Duration write_base = Duration::micros(10);
  // Bandwidth of append and write into the page cache, in bytes per second (> 0).
  uint64_t write_bytes_per_second = 400'000'000;
  // Fixed cost of every fsync: the device's cache flush and journal commit.
  Duration fsync_base = Duration::micros(500);
  // Mean of the extra delay of each fsync, drawn with Prng::exponential (capped at 40x).
  Duration fsync_jitter_mean = Duration::micros(1500);
  // Fixed cost of every read (read, read_range), served from the page cache.
  Duration read_base = Duration::micros(5);
  // Bandwidth of reads from the page cache, in bytes per second (> 0).
  uint64_t read_bytes_per_second = 1'000'000'000;
};

// "write_base=10us write_bytes_per_second=400000000 ...": printed with a run's options.
std::string to_string(const DiskOptions& options);

class Disk {
 public:
  // `label` is the label of the disk's random stream and names it in assertion messages.
  // The simulation uses "disk/<node name>", so adding a node never changes another disk's
  // draws. Trace records carry the owner node, which is enough: one disk per node.
  Disk(Scheduler& s, NodeId owner, uint64_t seed, std::string label, DiskOptions options = {});
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;

  // --- model-facing: blocking, from a fiber of the owner node -------------------------
  // Appends to the page cache; creates the file if missing. The bytes are taken when the
  // call starts (moved in: an append is on every produce's path).
  void append(const std::string& file, std::string bytes);
  // Replaces the whole cached content (open with O_TRUNC, then write); creates if missing.
  void write(const std::string& file, std::string bytes);
  // Makes the content the file had when the call started durable. Asserts the file exists.
  void fsync(const std::string& file);
  // Cuts the cached content to `size`, or extends it with zero bytes as POSIX does.
  // Durable only after the next fsync. Asserts the file exists.
  void truncate(const std::string& file, uint64_t size);
  // Atomically renames, replacing `to` if it exists; durable at once. Asserts `from` exists.
  void rename(const std::string& from, const std::string& to);
  // Removes the file, durable at once. False if there was no such file: deleting what is
  // already gone is routine in cleanup paths, so it is not an assertion.
  bool remove(const std::string& file);
  // Rule F2: writes `file + ".tmp"`, fsyncs it and renames it over `file`, so after a power
  // loss `file` holds either its previous durable content or all of `bytes`, never a mix.
  // A kill part-way may leave the ".tmp" file behind.
  void write_atomically(const std::string& file, std::string bytes);
  // The whole file as the page cache has it, or nullopt if missing.
  std::optional<std::string> read(const std::string& file);
  // Up to `length` bytes from `offset`: short at the end of the file (empty past it), like
  // pread. nullopt if the file is missing.
  std::optional<std::string> read_range(const std::string& file, uint64_t offset, uint64_t length);
  // Metadata from memory: non-blocking.
  bool exists(const std::string& file) const;
  uint64_t size(const std::string& file) const;  // cached size, 0 if missing
  std::vector<std::string> list(const std::string& prefix) const;  // sorted

  // --- fault-facing: non-blocking, from anywhere (scenarios, FaultControl) -------------
  // Holds write-path calls until `until` (see the contract). Never shortens a stall.
  void stall(Instant until);
  // Multiplies write-path and fsync latencies by `factor` (>= 1) for calls whose device
  // work starts before `until`. The latest call replaces the previous factor and end.
  void slow(uint32_t factor, Instant until);
  // Ends any stall and slowdown now (the heal phase of a fault plan).
  void heal();
  // The owner's process was killed: nothing is lost; traced for the record.
  void process_kill();
  // Rule F3 on every file (see the contract).
  void power_loss();
  // The disk is replaced by an empty one (after a power loss of its owner, while no call is
  // in flight): every file is gone, durable or not.
  void replace();

  // --- ground truth: for checkers and tests, never for models --------------------------
  NodeId owner() const { return owner_; }
  const std::string& label() const { return label_; }
  const DiskOptions& options() const { return options_; }
  Instant stalled_until() const { return stall_until_; }
  uint64_t cached_size(const std::string& file) const;   // 0 if missing
  uint64_t durable_size(const std::string& file) const;  // 0 if missing
  std::optional<std::string> cached_content(const std::string& file) const;
  std::optional<std::string> durable_content(const std::string& file) const;
  std::vector<std::string> files() const;  // sorted
  uint64_t bytes_written() const { return bytes_written_; }  // by append and write
  uint64_t fsyncs() const { return fsyncs_; }                // completed fsync calls
  uint64_t power_losses() const { return power_losses_; }
  uint64_t bytes_lost() const { return bytes_lost_; }  // cached bytes dropped by power losses

 private:
  // The cached view an fsync saw when it started. While only appends follow, it is
  // cached[0 : length] and needs no copy; a rewrite of the file copies it out first.
  struct Snapshot {
    uint64_t version = 0;
    uint64_t lineage = 0;
    uint64_t length = 0;
    std::optional<std::string> content;
  };
  // A file, independent of its name (an inode): rename moves the name, not the views.
  struct Inode {
    std::string name;
    std::string cached;
    // The durable view is cached[0 : durable_len] unless diverged, then durable_copy.
    // Keeping it as a length makes the common append-then-fsync path copy nothing.
    uint64_t durable_len = 0;
    bool diverged = false;
    std::string durable_copy;
    uint64_t lineage = 0;          // bumped by every change other than an append
    uint64_t version = 0;          // bumped by every change
    uint64_t durable_version = 0;  // the version the durable view was snapshot from
    std::map<uint64_t, Snapshot> pending;  // fsyncs in flight, by fsync id
    std::string_view durable() const {
      return diverged ? std::string_view(durable_copy) : std::string_view(cached).substr(0, durable_len);
    }
  };

  uint64_t begin_call(const char* call);
  void end_call(uint64_t power_cycle, const char* call);
  void device_wait(Duration base);
  Inode* find(const std::string& file);
  const Inode* find(const std::string& file) const;
  Inode& find_or_create(const std::string& file);
  void set_cached(Inode& f, std::string next);
  void make_durable(Inode& f, Snapshot snapshot);
  void drop_pending(uint64_t inode, uint64_t fsync_id);

  Scheduler& s_;
  NodeId owner_;
  std::string label_;
  DiskOptions options_;
  Prng prng_;
  // Every fiber in a write-path call waits here, so that stall() and heal() can wake them
  // to account for the change.
  WaitQueue device_{"disk"};
  Instant stall_until_;
  uint32_t slow_factor_ = 1;
  Instant slow_until_;

  std::map<std::string, uint64_t> dir_;  // name -> inode id; ordered, so draws are too
  std::map<uint64_t, Inode> inodes_;
  // Recent name lookups (every append names its file; the map's compares of long common
  // prefixes showed in profiles). Valid while dir_version_ is what it was at the lookup:
  // anything that changes a name's inode or frees an inode bumps it (dir_changed()).
  struct Recent {
    uint64_t dir_version = 0;  // 0: empty
    std::string name;
    Inode* inode = nullptr;
  };
  mutable std::array<Recent, 8> recent_;
  uint64_t dir_version_ = 1;
  void dir_changed() { ++dir_version_; }
  static size_t recent_slot(const std::string& file);
  uint64_t next_inode_ = 1;
  uint64_t next_fsync_ = 1;

  uint64_t bytes_written_ = 0;
  uint64_t fsyncs_ = 0;
  uint64_t power_losses_ = 0;
  uint64_t bytes_lost_ = 0;
};

}  // namespace faultline
