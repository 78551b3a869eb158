// runner/trace_ring.h
// The last bytes of a run's human-readable trace, kept in memory shared with the run's child
// process, so that the runner can show how a run ended even when the child died of a signal
// or was killed for hanging, without running the seed again.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace faultline {

class TraceRing {
 public:
  explicit TraceRing(size_t capacity = 1 << 16);
  ~TraceRing();
  TraceRing(const TraceRing&) = delete;
  TraceRing& operator=(const TraceRing&) = delete;

  // A line-buffered stream writing into the ring (nullptr if the ring could not be made).
  // Inherited by a fork()ed child, whose writes land in the same memory.
  std::FILE* sink() const { return sink_; }
  // The last `n` complete lines written (by this process or a child), oldest first.
  std::vector<std::string> last_lines(size_t n) const;

 private:
  struct Shared {
    uint64_t written;
    char data[1];
  };
  static ssize_t write_cookie(void* cookie, const char* buf, size_t size);

  size_t capacity_;
  size_t mapped_ = 0;
  Shared* shared_ = nullptr;
  std::FILE* sink_ = nullptr;
};

}  // namespace faultline
