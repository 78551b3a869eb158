#include "sim/disk.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "sim/assert.h"

namespace faultline {

namespace {

// GCC/Clang's 128-bit integer, as in prng.cpp: bytes * 1e9 overflows 64 bits past 18 GB.
__extension__ typedef unsigned __int128 u128;

Duration transfer_time(uint64_t bytes, uint64_t bytes_per_second) {
  const u128 ns = static_cast<u128>(bytes) * 1'000'000'000u / bytes_per_second;
  FL_ASSERT(ns <= static_cast<u128>(INT64_MAX) && "transfer longer than the simulated clock", bytes, bytes_per_second);
  return Duration::nanos(static_cast<int64_t>(ns));
}

uint64_t common_prefix(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

std::string to_string(const DiskOptions& o) {
  return fmt::format(
      "write_base={} write_bytes_per_second={} fsync_base={} fsync_jitter_mean={} read_base={} "
      "read_bytes_per_second={}",
      format_duration(o.write_base), o.write_bytes_per_second, format_duration(o.fsync_base),
      format_duration(o.fsync_jitter_mean), format_duration(o.read_base), o.read_bytes_per_second);
}

Disk::Disk(Scheduler& s, NodeId owner, uint64_t seed, std::string label, DiskOptions options)
    : s_(s), owner_(owner), label_(std::move(label)), options_(options), prng_(seed, label_.c_str()) {
  FL_ASSERT(options_.write_bytes_per_second > 0 && options_.read_bytes_per_second > 0,
            options_.write_bytes_per_second, options_.read_bytes_per_second);
  FL_ASSERT(options_.write_base >= Duration::zero() && options_.fsync_base >= Duration::zero() &&
                options_.fsync_jitter_mean >= Duration::zero() && options_.read_base >= Duration::zero(),
            to_string(options_));
}

// --- plumbing ------------------------------------------------------------------------------

uint64_t Disk::begin_call(const char* call) {
  FL_ASSERT(s_.in_fiber() && s_.current_node() == owner_ &&
                "disk calls block: make them from a fiber of the disk's node",
            call, label_, owner_, s_.current_node());
  return power_losses_;
}

void Disk::end_call(uint64_t power_cycle, const char* call) {
  // Power loss takes the process down with it; a call that completes afterwards would apply
  // a pre-crash write to the post-crash disk. The caller must crash the node in the same event.
  FL_ASSERT(power_cycle == power_losses_ && "a disk call outlived a power loss: crash the owner's process with it",
            call, label_);
}

// Spends `base` of device time (scaled by a slowdown in force when the work starts). Device
// time does not pass during a stall: a call that starts in one waits for its end, and one
// in flight when a stall begins is woken by stall(), banks the time already served and
// waits out the stall before serving the rest.
void Disk::device_wait(Duration base) {
  while (s_.now() < stall_until_) device_.wait(s_, stall_until_);
  Duration left = s_.now() < slow_until_ ? base * slow_factor_ : base;
  for (;;) {
    while (s_.now() < stall_until_) device_.wait(s_, stall_until_);
    if (left <= Duration::zero()) return;
    const Instant began = s_.now();
    device_.wait(s_, began + left);
    left -= s_.now() - began;
  }
}

size_t Disk::recent_slot(const std::string& file) {
  // Names differ at their ends (segment base offsets) and in their partition digit.
  uint64_t tail = 0;
  const size_t n = std::min<size_t>(file.size(), 8);
  std::memcpy(&tail, file.data() + file.size() - n, n);
  const uint64_t h = (tail ^ (file.size() << 56) ^ (file.size() > 1 ? static_cast<uint64_t>(file[1]) << 48 : 0)) *
                     0x9e3779b97f4a7c15ULL;
  return static_cast<size_t>(h >> 61);  // 8 slots
}

Disk::Inode* Disk::find(const std::string& file) {
  return const_cast<Inode*>(std::as_const(*this).find(file));
}

const Disk::Inode* Disk::find(const std::string& file) const {
  Recent& r = recent_[recent_slot(file)];
  if (r.dir_version == dir_version_ && r.name == file) return r.inode;
  auto it = dir_.find(file);
  if (it == dir_.end()) return nullptr;
  const Inode* inode = &inodes_.at(it->second);
  r.dir_version = dir_version_;
  r.name = file;
  r.inode = const_cast<Inode*>(inode);
  return inode;
}

Disk::Inode& Disk::find_or_create(const std::string& file) {
  if (Inode* f = find(file)) return *f;
  FL_ASSERT(!file.empty() && "a file needs a name", label_);
  const uint64_t id = next_inode_++;
  dir_.emplace(file, id);
  dir_changed();
  Inode& f = inodes_[id];
  f.name = file;
  return f;
}

// Any change other than an append: the bytes under in-flight fsync snapshots may change,
// so those get their own copy first, and the durable view gets its own copy once it is no
// longer a prefix of the cache.
void Disk::set_cached(Inode& f, std::string next) {
  for (auto& [id, snap] : f.pending) {
    if (!snap.content) snap.content = f.cached.substr(0, snap.length);
  }
  if (!f.diverged) {
    if (!std::string_view(next).starts_with(f.durable())) {
      f.durable_copy = f.cached.substr(0, f.durable_len);
      f.diverged = true;
    }
  } else if (std::string_view(next).starts_with(f.durable_copy)) {
    f.durable_copy.clear();
    f.diverged = false;
  }
  f.cached = std::move(next);
  ++f.lineage;
  ++f.version;
}

void Disk::make_durable(Inode& f, Snapshot snapshot) {
  // Two fsyncs may complete out of order; the durable view never goes back to an older one.
  if (snapshot.version <= f.durable_version) return;
  f.durable_version = snapshot.version;
  if (snapshot.lineage == f.lineage) {
    FL_ASSERT(snapshot.length <= f.cached.size(), snapshot.length, f.cached.size());
    f.durable_len = snapshot.length;
    f.durable_copy.clear();
    f.diverged = false;
    return;
  }
  FL_ASSERT(snapshot.content.has_value() && "a rewrite left an fsync snapshot without its copy", f.name);
  std::string content = std::move(*snapshot.content);
  f.durable_len = content.size();
  if (std::string_view(f.cached).starts_with(content)) {
    f.durable_copy.clear();
    f.diverged = false;
  } else {
    f.durable_copy = std::move(content);
    f.diverged = true;
  }
}

void Disk::drop_pending(uint64_t inode, uint64_t fsync_id) {
  auto it = inodes_.find(inode);
  if (it != inodes_.end()) it->second.pending.erase(fsync_id);
}

// --- model-facing ------------------------------------------------------------------------

void Disk::append(const std::string& file, std::string data) {
  const uint64_t cycle = begin_call("append");
  device_wait(options_.write_base + transfer_time(data.size(), options_.write_bytes_per_second));
  end_call(cycle, "append");
  Inode& f = find_or_create(file);
  f.cached.append(data);
  ++f.version;  // an append keeps the lineage: snapshots by length stay valid
  bytes_written_ += data.size();
}

void Disk::write(const std::string& file, std::string bytes) {
  const uint64_t cycle = begin_call("write");
  device_wait(options_.write_base + transfer_time(bytes.size(), options_.write_bytes_per_second));
  end_call(cycle, "write");
  bytes_written_ += bytes.size();
  set_cached(find_or_create(file), std::move(bytes));
}

void Disk::fsync(const std::string& file) {
  const uint64_t cycle = begin_call("fsync");
  auto entry = dir_.find(file);
  FL_ASSERT(entry != dir_.end() && "fsync of a file that does not exist", file, label_);
  const uint64_t inode = entry->second;
  const uint64_t id = next_fsync_++;
  Inode& f = inodes_.at(inode);
  f.pending.emplace(id, Snapshot{f.version, f.lineage, f.cached.size(), std::nullopt});
  // Unwinding (NodeKilled) must not leave the snapshot behind for a later completion.
  struct Abandon {
    Disk& disk;
    uint64_t inode;
    uint64_t id;
    ~Abandon() { disk.drop_pending(inode, id); }
  } abandon{*this, inode, id};

  device_wait(options_.fsync_base + prng_.exponential(options_.fsync_jitter_mean));
  end_call(cycle, "fsync");
  ++fsyncs_;
  auto it = inodes_.find(inode);
  if (it == inodes_.end()) return;  // removed (or renamed over) meanwhile: nothing to keep
  Inode& done = it->second;
  auto snap = done.pending.find(id);
  FL_ASSERT(snap != done.pending.end() && "fsync snapshot vanished", done.name);
  Snapshot snapshot = std::move(snap->second);
  done.pending.erase(snap);
  make_durable(done, std::move(snapshot));
  s_.trace().record(s_.now(), owner_, "fsync", {{"file", done.name}, {"durable", done.durable_len}});
}

void Disk::truncate(const std::string& file, uint64_t size) {
  const uint64_t cycle = begin_call("truncate");
  FL_ASSERT(exists(file) && "truncate of a file that does not exist", file, label_);
  device_wait(options_.write_base);
  end_call(cycle, "truncate");
  Inode* f = find(file);
  FL_ASSERT(f != nullptr && "file removed while truncate was in flight", file, label_);
  std::string next = f->cached.substr(0, size);
  next.resize(size, '\0');
  set_cached(*f, std::move(next));
}

void Disk::rename(const std::string& from, const std::string& to) {
  const uint64_t cycle = begin_call("rename");
  FL_ASSERT(exists(from) && "rename of a file that does not exist", from, to, label_);
  FL_ASSERT(!to.empty() && "a file needs a name", from, label_);
  device_wait(options_.write_base);
  end_call(cycle, "rename");
  auto it = dir_.find(from);
  FL_ASSERT(it != dir_.end() && "file removed while rename was in flight", from, to, label_);
  if (from == to) return;  // POSIX: renaming a file to itself does nothing
  const uint64_t id = it->second;
  dir_.erase(it);
  dir_changed();
  auto target = dir_.find(to);
  if (target != dir_.end()) {
    inodes_.erase(target->second);  // the replaced file is gone, fsyncs in flight included
    target->second = id;
  } else {
    dir_.emplace(to, id);
  }
  inodes_.at(id).name = to;
}

bool Disk::remove(const std::string& file) {
  const uint64_t cycle = begin_call("remove");
  device_wait(options_.write_base);
  end_call(cycle, "remove");
  auto it = dir_.find(file);
  if (it == dir_.end()) return false;
  inodes_.erase(it->second);
  dir_.erase(it);
  dir_changed();
  return true;
}

void Disk::write_atomically(const std::string& file, std::string bytes) {
  const std::string tmp = file + ".tmp";
  write(tmp, std::move(bytes));
  fsync(tmp);
  rename(tmp, file);
}

std::optional<std::string> Disk::read(const std::string& file) { return read_range(file, 0, UINT64_MAX); }

std::optional<std::string> Disk::read_range(const std::string& file, uint64_t offset, uint64_t length) {
  const uint64_t cycle = begin_call("read");
  // Charged for what the file holds now. Not device_wait: the page cache needs no device,
  // so neither a stall nor a slowdown applies.
  const uint64_t have = size(file);
  const uint64_t bytes = offset >= have ? 0 : std::min(length, have - offset);
  s_.sleep_for(options_.read_base + transfer_time(bytes, options_.read_bytes_per_second));
  end_call(cycle, "read");
  const Inode* f = find(file);
  if (f == nullptr) return std::nullopt;
  if (offset >= f->cached.size()) return std::string();
  return f->cached.substr(offset, length);
}

bool Disk::exists(const std::string& file) const { return dir_.contains(file); }

uint64_t Disk::size(const std::string& file) const { return cached_size(file); }

std::vector<std::string> Disk::list(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = dir_.lower_bound(prefix); it != dir_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->first);
  }
  return out;
}

// --- fault-facing ------------------------------------------------------------------------

void Disk::stall(Instant until) {
  s_.trace().record(s_.now(), owner_, "disk-stall", {{"until", until.since_start()}});
  if (until <= stall_until_) return;  // overlapping stalls extend to the latest end only
  stall_until_ = until;
  device_.notify_all(s_);  // calls in flight bank their progress and wait
}

void Disk::slow(uint32_t factor, Instant until) {
  FL_ASSERT(factor >= 1 && "a slowdown factor below 1 would speed the disk up", factor, label_);
  s_.trace().record(s_.now(), owner_, "disk-slow",
                    {{"factor", factor}, {"until", until.since_start()}});
  slow_factor_ = factor;
  slow_until_ = until;
}

void Disk::heal() {
  s_.trace().record(s_.now(), owner_, "disk-heal");
  if (slow_until_ > s_.now()) slow_until_ = s_.now();
  if (stall_until_ > s_.now()) {
    stall_until_ = s_.now();
    device_.notify_all(s_);
  }
}

void Disk::process_kill() {
  // Nothing to do to the files. The killed fibers unwind through their calls, which then
  // have no effect; fsyncs in flight drop their snapshots on the way out.
  uint64_t unsynced = 0;
  for (const auto& [id, f] : inodes_) unsynced += f.diverged ? f.cached.size() : f.cached.size() - f.durable_len;
  s_.trace().record(s_.now(), owner_, "disk-process-kill", {{"unsynced", unsynced}});
}

void Disk::replace() {
  for (const auto& [id, f] : inodes_) {
    FL_ASSERT(f.pending.empty() && "a disk is replaced while no fsync is in flight", label_, f.name);
  }
  s_.trace().record(s_.now(), owner_, "disk-replaced", {{"files", static_cast<uint64_t>(dir_.size())}});
  dir_.clear();
  inodes_.clear();
  dir_changed();
}

void Disk::power_loss() {
  ++power_losses_;
  uint64_t damaged = 0;
  uint64_t lost_total = 0;
  for (const auto& [name, id] : dir_) {  // name order: the draws replay
    Inode& f = inodes_.at(id);
    f.pending.clear();  // fsyncs in flight die with the power
    const uint64_t before = f.cached.size();
    uint64_t kept_of_cache = before;  // length of the cached prefix that survives
    bool reverted = false;
    if (!f.diverged) {
      const uint64_t unsynced = before - f.durable_len;
      if (unsynced > 0) {
        f.cached.resize(f.durable_len + prng_.below(unsynced + 1));
        kept_of_cache = f.cached.size();
      }
    } else if (prng_.chance(Ratio{1, 2})) {
      kept_of_cache = common_prefix(f.durable_copy, f.cached);
      f.cached = std::move(f.durable_copy);
      reverted = true;
    } else {
      const uint64_t common = common_prefix(f.durable_copy, f.cached);
      f.cached.resize(common + prng_.below(before - common + 1));
      kept_of_cache = f.cached.size();
    }
    f.durable_copy.clear();
    f.diverged = false;
    f.durable_len = f.cached.size();
    ++f.lineage;
    ++f.version;
    f.durable_version = f.version;
    if (kept_of_cache == before && !reverted) continue;
    ++damaged;
    lost_total += before - kept_of_cache;
    s_.trace().record(s_.now(), owner_, "disk-power-loss-file",
                      {{"file", name},
                       {"cached", before},
                       {"kept", f.cached.size()},
                       {"lost", before - kept_of_cache},
                       {"reverted", reverted}});
  }
  bytes_lost_ += lost_total;
  s_.trace().record(s_.now(), owner_, "disk-power-loss",
                    {{"files", static_cast<uint64_t>(dir_.size())}, {"damaged", damaged}, {"lost", lost_total}});
}

// --- ground truth ------------------------------------------------------------------------

uint64_t Disk::cached_size(const std::string& file) const {
  const Inode* f = find(file);
  return f == nullptr ? 0 : f->cached.size();
}

uint64_t Disk::durable_size(const std::string& file) const {
  const Inode* f = find(file);
  return f == nullptr ? 0 : f->durable_len;
}

std::optional<std::string> Disk::cached_content(const std::string& file) const {
  const Inode* f = find(file);
  if (f == nullptr) return std::nullopt;
  return f->cached;
}

std::optional<std::string> Disk::durable_content(const std::string& file) const {
  const Inode* f = find(file);
  if (f == nullptr) return std::nullopt;
  return std::string(f->durable());
}

std::vector<std::string> Disk::files() const {
  std::vector<std::string> out;
  out.reserve(dir_.size());
  for (const auto& [name, id] : dir_) out.push_back(name);
  return out;
}

}  // namespace faultline
