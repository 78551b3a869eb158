// A stateful model-based test (rapidcheck/state.h) of the partition log and its epoch cache
// (A2, C3, C7, F3) against a plain reference: a vector of entries. Commands: leader appends
// (in the current or a new epoch), follower appends (continuing the log, sometimes in a
// newer epoch), truncation to an offset, truncation by epoch (a follower told to diverge at a
// leader's end offset for an epoch), end offset for an epoch (checked against the reference
// computed from the entries, Kafka's rules), a kill, a power loss and a clean shutdown, each
// followed by recovery. After every command the log holds exactly the reference's entries
// and the cache its epoch changes; a power loss may take an unflushed tail, never below what
// was durable, and the reference follows.
#include <gtest/gtest.h>

#include <algorithm>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "tests/kafka_log_fixture.h"

namespace faultline::kafka {
namespace {

struct Ref {
  Entries entries;  // from offset 0 (no retention here)
  // F5: the versions truncations abandoned; a power loss may bring one back (the durable
  // content of a segment cut since its last fsync).
  std::vector<Entries> abandoned;
  void truncate(int64_t to) {
    if (to >= leo()) return;
    abandoned.push_back(entries);
    entries.resize(static_cast<size_t>(to));
  }
  int64_t leo() const { return static_cast<int64_t>(entries.size()); }
  Epoch last_epoch() const { return entries.empty() ? kNoEpoch : entries.back().epoch; }
  // LeaderEpochFileCache.endOffsetFor over the epochs the entries carry.
  std::optional<std::pair<Epoch, int64_t>> end_offset_for(Epoch requested) const {
    const Cache cache = changes_of(entries);
    if (requested < 0 || cache.empty()) return std::nullopt;
    if (requested == cache.back().epoch) return std::make_pair(requested, leo());
    for (size_t i = 0; i < cache.size(); ++i) {
      if (cache[i].epoch > requested) {
        if (i == 0) return std::make_pair(requested, cache[0].start_offset);
        return std::make_pair(cache[i - 1].epoch, cache[i].start_offset);
      }
    }
    return std::nullopt;
  }
};

struct Sut {
  std::unique_ptr<ReplicaNode> node;
  uint64_t next_id = 1;
};

using Cmd = rc::state::Command<Ref, Sut>;

void expect_same(const Ref& ref, Sut& sut) {
  RC_ASSERT(all(sut.node->log()) == ref.entries);
  // The cache may also hold a newer epoch begun by a leader that appended nothing yet; the
  // epoch changes of the entries are its prefix.
  const Cache want = changes_of(ref.entries);
  const Cache got = sut.node->log().epoch_cache();
  RC_ASSERT(got.size() >= want.size());
  RC_ASSERT(Cache(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(want.size())) == want);
}

struct LeaderAppend : Cmd {
  bool new_epoch;
  uint32_t n;
  explicit LeaderAppend(const Ref&) : new_epoch(*rc::gen::arbitrary<bool>()), n(*rc::gen::inRange(1u, 6u)) {}
  Epoch epoch(const Ref& ref) const { return std::max(ref.last_epoch(), 0) + (new_epoch ? 1 : 0); }
  void apply(Ref& ref) const override {
    const Epoch e = epoch(ref);
    for (uint32_t i = 0; i < n; ++i) ref.entries.push_back({ref.leo(), e, 1000 + static_cast<uint64_t>(ref.leo())});
  }
  void run(const Ref& ref, Sut& sut) const override {
    const Epoch e = epoch(ref);
    const int64_t leo = ref.leo();
    std::vector<uint64_t> ids;
    for (uint32_t i = 0; i < n; ++i) ids.push_back(1000 + static_cast<uint64_t>(leo + i));
    sut.node->run([&](PartitionLog& log) {
      if (log.latest_epoch() < e) log.begin_leader_epoch(e);
      log.append_as_leader(e, ids);
    });
    Ref after = ref;
    apply(after);
    expect_same(after, sut);
  }
  void show(std::ostream& os) const override { os << "leader-append n=" << n << (new_epoch ? " new-epoch" : ""); }
};

struct TruncateTo : Cmd {
  int64_t offset;
  // (Drawn against the generator's reference, which a power loss may have shortened since:
  // clamped to the log as it is.)
  explicit TruncateTo(const Ref& ref) : offset(*rc::gen::inRange<int64_t>(0, ref.leo() + 1)) {}
  int64_t to(const Ref& ref) const { return std::min(offset, ref.leo()); }
  void apply(Ref& ref) const override { ref.truncate(to(ref)); }
  void run(const Ref& ref, Sut& sut) const override {
    const int64_t at = to(ref);
    sut.node->run([&](PartitionLog& log) { log.truncate_to(at); });
    Ref after = ref;
    apply(after);
    RC_ASSERT(all(sut.node->log()) == after.entries);
  }
  void show(std::ostream& os) const override { os << "truncate-to " << offset; }
};

// C7: a follower whose last epoch is e learns the leader's end offset x for it and truncates
// to min(x, its own end for e): here x is drawn, the own end comes from the log.
struct TruncateByEpoch : Cmd {
  int64_t leader_end;
  explicit TruncateByEpoch(const Ref& ref) : leader_end(*rc::gen::inRange<int64_t>(0, ref.leo() + 1)) {}
  int64_t target(const Ref& ref) const {
    const auto own = ref.end_offset_for(ref.last_epoch());
    return std::min({leader_end, own ? own->second : ref.leo(), ref.leo()});
  }
  void apply(Ref& ref) const override { ref.truncate(target(ref)); }
  void run(const Ref& ref, Sut& sut) const override {
    sut.node->run([&](PartitionLog& log) {
      const auto own = log.end_offset_for_epoch(log.latest_epoch());
      log.truncate_to(std::min(leader_end, own ? own->end_offset : log.log_end_offset()));
    });
    Ref after = ref;
    apply(after);
    RC_ASSERT(all(sut.node->log()) == after.entries);
  }
  void show(std::ostream& os) const override { os << "truncate-by-epoch leader-end=" << leader_end; }
};

struct EndOffsetFor : Cmd {
  Epoch epoch;
  explicit EndOffsetFor(const Ref& ref) : epoch(*rc::gen::inRange<Epoch>(-1, std::max(ref.last_epoch(), 0) + 3)) {}
  void apply(Ref&) const override {}
  void run(const Ref& ref, Sut& sut) const override {
    // Only when the cache is the entries' (no leader epoch begun without records on top).
    if (sut.node->log().epoch_cache() != changes_of(ref.entries)) return;
    const auto want = ref.end_offset_for(epoch);
    RC_ASSERT(end_of(sut.node->log(), epoch) == want);
  }
  void show(std::ostream& os) const override { os << "end-offset-for " << epoch; }
};

struct Crash : Cmd {
  CrashKind kind;
  bool flush_first;
  explicit Crash(const Ref&)
      : kind(*rc::gen::element(CrashKind::kKill, CrashKind::kPowerLoss)), flush_first(*rc::gen::arbitrary<bool>()) {}
  void apply(Ref&) const override {}  // the reference follows what survived, in run()
  void run(const Ref& ref, Sut& sut) const override {
    if (flush_first) sut.node->advance(Duration::seconds(1));  // the flusher and checkpointer
    const int64_t durable = sut.node->log().recovery_point();
    sut.node->crash_and_restart(kind);
    const Entries got = all(sut.node->log());
    if (kind == CrashKind::kKill) {
      RC_ASSERT(got == ref.entries);  // F3: a process kill loses nothing
      return;
    }
    // A power loss keeps a prefix at least as long as what was durable, of the log or (F5:
    // truncations are not fsynced) of a version a truncation abandoned.
    RC_ASSERT(static_cast<int64_t>(got.size()) >= durable);
    auto prefix_of = [&](const Entries& v) {
      return got.size() <= v.size() && std::equal(got.begin(), got.end(), v.begin());
    };
    RC_ASSERT(prefix_of(ref.entries) || std::any_of(ref.abandoned.begin(), ref.abandoned.end(), prefix_of));
  }
  void show(std::ostream& os) const override {
    os << (kind == CrashKind::kKill ? "kill" : "power-loss") << (flush_first ? " after a flush" : "");
  }
};

RC_GTEST_PROP(PartitionLogModel, AgreesWithAVectorOfEntriesThroughCrashes, ()) {
  Sut sut;
  sut.node = std::make_unique<ReplicaNode>();
  // Crash::apply cannot know what a power loss keeps: run the commands one by one, and after
  // each bring the reference to what the log holds when a power loss took a tail.
  Ref ref;
  const auto commands = *rc::state::gen::commands(
      ref, rc::state::gen::execOneOfWithArgs<LeaderAppend, LeaderAppend, TruncateTo, TruncateByEpoch, EndOffsetFor,
                                             Crash>());
  for (const auto& c : commands) {
    if (const auto* crash = dynamic_cast<const Crash*>(c.get())) {
      crash->run(ref, sut);
      ref.entries = all(sut.node->log());
      continue;
    }
    c->run(ref, sut);
    c->apply(ref);
  }
  expect_same(ref, sut);
}

}  // namespace
}  // namespace faultline::kafka
