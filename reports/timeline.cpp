#include "reports/timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "reports/json.h"

namespace faultline {

namespace {

const TraceField* field(std::initializer_list<TraceField> fields, std::string_view key) {
  for (const TraceField& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

int64_t num(std::initializer_list<TraceField> fields, std::string_view key, int64_t fallback = -1) {
  const TraceField* f = field(fields, key);
  return f == nullptr || f->is_text ? fallback : f->num;
}

std::string text(std::initializer_list<TraceField> fields, std::string_view key) {
  const TraceField* f = field(fields, key);
  if (f == nullptr) return {};
  return f->is_text ? std::string(f->text) : std::to_string(f->num);
}

// Simulated nanoseconds as trace microseconds, exactly.
std::string micros(int64_t ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }

// Every field of a record as a JSON object, for an event's args.
std::string args_of(std::initializer_list<TraceField> fields) {
  std::string out = "{";
  bool first = true;
  for (const TraceField& f : fields) {
    if (!first) out += ',';
    first = false;
    out += json_escape(f.key) + ':';
    out += f.is_text ? json_escape(f.text) : std::to_string(f.num);
  }
  return out + "}";
}

// "leader" fields carry the broker id, or -1 / UINT32_MAX for none.
bool no_node(int64_t id) { return id < 0 || id == static_cast<int64_t>(UINT32_MAX); }

}  // namespace

TimelineWriter::TimelineWriter(Simulation& sim, const RunContext& rc, std::string path)
    : sim_(sim), rc_(rc), path_(std::move(path)) {}

void TimelineWriter::emit(int64_t ts_ns, std::string json) { events_.push_back({ts_ns, next_order_++, std::move(json)}); }

void TimelineWriter::name_track(Track t, const std::string& name) {
  if (!named_.insert(t).second) return;
  emit(0, fmt::format(R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"ts":0,"args":{{"name":{}}}}})", t.first,
                      t.second, json_escape(name)));
  emit(0, fmt::format(R"({{"ph":"M","name":"thread_sort_index","pid":{},"tid":{},"ts":0,"args":{{"sort_index":{}}}}})",
                      t.first, t.second, t.second));
}

void TimelineWriter::open(Track t, std::string name, int64_t at_ns, std::string args) {
  close(t, at_ns);
  open_[t] = Slice{std::move(name), at_ns, std::move(args)};
}

void TimelineWriter::close(Track t, int64_t at_ns) {
  auto it = open_.find(t);
  if (it == open_.end()) return;
  const Slice& s = it->second;
  emit(s.start_ns, fmt::format(R"({{"ph":"X","name":{},"pid":{},"tid":{},"ts":{},"dur":{}{}}})", json_escape(s.name),
                               t.first, t.second, micros(s.start_ns), micros(at_ns - s.start_ns),
                               s.args.empty() ? "" : ",\"args\":" + s.args));
  open_.erase(it);
}

void TimelineWriter::close_node(uint32_t p, int64_t at_ns) {
  std::vector<Track> tracks;
  for (const auto& [t, s] : open_) {
    if (t.first == p) tracks.push_back(t);
  }
  for (const Track& t : tracks) close(t, at_ns);
}

void TimelineWriter::instant(Track t, const std::string& name, int64_t at_ns, const std::string& args, bool global) {
  emit(at_ns, fmt::format(R"({{"ph":"i","s":"{}","name":{},"pid":{},"tid":{},"ts":{}{}}})", global ? "g" : "t",
                          json_escape(name), t.first, t.second, micros(at_ns), args.empty() ? "" : ",\"args\":" + args));
}

void TimelineWriter::fault(int64_t at_ns, int64_t serial, const std::string& event) {
  // The nodes a fault names (node=, a=, b=, from=, to=, dc=); roles were resolved by the
  // fault control into the record's own node field, passed here as a trailing token.
  std::vector<NodeId> hit;
  auto add = [&](NodeId n) {
    if (std::find(hit.begin(), hit.end(), n) == hit.end()) hit.push_back(n);
  };
  size_t pos = 0;
  while (pos < event.size()) {
    size_t end = event.find(' ', pos);
    if (end == std::string::npos) end = event.size();
    const std::string token = event.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = token.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = token.substr(0, eq);
    if (key != "node" && key != "a" && key != "b" && key != "from" && key != "to" && key != "dc") continue;
    size_t from = eq + 1;
    while (from <= token.size()) {
      size_t comma = token.find(',', from);
      if (comma == std::string::npos) comma = token.size();
      const std::string name = token.substr(from, comma - from);
      from = comma + 1;
      if (key == "dc") {
        for (NodeId n = 0; n < sim_.node_count(); ++n) {
          if (sim_.spec(n).dc == name) add(n);
        }
      } else if (auto id = sim_.find_node(name)) {
        add(*id);
      }
    }
  }
  const std::string kind = event.substr(event.find(' ') + 1, event.find(' ', event.find(' ') + 1) - event.find(' ') - 1);
  std::vector<Track> tracks;
  if (hit.empty()) tracks.push_back({0, kFaultTrack});  // the object store, or the world
  for (NodeId n : hit) tracks.push_back({pid(n), kFaultTrack});
  for (const Track& t : tracks) {
    name_track(t, "faults");
    emit(at_ns, fmt::format(R"({{"ph":"b","cat":"fault","id":{},"name":{},"pid":{},"tid":{},"ts":{},"args":{{"event":{}}}}})",
                            serial, json_escape(kind), t.first, t.second, micros(at_ns), json_escape(event)));
  }
  faults_[serial] = {kind, std::move(tracks)};
}

void TimelineWriter::heal(int64_t at_ns, int64_t serial) {
  auto it = faults_.find(serial);
  if (it == faults_.end()) return;
  for (const Track& t : it->second.second) {
    emit(at_ns, fmt::format(R"({{"ph":"e","cat":"fault","id":{},"name":{},"pid":{},"tid":{},"ts":{}}})", serial,
                            json_escape(it->second.first), t.first, t.second, micros(at_ns)));
  }
  faults_.erase(it);
}

namespace {
// The RPCs every node makes all the time: too many to draw, and their story is in the
// counters and slices.
bool periodic(const std::string& method) {
  return method == "Fetch" || method == "Produce" || method == "Heartbeat" || method == "Metadata" ||
         method == "QuorumFetch" || method == "TierDescribe";
}
}  // namespace

void TimelineWriter::on_request_sent(NodeId, NodeId, const std::string& method, uint64_t call_id, Instant at) {
  if (!periodic(method)) rpc_sent_[call_id] = at.ns();
}

void TimelineWriter::on_request_served(NodeId server, NodeId from, const std::string& method, uint64_t call_id,
                                       Instant at) {
  auto it = rpc_sent_.find(call_id);
  if (it == rpc_sent_.end()) return;
  const int64_t sent = it->second;
  rpc_sent_.erase(it);
  // A flow binds to a slice on its thread at its time: a zero-length slice at each end.
  const Track caller{pid(from), kRpcTrack};
  const Track callee{pid(server), kRpcTrack};
  name_track(caller, "rpc");
  name_track(callee, "rpc");
  const std::string name = json_escape(method);
  emit(sent, fmt::format(R"({{"ph":"X","name":{},"pid":{},"tid":{},"ts":{},"dur":0.000}})", name, caller.first,
                         caller.second, micros(sent)));
  emit(sent, fmt::format(R"({{"ph":"s","cat":"rpc","id":{},"name":{},"pid":{},"tid":{},"ts":{}}})", call_id, name,
                         caller.first, caller.second, micros(sent)));
  emit(at.ns(), fmt::format(R"({{"ph":"X","name":{},"pid":{},"tid":{},"ts":{},"dur":0.000}})", name, callee.first,
                            callee.second, micros(at.ns())));
  emit(at.ns(), fmt::format(R"({{"ph":"f","bp":"e","cat":"rpc","id":{},"name":{},"pid":{},"tid":{},"ts":{}}})", call_id,
                            name, callee.first, callee.second, micros(at.ns())));
}

void TimelineWriter::on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                                      const std::vector<std::pair<std::string, std::string>>& args) {
  // tids 5..9: below the partition tracks (the few checker tracks there are share the last).
  const int tid =
      checker_tracks_.try_emplace(track, std::min(9, 5 + static_cast<int>(checker_tracks_.size()))).first->second;
  const Track t{pid(node), tid};
  name_track(t, track);
  std::string json = "{";
  for (const auto& [key, value] : args) {
    if (json.size() > 1) json += ',';
    json += json_escape(key) + ':' + json_escape(value);
  }
  instant(t, name, at.ns(), json + "}");
}

void TimelineWriter::sample(int64_t at_ns) {
  if (!rc_.counter_probe() || (last_sample_ns_ >= 0 && at_ns - last_sample_ns_ < 50'000'000)) return;
  last_sample_ns_ = at_ns;
  std::vector<CounterSample> samples;
  rc_.counter_probe()(samples);
  // One "C" event per (node, track) whose values changed, with all its series.
  std::map<std::pair<uint32_t, std::string>, std::vector<std::pair<std::string, int64_t>>> tracks;
  std::set<std::pair<uint32_t, std::string>> changed;
  for (const CounterSample& s : samples) {
    const uint32_t p = pid(s.node);
    tracks[{p, s.track}].emplace_back(s.series, s.value);
    auto [it, fresh] = counters_.try_emplace({p, s.track, s.series}, s.value);
    if (fresh || it->second != s.value) changed.insert({p, s.track});
    it->second = s.value;
  }
  for (const auto& key : changed) {
    std::string args = "{";
    for (const auto& [series, value] : tracks[key]) {
      if (args.size() > 1) args += ',';
      args += json_escape(series) + ':' + std::to_string(value);
    }
    args += '}';
    emit(at_ns, fmt::format(R"({{"ph":"C","name":{},"pid":{},"tid":0,"ts":{},"args":{}}})", json_escape(key.second),
                            key.first, micros(at_ns), args));
  }
}

void TimelineWriter::on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) {
  const int64_t ns = at.ns();
  const uint32_t p = pid(node);
  const auto partition_track = [&](int64_t partition) {
    const Track t{p, kPartitionTrackBase + static_cast<int>(partition)};
    name_track(t, fmt::format("p{}", partition));
    return t;
  };
  const auto name_of = [&](int64_t id) { return no_node(id) ? std::string("nobody") : sim_.trace().node_name(static_cast<NodeId>(id)); };
  if (kind == "become-leader") {
    open(partition_track(num(fields, "partition")), fmt::format("leader e{}", num(fields, "epoch")), ns, args_of(fields));
  } else if (kind == "become-follower") {
    const int64_t leader = num(fields, "leader");
    open(partition_track(num(fields, "partition")),
         no_node(leader) ? fmt::format("follower, no leader e{}", num(fields, "epoch"))
                         : fmt::format("follower of {} e{}", name_of(leader), num(fields, "epoch")),
         ns, args_of(fields));
  } else if (kind == "replica-removed" || kind == "replica-created") {
    const Track t = partition_track(num(fields, "partition"));
    if (kind == "replica-removed") close(t, ns);
    instant(t, std::string(kind), ns, args_of(fields));
  } else if (kind == "crash") {
    close_node(p, ns);
    const Track t{p, kProcessTrack};
    name_track(t, "process");
    instant(t, "crash " + text(fields, "kind"), ns, args_of(fields));
    open(t, "down", ns);
  } else if (kind == "start" || kind == "registered") {
    const Track t{p, kProcessTrack};
    name_track(t, "process");
    if (kind == "start") close(t, ns);
    instant(t, std::string(kind), ns, args_of(fields));
  } else if (kind == "quorum-leader" || kind == "quorum-candidate" || kind == "quorum-follow") {
    const Track t{p, kQuorumTrack};
    name_track(t, "quorum");
    const int64_t epoch = num(fields, "epoch");
    std::string name = kind == "quorum-leader"      ? fmt::format("leader e{}", epoch)
                       : kind == "quorum-candidate" ? fmt::format("candidate e{}", epoch)
                                                    : fmt::format("follower of {} e{}", name_of(num(fields, "leader")), epoch);
    open(t, std::move(name), ns, args_of(fields));
  } else if (kind == "quorum-resign") {
    const Track t{p, kQuorumTrack};
    name_track(t, "quorum");
    open(t, fmt::format("resigned e{}", num(fields, "epoch")), ns, args_of(fields));
  } else if (kind == "controller-active" || kind == "controller-inactive") {
    const Track t{p, kActiveTrack};
    name_track(t, "active");
    if (kind == "controller-active") {
      open(t, fmt::format("active e{}", num(fields, "epoch")), ns, args_of(fields));
    } else {
      close(t, ns);
    }
  } else if (kind == "partition-change") {
    instant(partition_track(num(fields, "partition")),
            fmt::format("{} leader {} isr {}", text(fields, "why"), name_of(num(fields, "leader")), text(fields, "isr")), ns,
            args_of(fields));
  } else if (kind == "fault") {
    std::string event = text(fields, "event");
    if (const std::string n = text(fields, "node"); !n.empty() && event.find(" node=" + n) == std::string::npos) {
      event += " node=" + n;
    }
    fault(ns, num(fields, "serial"), event);
  } else if (kind == "heal") {
    heal(ns, num(fields, "serial"));
  } else if (kind == "heal-all") {
    std::vector<int64_t> serials;
    for (const auto& [serial, f] : faults_) serials.push_back(serial);
    for (int64_t serial : serials) heal(ns, serial);
  } else if (kind == "violation" || kind == "violation-excused") {
    const Track t{0, kProcessTrack};
    name_track(t, "world");
    instant(t, fmt::format("{} {}", kind, text(fields, "invariant")), ns, args_of(fields), /*global=*/true);
  }
  sample(ns);
}

void TimelineWriter::finish(RunResult& result) {
  if (finished_) return;
  finished_ = true;
  const int64_t end = result.sim_time_ns;
  std::vector<Track> tracks;
  for (const auto& [t, s] : open_) tracks.push_back(t);
  for (const Track& t : tracks) close(t, end);
  std::vector<int64_t> serials;
  for (const auto& [serial, f] : faults_) serials.push_back(serial);
  for (int64_t serial : serials) heal(end, serial);
  if (path_.empty()) return;
  std::FILE* f = std::fopen(path_.c_str(), "w");
  if (f == nullptr) return;  // the runner checked the path before the run
  const std::string doc = json();
  std::fwrite(doc.data(), 1, doc.size(), f);
  std::fclose(f);
}

std::string TimelineWriter::json() const {
  // Process names first, then every event in time order (equal times in the order made).
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  out += R"({"ph":"M","name":"process_name","pid":0,"tid":0,"ts":0,"args":{"name":"world"}})";
  for (NodeId n = 0; n < sim_.node_count(); ++n) {
    out += fmt::format(",\n{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"ts\":0,\"args\":{{\"name\":{}}}}}",
                       n + 1, json_escape(fmt::format("{} ({})", sim_.spec(n).name, sim_.spec(n).dc)));
    out += fmt::format(",\n{{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":{},\"tid\":0,\"ts\":0,\"args\":{{\"sort_index\":{}}}}}",
                       n + 1, n + 1);
  }
  std::vector<const Event*> order;
  order.reserve(events_.size());
  for (const Event& e : events_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) {
    return a->ts_ns != b->ts_ns ? a->ts_ns < b->ts_ns : a->order < b->order;
  });
  for (const Event* e : order) {
    out += ",\n";
    out += e->json;
  }
  out += "\n]}\n";
  return out;
}

std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)> timeline_to(std::string path) {
  return [path = std::move(path)](Simulation& sim, const RunContext& rc) -> std::unique_ptr<RunObserver> {
    return std::make_unique<TimelineWriter>(sim, rc, path);
  };
}

}  // namespace faultline
