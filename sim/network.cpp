#include "sim/network.h"

#include "sim/assert.h"

namespace faultline {

Network::Network(Scheduler& s, uint64_t seed, NetworkOptions options)
    : s_(s), prng_(seed, "network"), options_(options) {}

void Network::add_node(NodeId id, std::string dc) {
  if (id >= nodes_.size()) nodes_.resize(id + 1);
  NodeState& n = nodes_[id];
  n.dc = std::move(dc);
  n.inbox = std::make_unique<Channel<Envelope>>(s_, "inbox");
}

void Network::node_down(NodeId id) {
  NodeState& n = nodes_.at(id);
  n.up = false;
  n.inbox->clear();
}

void Network::node_up(NodeId id, uint64_t incarnation) {
  NodeState& n = nodes_.at(id);
  n.up = true;
  n.incarnation = incarnation;
}

Duration Network::latency(NodeId from, NodeId to) {
  const LinkLatency& link = nodes_.at(from).dc == nodes_.at(to).dc ? options_.same_dc : options_.cross_dc;
  return link.base + prng_.exponential(link.jitter_mean);
}

void Network::send(NodeId from, NodeId to, std::any body) {
  FL_ASSERT(from < nodes_.size() && to < nodes_.size(), from, to);
  ++sent_;
  const NodeState& src = nodes_[from];
  const NodeState& dst = nodes_[to];
  Instant arrive = s_.now() + latency(from, to);
  Instant& last = last_delivery_[{from, to}];
  if (arrive < last) arrive = last;  // FIFO per connection
  last = arrive;
  Envelope env{from, src.incarnation, s_.now(), std::move(body)};
  const uint64_t to_incarnation = dst.incarnation;
  s_.at(arrive, [this, to, to_incarnation, env = std::move(env)]() mutable {
    NodeState& d = nodes_[to];
    // A connection does not survive a crash or restart of either end.
    const NodeState& src_now = nodes_[env.from];
    if (!d.up || d.incarnation != to_incarnation || !src_now.up || src_now.incarnation != env.from_incarnation) {
      ++dropped_;
      return;
    }
    ++delivered_;
    d.inbox->send(std::move(env));
  });
}

}  // namespace faultline
