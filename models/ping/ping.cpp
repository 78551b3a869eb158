#include "models/ping/ping.h"

#include "sim/assert.h"

namespace faultline {

PingNode::PingNode(NodeContext& ctx, PingConfig config, const BugSet& bugs, const PingHooks& hooks)
    : ctx_(ctx), config_(std::move(config)), bugs_(bugs), hooks_(hooks) {}

void PingNode::start() {
  ctx_.spawn("pinger", [this] { pinger(); });
  ctx_.spawn("receiver", [this] { receiver(); });
}

void PingNode::pinger() {
  for (;;) {
    ctx_.sleep_for(config_.interval + ctx_.prng().uniform(Duration::zero(), config_.jitter_max));
    const uint64_t seq = ++seq_;
    if (hooks_.on_ping_sent) hooks_.on_ping_sent(ctx_.id(), ctx_.incarnation(), seq);
    ctx_.trace("ping-round", {{"seq", seq}});
    for (NodeId peer : config_.peers) {
      if (bugs_.on(Bug::kPingUnorderedSend)) {
        // BUG(ping-unordered-send): each send is handed to its own fiber after a random
        // delay, so a later ping can overtake an earlier one on the same connection.
        const Duration handoff = ctx_.prng().uniform(Duration::zero(), config_.interval * 2);
        ctx_.spawn("send", [this, peer, seq, handoff] {
          ctx_.sleep_for(handoff);
          ctx_.send(peer, Ping{seq});
        });
      } else {
        ctx_.send(peer, Ping{seq});
      }
    }
  }
}

void PingNode::receiver() {
  for (;;) {
    std::optional<Envelope> env = ctx_.inbox().recv();
    FL_ASSERT(env.has_value());  // no deadline: only a kill ends this wait
    if (const Ping* ping = std::any_cast<Ping>(&env->body)) {
      if (hooks_.on_ping) hooks_.on_ping(ctx_.id(), env->from, env->from_incarnation, ping->seq);
      ctx_.send(env->from, Pong{ping->seq});
    } else if (const Pong* pong = std::any_cast<Pong>(&env->body)) {
      FL_ASSERT(pong->seq <= seq_, pong->seq, seq_);  // a pong answers a ping we sent
      if (hooks_.on_pong) hooks_.on_pong(ctx_.id(), env->from, pong->seq);
    } else {
      FL_UNREACHABLE("unknown message type");
    }
  }
}

}  // namespace faultline
