#include "sim/network.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/assert.h"

namespace faultline {

const char* to_string(RpcStatus s) {
  switch (s) {
    case RpcStatus::kOk: return "ok";
    case RpcStatus::kTimeout: return "timeout";
    case RpcStatus::kDisconnected: return "disconnected";
  }
  return "?";
}

void NodeSet::add(NodeId id) {
  FL_ASSERT(id < 64 && "NodeSet holds node ids below 64", id);
  bits_ |= uint64_t{1} << id;
}

std::vector<NodeId> NodeSet::ids() const {
  std::vector<NodeId> out;
  for (NodeId i = 0; i < 64; ++i) {
    if (contains(i)) out.push_back(i);
  }
  return out;
}

Network::Network(Scheduler& s, uint64_t seed, NetworkOptions options)
    : s_(s), prng_(seed, "network"), options_(options), connections_(kMaxNodes * kMaxNodes) {}

void Network::add_node(NodeId id, std::string dc) {
  FL_ASSERT(id < 64 && "at most 64 nodes", id);
  if (id >= nodes_.size()) nodes_.resize(id + 1);
  NodeState& n = nodes_[id];
  n.dc = std::move(dc);
  n.dc_index = static_cast<uint32_t>(id);
  for (NodeId other = 0; other < nodes_.size(); ++other) {
    if (other != id && nodes_[other].inbox != nullptr && nodes_[other].dc == n.dc) n.dc_index = nodes_[other].dc_index;
  }
  n.inbox = std::make_unique<Channel<Envelope>>(s_, "inbox");
}

void Network::node_up(NodeId id, uint64_t incarnation) {
  NodeState& n = nodes_.at(id);
  n.up = true;
  n.incarnation = incarnation;
}

void Network::node_down(NodeId id, bool reset) {
  NodeState& n = nodes_.at(id);
  n.up = false;
  n.resets_when_down = reset;
  n.inbox->clear();
  n.handlers.clear();
  // Calls the dead process made will never be awaited again.
  std::erase_if(pending_, [id](const PendingCall& c) { return c.from == id; });
  // Requests whose handler fiber had not started yet: that fiber dies unstarted, so its
  // slot is freed here (run_handler would have freed it).
  for (uint32_t slot = 0; slot < in_flight_.size(); ++slot) {
    InFlight& m = in_flight_[slot];
    if (m.handler == nullptr || m.to != id) continue;
    m.handler.reset();
    m.env = Envelope{};
    free_in_flight_.push_back(slot);
  }
  // Calls waiting on it: a live host resets the connections, a dead one is silent.
  if (reset) {
    for (const PendingCall& call : pending_) {
      if (call.to != id || blocked(id, call.from)) continue;
      const uint64_t cid = call.id;
      s_.after(latency(id, call.from), [this, cid] { complete(cid, RpcStatus::kDisconnected, {}); });
    }
  }
}

bool Network::rule_matches(const Rule& r, NodeId from, NodeId to) const {
  if (r.a.contains(from) && r.b.contains(to)) return true;
  return !r.one_way && r.b.contains(from) && r.a.contains(to);
}

bool Network::blocked(NodeId from, NodeId to) const {
  for (const auto& [id, r] : rules_) {
    if (r.kind == Rule::Kind::kBlock && rule_matches(r, from, to)) return true;
  }
  return false;
}

Duration Network::latency(NodeId from, NodeId to) {
  const LinkLatency& link = nodes_.at(from).dc_index == nodes_.at(to).dc_index ? options_.same_dc : options_.cross_dc;
  Duration d = link.base + prng_.exponential(link.jitter_mean);
  for (const auto& [id, r] : rules_) {
    if (r.kind == Rule::Kind::kDelay && rule_matches(r, from, to)) d += r.extra + prng_.exponential(r.jitter_mean);
  }
  return d;
}

void Network::send(NodeId from, NodeId to, Payload body) {
  Envelope env;
  env.from = from;
  env.body = std::move(body);
  transmit(from, to, std::move(env));
}

void Network::transmit(NodeId from, NodeId to, Envelope env) {
  FL_ASSERT(from < nodes_.size() && to < nodes_.size(), from, to);
  ++sent_;
  if (blocked(from, to)) {
    ++dropped_;
    return;
  }
  env.from_incarnation = nodes_[from].incarnation;
  env.sent_at = s_.now();
  Instant arrive = s_.now() + latency(from, to);
  Connection& conn = connection(from, to);
  if (arrive < conn.last_delivery) arrive = conn.last_delivery;  // FIFO per connection
  conn.last_delivery = arrive;
  const uint32_t slot = take_in_flight_slot();
  InFlight& m = in_flight_[slot];
  m.to = to;
  m.to_incarnation = nodes_[to].incarnation;
  m.conn_epoch = conn.epoch;
  m.env = std::move(env);
  s_.at_plain(
      arrive, [](void* net, uint64_t in_flight) { static_cast<Network*>(net)->deliver(static_cast<uint32_t>(in_flight)); },
      this, slot);
}

uint32_t Network::take_in_flight_slot() {
  if (free_in_flight_.empty()) {
    in_flight_.emplace_back();
    return static_cast<uint32_t>(in_flight_.size() - 1);
  }
  const uint32_t slot = free_in_flight_.back();
  free_in_flight_.pop_back();
  return slot;
}

void Network::deliver(uint32_t slot) {
  // Out of the slot first: what follows may send, and reuse it or grow the table.
  const NodeId to = in_flight_[slot].to;
  const uint64_t to_incarnation = in_flight_[slot].to_incarnation;
  const uint64_t conn_epoch = in_flight_[slot].conn_epoch;
  Envelope env = std::move(in_flight_[slot].env);
  free_in_flight_.push_back(slot);
  const NodeState& dst = nodes_[to];
  const NodeState& src = nodes_[env.from];
  const bool lost = !dst.up || dst.incarnation != to_incarnation || !src.up ||
                    src.incarnation != env.from_incarnation || connection(env.from, to).epoch != conn_epoch ||
                    blocked(env.from, to);
  if (lost) {
    ++dropped_;
    // A request reaching a live host whose process is dead is refused with a reset.
    if (env.kind == MessageKind::kRequest && !dst.up && dst.resets_when_down && src.up &&
        src.incarnation == env.from_incarnation && !blocked(to, env.from)) {
      const uint64_t cid = env.call_id;
      s_.after(latency(to, env.from), [this, cid] { complete(cid, RpcStatus::kDisconnected, {}); });
    }
    return;
  }
  ++delivered_;
  switch (env.kind) {
    case MessageKind::kMessage:
      nodes_[to].inbox->send(std::move(env));
      return;
    case MessageKind::kRequest:
      serve_request(to, std::move(env));
      return;
    case MessageKind::kResponse:
      complete(env.call_id, RpcStatus::kOk, std::move(env.body));
      return;
  }
}

uint32_t Network::method_number(std::string_view name) {
  for (uint32_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i].name == name) return i;
  }
  methods_.push_back(Method{std::string(name), "rpc:" + std::string(name)});
  return static_cast<uint32_t>(methods_.size() - 1);
}

std::shared_ptr<const Network::Handler>* Network::handler_of(NodeId server, uint32_t method) {
  for (auto& [number, h] : nodes_.at(server).handlers) {
    if (number == method) return &h;
  }
  return nullptr;
}

void Network::serve(NodeId server, std::string_view method, Handler handler) {
  auto h = std::make_shared<const Handler>(std::move(handler));
  const uint32_t number = method_number(method);
  if (auto* existing = handler_of(server, number)) {
    *existing = std::move(h);
  } else {
    nodes_.at(server).handlers.emplace_back(number, std::move(h));
  }
}

void Network::serve_request(NodeId server, Envelope env) {
  const auto* found = handler_of(server, env.method);
  std::shared_ptr<const Handler> handler = found != nullptr ? *found : nullptr;
  if (handler == nullptr) {
    // Nobody listens for this API (yet): the server closes the connection.
    const uint64_t cid = env.call_id;
    s_.after(latency(server, env.from), [this, cid] { complete(cid, RpcStatus::kDisconnected, {}); });
    return;
  }
  if (observer_ != nullptr) {
    observer_->on_request_served(server, env.from, methods_[env.method].name, env.call_id, s_.now());
  }
  std::string fiber_name = methods_[env.method].fiber_name;
  const uint32_t slot = take_in_flight_slot();
  in_flight_[slot].to = server;
  in_flight_[slot].env = std::move(env);
  in_flight_[slot].handler = std::move(handler);
  // If the server dies before this fiber starts, the body never runs: node_down frees the
  // slot (a handler set means a fiber not started yet).
  s_.spawn(server, std::move(fiber_name), [this, slot] { run_handler(slot); });
}

void Network::run_handler(uint32_t slot) {
  const NodeId server = in_flight_[slot].to;
  Envelope env = std::move(in_flight_[slot].env);
  const std::shared_ptr<const Handler> handler = std::move(in_flight_[slot].handler);
  free_in_flight_.push_back(slot);
  Payload response = (*handler)(env.from, std::move(env.body));
  Envelope reply;
  reply.from = server;
  reply.kind = MessageKind::kResponse;
  reply.call_id = env.call_id;
  reply.body = std::move(response);
  transmit(server, env.from, std::move(reply));
}

std::pair<RpcStatus, Payload> Network::call(NodeId from, NodeId to, std::string_view method, Payload request,
                                             Duration timeout) {
  const uint64_t id = next_call_++;
  CallSlot slot;
  pending_.push_back(PendingCall{id, from, to, &slot});
  struct Forget {  // however the call ends: a timeout, a reply, or NodeKilled unwinding
    Network* net;
    uint64_t id;
    ~Forget() {
      if (auto it = net->find_pending(id); it != net->pending_.end()) net->pending_.erase(it);
    }
  } forget{this, id};
  Envelope env;
  env.from = from;
  env.kind = MessageKind::kRequest;
  env.call_id = id;
  env.method = method_number(method);
  env.body = std::move(request);
  if (observer_ != nullptr) observer_->on_request_sent(from, to, methods_[env.method].name, id, s_.now());
  transmit(from, to, std::move(env));
  // As Promise::get: wait until answered or the deadline.
  const Instant deadline = saturating_add(s_.now(), timeout);
  while (!slot.done) {
    if (s_.now() >= deadline) return {RpcStatus::kTimeout, Payload{}};
    slot.waiters.wait(s_, deadline);
  }
  return {slot.status, std::move(slot.body)};
}

std::vector<Network::PendingCall>::iterator Network::find_pending(uint64_t call_id) {
  auto it = std::lower_bound(pending_.begin(), pending_.end(), call_id,
                             [](const PendingCall& c, uint64_t id) { return c.id < id; });
  return it != pending_.end() && it->id == call_id ? it : pending_.end();
}

void Network::complete(uint64_t call_id, RpcStatus status, Payload body) {
  auto it = find_pending(call_id);
  if (it == pending_.end()) return;  // timed out, or its caller died
  CallSlot* slot = it->slot;
  pending_.erase(it);
  slot->done = true;
  slot->status = status;
  slot->body = std::move(body);
  slot->waiters.notify_all(s_);
}

namespace {
std::string names(const Trace& t, NodeSet set) {
  std::string out;
  for (NodeId id : set.ids()) out += (out.empty() ? "" : ",") + t.node_name(id);
  return out;
}
}  // namespace

uint64_t Network::partition(NodeSet a, NodeSet b, bool one_way) {
  const uint64_t id = next_rule_++;
  rules_[id] = Rule{Rule::Kind::kBlock, a, b, one_way, {}, {}};
  s_.trace().record(s_.now(), kWorld, "net-partition",
                    {{"rule", id}, {"a", names(s_.trace(), a)}, {"b", names(s_.trace(), b)}, {"one_way", one_way}});
  return id;
}

uint64_t Network::add_delay(NodeSet a, NodeSet b, Duration extra, Duration jitter_mean) {
  const uint64_t id = next_rule_++;
  rules_[id] = Rule{Rule::Kind::kDelay, a, b, false, extra, jitter_mean};
  s_.trace().record(s_.now(), kWorld, "net-delay",
                    {{"rule", id}, {"a", names(s_.trace(), a)}, {"b", names(s_.trace(), b)}, {"extra", extra},
                     {"jitter", jitter_mean}});
  return id;
}

void Network::heal(uint64_t rule_id) {
  if (rules_.erase(rule_id) != 0) s_.trace().record(s_.now(), kWorld, "net-heal", {{"rule", rule_id}});
}

void Network::heal_all() {
  if (rules_.empty()) return;
  rules_.clear();
  s_.trace().record(s_.now(), kWorld, "net-heal-all");
}

void Network::drop_connections(NodeSet a, NodeSet b) {
  for (NodeId x : a.ids()) {
    for (NodeId y : b.ids()) {
      if (x == y) continue;
      ++connection(x, y).epoch;
      ++connection(y, x).epoch;
    }
  }
  s_.trace().record(s_.now(), kWorld, "net-drop-connections", {{"a", names(s_.trace(), a)}, {"b", names(s_.trace(), b)}});
  // The local socket errors at once: no message needs to travel.
  std::vector<uint64_t> broken;
  for (const PendingCall& call : pending_) {
    if ((a.contains(call.from) && b.contains(call.to)) || (b.contains(call.from) && a.contains(call.to))) {
      broken.push_back(call.id);
    }
  }
  for (uint64_t id : broken) complete(id, RpcStatus::kDisconnected, {});
}

}  // namespace faultline
