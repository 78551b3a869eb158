#include "runner/isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <optional>
#include <stdexcept>
#include <fmt/format.h>

namespace faultline {

namespace {

// --- a small length-prefixed codec ---------------------------------------------------------
class Writer {
 public:
  void u64(uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    out += s;
  }
  void map(const std::map<std::string, std::string>& m) {
    u64(m.size());
    for (const auto& [k, v] : m) {
      str(k);
      str(v);
    }
  }
  void strings(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  std::string out;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : in_(s) {}
  bool u64(uint64_t* v) {
    if (pos_ + sizeof *v > in_.size()) return false;
    std::memcpy(v, in_.data() + pos_, sizeof *v);
    pos_ += sizeof *v;
    return true;
  }
  bool i64(int64_t* v) {
    uint64_t u = 0;
    if (!u64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool str(std::string* s) {
    uint64_t n = 0;
    if (!u64(&n) || pos_ + n > in_.size()) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool map(std::map<std::string, std::string>* m) {
    uint64_t n = 0;
    if (!u64(&n)) return false;
    for (uint64_t i = 0; i < n; ++i) {
      std::string k, v;
      if (!str(&k) || !str(&v)) return false;
      (*m)[k] = std::move(v);
    }
    return true;
  }
  bool strings(std::vector<std::string>* v) {
    uint64_t n = 0;
    if (!u64(&n)) return false;
    for (uint64_t i = 0; i < n; ++i) {
      std::string s;
      if (!str(&s)) return false;
      v->push_back(std::move(s));
    }
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  size_t pos_ = 0;
};

constexpr uint64_t kMagic = 0x464c524553554c54ULL;  // "FLRESULT"

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RunResult crash_result(const RunRequest& req, std::string why) {
  RunResult r;
  r.scenario = req.scenario;
  r.seed = req.seed;
  r.bugs = req.bugs;
  if (const ScenarioInfo* info = find_scenario(req.scenario)) {
    std::string error;
    if (auto p = Params::resolve(info->params, req.sets, &error)) r.params = p->resolved();
  }
  r.verdict = Verdict::kCrash;
  r.crash = std::move(why);
  return r;
}

struct Child {
  size_t sequence = 0;
  RunRequest request;
  pid_t pid = -1;
  int fd = -1;     // results from the child
  int to_fd = -1;  // requests to a warm worker; -1 for a child of one request
  int64_t started_ms = 0;
  std::string buffer;
  bool timed_out = false;
  size_t runs = 0;  // a worker's finished runs
};

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// In a new child: the pipes of every other child are not its business, and a worker's request
// pipe held open here would keep that worker from ever seeing its end.
void close_inherited(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}

// fork() for a run's child or a worker: 0 in the child, which dies with the runner and holds
// none of the other children's pipes.
pid_t fork_child(const std::vector<int>& inherited) {
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // No orphan keeps running after the runner is killed (even by SIGKILL); if the parent
    // went before the request took effect, go now.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    close_inherited(inherited);
  }
  return pid;
}

Child start_child(RunRequest req, const std::vector<int>& inherited) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  const pid_t pid = fork_child(inherited);
  if (pid == 0) {
    ::close(fds[0]);
    RunResult result = execute(req);
    if (req.trace_sink != nullptr) std::fflush(req.trace_sink);
    write_all(fds[1], encode_result(result));
    ::close(fds[1]);
    std::fflush(nullptr);
    ::_exit(0);
  }
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  Child c;
  c.request = std::move(req);
  c.pid = pid;
  c.fd = fds[0];
  c.started_ms = wall_now_ms();
  return c;
}

bool read_exact(int fd, char* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd, out + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

std::string frame(const std::string& payload) {
  const uint64_t n = payload.size();
  std::string out(reinterpret_cast<const char*>(&n), sizeof n);
  return out + payload;
}

// A warm worker: requests in, results out, one at a time, until its request pipe closes.
[[noreturn]] void worker_loop(int in, int out) {
  // Keep what the heap grew to between runs instead of returning it to the kernel and
  // faulting it in again for the next seed.
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  for (;;) {
    uint64_t n = 0;
    if (!read_exact(in, reinterpret_cast<char*>(&n), sizeof n)) ::_exit(0);
    std::string bytes(n, '\0');
    if (!read_exact(in, bytes.data(), n)) ::_exit(0);
    RunRequest req;
    if (!decode_request(bytes, &req)) ::_exit(3);
    const RunResult result = execute(req);
    write_all(out, frame(encode_result(result)));
  }
}

Child start_worker(const std::vector<int>& inherited) {
  int requests[2], results[2];
  if (::pipe(requests) != 0 || ::pipe(results) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  const pid_t pid = fork_child(inherited);
  if (pid == 0) {
    ::close(requests[1]);
    ::close(results[0]);
    worker_loop(requests[0], results[1]);
  }
  ::close(requests[0]);
  ::close(results[1]);
  ::fcntl(results[0], F_SETFL, O_NONBLOCK);
  Child c;
  c.pid = pid;
  c.fd = results[0];
  c.to_fd = requests[1];
  return c;
}

// Sends `req` to an idle worker; false if the worker is gone (its pipe broke).
bool send_request(Child& worker, RunRequest req) {
  const std::string bytes = frame(encode_request(req));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(worker.to_fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  worker.request = std::move(req);
  worker.buffer.clear();
  worker.timed_out = false;
  worker.started_ms = wall_now_ms();
  return true;
}

// Ends a worker: closes its pipes (an idle one exits on its own), kills it if asked, reaps it.
// The wait status, for a worker that died.
int retire(Child& w, bool kill) {
  if (kill) ::kill(w.pid, SIGKILL);
  ::close(w.to_fd);
  ::close(w.fd);
  int status = 0;
  while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// A worker's complete result frame out of its buffer, if one has arrived.
std::optional<std::string> take_frame(Child& w) {
  uint64_t n = 0;
  if (w.buffer.size() < sizeof n) return std::nullopt;
  std::memcpy(&n, w.buffer.data(), sizeof n);
  if (w.buffer.size() < sizeof n + n) return std::nullopt;
  std::string payload = w.buffer.substr(sizeof n, n);
  w.buffer.erase(0, sizeof n + n);
  return payload;
}

RunResult died(const RunRequest& req, int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return crash_result(req, fmt::format("killed by signal {} ({})", sig, ::strsignal(sig)));
  }
  return crash_result(req, fmt::format("run process exited with status {} without a result",
                                       WIFEXITED(status) ? WEXITSTATUS(status) : -1));
}

RunResult finish_child(const RunRequest& req, Child& c, int64_t timeout_ms) {
  ::close(c.fd);
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (c.timed_out) return crash_result(req, fmt::format("wall-clock timeout: no result after {} ms (killed)", timeout_ms));
  RunResult result;
  if (decode_result(c.buffer, &result)) return result;
  return died(req, status);
}

}  // namespace

std::string encode_result(const RunResult& r) {
  Writer w;
  w.u64(kMagic);
  w.str(r.scenario);
  w.u64(r.seed);
  w.map(r.params);
  w.strings(r.bugs);
  w.u64(static_cast<uint64_t>(r.verdict));
  w.u64(r.violations.size());
  for (const auto& v : r.violations) {
    w.str(v.invariant);
    w.u64(static_cast<uint64_t>(v.kind));
    w.str(v.message);
    w.u64(static_cast<uint64_t>(v.at.ns()));
    w.u64(v.excused ? 1 : 0);
    w.str(v.excuse);
  }
  w.str(r.crash);
  w.str(r.input_error);
  w.str(r.fault_plan);
  w.str(r.story);
  w.u64(r.trace_hash);
  w.u64(r.events);
  w.u64(r.trace_records);
  w.u64(static_cast<uint64_t>(r.sim_time_ns));
  w.u64(r.metrics.size());
  for (const auto& [k, v] : r.metrics) {
    w.str(k);
    w.u64(static_cast<uint64_t>(v));
  }
  w.u64(r.marks.size());
  for (const auto& [k, v] : r.marks) {
    w.str(k);
    w.u64(v);
  }
  w.u64(r.hash_checkpoints.size());
  for (uint64_t h : r.hash_checkpoints) w.u64(h);
  w.u64(kMagic);
  return std::move(w.out);
}

bool decode_result(const std::string& bytes, RunResult* out) {
  Reader rd(bytes);
  RunResult r;
  uint64_t magic = 0, n = 0, u = 0;
  if (!rd.u64(&magic) || magic != kMagic) return false;
  if (!rd.str(&r.scenario) || !rd.u64(&r.seed) || !rd.map(&r.params) || !rd.strings(&r.bugs)) return false;
  if (!rd.u64(&u) || u > static_cast<uint64_t>(Verdict::kCrash)) return false;
  r.verdict = static_cast<Verdict>(u);
  if (!rd.u64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    Violation v;
    int64_t at = 0;
    if (!rd.str(&v.invariant) || !rd.u64(&u) || !rd.str(&v.message) || !rd.i64(&at)) return false;
    v.kind = u == 0 ? InvariantKind::kSafety : InvariantKind::kLiveness;
    v.at = Instant::from_nanos(at);
    if (!rd.u64(&u) || !rd.str(&v.excuse)) return false;
    v.excused = u != 0;
    r.violations.push_back(std::move(v));
  }
  if (!rd.str(&r.crash) || !rd.str(&r.input_error) || !rd.str(&r.fault_plan) || !rd.str(&r.story) || !rd.u64(&r.trace_hash) || !rd.u64(&r.events) || !rd.u64(&r.trace_records) ||
      !rd.i64(&r.sim_time_ns) || !rd.u64(&n)) {
    return false;
  }
  for (uint64_t i = 0; i < n; ++i) {
    std::string k;
    int64_t v = 0;
    if (!rd.str(&k) || !rd.i64(&v)) return false;
    r.metrics[k] = v;
  }
  if (!rd.u64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string k;
    uint64_t v = 0;
    if (!rd.str(&k) || !rd.u64(&v)) return false;
    r.marks[k] = v;
  }
  if (!rd.u64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t h = 0;
    if (!rd.u64(&h)) return false;
    r.hash_checkpoints.push_back(h);
  }
  if (!rd.u64(&magic) || magic != kMagic || !rd.done()) return false;
  *out = std::move(r);
  return true;
}

std::string encode_request(const RunRequest& r) {
  Writer w;
  w.u64(kMagic);
  w.str(r.scenario);
  w.u64(r.seed);
  w.map(r.sets);
  w.strings(r.bugs);
  w.u64(r.plan_text ? 1 : 0);
  w.str(r.plan_text.value_or(""));
  w.u64(r.plan_only ? 1 : 0);
  w.u64(kMagic);
  return std::move(w.out);
}

bool decode_request(const std::string& bytes, RunRequest* out) {
  Reader rd(bytes);
  RunRequest r;
  uint64_t magic = 0, u = 0;
  if (!rd.u64(&magic) || magic != kMagic || !rd.str(&r.scenario) || !rd.u64(&r.seed) || !rd.map(&r.sets) ||
      !rd.strings(&r.bugs)) {
    return false;
  }
  std::string plan;
  if (!rd.u64(&u) || !rd.str(&plan)) return false;
  if (u != 0) r.plan_text = std::move(plan);
  if (!rd.u64(&u)) return false;
  r.plan_only = u != 0;
  if (!rd.u64(&magic) || magic != kMagic || !rd.done()) return false;
  *out = std::move(r);
  return true;
}

void run_isolated(const std::vector<RunRequest>& requests, const IsolationOptions& options, const OnDone& on_done) {
  size_t next = 0;
  run_isolated_stream(
      [&]() -> std::optional<RunRequest> {
        if (next >= requests.size()) return std::nullopt;
        return requests[next++];
      },
      options, [&](size_t i, const RunRequest&, const RunResult& result, int64_t ms) { on_done(i, result, ms); });
}

void run_isolated_stream(const NextRequest& next_request, const IsolationOptions& options,
                         const OnRequestDone& on_done) {
  // A worker that died while idle must not kill the runner with SIGPIPE: its write fails.
  // Restored on the way out, so that a runner writing to a closed pipe still ends as before.
  struct IgnorePipe {
    IgnorePipe() : old(::signal(SIGPIPE, SIG_IGN)) {}
    ~IgnorePipe() { ::signal(SIGPIPE, old); }
    sighandler_t old;
  } ignore_pipe;
  std::vector<Child> running;  // children of one request and busy workers
  std::vector<Child> idle;     // warm workers waiting for a request
  bool exhausted = false;
  size_t started = 0;
  const size_t jobs = static_cast<size_t>(std::max(1, options.jobs));
  int64_t last_tick = wall_now_ms();
  auto open_fds = [&] {
    std::vector<int> fds;
    for (const auto* group : {&running, &idle}) {
      for (const Child& c : *group) {
        fds.push_back(c.fd);
        if (c.to_fd >= 0) fds.push_back(c.to_fd);
      }
    }
    return fds;
  };
  auto finish = [&](Child& c, const RunResult& result) {
    on_done(c.sequence, c.request, result, wall_now_ms() - c.started_ms);
  };
  while (!exhausted || !running.empty()) {
    while (running.size() < jobs && !exhausted) {
      std::optional<RunRequest> req = next_request();
      if (!req) {
        exhausted = true;
        break;
      }
      const size_t sequence = started++;
      if (!options.reuse || req->trace_sink != nullptr || req->observer) {
        running.push_back(start_child(std::move(*req), open_fds()));
        running.back().sequence = sequence;
        continue;
      }
      // A warm worker; one that went away while idle is replaced (once: a fresh one that
      // cannot take a request is the runner's trouble, not the seed's).
      for (int attempt = 0;; ++attempt) {
        Child w;
        if (!idle.empty()) {
          w = std::move(idle.back());
          idle.pop_back();
        } else {
          w = start_worker(open_fds());
        }
        if (send_request(w, *req)) {
          w.sequence = sequence;
          running.push_back(std::move(w));
          break;
        }
        retire(w, /*kill=*/true);
        if (attempt > 0) throw std::runtime_error("a fresh worker process would not take a request");
      }
    }
    if (running.empty()) break;
    if (options.on_tick && wall_now_ms() - last_tick >= options.tick_ms) {
      options.on_tick();
      last_tick = wall_now_ms();
    }
    // Wait for output from any child, waking in time for the nearest deadline.
    const int64_t now = wall_now_ms();
    int64_t wait_ms = options.timeout_ms;
    if (options.on_tick) wait_ms = std::min(wait_ms, options.tick_ms);
    for (const Child& c : running) wait_ms = std::min(wait_ms, c.started_ms + options.timeout_ms - now);
    std::vector<pollfd> fds;
    for (const Child& c : running) fds.push_back({c.fd, POLLIN, 0});
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait_ms, 0, 60'000)));
    if (ready < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));

    std::vector<Child> still;
    for (size_t i = 0; i < running.size(); ++i) {
      Child& c = running[i];
      bool eof = false;
      if (ready > 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[1 << 16];
        for (;;) {
          const ssize_t n = ::read(c.fd, buf, sizeof buf);
          if (n > 0) {
            c.buffer.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0) eof = true;
          if (n < 0 && errno == EINTR) continue;
          break;  // EAGAIN: more later
        }
      }
      if (c.to_fd >= 0) {
        // A warm worker: a whole result frame finishes the request, and the worker waits for
        // the next (or is replaced after kRunsPerWorker runs).
        if (std::optional<std::string> bytes = take_frame(c)) {
          RunResult result;
          if (!decode_result(*bytes, &result)) result = crash_result(c.request, "a worker sent a result that does not decode");
          finish(c, result);
          if (++c.runs >= kRunsPerWorker || eof) {
            retire(c, /*kill=*/eof);
          } else {
            idle.push_back(std::move(c));
          }
          continue;
        }
        if (!eof && wall_now_ms() - c.started_ms >= options.timeout_ms) {
          retire(c, /*kill=*/true);
          finish(c, crash_result(c.request, fmt::format("wall-clock timeout: no result after {} ms (killed)", options.timeout_ms)));
          continue;
        }
        if (eof) {
          const int status = retire(c, /*kill=*/false);
          finish(c, died(c.request, status));
          continue;
        }
        still.push_back(std::move(c));
        continue;
      }
      if (!eof && wall_now_ms() - c.started_ms >= options.timeout_ms) {
        ::kill(c.pid, SIGKILL);
        c.timed_out = true;
        eof = true;
      }
      if (!eof) {
        still.push_back(std::move(c));
        continue;
      }
      const RunResult result = finish_child(c.request, c, options.timeout_ms);
      finish(c, result);
    }
    running = std::move(still);
  }
  for (Child& w : idle) retire(w, /*kill=*/false);
}

}  // namespace faultline
