// models/ping/ping.h
// The sample model: nodes that ping each other, keep a durable count of their rounds, and
// upload it to the object store.
//
// It exists so the simulator, runner and tests have something real to run before the Kafka
// models land, and it touches every part of the world a broker will (network, disk with a
// page cache, fsync and atomic rename, object store), small enough to reason about fully:
// - Every `interval` (plus jitter from the node's own stream) a node starts a round: seq
//   counts up, a 16-byte record is appended to "rounds.log", and Ping{seq} goes to every
//   peer, which answers Pong{seq}. Every `fsync_every` rounds the log is fsynced and then a
//   checkpoint (the fsynced seq) is written with write_atomically (F2).
// - On boot the node recovers: it reads the checkpoint, then every complete, valid record of
//   the log past it, truncates a torn tail (F3), and continues from the highest seq found.
// - Sends go out of one sender fiber in order, so on each connection pings arrive in
//   increasing seq order (the network keeps FIFO per connection). Under the bug switch
//   ping-unordered-send they go through a pool of fibers with random hand-off delays.
// - An uploader fiber PUTs "ping/<node>/<seq>" every `upload_interval`, reads it back, and
//   deletes its older objects (LIST + DELETE), retrying 503/500 with backoff.
// The model reports what it does through PingHooks; it never checks itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/bugs.h"
#include "sim/node_context.h"
#include "sim/sync.h"

namespace faultline {

struct PingConfig {
  Duration interval = Duration::millis(100);    // between rounds of pings
  Duration jitter_max = Duration::millis(20);   // uniform extra delay per round
  uint32_t fsync_every = 5;                     // rounds between fsyncs of the log
  Duration upload_interval = Duration::seconds(1);  // between uploads to the object store
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
  // `from` started round `seq` and appended it to its log (page cache).
  std::function<void(NodeId from, uint64_t incarnation, uint64_t seq)> on_round;
  // `node`'s fsync covering every round up to `seq` completed.
  std::function<void(NodeId node, uint64_t seq)> on_fsynced;
  // `node` booted and recovered `seq` from its disk (0 on a fresh disk).
  std::function<void(NodeId node, uint64_t seq)> on_recovered;
  // `node`'s PUT of `key` with `value` was acknowledged, and a GET right after returned
  // `read_back` (empty if the GET itself failed with a fault).
  std::function<void(NodeId node, const std::string& key, const std::string& value, const std::string& read_back)>
      on_uploaded;
};

class PingNode {
 public:
  PingNode(NodeContext& ctx, PingConfig config, const BugSet& bugs, const PingHooks& hooks);
  // Recovers from disk, then spawns the node's fibers.
  void start();

  uint64_t seq() const { return seq_; }

  // The on-disk record format, exposed for tests: 8 bytes seq, 8 bytes check, little endian.
  static std::string encode_record(uint64_t seq);
  static constexpr size_t kRecordBytes = 16;

 private:
  void recover();
  void pinger();
  void receiver();
  void uploader();
  void persist_round(uint64_t seq);

  NodeContext& ctx_;
  PingConfig config_;
  const BugSet& bugs_;
  const PingHooks& hooks_;
  uint64_t seq_ = 0;
  uint64_t last_uploaded_ = 0;
};

}  // namespace faultline
