#include "runner/trace_ring.h"

#include <sys/mman.h>

#include <algorithm>

namespace faultline {

TraceRing::TraceRing(size_t capacity) : capacity_(capacity) {
  mapped_ = sizeof(Shared) + capacity_;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  shared_ = static_cast<Shared*>(p);
  shared_->written = 0;
  cookie_io_functions_t io = {};
  io.write = &TraceRing::write_cookie;
  sink_ = ::fopencookie(this, "w", io);
  if (sink_ != nullptr) std::setvbuf(sink_, nullptr, _IOLBF, 1 << 12);
}

TraceRing::~TraceRing() {
  if (sink_ != nullptr) std::fclose(sink_);
  if (shared_ != nullptr) ::munmap(shared_, mapped_);
}

ssize_t TraceRing::write_cookie(void* cookie, const char* buf, size_t size) {
  auto* self = static_cast<TraceRing*>(cookie);
  Shared* s = self->shared_;
  for (size_t i = 0; i < size; ++i) s->data[(s->written + i) % self->capacity_] = buf[i];
  s->written += size;
  return static_cast<ssize_t>(size);
}

std::vector<std::string> TraceRing::last_lines(size_t n) const {
  if (shared_ == nullptr) return {};
  const uint64_t written = shared_->written;
  const uint64_t kept = std::min<uint64_t>(written, capacity_);
  std::string text;
  text.reserve(kept);
  for (uint64_t i = written - kept; i < written; ++i) text += shared_->data[i % capacity_];
  // Drop a line cut at the start of the ring (unless nothing was lost) and a partial last one.
  if (written > capacity_) {
    const size_t nl = text.find('\n');
    text = nl == std::string::npos ? std::string() : text.substr(nl + 1);
  }
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(text.substr(at, nl - at + 1));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

}  // namespace faultline
