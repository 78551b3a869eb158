// sim/network.h
// Messages between nodes, with latency drawn per link class and per-connection FIFO order
// (Kafka runs on TCP: what one node sends to another arrives in the order it was sent).
//
// Contract:
// - send() never blocks and never fails from the sender's point of view; a message to a
//   node that is down when it would arrive, or that crashed and restarted since it was sent
//   (a new incarnation: the old connection is gone), is dropped.
// - Delivery time = max(now + latency, previous delivery time on the same (from, to)
//   connection): FIFO per connection, no FIFO across connections.
// - Latency for a message: link base + an exponential-ish jitter, both per link class
//   (same datacenter, cross datacenter), drawn from the network's own random stream.
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace faultline {

struct LinkLatency {
  Duration base;         // fixed part of every one-way trip
  Duration jitter_mean;  // mean of the exponential-ish extra delay
};

struct NetworkOptions {
  // Within one datacenter: ~0.2 ms with a long-ish tail.
  LinkLatency same_dc{Duration::micros(150), Duration::micros(50)};
  // Between datacenters: ~10 ms one way.
  LinkLatency cross_dc{Duration::millis(8), Duration::millis(2)};
};

struct Envelope {
  NodeId from = kWorld;
  uint64_t from_incarnation = 0;
  Instant sent_at;
  std::any body;
};

class Network {
 public:
  Network(Scheduler& s, uint64_t seed, NetworkOptions options = {});

  // Registers a node; `dc` decides the link class. Inboxes live as long as the network.
  void add_node(NodeId id, std::string dc);
  // A node went down (its inbox is cleared) or came back with a new incarnation.
  void node_down(NodeId id);
  void node_up(NodeId id, uint64_t incarnation);

  void send(NodeId from, NodeId to, std::any body);
  Channel<Envelope>& inbox(NodeId id) { return *nodes_.at(id).inbox; }

  uint64_t sent() const { return sent_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct NodeState {
    std::string dc;
    bool up = false;
    uint64_t incarnation = 0;
    std::unique_ptr<Channel<Envelope>> inbox;
  };
  Duration latency(NodeId from, NodeId to);

  Scheduler& s_;
  Prng prng_;
  NetworkOptions options_;
  std::vector<NodeState> nodes_;
  // Last delivery time per (from, to) connection, for FIFO. Ordered map: deterministic.
  std::map<std::pair<NodeId, NodeId>, Instant> last_delivery_;
  uint64_t sent_ = 0;
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace faultline
