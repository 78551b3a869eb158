#include "runner/bench.h"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "sim/bare_loop.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace faultline {

namespace {

constexpr uint32_t kFibers = 16;

struct Measurement {
  std::string name;
  uint64_t events = 0;
  double seconds = 0;
  double sim_seconds = 0;  // for whole-scenario rows
  double per_second() const { return events / seconds; }
};

template <typename Fn>
double time_it(Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Measurement bench_bare(uint64_t events) {
  uint64_t sink = 0;
  const double s = time_it([&] { sink = run_bare_loop(events, kFibers); });
  if (sink == 1) fmt::print("");  // keep the checksum observable
  return {"bare loop (pop + fiber switch + push)", events, s};
}

Measurement bench_sleep(uint64_t events) {
  Trace trace;
  Scheduler s(trace);
  for (uint32_t i = 0; i < kFibers; ++i) {
    s.spawn(0, "sleeper", [&s, i] {
      for (;;) s.sleep_for(Duration::nanos(1 + i));
    });
  }
  const uint64_t before = s.steps();
  SchedulerOptions o;
  const double secs = time_it([&] {
    while (s.steps() - before < events) s.run_for(Duration::micros(100));
  });
  return {"scheduler: fibers sleeping", s.steps() - before, secs};
}

Measurement bench_channel(uint64_t events) {
  Trace trace;
  Scheduler s(trace);
  // Pairs of fibers passing a token back and forth through channels: the notify path.
  std::vector<std::unique_ptr<Channel<int>>> chans;
  for (uint32_t i = 0; i < kFibers; ++i) chans.push_back(std::make_unique<Channel<int>>(s));
  for (uint32_t i = 0; i < kFibers; i += 2) {
    Channel<int>& a = *chans[i];
    Channel<int>& b = *chans[i + 1];
    s.spawn(0, "ping", [&s, &a, &b] {
      for (;;) {
        b.send(1);
        a.recv();
        s.sleep_for(Duration::nanos(1));
      }
    });
    s.spawn(0, "pong", [&a, &b] {
      for (;;) {
        b.recv();
        a.send(1);
      }
    });
  }
  const uint64_t before = s.steps();
  const double secs = time_it([&] {
    while (s.steps() - before < events) s.run_for(Duration::micros(100));
  });
  return {"scheduler: channel ping-pong", s.steps() - before, secs};
}

Measurement bench_callbacks(uint64_t events) {
  Trace trace;
  Scheduler s(trace);
  struct Chain {
    Scheduler* s;
    int64_t step;
    void fire() {
      s->after(Duration::nanos(step), [this] { fire(); });
    }
  };
  std::vector<Chain> chains;
  for (uint32_t i = 0; i < kFibers; ++i) chains.push_back({&s, 1 + i});
  for (auto& c : chains) c.fire();
  const uint64_t before = s.steps();
  const double secs = time_it([&] {
    while (s.steps() - before < events) s.run_for(Duration::micros(100));
  });
  return {"scheduler: timer callbacks", s.steps() - before, secs};
}

Measurement bench_scenario(const std::string& name) {
  // Whole runs, in-process, seeds 1..200: includes setup, checkers and teardown.
  constexpr uint64_t kSeeds = 200;
  uint64_t events = 0;
  int64_t sim_ns = 0;
  const double secs = time_it([&] {
    for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
      RunRequest req;
      req.scenario = name;
      req.seed = seed;
      const RunResult r = execute(req);
      events += r.events;
      sim_ns += r.sim_time_ns;
    }
  });
  Measurement m{fmt::format("scenario '{}' (seeds 1..{}, one core)", name, kSeeds), events, secs};
  m.sim_seconds = sim_ns / 1e9;
  return m;
}

}  // namespace

int run_bench(uint64_t events, bool json) {
  std::vector<Measurement> rows;
  rows.push_back(bench_bare(events));
  rows.push_back(bench_sleep(events));
  rows.push_back(bench_channel(events));
  rows.push_back(bench_callbacks(events));
  rows.push_back(bench_scenario("ping"));
  const double floor = rows[0].per_second();
  if (json) {
    std::string out = "{\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& m = rows[i];
      out += fmt::format("{}{{\"name\":\"{}\",\"events\":{},\"seconds\":{:.6f},\"events_per_s\":{:.0f},\"ns_per_event\":{:.1f}",
                         i ? "," : "", m.name, m.events, m.seconds, m.per_second(), 1e9 / m.per_second());
      if (m.sim_seconds > 0) out += fmt::format(",\"sim_s_per_wall_s\":{:.1f}", m.sim_seconds / m.seconds);
      out += "}";
    }
    fmt::print("{}]}}\n", out);
    return 0;
  }
  fmt::print("{:<42} {:>12} {:>14} {:>9} {:>10}\n", "measurement", "events", "events/s", "ns/event", "vs floor");
  for (const auto& m : rows) {
    fmt::print("{:<42} {:>12} {:>14.0f} {:>9.1f} {:>9.1f}x\n", m.name, m.events, m.per_second(), 1e9 / m.per_second(),
               floor / m.per_second());
    if (m.sim_seconds > 0) {
      fmt::print("{:<42} {:>12.1f} simulated s in {:.3f} wall s = {:.0f} sim s per wall s\n", "", m.sim_seconds,
                 m.seconds, m.sim_seconds / m.seconds);
    }
  }
  return 0;
}

}  // namespace faultline
