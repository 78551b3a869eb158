// models/ping/ping.h
// The sample model: nodes that ping each other and answer with pongs.
//
// It exists so the simulator, runner and tests have something real to run before the Kafka
// models land, and it is small enough to reason about completely:
// - Every `interval` (plus jitter from the node's own stream) a node sends Ping{seq} to every
//   peer, seq counting up from 1 per incarnation, and each peer answers Pong{seq}.
// - Sends go out of one sender fiber in order, so on each connection pings arrive in
//   increasing seq order (the network keeps FIFO per connection). Under the bug switch
//   ping-unordered-send they go through a pool of fibers with random hand-off delays.
// The model reports what it receives through PingHooks; it never checks itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "models/bugs.h"
#include "sim/node_context.h"
#include "sim/sync.h"

namespace faultline {

struct PingConfig {
  Duration interval = Duration::millis(100);  // between rounds of pings
  Duration jitter_max = Duration::millis(20); // uniform extra delay per round
  std::vector<NodeId> peers;
};

struct Ping {
  uint64_t seq;
};
struct Pong {
  uint64_t seq;
};

// Observer hooks for checkers (style.md, example 9). Called synchronously, must not block.
struct PingHooks {
  // `to` received Ping{seq} from (`from`, incarnation `from_incarnation`).
  std::function<void(NodeId to, NodeId from, uint64_t from_incarnation, uint64_t seq)> on_ping;
  // `to` received Pong{seq} from `from`.
  std::function<void(NodeId to, NodeId from, uint64_t seq)> on_pong;
  // `from` sent Ping{seq} (to every peer).
  std::function<void(NodeId from, uint64_t incarnation, uint64_t seq)> on_ping_sent;
};

class PingNode {
 public:
  PingNode(NodeContext& ctx, PingConfig config, const BugSet& bugs, const PingHooks& hooks);
  // Spawns the node's fibers.
  void start();

  uint64_t pings_sent() const { return seq_; }

 private:
  void pinger();
  void receiver();

  NodeContext& ctx_;
  PingConfig config_;
  const BugSet& bugs_;
  const PingHooks& hooks_;
  uint64_t seq_ = 0;
};

}  // namespace faultline
