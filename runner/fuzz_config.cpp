#include "runner/fuzz_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "runner/fuzz.h"
#include "scenarios/params.h"

namespace faultline {

namespace {

// A knob: a parameter the generator may set, and the values it draws from besides the
// scenario's default (which always comes first, so that shrinking returns to it). Values a
// scenario's spec refuses are left out for that scenario.
struct Knob {
  const char* name;
  std::vector<std::string> values;
  bool only_if_default_false = false;  // `tiered`: turned on where a family leaves it off,
                                       // never off where tiering is the family's point
};

const std::vector<Knob>& knobs() {
  static const std::vector<Knob> kKnobs = {
      // The cluster (replication families).
      {"brokers", {"3", "4", "5"}},
      {"rf", {"1", "2", "3", "4"}},
      {"min.insync.replicas", {"1", "2", "3"}},
      {"replica.lag.time.max.ms", {"2s", "5s", "30s"}},
      {"unclean.leader.election.enable", {"false", "true"}},
      {"elr", {"true", "false"}},
      {"hw_requires_min_isr", {"true", "false"}},
      {"log.flush.offset.checkpoint.interval.ms", {"1s", "60s"}},
      {"power_losses", {"0", "1", "2"}},
      // Retention and tiering (H).
      {"retention.bytes", {"-1", "65536", "131072", "1048576"}},
      {"tiered", {"true"}, true},
      {"segment.bytes", {"16384", "32768", "131072"}},
      {"hotset.bytes", {"8192", "16384", "131072"}},
      // The workload.
      {"partitions", {"1", "2", "4", "6"}},
      {"acks", {"-1", "1", "0"}},
      {"produce_interval", {"20ms", "50ms", "250ms"}},
      {"max.in.flight.requests.per.connection", {"1", "2", "5"}},
      {"max_batch", {"1", "2", "8"}},
      {"enable.idempotence", {"true", "false"}},
      // dc-loss: the 2.5 DC layout and its promotion policy (G).
      {"sync_per_dc", {"1", "2", "3"}},
      {"observers_per_dc", {"0", "1", "2"}},
      {"promotion_policy", {}},  // every choice of the spec
      {"request.timeout.ms", {"5s", "30s"}},
  };
  return kKnobs;
}

const ParamSpec* spec_of(const ScenarioInfo& info, const std::string& name) {
  for (const ParamSpec& s : info.params) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// The configuration being generated, seen whole: generated values over pinned ones (the
// request's --set) over the scenario's defaults. Only generated keys are ever changed.
class ConfigView {
 public:
  ConfigView(std::map<std::string, std::string>& sets, const std::map<std::string, std::string>& pinned,
             const ScenarioInfo& info)
      : sets_(sets), pinned_(pinned), info_(info) {}
  bool has(const std::string& name) const { return spec_of(info_, name) != nullptr; }
  std::string text(const std::string& name) const {
    if (auto it = sets_.find(name); it != sets_.end()) return it->second;
    if (auto it = pinned_.find(name); it != pinned_.end()) return it->second;
    return spec_of(info_, name)->default_value;
  }
  int64_t number(const std::string& name) const {
    int64_t v = 0;
    check_param_value(*spec_of(info_, name), text(name), &v);
    return v;
  }
  // Sets a generated value; a pinned key stays as the user set it.
  void set(const std::string& name, const std::string& value) {
    if (!pinned_.contains(name)) sets_[name] = value;
  }

 private:
  std::map<std::string, std::string>& sets_;
  const std::map<std::string, std::string>& pinned_;
  const ScenarioInfo& info_;
};

// Keeps the generated values in combinations the scenario accepts and the checkers judge.
void make_consistent(std::map<std::string, std::string>& sets, const std::map<std::string, std::string>& pinned,
                     const ScenarioInfo& info) {
  ConfigView c(sets, pinned, info);
  // ELR needs B4: its members are electable because the HW did not advance once they left
  // the ISR below min ISR (KIP-966 ships with that HW rule). With hw_requires_min_isr off
  // (Kafka before 3.7) the ELR would hold members without committed records, which S6
  // rightly fails (found by this fuzzer once faults lasted long enough): ELR goes off too.
  if (c.has("hw_requires_min_isr") && c.has("elr") && c.text("hw_requires_min_isr") == "false") {
    c.set("elr", "false");
    if (c.text("elr") == "true") c.set("hw_requires_min_isr", "true");  // --set elr=true pins it
  }
  // ELR off only without lossy crashes: with ELR off, a last ISR member that loses its page
  // cache stays in the ISR (Kafka before KIP-966), which S11 rightly fails, and which the
  // `last-replica-standing` switch is there to show.
  if (c.has("elr") && c.has("power_losses") && c.text("elr") == "false") c.set("power_losses", "0");
  // Tiered: the archiver uploads one segment at a time per partition (as Kafka's RLMTask
  // copies a partition's segments in sequence), a few round trips each to the controller and
  // the object store. A workload that writes faster than that grows the local logs without
  // bound, and L4 (local bytes back within the hotset at quiescence) rightly fails: a
  // capacity limit, not a bug. Tiered workloads stay at most at twice the default rate, 50
  // records per second per partition on average ((max_batch + 1) / 2 per interval).
  if (c.has("tiered") && c.has("max_batch") && c.has("produce_interval") && c.text("tiered") == "true") {
    const int64_t interval_ms = std::max<int64_t>(1, c.number("produce_interval") / 1'000'000);
    const int64_t max_batch = std::max<int64_t>(1, 2 * 50 * interval_ms / 1000 - 1);
    if (c.number("max_batch") > max_batch) c.set("max_batch", std::to_string(max_batch));
  }
  // RF <= brokers (the scenario caps it anyway), min ISR <= RF: a pinned min ISR raises a
  // generated RF (and brokers), otherwise a generated min ISR comes down.
  if (c.has("rf") && c.has("min.insync.replicas")) {
    if (c.has("brokers") && c.number("rf") > c.number("brokers")) c.set("rf", c.text("brokers"));
    const int64_t min_isr = c.number("min.insync.replicas");
    if (pinned.contains("min.insync.replicas") && c.number("rf") < min_isr) {
      c.set("rf", std::to_string(min_isr));
      if (c.has("brokers") && c.number("brokers") < min_isr) c.set("brokers", std::to_string(min_isr));
    }
    int64_t rf = c.number("rf");
    if (c.has("brokers")) rf = std::min(rf, c.number("brokers"));
    if (min_isr > rf) c.set("min.insync.replicas", std::to_string(rf));
  }
  // dc-loss, G4: with a promotion policy the scenario asserts that writes resume within a
  // bound after a datacenter loss (L5), which only a layout and policy that can make min ISR
  // in the surviving datacenter keep: sync replicas plus observers there >= min ISR, and a
  // policy that promotes below min ISR (leader-is-observer promotes only while an observer
  // leads). Other layouts are findings by design (kafka_observer_test), not fuzz cases.
  if (c.has("promotion_policy") && c.has("sync_per_dc") && c.has("observers_per_dc")) {
    const std::string policy = c.text("promotion_policy");
    if (policy == "leader-is-observer") c.set("promotion_policy", "under-min-isr");
    if (c.text("promotion_policy") != "none" &&
        c.number("sync_per_dc") + c.number("observers_per_dc") < c.number("min.insync.replicas")) {
      c.set("min.insync.replicas", std::to_string(c.number("sync_per_dc") + c.number("observers_per_dc")));
    }
  }
  // dc-loss: min ISR <= its sync replicas (two datacenters of sync_per_dc).
  if (c.has("sync_per_dc") && c.has("min.insync.replicas")) {
    const int64_t sync = 2 * c.number("sync_per_dc");
    if (c.number("min.insync.replicas") > sync) {
      if (pinned.contains("min.insync.replicas")) {
        c.set("sync_per_dc", std::to_string((c.number("min.insync.replicas") + 1) / 2));
      } else {
        c.set("min.insync.replicas", std::to_string(sync));
      }
    }
  }
}

}  // namespace

const std::optional<RunResult::PlanSpace>& PlanSpaceCache::get(const std::map<std::string, std::string>& sets) {
  auto it = spaces_.find(sets);
  if (it == spaces_.end()) {
    RunRequest r = base_;
    for (const auto& [k, v] : sets) r.sets[k] = v;
    it = spaces_.emplace(sets, validate(r).empty() ? plan_space(r) : std::nullopt).first;
  }
  return it->second;
}

rc::Gen<std::map<std::string, std::string>> gen_config(const RunRequest& base) {
  const ScenarioInfo* info = find_scenario(base.scenario);
  if (info == nullptr) return rc::gen::just(std::map<std::string, std::string>{});
  // The knobs this scenario has and the request does not pin, each with its values.
  std::vector<std::pair<std::string, std::vector<std::string>>> choices;
  for (const Knob& k : knobs()) {
    const ParamSpec* spec = spec_of(*info, k.name);
    if (spec == nullptr || base.sets.contains(k.name)) continue;
    if (k.only_if_default_false && spec->default_value != "false") continue;
    std::vector<std::string> values = {spec->default_value};
    for (const std::string& v : k.values.empty() ? spec->choices : k.values) {
      int64_t ignored = 0;
      if (check_param_value(*spec, v, &ignored).empty() &&
          std::find(values.begin(), values.end(), v) == values.end()) {
        values.push_back(v);
      }
    }
    if (values.size() > 1) choices.emplace_back(k.name, std::move(values));
  }
  return rc::gen::exec([choices, info, pinned = base.sets] {
    std::map<std::string, std::string> sets;
    for (const auto& [name, values] : choices) {
      // An index (rc::gen::elementOf never shrinks; an index shrinks toward 0, the default).
      std::string v = values[*rc::gen::inRange<size_t>(0, values.size())];
      if (v != values.front()) sets[name] = std::move(v);  // defaults stay implicit
    }
    make_consistent(sets, pinned, *info);
    return sets;
  });
}

rc::Gen<FuzzCase> gen_case(std::shared_ptr<PlanSpaceCache> cache, bool vary_config) {
  rc::Gen<std::map<std::string, std::string>> config =
      vary_config ? gen_config(cache->base()) : rc::gen::just(std::map<std::string, std::string>{});
  // mapcat: shrinking tries smaller configurations first (each with the plan regenerated in
  // its own space from the same random state), then smaller plans.
  return rc::gen::mapcat(config, [cache](std::map<std::string, std::string> sets) -> rc::Gen<FuzzCase> {
    const auto& space = cache->get(sets);
    if (!space) return rc::gen::just(FuzzCase{std::move(sets), FaultPlan{}, 0});
    // The seed first and unshrinkable: shrinking another seed is not a smaller case. At full
    // size whatever the run's size (inRange scales with it: at size 0 every seed was 0, and
    // the results database, keyed by seed, kept one of those runs), from 2^62 values.
    const auto seed = rc::gen::noShrink(rc::gen::resize(100, rc::gen::inRange<uint64_t>(0, uint64_t{1} << 62)));
    return rc::gen::map(rc::gen::pair(seed, gen_plan(*space)),
                        [sets](std::pair<uint64_t, FaultPlan> p) { return FuzzCase{sets, std::move(p.second), p.first}; });
  });
}

RunRequest case_request(const RunRequest& base, const FuzzCase& c) {
  RunRequest r = base;
  for (const auto& [k, v] : c.sets) r.sets[k] = v;
  r.seed = c.seed;
  r.plan_text = c.plan.to_text();
  return r;
}

}  // namespace faultline
