// sim/scheduler.h
// One thread, one clock, explicit order (style.md, example 10).
//
// Contract:
// - Events run in (time, sequence) order; the sequence number is the order in which they
//   were scheduled, so ties are broken first-scheduled-first (FoundationDB's FIFO rule).
// - Model code runs in fibers (Boost.Context, pooled stacks, hidden in scheduler.cpp). A
//   fiber runs until it blocks: sleep, wait on a WaitQueue-based primitive, or yield.
//   Callbacks scheduled with at()/after() run on the scheduler's own stack and must not block.
// - Every fiber belongs to a node. kill_node() unwinds every fiber of that node by throwing
//   NodeKilled at its blocking point, so destructors run; the node's timers become inert.
// - run_until() stops at a time budget, a step budget, on stop(), on a crash (an assertion or
//   exception escaping a fiber or callback), or when the queue drains. A drained queue with
//   blocked fibers is a deadlock, reported with the list of blocked fibers.
// - The scheduler never reads the wall clock, never looks at pointer values to decide
//   anything, and folds every dispatch into the trace hash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/time.h"
#include "sim/trace.h"

namespace faultline {

struct Fiber;  // defined in scheduler.cpp; models never see it.
class Scheduler;

// Thrown inside a fiber of a killed node at its blocking point. Model code must let it pass
// (never `catch (...)` without rethrowing); the scheduler catches it at the fiber's base.
struct NodeKilled {};

// A FIFO of fibers blocked on some condition. The building block of every primitive below.
class WaitQueue {
 public:
  explicit WaitQueue(const char* what) : what_(what) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue();

  // Blocks the current fiber until notified or `deadline`; true if notified.
  bool wait(Scheduler& s, Instant deadline = Instant::max());
  // Wakes the longest-waiting fiber (if any); it runs at the current time, after the events
  // already scheduled for this instant. Returns whether a fiber was woken.
  bool notify_one(Scheduler& s);
  void notify_all(Scheduler& s);
  bool empty() const { return head_ == nullptr; }
  const char* what() const { return what_; }

 private:
  friend class Scheduler;
  void unlink(Fiber* f);
  const char* what_;
  Fiber* head_ = nullptr;
  Fiber* tail_ = nullptr;
};

enum class StopReason {
  kDrained,      // nothing left to do and no fiber blocked
  kTimeBudget,   // reached the requested time
  kStepBudget,   // ran the maximum number of events (a livelock, usually)
  kStopped,      // stop() was called
  kCrash,        // an assertion or exception escaped model or scenario code
  kDeadlock,     // queue empty while fibers are blocked
};
const char* to_string(StopReason r);

struct RunOutcome {
  StopReason reason = StopReason::kDrained;
  std::string detail;  // crash message or deadlock listing
};

struct SchedulerOptions {
  // Bytes of stack per fiber. Fibers are pooled and reused, so this is paid once per
  // concurrently live fiber.
  size_t fiber_stack_bytes = 256 * 1024;
  // Maximum events per run_until() call before it stops with kStepBudget.
  uint64_t max_steps = 200'000'000;
};

class Scheduler {
 public:
  using Callback = std::function<void()>;

  explicit Scheduler(Trace& trace, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Instant now() const { return now_; }
  Trace& trace() { return trace_; }

  // --- fibers -------------------------------------------------------------------------
  // Starts `body` in a new fiber of `node`, first run at the current time.
  void spawn(NodeId node, std::string name, std::function<void()> body);
  // Blocking calls: only from inside a fiber.
  void sleep_for(Duration d);
  void sleep_until(Instant t);
  void yield();  // run again at the current time, after what is already due
  bool in_fiber() const { return current_ != nullptr; }
  // The node whose fiber is running, or kWorld in a callback.
  NodeId current_node() const;

  // Unwinds every fiber of `node` (see the contract above). Safe from fibers and callbacks.
  // From a callback the fibers are unwound before this returns; from a fiber of another
  // node, before the next event; from a fiber of `node` itself, that fiber unwinds at once.
  void kill_node(NodeId node);
  size_t live_fibers(NodeId node) const;
  size_t live_fibers() const { return live_fibers_; }

  // --- callbacks ----------------------------------------------------------------------
  void at(Instant t, Callback cb);
  void after(Duration d, Callback cb) { at(now_ + d, std::move(cb)); }
  // A callback that is a plain function of two words, without a std::function: the same
  // order, hash and crash handling as at(). For the hottest callers (a message's delivery).
  using PlainFn = void (*)(void* ctx, uint64_t arg);
  void at_plain(Instant t, PlainFn fn, void* ctx, uint64_t arg);

  // --- running ------------------------------------------------------------------------
  RunOutcome run_until(Instant end);
  RunOutcome run_for(Duration d) { return run_until(now_ + d); }
  void stop() { stop_requested_ = true; }
  uint64_t steps() const { return steps_; }

  // Records a crash from scenario or model code that is not in a fiber (e.g. a checker);
  // the current run_until() returns kCrash after the current step.
  void crash(std::string message);

 private:
  friend class WaitQueue;
  struct Entry {
    int64_t at;
    uint64_t seq;
    Fiber* fiber;      // nullptr: a callback
    uint64_t token;    // fiber: its park generation; callback: slot index (kPlainBit: in plain_)
  };

  void push(Instant t, Fiber* fiber, uint64_t token);
  bool pop(Instant end, Entry* out);
  // Moves the earliest entries of the lowest non-empty bucket into bucket 0, if they are due
  // by `end`; false if nothing is.
  [[gnu::noinline]] bool deal(Instant end);
  void dispatch(const Entry& e);
  void resume(Fiber* f);
  // Parks the current fiber until woken by its generation (timer or notify).
  void park(const char* why, Instant deadline);
  void wake(Fiber* f);
  [[noreturn]] void throw_killed(Fiber* f);
  void unwind_killed();
  void finish_fiber(Fiber* f);
  std::string deadlock_report() const;

  Trace& trace_;
  SchedulerOptions options_;
  Instant now_;
  uint64_t seq_ = 0;
  uint64_t steps_ = 0;
  bool stop_requested_ = false;
  std::optional<std::string> crash_;

  // Events due later than now_ wait in a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan 1990),
  // which fits a simulator because keys never fall below the last one taken out: simulated
  // time only moves forward. Bucket 0 holds entries due exactly at radix_last_; bucket b > 0
  // those whose time first differs from radix_last_ at bit b-1, so every entry of a lower
  // bucket is due before every entry of a higher one. Taking out the earliest entry scans the
  // lowest non-empty bucket for its minimum, makes that minimum radix_last_, and deals the
  // bucket's entries down into lower buckets, in the order they sit.
  //
  // No sequence numbers are compared, yet (time, seq) order holds: every bucket keeps its
  // entries in seq order. A push appends the newest seq. A bucket dealt out is the lowest
  // non-empty one, so every bucket it deals into is empty when the dealing starts, and
  // receives its entries in the dealt bucket's (seq) order, before any later push.
  //
  // Timed waits that end early (a reply before its timeout) leave stale deadline entries
  // behind: thousands in a dc-loss run. Dealing a bucket drops them (their fiber has parked
  // again since, so dispatch() would drop them unseen: no step, no hash).
  //
  // Entries due exactly at now_ and scheduled while now_ was current skip the radix heap into
  // due_now_ (a FIFO). Bucket-0 entries were scheduled before anything in the FIFO, so
  // "bucket 0 first, then the FIFO" is (time, seq) order again. Perf figures: issue 15.
  void radix_push(const Entry& e);
  bool radix_empty() const { return nonempty_ == 0 && bucket0_head_ >= buckets_[0].size(); }
  std::vector<Entry> buckets_[65];
  uint64_t nonempty_ = 0;  // bit b-1 set: bucket b (1..64) holds entries
  size_t bucket0_head_ = 0;
  uint64_t radix_last_ = 0;
  // The latest time of a stale entry dealing dropped. Until then the queue is not empty for
  // run_until's drained and deadlock decisions, and a deadlock is found at that time, not
  // before: what the binary heap did, popping each stale entry at its time.
  int64_t stale_horizon_ = 0;
  std::vector<Entry> due_now_;
  size_t due_now_head_ = 0;

  std::vector<Callback> callbacks_;
  std::vector<uint32_t> free_callbacks_;
  struct Plain {
    PlainFn fn;
    void* ctx;
    uint64_t arg;
  };
  // A callback entry's token: its slot in callbacks_, or in plain_ with kPlainBit set.
  static constexpr uint64_t kPlainBit = uint64_t{1} << 63;
  std::vector<Plain> plain_;
  std::vector<uint32_t> free_plain_;

  struct Impl;  // stack pool and the scheduler's own continuation (Boost types)
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<Fiber>> fibers_;  // index = fiber id; finished ones reused
  std::vector<uint32_t> free_fibers_;
  std::vector<Fiber*> to_unwind_;
  Fiber* current_ = nullptr;
  size_t live_fibers_ = 0;
  uint64_t next_fiber_serial_ = 0;
};

}  // namespace faultline
