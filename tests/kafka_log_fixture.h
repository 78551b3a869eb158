// tests/kafka_log_fixture.h
// The one-replica fixture of the partition-log tests: a one-node simulation whose boot fiber
// recovers the log, helpers to drive it from fibers of that node, and ground truth from the
// node's Disk. Included by the log test files inside their own anonymous namespace.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "models/kafka/log.h"
#include "sim/simulation.h"

namespace faultline::kafka {

// Readable failures (found by argument-dependent lookup; internal linkage, so another test
// file may print these types its own way).
[[maybe_unused]] static void PrintTo(const LogEntry& e, std::ostream* os) {
  *os << "{" << e.offset << ", e" << e.epoch << ", #" << e.record_id << "}";
}
[[maybe_unused]] static void PrintTo(const EpochStart& e, std::ostream* os) { *os << "(e" << e.epoch << " @" << e.start_offset << ")"; }
[[maybe_unused]] static void PrintTo(const SegmentInfo& s, std::ostream* os) {
  *os << "[" << s.base_offset << ", " << s.end_offset << (s.active ? ") active" : ")");
}

namespace {

using namespace literals;
using ::testing::HasSubstr;
using Entries = std::vector<LogEntry>;
using Cache = std::vector<EpochStart>;

constexpr PartitionId kP = 0;

// Four records per segment, so that rolls are easy to provoke; checkpoints every few ticks.
LogConfig small_segments() {
  LogConfig c;
  c.segment_bytes = 4 * PartitionLog::kRecordAccountingBytes;
  c.segment_ms = 10_s;
  c.flush_on_append = false;
  c.hw_checkpoint_interval = 100_ms;
  c.recovery_point_checkpoint_interval = 200_ms;
  return c;
}

[[maybe_unused]] LogConfig large_segments() {
  LogConfig c = small_segments();
  c.segment_bytes = 1000 * PartitionLog::kRecordAccountingBytes;
  return c;
}

// The replica's process: its log, recovered by the boot fiber before a test fiber uses it.
struct Process {
  Process(NodeContext& ctx, const LogConfig& config) : log(ctx, kP, config), ready(ctx.scheduler(), "recovered") {}
  PartitionLog log;
  Flag ready;
  std::optional<RecoveryReport> report;
};

struct Options {
  LogConfig config = small_segments();
  bool background = true;  // the flusher and the checkpointer
  uint64_t seed = 1;
};

class ReplicaNode {
 public:
  explicit ReplicaNode(Options o = {}) : o_(o), sim_(o.seed) {
    node_ = sim_.add_node({"b1"}, [this](NodeContext& ctx) {
      auto p = std::make_shared<Process>(ctx, o_.config);
      ctx.spawn("boot", [this, raw = p.get()] {
        raw->report = raw->log.recover();
        if (o_.background) raw->log.start_background();
        raw->ready.set();
      });
      return std::static_pointer_cast<void>(p);
    });
    sim_.start(node_);
    run([](PartitionLog&) {});
  }

  Simulation& sim() { return sim_; }
  Disk& disk() { return sim_.disk(node_); }
  bool up() const { return sim_.is_up(node_); }
  Process& process() {
    auto p = sim_.process<Process>(node_);
    FL_ASSERT(p != nullptr && "the replica is down");
    return *p;
  }
  PartitionLog& log() { return process().log; }
  RecoveryReport report() { return *process().report; }

  // Runs `body` in a fiber of the replica's node (after recovery) until it returns.
  RunOutcome try_run(std::function<void(PartitionLog&)> body, Duration budget = 60_s) {
    Process* p = &process();
    done_ = false;
    sim_.node(node_).spawn("test", [this, p, body = std::move(body)] {
      p->ready.wait();
      body(p->log);
      done_ = true;
      sim_.scheduler().stop();
    });
    return sim_.scheduler().run_for(budget);
  }
  void run(std::function<void(PartitionLog&)> body) {
    const RunOutcome out = try_run(std::move(body));
    ASSERT_TRUE(done_) << to_string(out.reason) << ": " << out.detail;
  }
  bool done() const { return done_; }

  // Lets simulated time pass: the background fibers flush and checkpoint.
  void advance(Duration d) {
    const RunOutcome out = sim_.scheduler().run_for(d);
    ASSERT_TRUE(out.reason == StopReason::kTimeBudget || out.reason == StopReason::kDrained)
        << to_string(out.reason) << ": " << out.detail;
  }

  void crash(CrashKind kind) { sim_.crash(node_, kind); }
  // Boots a new process on the same disk and waits for its recovery.
  RecoveryReport restart() {
    sim_.restart(node_);
    run([](PartitionLog&) {});
    return report();
  }
  RecoveryReport crash_and_restart(CrashKind kind) {
    crash(kind);
    return restart();
  }

  // --- ground truth ------------------------------------------------------------------
  std::map<int64_t, std::string> segment_files(bool durable) {
    std::map<int64_t, std::string> out;
    for (const std::string& f : disk().files()) {
      if (!f.starts_with(PartitionLog::directory(kP))) continue;
      if (auto base = PartitionLog::segment_base(f)) {
        out[*base] = *(durable ? disk().durable_content(f) : disk().cached_content(f));
      }
    }
    return out;
  }
  std::vector<int64_t> segment_bases() {
    std::vector<int64_t> out;
    for (const auto& [base, bytes] : segment_files(false)) out.push_back(base);
    return out;
  }
  // The end of the log a power loss right now could not take away (S12's "fsynced LEO").
  // With no segment file at all (inside a full truncation) recovery restarts empty at the
  // log start checkpoint.
  int64_t durable_leo() {
    if (auto end = PartitionLog::end_offset_of(segment_files(true))) return *end;
    return durable_checkpoint(PartitionLog::log_start_offset_file(kP)).value_or(0);
  }
  std::optional<int64_t> durable_checkpoint(const std::string& file) {
    auto bytes = disk().durable_content(file);
    if (!bytes) return std::nullopt;
    auto v = PartitionLog::parse_offset_checkpoint(*bytes);
    FL_ASSERT(v.has_value() && "a checkpoint is never torn", file, *bytes);
    return v;
  }
  // S12 on the disk: the recovery point checkpoint is covered by durable data; and the log's
  // own recovery point too, if the process is up.
  bool s12_holds() {
    const int64_t leo = durable_leo();
    const auto ckpt = durable_checkpoint(PartitionLog::recovery_point_file(kP));
    if (ckpt && *ckpt > leo) return false;
    return !(up() && process().log.recovered() && log().recovery_point() > leo);
  }
  void expect_s12(const char* when) {
    EXPECT_TRUE(s12_holds()) << when << ": durable LEO " << durable_leo() << ", checkpoint "
                             << durable_checkpoint(PartitionLog::recovery_point_file(kP)).value_or(-1);
  }
  // restart() for properties: false if recovery did not complete.
  bool restart_ok() {
    sim_.restart(node_);
    const RunOutcome out = try_run([](PartitionLog&) {});
    last_detail_ = out.detail;
    return out.reason == StopReason::kStopped && done_;
  }
  // Why the last restart_ok() failed.
  const std::string& last_detail() const { return last_detail_; }

 private:
  Options o_;
  Simulation sim_;
  NodeId node_ = 0;
  bool done_ = false;
  std::string last_detail_;
};

[[maybe_unused]] std::vector<uint64_t> ids(uint64_t first, size_t n) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(first + i);
  return out;
}

// Entries [from, from + epochs.size()) with the given epochs and record ids 100 + offset.
[[maybe_unused]] Entries entries(int64_t from, const std::vector<Epoch>& epochs) {
  Entries out;
  for (size_t i = 0; i < epochs.size(); ++i) {
    const int64_t o = from + static_cast<int64_t>(i);
    out.push_back({o, epochs[i], static_cast<uint64_t>(100 + o)});
  }
  return out;
}

[[maybe_unused]] Entries all(const PartitionLog& log) {
  return log.read(log.log_start_offset(), UINT32_MAX, log.log_end_offset());
}

// end_offset_for_epoch as a comparable value (EpochEndOffset has no operator==).
using EpochEnd = std::pair<Epoch, int64_t>;
[[maybe_unused]] std::optional<EpochEnd> end_of(const PartitionLog& log, Epoch requested) {
  auto eo = log.end_offset_for_epoch(requested);
  if (!eo) return std::nullopt;
  return EpochEnd{eo->epoch, eo->end_offset};
}

// The epoch cache a log of exactly these entries must have: one entry per epoch change.
[[maybe_unused]] Cache changes_of(const Entries& es) {
  Cache out;
  for (const LogEntry& e : es) {
    if (out.empty() || out.back().epoch != e.epoch) out.push_back({e.epoch, e.offset});
  }
  return out;
}


}  // namespace
}  // namespace faultline::kafka
