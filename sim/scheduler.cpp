#include "sim/scheduler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <boost/context/fiber.hpp>
#include <exception>

#include "sim/assert.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace faultline {

namespace bctx = boost::context;

namespace {

// Fixed-size stacks with a guard page, kept for reuse. Fibers come and go with every crash
// and every request handler; mmap/munmap per fiber would dominate a run's cost.
class StackPool {
 public:
  explicit StackPool(size_t usable_bytes) {
    page_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    total_ = ((usable_bytes + page_ - 1) / page_) * page_ + page_;
  }
  ~StackPool() {
    for (void* base : all_) ::munmap(base, total_);
  }
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  bctx::stack_context allocate() {
    void* base = nullptr;
    if (!free_.empty()) {
      base = free_.back();
      free_.pop_back();
    } else {
      base = ::mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      ::mprotect(base, page_, PROT_NONE);  // guard page: an overflow faults, not corrupts
      all_.push_back(base);
    }
    bctx::stack_context sc;
    sc.size = total_;
    sc.sp = static_cast<char*>(base) + total_;
    return sc;
  }

  void deallocate(bctx::stack_context& sc) noexcept {
    void* base = static_cast<char*>(sc.sp) - sc.size;
#if defined(__SANITIZE_ADDRESS__)
    // A reused stack must not carry the previous fiber's redzones.
    __asan_unpoison_memory_region(static_cast<char*>(base) + page_, total_ - page_);
#endif
    free_.push_back(base);
  }

 private:
  size_t page_ = 4096;
  size_t total_ = 0;
  std::vector<void*> free_;
  std::vector<void*> all_;
};

// The StackAllocator handed to each boost fiber: a pointer to the shared pool.
struct PooledStack {
  StackPool* pool;
  bctx::stack_context allocate() { return pool->allocate(); }
  void deallocate(bctx::stack_context& sc) noexcept { pool->deallocate(sc); }
};

}  // namespace

struct Fiber {
  enum class State { kReady, kRunning, kBlocked, kDone };

  uint32_t index = 0;   // slot in Scheduler::fibers_, reused after the fiber ends
  uint64_t serial = 0;  // unique per run: what the trace hash sees
  NodeId node = kWorld;
  std::string name;
  std::function<void()> body;
  bctx::fiber cont;  // the fiber's suspended continuation
  State state = State::kDone;
  uint64_t gen = 0;  // bumped at every park; wake-ups carry it, stale ones are ignored
  bool killed = false;
  bool kill_thrown = false;  // NodeKilled already thrown once at a blocking point
  bool notified = false;
  WaitQueue* queue = nullptr;
  Fiber* prev = nullptr;
  Fiber* next = nullptr;
  const char* blocked_on = "";
  Instant blocked_since;
};

struct Scheduler::Impl {
  explicit Impl(size_t stack_bytes) : pool(stack_bytes) {}
  StackPool pool;
  bctx::fiber main;  // the scheduler's continuation, while a fiber runs
};

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::kDrained: return "drained";
    case StopReason::kTimeBudget: return "time-budget";
    case StopReason::kStepBudget: return "step-budget";
    case StopReason::kStopped: return "stopped";
    case StopReason::kCrash: return "crash";
    case StopReason::kDeadlock: return "deadlock";
  }
  return "?";
}

// --- WaitQueue ---------------------------------------------------------------------------

WaitQueue::~WaitQueue() {
  // A queue destroyed with waiters would leave them pointing at freed memory. Detach them;
  // they stay blocked (and show up in a deadlock report) unless a timer wakes them.
  while (head_ != nullptr) unlink(head_);
}

void WaitQueue::unlink(Fiber* f) {
  if (f->prev != nullptr) f->prev->next = f->next; else head_ = f->next;
  if (f->next != nullptr) f->next->prev = f->prev; else tail_ = f->prev;
  f->prev = f->next = nullptr;
  f->queue = nullptr;
}

bool WaitQueue::wait(Scheduler& s, Instant deadline) {
  Fiber* f = s.current_;
  FL_ASSERT(f != nullptr && "WaitQueue::wait outside a fiber");
  if (f->killed) s.throw_killed(f);
  f->notified = false;
  f->queue = this;
  f->prev = tail_;
  f->next = nullptr;
  if (tail_ != nullptr) tail_->next = f; else head_ = f;
  tail_ = f;
  s.park(what_, deadline);
  if (f->queue == this) unlink(f);  // timed out: still queued
  return f->notified;
}

bool WaitQueue::notify_one(Scheduler& s) {
  Fiber* f = head_;
  if (f == nullptr) return false;
  unlink(f);
  f->notified = true;
  s.wake(f);
  return true;
}

void WaitQueue::notify_all(Scheduler& s) {
  while (notify_one(s)) {
  }
}

// --- Scheduler ---------------------------------------------------------------------------

Scheduler::Scheduler(Trace& trace, SchedulerOptions options)
    : trace_(trace), options_(options), impl_(std::make_unique<Impl>(options.fiber_stack_bytes)) {
  for (auto& b : buckets_) b.reserve(64);
  due_now_.reserve(256);
}

Scheduler::~Scheduler() {
  // Unwind every fiber still alive so their destructors run before the stacks go away.
  for (auto& f : fibers_) {
    if (f->state == Fiber::State::kDone) continue;
    f->killed = true;
    if (f->queue != nullptr) f->queue->unlink(f.get());
    to_unwind_.push_back(f.get());
  }
  unwind_killed();
}

NodeId Scheduler::current_node() const { return current_ != nullptr ? current_->node : kWorld; }

[[gnu::always_inline]] inline void Scheduler::push(Instant t, Fiber* fiber, uint64_t token) {
  FL_ASSERT(t >= now_, t.ns(), now_.ns());
  const Entry e{t.ns(), seq_++, fiber, token};
  if (t == now_) {
    due_now_.push_back(e);
  } else {
    radix_push(e);
  }
}

namespace {
// The bucket of key `at` against the heap's last key (at >= last; 0 when equal).
inline unsigned radix_bucket(uint64_t at, uint64_t last) {
  const uint64_t x = at ^ last;
  return x == 0 ? 0 : 64u - static_cast<unsigned>(__builtin_clzll(x));
}
}  // namespace

void Scheduler::radix_push(const Entry& e) {
  // now_ >= radix_last_ and e.at > now_ here, so e goes above bucket 0.
  const unsigned b = radix_bucket(static_cast<uint64_t>(e.at), radix_last_);
  buckets_[b].push_back(e);
  nonempty_ |= uint64_t{1} << (b - 1);
}

namespace {
// Takes the front of a FIFO kept as a vector and a head index; empties it when drained.
template <typename E>
inline void take_front(std::vector<E>& fifo, size_t& head, E* out) {
  *out = fifo[head++];
  if (head == fifo.size()) {
    fifo.clear();
    head = 0;
  }
}
}  // namespace

// Most events are due now (bucket 0 or the FIFO): that path is inline in run_until; dealing
// a bucket is out of line.
inline bool Scheduler::pop(Instant end, Entry* out) {
  if (bucket0_head_ < buckets_[0].size()) {
    take_front(buckets_[0], bucket0_head_, out);
    return true;
  }
  if (due_now_head_ < due_now_.size()) {
    take_front(due_now_, due_now_head_, out);
    return true;
  }
  if (nonempty_ == 0 || !deal(end)) return false;
  take_front(buckets_[0], bucket0_head_, out);
  return true;
}

bool Scheduler::deal(Instant end) {
  auto stale = [](const Entry& e) { return e.fiber != nullptr && e.token != e.fiber->gen; };
  while (nonempty_ != 0) {
    const unsigned bi = static_cast<unsigned>(__builtin_ctzll(nonempty_)) + 1;
    auto& bucket = buckets_[bi];
    // One pass finds the least time and squeezes out the stale entries, keeping the order.
    uint64_t least = UINT64_MAX;
    size_t kept = 0;
    for (const Entry& e : bucket) {
      if (stale(e)) {
        stale_horizon_ = std::max(stale_horizon_, e.at);
        continue;
      }
      least = std::min(least, static_cast<uint64_t>(e.at));
      bucket[kept++] = e;
    }
    bucket.resize(kept);
    if (kept == 0) {
      nonempty_ &= ~(uint64_t{1} << (bi - 1));
      continue;
    }
    if (least > static_cast<uint64_t>(end.ns())) return false;  // deal only what is taken out
    radix_last_ = least;
    now_ = Instant::from_nanos(static_cast<int64_t>(least));
    nonempty_ &= ~(uint64_t{1} << (bi - 1));
    for (const Entry& e : bucket) {
      const unsigned to = radix_bucket(static_cast<uint64_t>(e.at), least);
      buckets_[to].push_back(e);
      if (to != 0) nonempty_ |= uint64_t{1} << (to - 1);
    }
    bucket.clear();
    return true;  // the least entries are in bucket 0 now
  }
  return false;
}

void Scheduler::spawn(NodeId node, std::string name, std::function<void()> body) {
  uint32_t index;
  if (!free_fibers_.empty()) {
    index = free_fibers_.back();
    free_fibers_.pop_back();
  } else {
    index = static_cast<uint32_t>(fibers_.size());
    fibers_.push_back(std::make_unique<Fiber>());
  }
  Fiber* f = fibers_[index].get();
  f->index = index;
  f->serial = next_fiber_serial_++;
  f->node = node;
  f->name = std::move(name);
  f->body = std::move(body);
  f->state = Fiber::State::kReady;
  f->killed = false;
  f->kill_thrown = false;
  f->notified = false;
  f->blocked_on = "start";
  f->blocked_since = now_;
  ++f->gen;
  f->cont = bctx::fiber(std::allocator_arg, PooledStack{&impl_->pool}, [this, f](bctx::fiber&& main) {
    impl_->main = std::move(main);
    try {
      if (!f->killed) f->body();
    } catch (const NodeKilled&) {
      // The node crashed: its stack is unwound, nothing to report.
    } catch (const bctx::detail::forced_unwind&) {
      throw;  // Boost's own unwinding; must pass through
    } catch (const AssertionFailure& a) {
      crash(a.message);
    } catch (const std::exception& e) {
      crash(fmt::format("uncaught exception: {}", e.what()));
    } catch (...) {
      crash("uncaught exception of unknown type");
    }
    f->state = Fiber::State::kDone;
    return std::move(impl_->main);
  });
  ++live_fibers_;
  push(now_, f, f->gen);
}

void Scheduler::resume(Fiber* f) {
  // Only the scheduler's own stack resumes fibers (dispatch, unwinding), never a fiber.
  FL_ASSERT(current_ == nullptr && "a fiber resumed another fiber");
  current_ = f;
  f->state = Fiber::State::kRunning;
  f->cont = std::move(f->cont).resume();
  current_ = nullptr;
  if (f->state == Fiber::State::kDone) finish_fiber(f);
}

void Scheduler::finish_fiber(Fiber* f) {
  f->body = nullptr;  // release captured state now, on the scheduler's stack
  f->cont = bctx::fiber();
  --live_fibers_;
  free_fibers_.push_back(f->index);
}

void Scheduler::park(const char* why, Instant deadline) {
  Fiber* f = current_;
  FL_ASSERT(f != nullptr && "blocking call outside a fiber");
  if (f->killed) throw_killed(f);
  f->state = Fiber::State::kBlocked;
  f->blocked_on = why;
  f->blocked_since = now_;
  const uint64_t gen = ++f->gen;
  if (deadline != Instant::max()) push(std::max(deadline, now_), f, gen);
  impl_->main = std::move(impl_->main).resume();
  if (f->killed) throw_killed(f);
}

void Scheduler::throw_killed(Fiber* f) {
  if (f->kill_thrown) {
    // The fiber caught NodeKilled and tried to block again. There is no safe way to go on:
    // it would spin forever and its stack can never be reclaimed. Fail loudly; the runner
    // isolates runs in child processes, so this ends one seed as a crash, nothing more.
    std::fprintf(stderr,
                 "faultline: fatal: fiber '%s' of node %s swallowed NodeKilled (catch (...) without rethrow) "
                 "and blocked again at %s\n",
                 f->name.c_str(), trace_.node_name(f->node).c_str(), format_duration(now_.since_start()).c_str());
    std::abort();
  }
  f->kill_thrown = true;
  throw NodeKilled{};
}

void Scheduler::wake(Fiber* f) {
  if (f->state == Fiber::State::kBlocked) push(now_, f, f->gen);
}

void Scheduler::sleep_for(Duration d) { sleep_until(saturating_add(now_, d)); }

void Scheduler::sleep_until(Instant t) { park("sleep", t); }

void Scheduler::yield() { park("yield", now_); }

void Scheduler::kill_node(NodeId node) {
  bool self = false;
  for (auto& owned : fibers_) {
    Fiber* f = owned.get();
    if (f->node != node || f->state == Fiber::State::kDone || f->killed) continue;
    f->killed = true;
    ++f->gen;  // its timers and pending wake-ups are now stale
    if (f->queue != nullptr) f->queue->unlink(f);
    if (f == current_) {
      self = true;
    } else {
      to_unwind_.push_back(f);
    }
  }
  // From the scheduler's own stack (a fault event) unwind right away, so the caller may
  // free the node's state as soon as this returns. From a fiber, the run loop unwinds them
  // before the next event.
  if (current_ == nullptr) unwind_killed();
  if (self) throw NodeKilled{};
}

size_t Scheduler::live_fibers(NodeId node) const {
  size_t n = 0;
  for (const auto& f : fibers_) n += (f->node == node && f->state != Fiber::State::kDone) ? 1 : 0;
  return n;
}

void Scheduler::unwind_killed() {
  // Resume each killed fiber from the scheduler's stack: it throws NodeKilled at its
  // blocking point (or never starts its body) and runs to completion.
  std::vector<Fiber*> batch;
  batch.swap(to_unwind_);
  for (Fiber* f : batch) {
    if (f->state == Fiber::State::kDone) continue;
    resume(f);
    if (f->state != Fiber::State::kDone && !crash_) {
      crash_ = fmt::format("fiber '{}' of node {} did not unwind when killed (a catch (...) swallowed NodeKilled?)",
                           f->name, trace_.node_name(f->node));
    }
  }
}

void Scheduler::at(Instant t, Callback cb) {
  uint32_t slot;
  if (!free_callbacks_.empty()) {
    slot = free_callbacks_.back();
    free_callbacks_.pop_back();
    callbacks_[slot] = std::move(cb);
  } else {
    slot = static_cast<uint32_t>(callbacks_.size());
    callbacks_.push_back(std::move(cb));
  }
  push(t, nullptr, slot);
}

void Scheduler::at_plain(Instant t, PlainFn fn, void* ctx, uint64_t arg) {
  uint32_t slot;
  if (!free_plain_.empty()) {
    slot = free_plain_.back();
    free_plain_.pop_back();
    plain_[slot] = Plain{fn, ctx, arg};
  } else {
    slot = static_cast<uint32_t>(plain_.size());
    plain_.push_back(Plain{fn, ctx, arg});
  }
  push(t, nullptr, kPlainBit | slot);
}

void Scheduler::crash(std::string message) {
  if (crash_) return;  // the first crash is the one that matters
  std::string where = current_ != nullptr
                          ? fmt::format("node {} fiber '{}'", trace_.node_name(current_->node), current_->name)
                          : std::string("scheduler callback");
  crash_ = fmt::format("at {} in {}: {}", format_duration(now_.since_start()), where, message);
}

void Scheduler::dispatch(const Entry& e) {
  if (e.fiber != nullptr) {
    Fiber* f = e.fiber;
    if (e.token != f->gen || (f->state != Fiber::State::kBlocked && f->state != Fiber::State::kReady)) return;
    ++steps_;
    trace_.fold_dispatch(now_, f->serial << 1);
    resume(f);
    return;
  }
  ++steps_;
  trace_.fold_dispatch(now_, (e.seq << 1) | 1);
  try {
    if ((e.token & kPlainBit) != 0) {
      const auto slot = static_cast<uint32_t>(e.token);
      const Plain p = plain_[slot];
      free_plain_.push_back(slot);
      p.fn(p.ctx, p.arg);
    } else {
      const auto slot = static_cast<uint32_t>(e.token);
      Callback cb = std::move(callbacks_[slot]);
      callbacks_[slot] = nullptr;
      free_callbacks_.push_back(slot);
      cb();
    }
  } catch (const AssertionFailure& a) {
    crash(a.message);
  } catch (const NodeKilled&) {
    crash("NodeKilled escaped into a callback");
  } catch (const std::exception& ex) {
    crash(fmt::format("uncaught exception: {}", ex.what()));
  }
}

RunOutcome Scheduler::run_until(Instant end) {
  stop_requested_ = false;
  const uint64_t step_limit = steps_ + options_.max_steps;
  Entry e{};
  for (;;) {
    if (!to_unwind_.empty()) unwind_killed();
    if (crash_) return {StopReason::kCrash, *crash_};
    if (stop_requested_) return {StopReason::kStopped, {}};
    if (steps_ >= step_limit) {
      return {StopReason::kStepBudget,
              fmt::format("{} events without reaching {}", options_.max_steps, format_duration(end.since_start()))};
    }
    if (!pop(end, &e)) {
      if (radix_empty() && due_now_head_ >= due_now_.size()) {
        // Dropped stale deadlines still count, until their time, as the binary heap this
        // replaced popped them one by one: nothing is drained or deadlocked before the last
        // of them is due, and time stops at the last of them (see stale_horizon_).
        if (stale_horizon_ > end.ns()) {
          now_ = std::max(now_, end);
          return {StopReason::kTimeBudget, {}};
        }
        now_ = std::max(now_, Instant::from_nanos(stale_horizon_));
        if (live_fibers_ > 0) return {StopReason::kDeadlock, deadlock_report()};
        now_ = std::max(now_, end);  // nothing happens, but time still passes
        return {StopReason::kDrained, {}};
      }
      now_ = std::max(now_, end);
      return {StopReason::kTimeBudget, {}};
    }
    dispatch(e);
  }
}

std::string Scheduler::deadlock_report() const {
  std::string out = fmt::format("{} fiber(s) blocked with nothing scheduled:", live_fibers_);
  for (const auto& f : fibers_) {
    if (f->state == Fiber::State::kDone) continue;
    out += fmt::format(" [{}/{} on {} since {}]", trace_.node_name(f->node), f->name, f->blocked_on,
                       format_duration(f->blocked_since.since_start()));
  }
  return out;
}

}  // namespace faultline
