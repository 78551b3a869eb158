// sim/node_context.h
// The only door from model code to the world (style.md, example 1).
//
// A model receives a NodeContext& and touches nothing else that is nondeterministic: time,
// sleeping, its own random stream, spawning fibers and tracing all go through here (the
// network, the disk and the object store too). Models cannot inject faults; scenarios get
// the wider Simulation / FaultControl for that.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "sim/coverage.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/object_store.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/trace.h"

namespace faultline {

class NodeContext {
 public:
  NodeContext(Scheduler& s, Network& net, Disk& disk, ObjectStore& objects, Coverage& coverage, NodeId id,
              std::string name, std::string dc, Prng prng)
      : s_(s), net_(net), disk_(disk), objects_(objects, id), coverage_(coverage), id_(id), name_(std::move(name)),
        dc_(std::move(dc)), prng_(prng) {}
  NodeContext(const NodeContext&) = delete;
  NodeContext& operator=(const NodeContext&) = delete;

  NodeId id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& dc() const { return dc_; }
  // Bumped on every restart; a process can tag what it sends with it.
  uint64_t incarnation() const { return incarnation_; }

  Instant now() const { return s_.now(); }
  void sleep_for(Duration d) { s_.sleep_for(d); }
  void sleep_until(Instant t) { s_.sleep_until(t); }
  void yield() { s_.yield(); }
  Prng& prng() { return prng_; }

  // A new fiber of this node; it dies with the node.
  void spawn(std::string fiber_name, std::function<void()> body) {
    s_.spawn(id_, std::move(fiber_name), std::move(body));
  }

  void trace(std::string_view kind, std::initializer_list<TraceField> fields = {}) {
    s_.trace().record(s_.now(), id_, kind, fields);
  }
  bool tracing_verbose() const { return s_.trace().verbose(); }
  // A coverage mark (sim/coverage.h): this state or path was reached. Changes nothing else.
  void cover(uint32_t catalogue, uint32_t mark) { coverage_.hit(catalogue, mark); }

  // One-way messages (see sim/network.h): FIFO per connection, dropped across crashes.
  void send(NodeId to, Payload body) { net_.send(id_, to, std::move(body)); }
  Channel<Envelope>& inbox() { return net_.inbox(id_); }

  // Request/response RPC (see sim/network.h). Blocks until the response, the timeout, or a
  // broken connection. A response of the wrong type is a model bug (crash).
  template <typename Resp, typename Req>
  RpcResult<Resp> call(NodeId to, std::string_view method, Req request, Duration timeout) {
    auto [status, body] = net_.call(id_, to, method, Payload(std::move(request)), timeout);
    RpcResult<Resp> r;
    r.status = status;
    if (status == RpcStatus::kOk) r.value = std::move(body).template take<Resp>();
    return r;
  }
  // Serves `method`: each request runs `handler` in a fresh fiber of this node. Handlers are
  // dropped when the process dies; a restarted process registers its own.
  template <typename Req, typename Resp>
  void serve(std::string_view method, std::function<Resp(NodeId from, Req request)> handler) {
    net_.serve(id_, method, [h = std::move(handler)](NodeId from, Payload req) -> Payload {
      return Payload(h(from, std::move(req).template take<Req>()));
    });
  }

  // This node's disk (page cache, fsync, atomic rename; see sim/disk.h). It outlives the
  // process: a restarted process finds what survived the crash.
  Disk& disk() { return disk_; }
  // The shared object store, as this node's client (see sim/object_store.h).
  ObjectStoreClient& objects() { return objects_; }

  // For constructing sync primitives (Flag, Promise, Channel) owned by this node's process.
  Scheduler& scheduler() { return s_; }

 private:
  friend class Simulation;
  Scheduler& s_;
  Network& net_;
  Disk& disk_;
  ObjectStoreClient objects_;
  Coverage& coverage_;
  NodeId id_;
  std::string name_;
  std::string dc_;
  Prng prng_;
  uint64_t incarnation_ = 0;
};

}  // namespace faultline
