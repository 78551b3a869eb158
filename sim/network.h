// sim/network.h
// Messages and request/response RPC between nodes, over simulated TCP connections.
//
// Contract:
// - Every (from, to) pair is a connection with FIFO order (Kafka runs on TCP): delivery
//   time = max(now + latency, previous delivery on that connection). No order across
//   connections. Requests and responses of an RPC travel on (caller, server) and
//   (server, caller) respectively.
// - Latency per message: the link class's base + an exponential-ish jitter (same datacenter
//   or cross datacenter), plus any extra delay a fault put on that link; all drawn from the
//   network's own random stream.
// - A message is lost if its link is blocked (partition) when it is sent or when it would
//   arrive, if either end is down at arrival, or if either end restarted or the connection
//   was dropped since it was sent (a connection does not survive either).
// - RPC: call() blocks the caller until the response arrives (kOk), the caller's timeout
//   passes (kTimeout: the request may or may not have been processed), or the connection
//   breaks (kDisconnected: the server's process died and its host answered with a reset,
//   or a fault dropped the connection). A power-lost or partitioned server is silent, so
//   callers time out. Handlers run in a fresh fiber of the server node and may block.
// - Partitions and delays are rules with ids; healing a rule removes it. Every rule change
//   is traced.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/payload.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace faultline {

struct LinkLatency {
  Duration base;         // fixed part of every one-way trip
  Duration jitter_mean;  // mean of the exponential-ish extra delay
};

struct NetworkOptions {
  // Within one datacenter: ~0.2 ms one way with a tail.
  LinkLatency same_dc{Duration::micros(150), Duration::micros(50)};
  // Between datacenters: ~10 ms one way.
  LinkLatency cross_dc{Duration::millis(8), Duration::millis(2)};
};

enum class MessageKind : uint8_t { kMessage, kRequest, kResponse };

struct Envelope {
  NodeId from = kWorld;
  uint64_t from_incarnation = 0;
  Instant sent_at;
  Payload body;
  // RPC bookkeeping (kRequest / kResponse only).
  MessageKind kind = MessageKind::kMessage;
  uint32_t method = 0;  // the network's number for the method's name (Network::methods_)
  uint64_t call_id = 0;
};

enum class RpcStatus { kOk, kTimeout, kDisconnected };
const char* to_string(RpcStatus s);

template <typename T>
struct RpcResult {
  RpcStatus status = RpcStatus::kTimeout;
  std::optional<T> value;
  bool ok() const { return status == RpcStatus::kOk; }
};

// A set of nodes as a bitmask over node ids (topologies stay small: at most 64 nodes).
class NodeSet {
 public:
  NodeSet() = default;
  NodeSet(std::initializer_list<NodeId> ids) {
    for (NodeId id : ids) add(id);
  }
  void add(NodeId id);
  void remove(NodeId id) { bits_ &= id < 64 ? ~(uint64_t{1} << id) : ~uint64_t{0}; }
  bool contains(NodeId id) const { return id < 64 && ((bits_ >> id) & 1u) != 0; }
  bool empty() const { return bits_ == 0; }
  uint64_t bits() const { return bits_; }
  std::vector<NodeId> ids() const;
  bool operator==(const NodeSet&) const = default;

 private:
  uint64_t bits_ = 0;
};

// Sees RPC requests leave and reach their server (the timeline's flow arrows). It may read
// the simulation, never change it.
class NetworkObserver {
 public:
  virtual ~NetworkObserver() = default;
  virtual void on_request_sent(NodeId from, NodeId to, const std::string& method, uint64_t call_id, Instant at) = 0;
  virtual void on_request_served(NodeId server, NodeId from, const std::string& method, uint64_t call_id,
                                 Instant at) = 0;
};

class Network {
 public:
  // Runs in a fresh fiber of the server node; returns the response body.
  using Handler = std::function<Payload(NodeId from, Payload request)>;

  Network(Scheduler& s, uint64_t seed, NetworkOptions options = {});

  // --- topology and node lifecycle (Simulation) -----------------------------------------
  void add_node(NodeId id, std::string dc);
  const std::string& dc_of(NodeId id) const { return nodes_.at(id).dc; }
  // The node's process died. `reset` says whether its host answers with connection resets
  // (process kill: callers see kDisconnected) or stays silent (power loss: they time out).
  void node_down(NodeId id, bool reset);
  void node_up(NodeId id, uint64_t incarnation);

  // --- model-facing (through NodeContext) -----------------------------------------------
  void send(NodeId from, NodeId to, Payload body);
  Channel<Envelope>& inbox(NodeId id) { return *nodes_.at(id).inbox; }
  void serve(NodeId server, std::string_view method, Handler handler);
  // Blocking; call from a fiber of `from`.
  std::pair<RpcStatus, Payload> call(NodeId from, NodeId to, std::string_view method, Payload request,
                                      Duration timeout);

  // --- faults (FaultControl) --------------------------------------------------------------
  // Blocks every link from a member of `a` to a member of `b`, and back unless one_way.
  uint64_t partition(NodeSet a, NodeSet b, bool one_way);
  // Adds `extra` + exponential-ish(`jitter_mean`) to every message between `a` and `b`
  // (both directions).
  uint64_t add_delay(NodeSet a, NodeSet b, Duration extra, Duration jitter_mean);
  void heal(uint64_t rule_id);
  void heal_all();
  // Breaks every connection between `a` and `b` (both directions): messages in flight are
  // lost and pending calls fail with kDisconnected.
  void drop_connections(NodeSet a, NodeSet b);
  bool blocked(NodeId from, NodeId to) const;
  size_t active_rules() const { return rules_.size(); }

  uint64_t sent() const { return sent_; }
  // Not owned; nullptr turns it off.
  void set_observer(NetworkObserver* observer) { observer_ = observer; }
  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct NodeState {
    std::string dc;
    uint32_t dc_index = 0;  // equal for nodes of one datacenter (latency compares these)
    bool up = false;
    bool resets_when_down = true;  // host alive, process dead: connection attempts are refused
    uint64_t incarnation = 0;
    std::unique_ptr<Channel<Envelope>> inbox;
    // A handful of methods per node: a linear search that compares lengths first beats a
    // map's lexicographic compares. Shared, so a request's fiber holds its handler without
    // copying it (the handler may be replaced or dropped while the request runs).
    std::vector<std::pair<uint32_t, std::shared_ptr<const Handler>>> handlers;  // by method number
  };
  // Method names, numbered in order of first use (a call or a serve), so that an envelope
  // carries a number and a handler is found by comparing numbers; the name of a request's
  // fiber is made once per method.
  struct Method {
    std::string name;
    std::string fiber_name;  // "rpc:" + name
  };
  std::vector<Method> methods_;
  uint32_t method_number(std::string_view name);
  struct Rule {
    enum class Kind { kBlock, kDelay } kind;
    NodeSet a, b;
    bool one_way = false;
    Duration extra, jitter_mean;
  };
  // Where a call's caller waits: on its own stack, for the call's duration (no shared
  // state per call). call() removes its pending entry however it ends, unwinding included,
  // so an entry never outlives its slot; hence fibers blocked in call() must be unwound
  // while the network lives (Simulation::shutdown does, before anything is destroyed).
  struct CallSlot {
    WaitQueue waiters{"rpc-reply"};
    bool done = false;
    RpcStatus status = RpcStatus::kTimeout;
    Payload body;
  };
  struct PendingCall {
    uint64_t id;
    NodeId from, to;
    CallSlot* slot;
  };
  // A message on its way, or a request waiting for its handler's fiber to start: held
  // here, not in the callback or the fiber body, so that those capture (this, slot) and
  // fit std::function's inline buffer (no allocation per message).
  struct InFlight {
    NodeId to = kWorld;
    uint64_t to_incarnation = 0;
    uint64_t conn_epoch = 0;
    Envelope env;
    std::shared_ptr<const Handler> handler;  // a request being served
  };
  uint32_t take_in_flight_slot();

  bool rule_matches(const Rule& r, NodeId from, NodeId to) const;
  Duration latency(NodeId from, NodeId to);
  void transmit(NodeId from, NodeId to, Envelope env);
  void deliver(uint32_t slot);
  std::vector<PendingCall>::iterator find_pending(uint64_t call_id);
  void serve_request(NodeId server, Envelope env);
  std::shared_ptr<const Handler>* handler_of(NodeId server, uint32_t method);  // nullptr: none
  void run_handler(uint32_t slot);  // the body of a request's fiber
  void complete(uint64_t call_id, RpcStatus status, Payload body);

  Scheduler& s_;
  Prng prng_;
  NetworkOptions options_;
  std::vector<NodeState> nodes_;
  struct Connection {
    Instant last_delivery;  // FIFO: nothing on this connection arrives before this
    uint64_t epoch = 0;     // bumped when the connection breaks
  };
  static constexpr size_t kMaxNodes = 64;  // NodeSet's limit
  std::vector<Connection> connections_;    // [from * kMaxNodes + to]
  Connection& connection(NodeId from, NodeId to) { return connections_[from * kMaxNodes + to]; }
  std::map<uint64_t, Rule> rules_;
  uint64_t next_rule_ = 1;
  std::vector<PendingCall> pending_;  // ascending call id: calls are numbered as they are made
  std::vector<InFlight> in_flight_;
  std::vector<uint32_t> free_in_flight_;
  uint64_t next_call_ = 1;
  uint64_t sent_ = 0;
  uint64_t delivered_ = 0;
  NetworkObserver* observer_ = nullptr;
  uint64_t dropped_ = 0;
};

}  // namespace faultline
