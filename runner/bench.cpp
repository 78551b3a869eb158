#include "runner/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "sim/bare_loop.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "runner/isolate.h"

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

// One scenario's seeds three ways: in this process one after another (the simulation alone,
// one core), then through the sweep's isolation (runner/isolate.h) with one job and with two.
// The first against the second is the share of wall time spent outside the simulation
// (process start, fork, page faults of a fresh heap, result encoding).
struct ScenarioRow {
  std::string name;
  uint64_t seeds = 0;
  uint64_t events = 0;
  double sim_seconds = 0;
  double in_process_s = 0;
  double isolated_1_s = 0;
  double isolated_2_s = 0;
  double events_per_s() const { return static_cast<double>(events) / in_process_s; }
  double outside_share() const { return std::max(0.0, 1.0 - in_process_s / isolated_1_s); }
};

ScenarioRow bench_scenario(const std::string& name, double budget_s) {
  ScenarioRow row;
  row.name = name;
  // As many seeds as fit the budget in-process (at least 5, at most 500), from seed 1.
  std::vector<RunRequest> requests;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    RunRequest req;
    req.scenario = name;
    req.seed = seed;
    const RunResult r = execute(req);
    row.events += r.events;
    row.sim_seconds += static_cast<double>(r.sim_time_ns) / 1e9;
    requests.push_back(std::move(req));
    row.in_process_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seed >= 5 && row.in_process_s >= budget_s) break;
  }
  row.seeds = requests.size();
  for (int jobs : {1, 2}) {
    const double s = time_it([&] { run_isolated(requests, IsolationOptions{jobs, 300'000}, [](size_t, const RunResult&, int64_t) {}); });
    (jobs == 1 ? row.isolated_1_s : row.isolated_2_s) = s;
  }
  return row;
}

}  // namespace

int run_bench(const BenchOptions& o) {
  std::vector<Measurement> rows;
  rows.push_back(bench_bare(o.events));
  rows.push_back(bench_sleep(o.events));
  rows.push_back(bench_channel(o.events));
  rows.push_back(bench_callbacks(o.events));
  const double floor = rows[0].per_second();
  std::vector<ScenarioRow> scenarios;
  for (const ScenarioInfo& info : all_scenarios()) {
    if (info.name == "selftest") continue;  // broken on purpose
    if (!o.scenarios.empty() && std::find(o.scenarios.begin(), o.scenarios.end(), info.name) == o.scenarios.end()) continue;
    scenarios.push_back(bench_scenario(info.name, o.budget_s));
  }
  if (o.json) {
    std::string out = "{\"floor_events_per_s\":" + fmt::format("{:.0f}", floor) + ",\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& m = rows[i];
      out += fmt::format("{}{{\"name\":\"{}\",\"events\":{},\"seconds\":{:.6f},\"events_per_s\":{:.0f},\"ns_per_event\":{:.1f},\"floor_ratio\":{:.2f}}}",
                         i ? "," : "", m.name, m.events, m.seconds, m.per_second(), 1e9 / m.per_second(),
                         floor / m.per_second());
    }
    out += "],\"scenarios\":[";
    for (size_t i = 0; i < scenarios.size(); ++i) {
      const auto& r = scenarios[i];
      out += fmt::format(
          "{}{{\"scenario\":\"{}\",\"seeds\":{},\"events\":{},\"sim_seconds\":{:.3f},\"in_process_s\":{:.4f},"
          "\"isolated_1job_s\":{:.4f},\"isolated_2jobs_s\":{:.4f},\"events_per_s_per_core\":{:.0f},\"floor_ratio\":{:.2f},"
          "\"seeds_per_s_per_core\":{:.2f},\"seeds_per_s_2jobs\":{:.2f},\"sim_s_per_wall_s_per_core\":{:.1f},"
          "\"outside_share\":{:.3f}}}",
          i ? "," : "", r.name, r.seeds, r.events, r.sim_seconds, r.in_process_s, r.isolated_1_s, r.isolated_2_s,
          r.events_per_s(), floor / r.events_per_s(), static_cast<double>(r.seeds) / r.in_process_s,
          static_cast<double>(r.seeds) / r.isolated_2_s, r.sim_seconds / r.in_process_s, r.outside_share());
    }
    fmt::print("{}]}}\n", out);
    return 0;
  }
  fmt::print("{:<42} {:>12} {:>14} {:>9} {:>10}\n", "measurement", "events", "events/s", "ns/event", "vs floor");
  for (const auto& m : rows) {
    fmt::print("{:<42} {:>12} {:>14.0f} {:>9.1f} {:>9.1f}x\n", m.name, m.events, m.per_second(), 1e9 / m.per_second(),
               floor / m.per_second());
  }
  if (scenarios.empty()) return 0;
  fmt::print("\nwhole runs (seeds from 1): in-process on one core, then isolated as a sweep runs them\n");
  fmt::print("{:<20} {:>6} {:>11} {:>9} {:>11} {:>12} {:>12} {:>11}\n", "scenario", "seeds", "M events/s", "vs floor",
             "sim s/s", "seeds/s 1c", "seeds/s 2j", "outside");
  for (const auto& r : scenarios) {
    fmt::print("{:<20} {:>6} {:>11.2f} {:>8.1f}x {:>11.0f} {:>12.1f} {:>12.1f} {:>10.0f}%\n", r.name, r.seeds,
               r.events_per_s() / 1e6, floor / r.events_per_s(), r.sim_seconds / r.in_process_s,
               static_cast<double>(r.seeds) / r.in_process_s, static_cast<double>(r.seeds) / r.isolated_2_s,
               100.0 * r.outside_share());
  }
  fmt::print("M events/s, sim s/s and seeds/s 1c: in-process, one core; seeds/s 2j: isolated, two jobs (what a sweep\n"
             "does); outside: the share of an isolated one-job run's wall time not spent simulating.\n");
  return 0;
}

}  // namespace faultline
