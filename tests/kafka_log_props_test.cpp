// The partition log's property (models/kafka/log.h): random plans of appends, truncations,
// HW moves, sleeps, clean restarts and crashes (kills and power losses landing inside a
// step or between steps) keep the log's invariants, lose nothing fsynced, and recover a
// prefix of the log before or after the step, or (F5: truncations are not fsynced) of a
// version a truncation abandoned.
#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

#include "tests/kafka_log_fixture.h"

namespace faultline::kafka {
namespace {

// --- the property -------------------------------------------------------------------------------

enum class Op {
  kLeaderEpoch,
  kLeaderAppend,
  kFollowerAppend,
  kTruncate,
  kTruncateFully,
  kSetHw,
  kSleep,
  kCrash,
  kCleanRestart,
};

std::ostream& operator<<(std::ostream& os, Op op) {
  constexpr const char* kNames[] = {"leader-epoch", "leader-append", "follower-append", "truncate", "truncate-fully",
                                    "set-hw",       "sleep",         "crash",           "clean-restart"};
  return os << kNames[static_cast<int>(op)];
}

struct Model {
  int64_t log_start = 0;
  Entries entries;
  int64_t leo() const { return log_start + static_cast<int64_t>(entries.size()); }
};

bool is_prefix(const Entries& a, const Entries& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

RC_GTEST_PROP(PartitionLogProps, CrashesAndRecoveryKeepTheInvariantsAndAPrefixOfTheModel, ()) {
  // A plan of steps, each with two numbers that pick its arguments. kCrash arms a crash
  // (kill or power loss) that lands that many microseconds into the next step: inside an
  // append, a truncation, a flush, a checkpoint write, or between them.
  const auto plan = *rc::gen::container<std::vector<std::tuple<Op, uint32_t, uint32_t>>>(rc::gen::tuple(
      rc::gen::element(Op::kLeaderEpoch, Op::kLeaderAppend, Op::kLeaderAppend, Op::kFollowerAppend,
                       Op::kFollowerAppend, Op::kTruncate, Op::kTruncateFully, Op::kSetHw, Op::kSleep, Op::kCrash,
                       Op::kCrash, Op::kCleanRestart),
      rc::gen::inRange<uint32_t>(0, 1000), rc::gen::inRange<uint32_t>(0, 6000)));
  const auto flush_on_append = *rc::gen::arbitrary<bool>();
  const auto records_per_segment = *rc::gen::inRange<uint64_t>(1, 7);
  const auto disk_seed = *rc::gen::inRange<uint64_t>(1, 1000);  // which unsynced bytes a power loss keeps

  LogConfig c;
  c.segment_bytes = records_per_segment * PartitionLog::kRecordAccountingBytes;
  c.segment_ms = 40_ms;
  c.flush_on_append = flush_on_append;
  c.hw_checkpoint_interval = 5_ms;
  c.recovery_point_checkpoint_interval = 3_ms;
  ReplicaNode r({.config = c, .seed = disk_seed});
  Model model;
  // F5: every version of the log a truncation abandoned since the last full truncation (whose
  // segment deletions are durable at once). A power loss may bring one back: the durable
  // content of a segment cut since its last fsync.
  std::vector<Model> abandoned;
  uint64_t next_id = 1;
  int kills = 0, power_losses = 0, inside_a_step = 0, versions_back = 0;
  // (GCC warns about a maybe-uninitialized optional<pair> here: plain variables instead.)
  bool armed = false;
  CrashKind armed_kind = CrashKind::kKill;
  Duration armed_after;

  for (const auto& [op, a, b] : plan) {
    if (op == Op::kCrash) {
      armed = true;
      armed_kind = a % 2 == 0 ? CrashKind::kPowerLoss : CrashKind::kKill;
      armed_after = Duration::micros(b);
      continue;
    }
    PartitionLog& log = r.log();
    const Model pre = model;
    Model post = model;
    const int64_t span = model.leo() - model.log_start;
    std::optional<int64_t> full_at;  // a full truncation to this offset is part of the step
    std::function<void(PartitionLog&)> body;
    switch (op) {
      case Op::kLeaderEpoch: {
        const Epoch e = std::max(log.latest_epoch(), 0) + 1 + static_cast<Epoch>(a % 2);
        body = [e](PartitionLog& l) { l.begin_leader_epoch(e); };
        break;
      }
      case Op::kLeaderAppend: {
        const Epoch e = std::max(log.latest_epoch(), 0);
        const std::vector<uint64_t> batch = ids(next_id, 1 + a % 5);
        next_id += batch.size();
        for (uint64_t id : batch) post.entries.push_back({post.leo(), e, id});
        body = [e, batch](PartitionLog& l) { l.append_as_leader(e, batch); };
        break;
      }
      case Op::kFollowerAppend: {
        Epoch e = model.entries.empty() ? 0 : model.entries.back().epoch;
        Entries fetched;
        for (uint32_t run = 0; run < 1 + b % 3; ++run) {
          e += static_cast<Epoch>((a >> run) & 1);
          for (uint32_t k = 0; k < 1 + (a >> (2 * run + 3)) % 4; ++k) {
            fetched.push_back({post.leo() + static_cast<int64_t>(fetched.size()), e, next_id++});
          }
        }
        post.entries.insert(post.entries.end(), fetched.begin(), fetched.end());
        body = [fetched](PartitionLog& l) { l.append_as_follower(fetched); };
        break;
      }
      case Op::kTruncate: {
        const int64_t offset = model.log_start + static_cast<int64_t>(a) % (span + 2);
        if (offset < model.leo()) post.entries.resize(static_cast<size_t>(offset - model.log_start));
        body = [offset](PartitionLog& l) { l.truncate_to(offset); };
        break;
      }
      case Op::kTruncateFully: {
        // Mostly C8 (past the LEO); sometimes anywhere.
        const int64_t offset = b % 4 == 0 ? static_cast<int64_t>(a) % (model.leo() + 1) : model.leo() + a % 4;
        full_at = offset;
        post = Model{offset, {}};
        body = [offset](PartitionLog& l) { l.truncate_fully_and_start_at(offset); };
        break;
      }
      case Op::kSetHw: {
        const int64_t hw = model.log_start + static_cast<int64_t>(a) % (span + 1);
        body = [hw](PartitionLog& l) { l.set_high_watermark(hw); };
        break;
      }
      case Op::kSleep: {
        const Duration d = Duration::micros(static_cast<int64_t>(a) * 100);
        body = [&r, d](PartitionLog&) { r.sim().node(0).sleep_for(d); };
        break;
      }
      case Op::kCleanRestart:
        body = [](PartitionLog& l) { l.shutdown_cleanly(); };
        break;
      case Op::kCrash:
        break;
    }

    int64_t rp_at_crash = -1;
    bool crashed = false;
    bool s12_at_crash = true;
    if (armed) {
      const CrashKind kind = armed_kind;
      r.sim().scheduler().after(armed_after, [&, kind] {
        rp_at_crash = r.log().recovery_point();
        s12_at_crash = r.s12_holds();
        r.crash(kind);
        crashed = true;
        r.sim().scheduler().stop();
      });
    }
    const RunOutcome out = r.try_run(body, 10_s);
    if (out.reason != StopReason::kStopped) RC_FAIL(out.detail);  // a model assertion or a deadlock
    if (armed && !crashed) RC_ASSERT(r.sim().scheduler().run_for(10_s).reason == StopReason::kStopped);
    const bool in_flight = !r.done();

    if (!crashed) {
      if (op == Op::kCleanRestart) {
        // Stop the process after the clean shutdown: everything must come back, clean.
        const int64_t hw = r.log().high_watermark();
        r.crash(a % 2 == 0 ? CrashKind::kPowerLoss : CrashKind::kKill);
        if (!r.restart_ok()) RC_FAIL(r.last_detail());
        RC_ASSERT(r.report().clean);
        RC_ASSERT(r.log().high_watermark() == hw);
        RC_ASSERT(r.log().recovery_point() == r.log().log_end_offset());
      }
      RC_ASSERT(r.log().log_start_offset() == post.log_start);
      RC_ASSERT(all(r.log()) == post.entries);
      // Only a new leader's epoch may start at the LEO without a batch.
      Cache cache = r.log().epoch_cache();
      if (!cache.empty() && cache.back().start_offset == post.leo()) cache.pop_back();
      RC_ASSERT(cache == changes_of(post.entries));
      RC_ASSERT(r.s12_holds());
      if (full_at) abandoned.clear();
      if (op == Op::kTruncate && post.entries.size() < pre.entries.size()) abandoned.push_back(pre);
      model = post;
      continue;
    }

    armed = false;
    RC_ASSERT(s12_at_crash);
    RC_ASSERT(r.s12_holds());  // what the disk holds while the node is down
    if (!r.restart_ok()) RC_FAIL(r.last_detail());
    const RecoveryReport rep = r.report();
    const Model got{r.log().log_start_offset(), all(r.log())};
    // A prefix of the log before the step, or after it, whichever is longer; a full
    // truncation in flight may also have completed up to its new, empty segment.
    const Model& longer = pre.entries.size() >= post.entries.size() ? pre : post;
    const Model& ref = in_flight ? longer : post;
    const bool as_full = in_flight && full_at && got.log_start == *full_at && got.entries.empty();
    // F5: or, after a power loss, a prefix of a version a truncation abandoned (the step's own
    // truncation in flight included).
    if (op == Op::kTruncate) abandoned.push_back(pre);
    const bool as_abandoned =
        r.sim().last_crash(0) == CrashKind::kPowerLoss &&
        std::any_of(abandoned.begin(), abandoned.end(), [&](const Model& v) {
          return got.log_start == v.log_start && is_prefix(got.entries, v.entries) &&
                 !is_prefix(got.entries, ref.entries);
        });
    versions_back += as_abandoned ? 1 : 0;
    RC_ASSERT(as_full || as_abandoned || (got.log_start == ref.log_start && is_prefix(got.entries, ref.entries)));
    if (op == Op::kCleanRestart && in_flight) RC_ASSERT(!rep.clean);
    // Nothing fsynced is lost (F3); a kill loses nothing at all.
    RC_ASSERT(got.leo() >= rp_at_crash);
    if (r.sim().last_crash(0) == CrashKind::kKill) {
      if (!in_flight) {
        RC_ASSERT(got.log_start == post.log_start && got.entries == post.entries);
      } else if (!full_at) {
        RC_ASSERT(got.leo() >= std::min(pre.leo(), post.leo()));
      }
    }
    RC_ASSERT(r.log().epoch_cache() == changes_of(got.entries));
    RC_ASSERT(r.log().high_watermark() <= r.log().log_end_offset());
    RC_ASSERT(r.s12_holds());
    (r.sim().last_crash(0) == CrashKind::kKill ? kills : power_losses) += 1;
    inside_a_step += in_flight ? 1 : 0;
    model = got;
  }
  RC_CLASSIFY(power_losses > 0, "power loss");
  RC_CLASSIFY(kills > 0, "kill");
  RC_CLASSIFY(inside_a_step > 0, "crash inside a step");
  RC_CLASSIFY(versions_back > 0, "a power loss brought back a truncated version");
}


}  // namespace
}  // namespace faultline::kafka
