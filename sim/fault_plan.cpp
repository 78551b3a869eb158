#include "sim/fault_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

namespace faultline {

namespace {

struct KindInfo {
  FaultKind kind;
  const char* name;
  // Keys the kind takes, in canonical order; all required except "for" (default 0) and, on
  // crashes, "delay" (default 0).
  std::vector<std::string> keys;
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> kKinds = {
      {FaultKind::kKill, "kill", {"node", "delay", "for"}},
      {FaultKind::kPowerLoss, "power-loss", {"node", "delay", "for"}},
      {FaultKind::kPartition, "partition", {"a", "b", "for"}},
      {FaultKind::kPartitionOneWay, "partition-one-way", {"from", "to", "for"}},
      {FaultKind::kIsolateDc, "isolate-dc", {"dc", "for"}},
      {FaultKind::kDropConnections, "drop-connections", {"a", "b"}},
      {FaultKind::kLinkDelay, "link-delay", {"a", "b", "delay", "jitter", "for"}},
      {FaultKind::kDiskStall, "disk-stall", {"node", "delay", "for"}},
      {FaultKind::kDiskSlow, "disk-slow", {"node", "factor", "delay", "for"}},
      {FaultKind::kS3Errors, "s3-errors", {"slowdown", "internal", "for"}},
      {FaultKind::kS3Latency, "s3-latency", {"extra", "for"}},
      {FaultKind::kS3Outage, "s3-outage", {"for"}},
      {FaultKind::kS3Ambiguous, "s3-ambiguous", {"rate", "for"}},
      {FaultKind::kRestart, "restart", {"node", "delay", "for"}},
      {FaultKind::kDiskReplace, "disk-replace", {"node", "delay", "for"}},
      {FaultKind::kElectPreferred, "elect-preferred", {}},
      {FaultKind::kReassign, "reassign", {}},
  };
  return kKinds;
}

const KindInfo& info(FaultKind k) { return kinds().at(static_cast<size_t>(k)); }

// Keys that may be left out: the window (zero: see the header) and a node-aimed fault's delay.
bool optional_key(FaultKind k, const std::string& key) { return key == "for" || (key == "delay" && is_node_aimed(k)); }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string ratio_text(Ratio r) { return fmt::format("{}/{}", r.num, r.den); }

bool parse_ratio(const std::string& s, Ratio* out) {
  const auto slash = s.find('/');
  uint64_t num = 0, den = 1;
  auto parse = [](const std::string& t, uint64_t* v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return ec == std::errc() && p == t.data() + t.size() && !t.empty();
  };
  if (slash == std::string::npos) {
    if (s.empty() || s.back() != '%' || !parse(s.substr(0, s.size() - 1), &num)) return false;
    den = 100;
  } else if (!parse(s.substr(0, slash), &num) || !parse(s.substr(slash + 1), &den)) {
    return false;
  }
  if (den == 0 || num > den) return false;
  *out = Ratio{num, den};
  return true;
}

// The value of `key` for event `e`, in canonical text.
std::string value_text(const FaultEvent& e, const std::string& key) {
  if (key == "node" || key == "a" || key == "from") return join(e.a);
  if (key == "b" || key == "to") return join(e.b);
  if (key == "dc") return e.dc;
  if (key == "for") return format_duration(e.duration);
  if (key == "delay" || key == "extra") return format_duration(e.delay);
  if (key == "jitter") return format_duration(e.jitter);
  if (key == "factor") return std::to_string(e.factor);
  if (key == "slowdown" || key == "rate") return ratio_text(e.rate);
  if (key == "internal") return ratio_text(e.rate2);
  return "?";
}

std::string set_value(FaultEvent& e, const std::string& key, const std::string& value) {
  Duration d;
  if (key == "node" || key == "a" || key == "from" || key == "b" || key == "to") {
    auto names = split_names(value);
    for (const auto& n : names) {
      if (n.empty()) return fmt::format("empty node name in {}='{}'", key, value);
    }
    (key == "b" || key == "to" ? e.b : e.a) = std::move(names);
    if (key == "node" && e.a.size() != 1) return fmt::format("node= takes exactly one node, got '{}'", value);
    return {};
  }
  if (key == "dc") {
    if (value.empty()) return "empty dc";
    e.dc = value;
    return {};
  }
  if (key == "for" || key == "delay" || key == "extra" || key == "jitter") {
    if (!parse_duration(value, &d)) return fmt::format("{} wants a duration such as 250ms, got '{}'", key, value);
    (key == "for" ? e.duration : key == "jitter" ? e.jitter : e.delay) = d;
    return {};
  }
  if (key == "factor") {
    uint32_t f = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), f);
    if (ec != std::errc() || p != value.data() + value.size() || f < 1 || f > 1000) {
      return fmt::format("factor wants an integer in [1, 1000], got '{}'", value);
    }
    e.factor = f;
    return {};
  }
  if (key == "slowdown" || key == "rate" || key == "internal") {
    Ratio r;
    if (!parse_ratio(value, &r)) return fmt::format("{} wants a ratio such as 1/10 or 5%, got '{}'", key, value);
    (key == "internal" ? e.rate2 : e.rate) = r;
    return {};
  }
  return fmt::format("unknown key '{}'", key);
}

}  // namespace

const char* to_string(FaultKind k) { return info(k).name; }

bool is_crash(FaultKind k) {
  return k == FaultKind::kKill || k == FaultKind::kPowerLoss || k == FaultKind::kRestart || k == FaultKind::kDiskReplace;
}

bool is_object_store_fault(FaultKind k) {
  return k == FaultKind::kS3Errors || k == FaultKind::kS3Latency || k == FaultKind::kS3Outage || k == FaultKind::kS3Ambiguous;
}

bool is_node_aimed(FaultKind k) { return is_crash(k) || k == FaultKind::kDiskStall || k == FaultKind::kDiskSlow; }

bool takes_role(FaultKind k) { return is_node_aimed(k) || k == FaultKind::kLinkDelay; }

Duration arming_delay(const FaultEvent& e) { return is_node_aimed(e.kind) ? e.delay : Duration::zero(); }

std::optional<FaultKind> fault_kind_from_string(const std::string& s) {
  for (const auto& k : kinds()) {
    if (s == k.name) return k.kind;
  }
  return std::nullopt;
}

std::string FaultEvent::to_text() const {
  std::string out = fmt::format("{} {}", format_duration(at), to_string(kind));
  for (const auto& key : info(kind).keys) {
    if (optional_key(kind, key) && (key == "for" ? duration : delay) == Duration::zero()) continue;  // the default
    out += fmt::format(" {}={}", key, value_text(*this, key));
  }
  return out;
}

bool FaultEvent::operator==(const FaultEvent& o) const { return to_text() == o.to_text(); }

std::string FaultPlan::to_text() const {
  std::string out = "# faultline fault plan: <time> <kind> key=value ...\n";
  for (const auto& e : events) out += e.to_text() + "\n";
  return out;
}

void FaultPlan::sort() {
  std::stable_sort(events.begin(), events.end(), [](const FaultEvent& x, const FaultEvent& y) { return x.at < y.at; });
}

std::optional<FaultPlan> FaultPlan::parse(const std::string& text, std::string* error) {
  FaultPlan plan;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& what) {
    *error = fmt::format("fault plan line {}: {}", line_no, what);
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string w; words >> w;) tokens.push_back(w);
    if (tokens.empty()) continue;
    if (tokens.size() < 2) return fail("wants '<time> <kind> key=value ...'");
    FaultEvent e;
    if (!parse_duration(tokens[0], &e.at)) return fail(fmt::format("bad time '{}'", tokens[0]));
    const auto kind = fault_kind_from_string(tokens[1]);
    if (!kind) return fail(fmt::format("unknown fault kind '{}'", tokens[1]));
    e.kind = *kind;
    const auto& keys = info(e.kind).keys;
    std::set<std::string> seen;
    for (size_t i = 2; i < tokens.size(); ++i) {
      const auto eq = tokens[i].find('=');
      if (eq == std::string::npos) return fail(fmt::format("wants key=value, got '{}'", tokens[i]));
      const std::string key = tokens[i].substr(0, eq);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        return fail(keys.empty() ? fmt::format("{} takes no keys, got '{}'", tokens[1], key)
                                 : fmt::format("{} does not take '{}' (it takes {})", tokens[1], key, join(keys)));
      }
      if (!seen.insert(key).second) return fail(fmt::format("'{}' given twice", key));
      if (std::string err = set_value(e, key, tokens[i].substr(eq + 1)); !err.empty()) return fail(err);
    }
    for (const auto& key : keys) {
      if (!optional_key(e.kind, key) && seen.count(key) == 0) return fail(fmt::format("{} needs {}=", tokens[1], key));
    }
    plan.events.push_back(std::move(e));
  }
  plan.sort();
  return plan;
}

std::vector<std::string> Topology::dcs() const {
  std::set<std::string> s;
  for (const auto& n : nodes) s.insert(n.dc);
  return {s.begin(), s.end()};
}

std::optional<uint32_t> Topology::find(const std::string& name) const {
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == name) return i;
  }
  return std::nullopt;
}

std::string validate_plan(const FaultPlan& plan, const Topology& topology) {
  for (const auto& e : plan.events) {
    for (const auto* names : {&e.a, &e.b}) {
      // A role stands alone in the first set of a kind that takes one.
      const bool aimed = takes_role(e.kind) && names == &e.a && e.a.size() == 1;
      for (const auto& n : *names) {
        const bool role = aimed && std::find(topology.roles.begin(), topology.roles.end(), n) != topology.roles.end();
        if (!topology.find(n) && !role) return fmt::format("fault plan event '{}': unknown node '{}'", e.to_text(), n);
      }
    }
    // Found by the fuzzer: the object store asserts this, so a plan asking for it is bad input.
    if (e.kind == FaultKind::kS3Errors &&
        e.rate.num * e.rate2.den + e.rate2.num * e.rate.den > e.rate.den * e.rate2.den) {
      return fmt::format("fault plan event '{}': slowdown and internal error rates add up to more than 1", e.to_text());
    }
    if (e.kind == FaultKind::kIsolateDc) {
      const auto dcs = topology.dcs();
      if (std::find(dcs.begin(), dcs.end(), e.dc) == dcs.end()) {
        return fmt::format("fault plan event '{}': unknown datacenter '{}'", e.to_text(), e.dc);
      }
    }
  }
  return {};
}

}  // namespace faultline
