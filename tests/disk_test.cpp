// The simulated disk's contract (sim/disk.h): page cache versus durable views, fsync, process
// kill versus power loss (rule F3), stalls and slowdowns (rule F4), atomic rename and
// write_atomically (rule F2), and the assertions that catch misuse.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sim/disk.h"

namespace faultline {
namespace {

using namespace literals;

constexpr NodeId kNode = 0;

// Fsyncs without jitter, so that times can be asserted to the nanosecond.
DiskOptions exact_options() {
  DiskOptions o;
  o.fsync_jitter_mean = Duration::zero();
  return o;
}

Instant at(Duration d) { return Instant::zero() + d; }

// One node with its disk and its own clock. Destruction unwinds the node's fibers first:
// they may be blocked inside disk calls that touch the disk as they unwind.
struct World {
  explicit World(uint64_t seed = 1, DiskOptions options = {}) : disk(s, kNode, seed, "disk/n0", options) {
    trace.set_node_name(kNode, "n0");
  }
  ~World() { s.kill_node(kNode); }
  void spawn(std::function<void()> body, std::string name = "model") {
    s.spawn(kNode, std::move(name), std::move(body));
  }
  RunOutcome run_for(Duration d = 10_s) { return s.run_for(d); }
  // A power loss as the simulation will apply it: the disk loses its unsynced data and the
  // node's process dies, in the same event.
  void power_loss() {
    disk.power_loss();
    s.kill_node(kNode);
  }

  Trace trace;
  Scheduler s{trace};
  Disk disk;
};

// Counts destructions: proof that a killed fiber's stack really unwound.
struct Guard {
  int* count;
  ~Guard() { ++*count; }
};

// --- page cache and latency -------------------------------------------------------------

TEST(DiskPageCache, ANameReusedAfterARenameOrARemoveIsAnotherFile) {
  // Name lookups are cached (sim/disk.h, Recent): a rename, a remove or a replacement must
  // never leave a name pointing at the file it used to name.
  World w;
  w.spawn([&] {
    w.disk.append("x", "1");
    w.disk.rename("x", "y");
    w.disk.append("x", "2");  // a new file named x
    w.disk.append("y", "a");
    EXPECT_EQ(w.disk.cached_content("x"), "2");
    EXPECT_EQ(w.disk.cached_content("y"), "1a");
    EXPECT_TRUE(w.disk.remove("x"));
    w.disk.append("x", "3");
    EXPECT_EQ(w.disk.cached_content("x"), "3");
    w.disk.rename("y", "x");  // replaces x
    w.disk.append("x", "4");
    EXPECT_EQ(w.disk.cached_content("x"), "1a4");
    EXPECT_FALSE(w.disk.exists("y"));
    w.disk.append("y", "5");
    EXPECT_EQ(w.disk.cached_content("y"), "5");
  });
  EXPECT_EQ(w.run_for().reason, StopReason::kDrained);
}

TEST(DiskPageCache, AppendIsReadableAtOnceButNotDurableAndChargesWriteLatency) {
  World w;
  std::optional<std::string> seen;
  Instant appended, read_done;
  w.spawn([&] {
    w.disk.append("log", "hello");
    appended = w.s.now();
    seen = w.disk.read("log");
    read_done = w.s.now();
  });
  EXPECT_EQ(w.run_for().reason, StopReason::kDrained);
  EXPECT_EQ(seen, "hello");
  EXPECT_EQ(appended, at(10_us + 12_ns));          // base + 5 bytes at 400 MB/s (12.5 ns)
  EXPECT_EQ(read_done - appended, 5_us + 5_ns);    // base + 5 bytes at 1 GB/s
  EXPECT_EQ(w.disk.cached_size("log"), 5u);
  EXPECT_EQ(w.disk.durable_size("log"), 0u);
  EXPECT_EQ(w.disk.bytes_written(), 5u);
}

TEST(DiskPageCache, LargeAppendPaysForItsBytes) {
  World w;
  Instant done;
  w.spawn([&] {
    w.disk.append("segment", std::string(4'000'000, 'x'));
    done = w.s.now();
  });
  w.run_for();
  EXPECT_EQ(done, at(10_us + 10_ms));  // 4 MB at 400 MB/s
}

TEST(DiskPageCache, ReadRangeIsShortAtTheEndAndMissingFilesAreNullopt) {
  World w;
  std::vector<std::optional<std::string>> got;
  w.spawn([&] {
    w.disk.append("f", "0123456789");
    got.push_back(w.disk.read_range("f", 2, 3));
    got.push_back(w.disk.read_range("f", 8, 100));
    got.push_back(w.disk.read_range("f", 50, 1));
    got.push_back(w.disk.read("missing"));
  });
  w.run_for();
  EXPECT_EQ(got, (std::vector<std::optional<std::string>>{"234", "89", "", std::nullopt}));
  EXPECT_FALSE(w.disk.exists("missing"));
  EXPECT_EQ(w.disk.size("missing"), 0u);
}

TEST(DiskPageCache, ListIsSortedAndFilteredByPrefix) {
  World w;
  w.spawn([&] {
    for (const char* name : {"p0/00020.log", "p1/00000.log", "p0/00000.log", "p0/checkpoint"}) w.disk.write(name, "x");
    EXPECT_TRUE(w.disk.remove("p0/checkpoint"));
    EXPECT_FALSE(w.disk.remove("p0/checkpoint"));
  });
  w.run_for();
  EXPECT_EQ(w.disk.list("p0/"), (std::vector<std::string>{"p0/00000.log", "p0/00020.log"}));
  EXPECT_EQ(w.disk.files(), (std::vector<std::string>{"p0/00000.log", "p0/00020.log", "p1/00000.log"}));
}

// --- fsync and power loss -----------------------------------------------------------------

TEST(DiskDurability, FsyncMakesTheAppendDurableAndPowerLossKeepsIt) {
  World w(7, exact_options());
  Instant synced;
  w.spawn([&] {
    w.disk.append("log", "abc");
    w.disk.fsync("log");
    synced = w.s.now();
  });
  w.run_for();
  EXPECT_EQ(synced, at(10_us + 7_ns + 500_us));
  EXPECT_EQ(w.disk.durable_content("log"), "abc");
  EXPECT_EQ(w.disk.fsyncs(), 1u);
  w.power_loss();
  EXPECT_EQ(w.disk.cached_content("log"), "abc");
  EXPECT_EQ(w.disk.bytes_lost(), 0u);
}

// The log of one run: a synced head, then three unsynced records, then a power loss.
const std::string kSynced = "synced-head|";
const std::string kUnsynced[] = {"r1|", "r2|", "last!|"};

std::string log_after_power_loss(uint64_t seed) {
  World w(seed);
  w.spawn([&] {
    w.disk.append("log", kSynced);
    w.disk.fsync("log");
    for (const std::string& r : kUnsynced) w.disk.append("log", r);
  });
  w.run_for();
  w.power_loss();
  return *w.disk.cached_content("log");
}

TEST(DiskDurability, PowerLossDropsAnUnsyncedSuffixInSomeSeedsButNeverTheSyncedHead) {
  const std::string full = kSynced + kUnsynced[0] + kUnsynced[1] + kUnsynced[2];
  const size_t last_begins = full.size() - kUnsynced[2].size();
  int kept_all = 0, lost_some = 0, torn_last = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    const std::string log = log_after_power_loss(seed);
    EXPECT_EQ(log, log_after_power_loss(seed)) << "seed " << seed << " does not replay";
    EXPECT_TRUE(log.starts_with(kSynced)) << "seed " << seed << " lost fsynced bytes: " << log;
    EXPECT_TRUE(full.starts_with(log)) << "seed " << seed << " invented bytes: " << log;
    kept_all += log == full;
    lost_some += log.size() < full.size();
    torn_last += log.size() > last_begins && log.size() < full.size();
  }
  EXPECT_GT(kept_all, 0);
  EXPECT_GT(lost_some, 0);
  EXPECT_GT(torn_last, 0);  // cut inside the last record: what F3 recovery must detect
}

TEST(DiskDurability, FsyncSnapshotsTheCacheWhenItStarts) {
  // Bytes appended while an fsync is in flight are not promised by it (POSIX), so a model
  // must not move its recovery point past what it had appended when the fsync started.
  World w(1, exact_options());
  w.spawn([&] {
    w.disk.append("log", "first|");
    w.disk.fsync("log");
  }, "flusher");
  w.spawn([&] {
    w.s.sleep_for(100_us);
    w.disk.append("log", "second|");
  }, "appender");
  w.run_for();
  EXPECT_EQ(w.disk.cached_content("log"), "first|second|");
  EXPECT_EQ(w.disk.durable_content("log"), "first|");
}

TEST(DiskDurability, FsyncStartedBeforeARewriteMakesTheOldContentDurable) {
  World w(1, exact_options());
  w.spawn([&] {
    w.disk.write("state", "aaaa");
    w.disk.fsync("state");
  }, "flusher");
  w.spawn([&] {
    w.s.sleep_for(100_us);
    w.disk.write("state", "bbbbbb");
  }, "rewriter");
  w.run_for();
  EXPECT_EQ(w.disk.cached_content("state"), "bbbbbb");
  EXPECT_EQ(w.disk.durable_content("state"), "aaaa");
}

TEST(DiskDurability, FsyncFollowsItsFileAcrossARenameAndIgnoresARemovedOne) {
  World w(1, exact_options());
  w.spawn([&] {
    w.disk.write("cp.tmp", "checkpoint");
    w.disk.write("doomed", "bytes");
  }, "setup");
  w.run_for(1_ms);
  w.spawn([&] { w.disk.fsync("cp.tmp"); }, "flusher-1");
  w.spawn([&] { w.disk.fsync("doomed"); }, "flusher-2");
  w.spawn([&] {
    w.s.sleep_for(100_us);
    w.disk.rename("cp.tmp", "cp");
    EXPECT_TRUE(w.disk.remove("doomed"));
  }, "renamer");
  EXPECT_EQ(w.run_for().reason, StopReason::kDrained);
  EXPECT_EQ(w.disk.durable_content("cp"), "checkpoint");
  EXPECT_EQ(w.disk.files(), (std::vector<std::string>{"cp"}));
  EXPECT_EQ(w.disk.fsyncs(), 2u);
}

// --- process kill ---------------------------------------------------------------------------

TEST(DiskCrash, ProcessKillLosesNothingEvenUnsynced) {
  World w;
  w.spawn([&] {
    w.disk.append("log", "unsynced");
    w.s.sleep_for(1_s);
  });
  w.run_for(1_ms);
  w.disk.process_kill();
  w.s.kill_node(kNode);
  std::optional<std::string> seen;
  w.spawn([&] { seen = w.disk.read("log"); }, "restarted");
  w.run_for();
  EXPECT_EQ(seen, "unsynced");
  EXPECT_EQ(w.disk.durable_size("log"), 0u);
}

TEST(DiskCrash, NodeKilledInsideFsyncUnwindsAndMakesNothingDurable) {
  World w(1, exact_options());
  int unwound = 0;
  bool returned = false;
  w.spawn([&] {
    Guard g{&unwound};
    w.disk.append("log", "data");
    w.disk.fsync("log");  // 10 us .. 510 us
    returned = true;
  });
  w.run_for(200_us);
  ASSERT_EQ(w.s.live_fibers(kNode), 1u);
  w.disk.process_kill();
  w.s.kill_node(kNode);
  EXPECT_EQ(unwound, 1);
  EXPECT_FALSE(returned);
  w.run_for(1_s);  // well past when the fsync would have completed
  EXPECT_EQ(w.disk.durable_size("log"), 0u);
  EXPECT_EQ(w.disk.cached_content("log"), "data");  // the page cache kept it
  EXPECT_EQ(w.disk.fsyncs(), 0u);
  // The next process's fsync works as usual.
  w.spawn([&] { w.disk.fsync("log"); }, "restarted");
  w.run_for();
  EXPECT_EQ(w.disk.durable_content("log"), "data");
}

// --- stall and slow (rule F4) ---------------------------------------------------------------

TEST(DiskFaults, StallHoldsAppendsAndFsyncsUntilItEndsButNotReadsAndLosesNothing) {
  World w(1, exact_options());
  w.spawn([&] { w.disk.append("log", "before|"); }, "setup");
  w.run_for(1_ms);
  w.disk.stall(at(50_ms));
  Instant appended, synced, read_done;
  std::optional<std::string> seen;
  w.spawn([&] {
    w.s.sleep_for(1_ms);
    w.disk.append("log", "during|");
    appended = w.s.now();
    w.disk.fsync("log");
    synced = w.s.now();
  }, "writer");
  w.spawn([&] {
    w.s.sleep_for(1_ms);
    seen = w.disk.read("log");
    read_done = w.s.now();
  }, "reader");
  w.run_for();
  EXPECT_EQ(appended, at(50_ms + 10_us + 17_ns));  // held, then its own latency
  EXPECT_EQ(synced, appended + 500_us);
  EXPECT_EQ(read_done, at(2_ms + 5_us + 7_ns));    // the page cache is not stalled
  EXPECT_EQ(seen, "before|");
  EXPECT_EQ(w.disk.durable_content("log"), "before|during|");
}

TEST(DiskFaults, FsyncInFlightWhenAStallBeginsServesTheRestAfterTheLatestEnd) {
  World w(1, exact_options());
  Instant started, synced;
  w.spawn([&] {
    w.disk.append("log", "x");
    started = w.s.now();
    w.disk.fsync("log");
    synced = w.s.now();
  });
  w.s.at(at(110_us), [&] { w.disk.stall(at(10_ms)); });
  w.s.at(at(5_ms), [&] { w.disk.stall(at(20_ms)); });  // extends
  w.s.at(at(6_ms), [&] { w.disk.stall(at(15_ms)); });  // never shortens
  w.run_for();
  const Duration served_before = at(110_us) - started;
  EXPECT_EQ(synced, at(20_ms) + (500_us - served_before));
  EXPECT_EQ(w.disk.durable_content("log"), "x");
}

TEST(DiskFaults, HealEndsAStallEarly) {
  World w(1, exact_options());
  w.disk.stall(at(1_s));
  Instant done;
  w.spawn([&] {
    w.disk.append("log", "x");
    done = w.s.now();
  });
  w.s.at(at(3_ms), [&] { w.disk.heal(); });
  w.run_for();
  EXPECT_EQ(done, at(3_ms + 10_us + 2_ns));
}

TEST(DiskFaults, SlowFactorMultipliesWriteAndFsyncLatencyUntilItEnds) {
  World w(1, exact_options());
  w.disk.slow(4, at(10_ms));
  Duration append_took, fsync_took, fsync_after;
  w.spawn([&] {
    Instant t = w.s.now();
    w.disk.append("log", "x");
    append_took = w.s.now() - t;
    t = w.s.now();
    w.disk.fsync("log");
    fsync_took = w.s.now() - t;
    w.s.sleep_until(at(20_ms));
    t = w.s.now();
    w.disk.fsync("log");
    fsync_after = w.s.now() - t;
  });
  w.run_for();
  EXPECT_EQ(append_took, (10_us + 2_ns) * 4);
  EXPECT_EQ(fsync_took, 2000_us);
  EXPECT_EQ(fsync_after, 500_us);
}

// --- rename and write_atomically (rule F2) ---------------------------------------------------

TEST(DiskRename, RenameReplacesTheTargetAtomically) {
  World w;
  std::optional<std::string> seen;
  w.spawn([&] {
    w.disk.write("a", "new");
    w.disk.write("b", "old");
    w.disk.rename("a", "b");
    seen = w.disk.read("b");
  });
  w.run_for();
  EXPECT_EQ(seen, "new");
  EXPECT_FALSE(w.disk.exists("a"));
  EXPECT_EQ(w.disk.files(), (std::vector<std::string>{"b"}));
}

TEST(DiskRename, WriteAtomicallySurvivesAPowerLossAtAnyMomentIntact) {
  const std::string old_cp = "hw=10 recovery=8";
  const std::string new_cp = "hw=25 recovery=21 log-start=3";
  int saw_old = 0, saw_new = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    World w(seed);
    w.spawn([&] {
      w.disk.write_atomically("checkpoint", old_cp);
      // The power fails somewhere in, or after, the second checkpoint write (~2 ms).
      w.s.after(Duration::micros(static_cast<int64_t>(60 * seed)), [&] { w.power_loss(); });
      w.disk.write_atomically("checkpoint", new_cp);
    });
    w.run_for();
    const auto cp = w.disk.cached_content("checkpoint");
    ASSERT_TRUE(cp.has_value()) << "seed " << seed;
    EXPECT_TRUE(*cp == old_cp || *cp == new_cp) << "seed " << seed << " tore the checkpoint: " << *cp;
    saw_old += *cp == old_cp;
    saw_new += *cp == new_cp;
  }
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);
}

TEST(DiskRename, RenameWithoutFsyncCanLeaveAnEmptyOrTornTargetAfterPowerLoss) {
  // The bug class write_atomically prevents: the rename is durable, the data is not.
  const std::string new_cp = "hw=25 recovery=21";
  int empty = 0, torn = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    World w(seed);
    w.spawn([&] {
      w.disk.write_atomically("checkpoint", "hw=10 recovery=8");
      w.disk.write("checkpoint.tmp", new_cp);
      w.disk.rename("checkpoint.tmp", "checkpoint");  // missing fsync before the rename
    });
    w.run_for();
    w.power_loss();
    const std::string cp = *w.disk.cached_content("checkpoint");
    EXPECT_TRUE(new_cp.starts_with(cp)) << "seed " << seed << ": " << cp;  // never the old one
    empty += cp.empty();
    torn += !cp.empty() && cp != new_cp;
  }
  EXPECT_GT(empty, 0);
  EXPECT_GT(torn, 0);
}

// --- truncate -------------------------------------------------------------------------------

std::string truncated_log_after_power_loss(uint64_t seed, const std::string& append_after) {
  World w(seed);
  w.spawn([&] {
    w.disk.append("log", "0123456789");
    w.disk.fsync("log");
    w.disk.truncate("log", 4);
    if (!append_after.empty()) w.disk.append("log", append_after);
  });
  w.run_for();
  EXPECT_EQ(w.disk.durable_content("log"), "0123456789");  // truncate touched the cache only
  w.power_loss();
  return *w.disk.cached_content("log");
}

TEST(DiskTruncate, PowerLossAfterTruncateKeepsTheOldDurableContentOrTheTruncatedOne) {
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 40; ++seed) seen.insert(truncated_log_after_power_loss(seed, ""));
  EXPECT_EQ(seen, (std::set<std::string>{"0123456789", "0123"}));
}

TEST(DiskTruncate, PowerLossAfterTruncateAndAppendKeepsTheOldContentOrAPrefixOfTheNewPastTheCommonPart) {
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 80; ++seed) seen.insert(truncated_log_after_power_loss(seed, "xy"));
  EXPECT_EQ(seen, (std::set<std::string>{"0123456789", "0123", "0123x", "0123xy"}));
}

TEST(DiskTruncate, TruncateIsDurableAfterTheNextFsync) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    World w(seed);
    w.spawn([&] {
      w.disk.append("log", "0123456789");
      w.disk.fsync("log");
      w.disk.truncate("log", 4);
      w.disk.fsync("log");
    });
    w.run_for();
    w.power_loss();
    EXPECT_EQ(w.disk.cached_content("log"), "0123") << "seed " << seed;
  }
}

TEST(DiskTruncate, TruncatePastTheEndExtendsWithZeroBytes) {
  World w;
  w.spawn([&] {
    w.disk.append("f", "ab");
    w.disk.truncate("f", 4);
  });
  w.run_for();
  EXPECT_EQ(w.disk.cached_content("f"), std::string("ab\0\0", 4));
}

// --- tracing and determinism ------------------------------------------------------------------

TEST(DiskTrace, PowerLossAndFsyncAreTracedWithTheBytesLost) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* sink = open_memstream(&buf, &len);
  ASSERT_NE(sink, nullptr);
  uint64_t lost = 0;
  {
    World w(3);
    w.trace.set_sink(sink);
    w.spawn([&] {
      w.disk.append("a", "synced");
      w.disk.fsync("a");
      w.disk.append("a", "-unsynced-tail");
      w.disk.append("b", "never-synced");
    });
    w.run_for();
    w.power_loss();
    lost = (20 - w.disk.cached_size("a")) + (12 - w.disk.cached_size("b"));
    EXPECT_EQ(w.disk.bytes_lost(), lost);
    std::fflush(sink);
    const std::string text(buf, len);
    EXPECT_NE(text.find("fsync file=a durable=6"), std::string::npos) << text;
    EXPECT_NE(text.find("disk-power-loss files=2 damaged="), std::string::npos) << text;
    EXPECT_NE(text.find(fmt::format("lost={}\n", lost)), std::string::npos) << text;
    w.trace.set_sink(nullptr);
  }
  std::fclose(sink);
  std::free(buf);
}

std::pair<uint64_t, std::string> traced_run(uint64_t seed) {
  World w(seed);
  w.spawn([&] {
    for (int i = 0; i < 20; ++i) {
      w.disk.append("log", fmt::format("record-{}|", i));
      if (i % 3 == 0) w.disk.fsync("log");
    }
  });
  w.s.at(at(2_ms), [&] { w.disk.stall(at(5_ms)); });
  w.s.at(at(9_ms), [&] { w.power_loss(); });
  w.run_for();
  return {w.trace.hash(), *w.disk.cached_content("log")};
}

TEST(DiskDeterminism, SameSeedSameContentAndTraceHash) {
  EXPECT_EQ(traced_run(5), traced_run(5));
  EXPECT_NE(traced_run(5).first, traced_run(6).first);  // the fsync jitter differs
}

// --- assertions -------------------------------------------------------------------------------

TEST(DiskAssertions, FsyncOfAMissingFileIsACrash) {
  World w;
  w.spawn([&] { w.disk.fsync("nope"); });
  const RunOutcome out = w.run_for();
  EXPECT_EQ(out.reason, StopReason::kCrash);
  EXPECT_NE(out.detail.find("fsync of a file that does not exist"), std::string::npos) << out.detail;
}

TEST(DiskAssertions, ACallFromAnotherNodesFiberIsACrash) {
  World w;
  w.s.spawn(kNode + 1, "intruder", [&] { w.disk.append("log", "x"); });
  const RunOutcome out = w.run_for();
  EXPECT_EQ(out.reason, StopReason::kCrash);
  EXPECT_NE(out.detail.find("from a fiber of the disk's node"), std::string::npos) << out.detail;
  EXPECT_FALSE(w.disk.exists("log"));
}

TEST(DiskAssertions, ACallThatOutlivesAPowerLossIsACrash) {
  // A power loss that forgets to crash the process would let a pre-crash write land on the
  // post-crash disk.
  World w(1, exact_options());
  w.spawn([&] {
    w.disk.append("log", "x");
    w.disk.fsync("log");
  });
  w.s.at(at(100_us), [&] { w.disk.power_loss(); });  // and no kill_node
  const RunOutcome out = w.run_for();
  EXPECT_EQ(out.reason, StopReason::kCrash);
  EXPECT_NE(out.detail.find("outlived a power loss"), std::string::npos) << out.detail;
}

// --- properties -------------------------------------------------------------------------------

// One step of a fault plan against one file.
enum class Step { kAppend, kFsync, kTruncate, kRewrite, kPowerLoss };

RC_GTEST_PROP(DiskProps, PowerLossKeepsTheSyncedPrefixOrTheRuleForRewritesAndNeverInventsBytes, ()) {
  const auto seed = *rc::gen::arbitrary<uint64_t>();
  const auto plan = *rc::gen::container<std::vector<std::pair<Step, uint64_t>>>(rc::gen::pair(
      rc::gen::element(Step::kAppend, Step::kFsync, Step::kTruncate, Step::kRewrite, Step::kPowerLoss),
      rc::gen::inRange<uint64_t>(0, 24)));
  World w(seed);
  std::string cached, durable;  // what the contract predicts
  char next = 'a';
  bool lost_after_rewrite = false;
  auto fresh = [&](uint64_t n) {  // bytes unlike any written before, so prefixes mean something
    next = next == 'z' ? 'a' : static_cast<char>(next + 1);
    return std::string(n, next);
  };
  auto in_fiber = [&](std::function<void()> body) {
    w.spawn(std::move(body));
    RC_ASSERT(w.run_for(1_s).reason == StopReason::kDrained);
  };
  in_fiber([&] { w.disk.write("f", ""); });
  for (const auto& [step, arg] : plan) {
    switch (step) {
      case Step::kAppend: {
        const std::string bytes = fresh(arg + 1);
        in_fiber([&] { w.disk.append("f", bytes); });
        cached += bytes;
        break;
      }
      case Step::kFsync:
        in_fiber([&] { w.disk.fsync("f"); });
        durable = cached;
        break;
      case Step::kTruncate: {
        const uint64_t size = arg % (cached.size() + 1);
        in_fiber([&] { w.disk.truncate("f", size); });
        cached.resize(size);
        break;
      }
      case Step::kRewrite: {
        const std::string bytes = fresh(arg);
        in_fiber([&] { w.disk.write("f", bytes); });
        cached = bytes;
        break;
      }
      case Step::kPowerLoss: {
        w.power_loss();
        const std::string after = *w.disk.cached_content("f");
        if (cached.starts_with(durable)) {
          RC_ASSERT(after.starts_with(durable));  // fsynced bytes are never lost
          RC_ASSERT(cached.starts_with(after));   // nothing that was not in the cache
        } else {
          size_t common = 0;
          while (common < cached.size() && common < durable.size() && cached[common] == durable[common]) ++common;
          RC_ASSERT(after == durable || (cached.starts_with(after) && after.size() >= common));
          lost_after_rewrite = true;
        }
        cached = durable = after;
        break;
      }
    }
    RC_ASSERT(w.disk.cached_content("f") == cached);
    RC_ASSERT(w.disk.durable_content("f") == durable);
  }
  RC_CLASSIFY(lost_after_rewrite, "power loss after a truncate or rewrite");
}

RC_GTEST_PROP(DiskProps, WriteAtomicallyLeavesExactlyTheLastCompletedValueAfterAPowerLoss, ()) {
  const auto seed = *rc::gen::arbitrary<uint64_t>();
  const auto values = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::string<std::string>()));
  const auto power_fails_after_us = *rc::gen::inRange<int64_t>(0, 12'000);
  World w(seed);
  std::vector<std::string> completed;
  w.spawn([&] {
    for (const std::string& v : values) {
      w.disk.write_atomically("cp", v);
      completed.push_back(v);
    }
  });
  w.s.at(at(Duration::micros(power_fails_after_us)), [&] { w.power_loss(); });
  w.run_for();
  if (completed.empty()) {
    RC_ASSERT(!w.disk.exists("cp"));
  } else {
    RC_ASSERT(w.disk.cached_content("cp") == completed.back());
  }
}

}  // namespace
}  // namespace faultline
