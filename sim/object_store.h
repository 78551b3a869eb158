// sim/object_store.h
// The fake object store: one S3-like regional service shared by every node (semantics.md,
// section I, rules I1-I3).
//
// Contract:
// - Keys are strings, values are byte strings; PUT, GET, HEAD, DELETE and LIST(prefix), the
//   last returning matching keys in sorted order (I1).
// - Every request has one linearization point: the instant it reaches the service, one
//   request leg after it was issued. There it is either rejected (503 SlowDown, 500, outage)
//   and changes nothing, or applied atomically to its one key: a PUT replaces the whole
//   object, a DELETE removes it (a missing key is fine), a read observes the state at that
//   instant. So reads are strongly consistent (read-after-write for PUT, overwrite, DELETE
//   and LIST), concurrent PUTs to one key resolve last-linearized-wins, and nothing is atomic
//   across keys. Ties at one instant follow the scheduler's (time, sequence) order.
// - The reply travels one response leg back. Each leg takes latency_base + exponential-ish
//   jitter, plus the extra of a latency spike that is active when the leg starts.
// - A client waits at most client_timeout after issuing, then sees kTimeout. That does not
//   recall the request: it is still applied or rejected at its linearization point. kTimeout
//   is therefore always ambiguous for a write, whether injected or caused by a slow leg.
// - A request's journey does not depend on its caller: once issued it reaches the service
//   even if the calling node is killed while waiting (the bytes are already on the wire).
//   The killed fiber unwinds with NodeKilled; the call is logged as abandoned.
// - Faults (I2) are time windows [now, until) set by scenarios, never by models. Setting one
//   never blocks (it is meant for scheduler callbacks) and replaces the previous window of
//   the same kind. Error rates and outages are judged at the linearization point, latency
//   spikes when a leg starts, ambiguous timeouts when the request is issued (the client's
//   connection is what breaks). Rejected requests are never applied.
// - An ambiguous timeout hides the reply: the client sees kTimeout exactly client_timeout
//   after issuing. A read hit by it is simply lost. A write hit by it is lost or reaches the
//   service (a coin, ambiguous_applied), and if it reaches the service it does so at its
//   normal linearization point or, with ambiguous_late, up to ambiguous_late_max later,
//   possibly after its client has given up: the hazard that makes S3 timeouts dangerous. A
//   write that reaches the service is still subject to the error and outage windows there.
// - Ground truth (I3): objects(), calls() and counters() are for checkers and tests only;
//   models hold an ObjectStoreClient and cannot see or fault the store.
// - Randomness comes only from two streams derived from the seed, "object-store-latency"
//   and "object-store-faults", so turning a fault on does not reshuffle the latencies of
//   the calls made before it.
// - Trace: every completed call records "s3-put" / "s3-get" / ... (call id, key, status,
//   took) on its caller's node, an abandoned one the same with status "abandoned"; every
//   arrival of an ambiguous request records "s3-ambiguous-arrival"; fault windows record
//   "s3-fault" when set and "s3-heal" when they end, on kWorld.
//
// Lifetime: the store must outlive every fiber that calls it (unwind them first, as
// Simulation::shutdown does) and every run of the scheduler while requests are in flight.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/time.h"
#include "sim/trace.h"

namespace faultline {

struct ObjectStoreOptions {
  // Fixed part of each one-way leg between a node and the service (request or response).
  Duration latency_base = Duration::millis(5);
  // Mean of the exponential-ish extra added to each leg (capped at 40x by Prng).
  Duration latency_jitter_mean = Duration::millis(5);
  // How long a client waits for a reply, from issuing the request, before it reports
  // kTimeout (the SDK's total request timeout).
  Duration client_timeout = Duration::seconds(10);
  // Of the writes hit by an ambiguous timeout, the share that reaches the service at all.
  Ratio ambiguous_applied = {1, 2};
  // Of those, the share that lands late rather than at its normal linearization point.
  Ratio ambiguous_late = {1, 2};
  // A late write lands up to this long after its normal linearization point (uniform).
  // Longer than client_timeout on purpose: with the defaults about half of the late writes
  // land after their client has already seen kTimeout.
  Duration ambiguous_late_max = Duration::seconds(20);
};
// "latency=5ms+~5ms client_timeout=10s ambiguous(applied=1/2 late=1/2 late_max=20s)", for
// printing the resolved options at the start of a run.
std::string to_string(const ObjectStoreOptions& o);

enum class ObjectOp : uint8_t { kPut, kGet, kHead, kDelete, kList };
const char* to_string(ObjectOp op);  // "put", "get", "head", "delete", "list"

enum class ObjectStatus : uint8_t {
  kOk,
  kNotFound,       // GET or HEAD of a missing key (404); never for DELETE or LIST
  kSlowDown,       // 503 SlowDown, also during an outage: retriable, nothing was applied
  kInternalError,  // 500: retriable, nothing was applied
  kTimeout,        // no reply within client_timeout: a write may or may not be applied
};
const char* to_string(ObjectStatus status);  // "ok", "not-found", "slow-down", ...
// 503, 500 and timeouts are worth retrying; kOk and kNotFound are answers.
constexpr bool is_retriable(ObjectStatus s) {
  return s == ObjectStatus::kSlowDown || s == ObjectStatus::kInternalError || s == ObjectStatus::kTimeout;
}

struct GetResult {
  ObjectStatus status = ObjectStatus::kTimeout;
  std::string bytes;  // the whole object when kOk
};
struct HeadResult {
  ObjectStatus status = ObjectStatus::kTimeout;
  uint64_t size_bytes = 0;  // when kOk
};
struct ListResult {
  ObjectStatus status = ObjectStatus::kTimeout;
  std::vector<std::string> keys;  // when kOk: every key with the prefix, sorted
};

// Ground truth: one object as the service holds it.
struct StoredObject {
  std::string bytes;
  uint64_t version = 0;  // the global write counter when this PUT was applied
  Instant written_at;
};

// Ground truth: one client call, from issue to completion. Entries are appended at issue
// (calls()[id].id == id) and filled in as the request travels.
struct ObjectCall {
  uint64_t id = 0;
  NodeId caller = kWorld;
  ObjectOp op = ObjectOp::kGet;
  std::string key;  // the prefix for LIST
  Instant issued_at;
  bool ambiguous = false;  // hit by an injected ambiguous timeout (its reply is lost)

  // The service acted on it at applied_at: a write changed the store, a read observed it
  // (a GET of a missing key is applied and answers kNotFound). Never true for a rejected or
  // lost request; may become true after the client completed (a slow or late write).
  bool applied = false;
  Instant applied_at;
  uint64_t applied_order = 0;  // 1-based rank among all applied calls: the linearization order
  // An applied PUT or DELETE: its value of the global write counter (a PUT's object version).
  // A GET or HEAD that found the object: the version it read. 0 otherwise.
  uint64_t version = 0;
  // FNV-1a 64 and size of the bytes a PUT sent or an applied GET read (so checkers can
  // compare contents without the log keeping every payload); for LIST, size is the number
  // of keys returned.
  uint64_t digest = 0;
  uint64_t size = 0;

  // What the caller saw and when. A caller killed while waiting never completes: abandoned
  // is set instead and completed_at is the time of the kill.
  bool completed = false;
  bool abandoned = false;
  ObjectStatus status = ObjectStatus::kTimeout;
  Instant completed_at;
};

struct ObjectStoreCounters {
  uint64_t issued = 0;     // calls made
  uint64_t completed = 0;  // calls whose caller got a status (kTimeout included)
  uint64_t abandoned = 0;  // calls whose caller was killed while waiting
  // Completed calls by the status their caller saw.
  uint64_t ok = 0;
  uint64_t not_found = 0;
  uint64_t slow_down = 0;
  uint64_t internal_error = 0;
  uint64_t timeout = 0;
  uint64_t applied = 0;         // requests applied at the service, reads included
  uint64_t writes_applied = 0;  // PUTs and DELETEs applied (= the global write counter)
  uint64_t rejected = 0;        // requests that reached the service and were refused
  uint64_t ambiguous = 0;       // requests hit by an injected ambiguous timeout
  uint64_t lost = 0;            // requests that never reached the service
  // Writes applied after their caller had stopped waiting (timed out or was killed).
  uint64_t writes_applied_unobserved = 0;
};

class ObjectStore {
 public:
  ObjectStore(Scheduler& s, uint64_t seed, ObjectStoreOptions options = {});
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  const ObjectStoreOptions& options() const { return options_; }

  // --- faults: for scenarios; never block, callable from scheduler callbacks -----------
  // Until `until`, a request reaching the service fails with 503 at rate slow_down and with
  // 500 at rate internal_error (slow_down + internal_error <= 1).
  void errors(Ratio slow_down, Ratio internal_error, Instant until);
  // Until `until`, every leg that starts takes `extra` longer.
  void latency_spike(Duration extra, Instant until);
  // Until `until`, every request reaching the service is refused with 503 after the normal
  // latency (S3 sheds load with 503 SlowDown; a client can tell nothing was applied, unlike
  // a timeout). Requests arriving after the window succeed, even if sent during it.
  void outage(Instant until);
  // Until `until`, a request issued is hit by an ambiguous timeout at this rate (see the
  // contract above).
  void ambiguous_timeouts(Ratio rate, Instant until);
  // Ends every fault window now. Requests already in flight keep their issue-time fate.
  void heal();

  // --- ground truth: for checkers and tests only (I3) ----------------------------------
  const std::map<std::string, StoredObject>& objects() const { return objects_; }
  const std::vector<ObjectCall>& calls() const { return calls_; }
  const ObjectStoreCounters& counters() const { return counters_; }
  // PUTs and DELETEs whose linearization point is still ahead (in flight, or an ambiguous
  // write that will land late). Until this is zero the ground truth can change with no call
  // in progress; a scenario that wants a clean ending runs until writes_settle_at().
  size_t writes_pending() const { return pending_writes_.size(); }
  // Those of them hit by an ambiguous timeout.
  size_t ambiguous_writes_pending() const;
  // When the last pending write reaches the service (now() if none is pending).
  Instant writes_settle_at() const;

 private:
  friend class ObjectStoreClient;

  // What the service sends back; the client turns it into a typed result.
  struct Reply {
    ObjectStatus status = ObjectStatus::kTimeout;
    std::string bytes;              // GET
    uint64_t size_bytes = 0;        // HEAD
    std::vector<std::string> keys;  // LIST
  };
  // A fault window; `generation` tells a stale heal event from the current window's.
  struct Window {
    Instant until = Instant::zero();
    uint64_t generation = 0;
    bool active(Instant now) const { return now < until; }
  };

  // Issues one request from the calling fiber and blocks it until the reply or the client
  // timeout. Throws NodeKilled if the caller is killed meanwhile.
  Reply call(NodeId caller, ObjectOp op, std::string key, std::string bytes);
  // The linearization point: judges the request and applies it, then sends the reply
  // (unless its reply is lost).
  void arrive(uint64_t id, std::string bytes, bool reply_lost, Promise<Reply> reply);
  ObjectStatus judge();
  void apply(ObjectCall& c, std::string bytes, Reply& reply);
  Duration leg(Instant start);
  void finish(ObjectCall& c, ObjectStatus status);
  void abandon(ObjectCall& c);
  // Sets a fault window and schedules the trace record of its natural end.
  void open(Window& w, const char* fault, Instant until);
  void healed(const char* fault);

  Scheduler& s_;
  ObjectStoreOptions options_;
  Prng latency_prng_;
  Prng fault_prng_;

  std::map<std::string, StoredObject> objects_;
  std::vector<ObjectCall> calls_;
  ObjectStoreCounters counters_;
  // Call id -> when that write reaches the service. Ordered: deterministic iteration.
  std::map<uint64_t, Instant> pending_writes_;

  Window errors_;
  Ratio slow_down_ = Ratio::never();
  Ratio internal_error_ = Ratio::never();
  Window spike_;
  Duration spike_extra_;
  Window outage_;
  Window ambiguous_;
  Ratio ambiguous_rate_ = Ratio::never();
};

// What a model holds: the five operations, each blocking the calling fiber of `caller` until
// the reply or the client timeout. Injected faults come back as statuses, never exceptions;
// only NodeKilled passes through (the caller was killed while waiting).
class ObjectStoreClient {
 public:
  ObjectStoreClient(ObjectStore& store, NodeId caller) : store_(&store), caller_(caller) {}

  NodeId caller() const { return caller_; }

  ObjectStatus put(const std::string& key, std::string bytes);
  GetResult get(const std::string& key);
  HeadResult head(const std::string& key);
  ObjectStatus del(const std::string& key);
  ListResult list(const std::string& prefix);

 private:
  ObjectStore* store_;
  NodeId caller_;
};

}  // namespace faultline
