// models/kafka/controller_channel.h
// How brokers and clients reach the active controller of a KRaft quorum (A4): they send to
// the controller they last found active, and move on to the next one when it answers
// NOT_CONTROLLER or does not answer at all (Kafka's NodeToControllerChannelManager follows
// the quorum's leader from metadata; without a leader hint the model tries the voters in
// turn). With a single controller it is a plain RPC to it.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "models/kafka/quorum_marks.h"
#include "models/kafka/types.h"
#include "sim/assert.h"
#include "sim/node_context.h"

namespace faultline::kafka {

class ControllerChannel {
 public:
  ControllerChannel(NodeContext& ctx, ControllerIds controllers) : ctx_(ctx), ids_(std::move(controllers.ids)) {
    FL_ASSERT(!ids_.empty() && "a controller to talk to", ctx_.id());
  }

  // One attempt, at the controller this node believes active. A response with
  // NOT_CONTROLLER is returned as it is: the caller retries as after any error.
  // With a quorum the attempt is capped at kSearchTimeout: without a leader hint, a silent
  // controller must not hold a caller for its whole request timeout.
  template <typename Resp, typename Req>
  RpcResult<Resp> call(const std::string& method, Req request, Duration timeout) {
    const size_t used = current_;
    if (ids_.size() > 1) timeout = std::min(timeout, kSearchTimeout);
    auto r = ctx_.call<Resp>(ids_[used], method, std::move(request), timeout);
    // Only this call's controller is given up on: another fiber of this node may have
    // moved on already and found the active one meanwhile.
    if (ids_.size() > 1 && used == current_ && (!r.ok() || r.value->error == Errc::kNotController)) {
      current_ = (current_ + 1) % ids_.size();
      cover(ctx_, QuorumMark::kClientRotated);
    }
    return r;
  }

  static constexpr Duration kSearchTimeout = Duration::seconds(5);

 private:
  NodeContext& ctx_;
  std::vector<NodeId> ids_;
  size_t current_ = 0;
};

}  // namespace faultline::kafka
