// sim/sync.h
// Blocking primitives for model code, built on WaitQueue. All waits take an optional
// deadline and say whether they were satisfied or timed out; none reads the wall clock.
//
//   Flag          a level-triggered condition: wait() returns once it is set.
//   Promise<T>    a one-shot value; get() blocks until it is fulfilled.
//   Channel<T>    an unbounded FIFO; recv() blocks until an item arrives.
//   Mutex         mutual exclusion across blocking calls; Lock is its guard.
//
// Every primitive is owned by model code of one run; waking is deterministic (FIFO among
// waiters, at the current instant, after what is already due).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "sim/assert.h"
#include "sim/scheduler.h"

namespace faultline {

class Flag {
 public:
  explicit Flag(Scheduler& s, const char* what = "flag") : s_(s), waiters_(what) {}
  void set() {
    set_ = true;
    waiters_.notify_all(s_);
  }
  void reset() { set_ = false; }
  bool is_set() const { return set_; }
  // True if set, false if the deadline passed first.
  bool wait(Instant deadline = Instant::max()) {
    while (!set_) {
      if (s_.now() >= deadline) return false;
      waiters_.wait(s_, deadline);
    }
    return true;
  }
  bool wait_for(Duration timeout) { return wait(saturating_add(s_.now(), timeout)); }

 private:
  Scheduler& s_;
  WaitQueue waiters_;
  bool set_ = false;
};

// A one-shot value shared between a producer (set) and any number of waiters (get).
template <typename T>
class Promise {
 public:
  explicit Promise(Scheduler& s, const char* what = "promise")
      : state_(std::make_shared<State>(s, what)) {}

  bool fulfilled() const { return state_->value.has_value(); }
  // Fulfils once; a second set() is a model bug.
  void set(T value) {
    FL_ASSERT(!state_->value.has_value() && "promise fulfilled twice");
    state_->value.emplace(std::move(value));
    state_->waiters.notify_all(state_->s);
  }
  // The value, or nullopt if the deadline passed first.
  std::optional<T> get(Instant deadline = Instant::max()) {
    State& st = *state_;
    while (!st.value.has_value()) {
      if (st.s.now() >= deadline) return std::nullopt;
      st.waiters.wait(st.s, deadline);
    }
    return st.value;
  }
  std::optional<T> get_for(Duration timeout) { return get(saturating_add(state_->s.now(), timeout)); }
  // As get(), but moves the value out (one taker): an RPC reply is read once, and copying
  // it would copy every record it carries.
  std::optional<T> take(Instant deadline = Instant::max()) {
    State& st = *state_;
    while (!st.value.has_value()) {
      if (st.s.now() >= deadline) return std::nullopt;
      st.waiters.wait(st.s, deadline);
    }
    return std::move(st.value);
  }

 private:
  struct State {
    State(Scheduler& sched, const char* what) : s(sched), waiters(what) {}
    Scheduler& s;
    WaitQueue waiters;
    std::optional<T> value;
  };
  std::shared_ptr<State> state_;
};

template <typename T>
class Channel {
 public:
  explicit Channel(Scheduler& s, const char* what = "channel") : s_(s), waiters_(what) {}

  void send(T item) {
    items_.push_back(std::move(item));
    waiters_.notify_one(s_);
  }
  // The next item, or nullopt if the deadline passed first.
  std::optional<T> recv(Instant deadline = Instant::max()) {
    while (items_.empty()) {
      if (s_.now() >= deadline) return std::nullopt;
      waiters_.wait(s_, deadline);
    }
    T item = std::move(items_.front());
    items_.pop_front();
    // More items and more waiters: pass the baton so no item sits unclaimed.
    if (!items_.empty()) waiters_.notify_one(s_);
    return item;
  }
  std::optional<T> recv_for(Duration timeout) { return recv(saturating_add(s_.now(), timeout)); }
  std::optional<T> try_recv() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }

 private:
  Scheduler& s_;
  WaitQueue waiters_;
  std::deque<T> items_;
};

// Mutual exclusion for model code that blocks while holding state consistent (a log append
// that waits on the disk). Fibers never preempt each other, so this is only needed across
// blocking calls. Waiters are woken in FIFO order, but a fiber that asks while a woken
// waiter has not run yet may get in first (no hand-off: a killed waiter can never strand
// the lock).
class Mutex {
 public:
  explicit Mutex(Scheduler& s, const char* what = "mutex") : s_(s), waiters_(what) {}
  void lock() {
    while (held_) waiters_.wait(s_);
    held_ = true;
  }
  void unlock() {
    FL_ASSERT(held_ && "unlock of a mutex that is not held");
    held_ = false;
    waiters_.notify_one(s_);
  }
  bool held() const { return held_; }

 private:
  Scheduler& s_;
  WaitQueue waiters_;
  bool held_ = false;
};

// Holds a Mutex for a scope; releases it also when the fiber unwinds (a crash).
class Lock {
 public:
  explicit Lock(Mutex& m) : m_(m) { m_.lock(); }
  ~Lock() { m_.unlock(); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace faultline
