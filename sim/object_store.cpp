#include "sim/object_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "sim/assert.h"

namespace faultline {

namespace {

// FNV-1a 64 over arbitrary bytes (stable_hash stops at a NUL, and payloads may hold any byte).
uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool is_write(ObjectOp op) { return op == ObjectOp::kPut || op == ObjectOp::kDelete; }

const char* trace_kind(ObjectOp op) {
  switch (op) {
    case ObjectOp::kPut: return "s3-put";
    case ObjectOp::kGet: return "s3-get";
    case ObjectOp::kHead: return "s3-head";
    case ObjectOp::kDelete: return "s3-delete";
    case ObjectOp::kList: return "s3-list";
  }
  return "s3-?";
}

std::string format_ratio(Ratio r) { return fmt::format("{}/{}", r.num, r.den); }

bool valid(Ratio r) { return r.den > 0 && r.num <= r.den; }

// Error rates are drawn on the product of their denominators; keeping each below 2^32 keeps
// that product exact in 64 bits.
constexpr uint64_t kRatioDenMax = uint64_t{1} << 32;

}  // namespace

std::string to_string(const ObjectStoreOptions& o) {
  return fmt::format("latency={}+~{} client_timeout={} ambiguous(applied={} late={} late_max={})",
                     format_duration(o.latency_base), format_duration(o.latency_jitter_mean),
                     format_duration(o.client_timeout), format_ratio(o.ambiguous_applied),
                     format_ratio(o.ambiguous_late), format_duration(o.ambiguous_late_max));
}

const char* to_string(ObjectOp op) {
  switch (op) {
    case ObjectOp::kPut: return "put";
    case ObjectOp::kGet: return "get";
    case ObjectOp::kHead: return "head";
    case ObjectOp::kDelete: return "delete";
    case ObjectOp::kList: return "list";
  }
  return "?";
}

const char* to_string(ObjectStatus status) {
  switch (status) {
    case ObjectStatus::kOk: return "ok";
    case ObjectStatus::kNotFound: return "not-found";
    case ObjectStatus::kSlowDown: return "slow-down";
    case ObjectStatus::kInternalError: return "internal-error";
    case ObjectStatus::kTimeout: return "timeout";
  }
  return "?";
}

ObjectStore::ObjectStore(Scheduler& s, uint64_t seed, ObjectStoreOptions options)
    : s_(s),
      options_(options),
      latency_prng_(seed, "object-store-latency"),
      fault_prng_(seed, "object-store-faults") {
  FL_ASSERT(options_.latency_base >= Duration::zero(), options_.latency_base.ns());
  FL_ASSERT(options_.latency_jitter_mean >= Duration::zero(), options_.latency_jitter_mean.ns());
  FL_ASSERT(options_.client_timeout > Duration::zero(), options_.client_timeout.ns());
  FL_ASSERT(options_.ambiguous_late_max >= Duration::zero(), options_.ambiguous_late_max.ns());
  FL_ASSERT(valid(options_.ambiguous_applied), options_.ambiguous_applied.num, options_.ambiguous_applied.den);
  FL_ASSERT(valid(options_.ambiguous_late), options_.ambiguous_late.num, options_.ambiguous_late.den);
}

// --- the request's journey ------------------------------------------------------------------

ObjectStore::Reply ObjectStore::call(NodeId caller, ObjectOp op, std::string key, std::string bytes) {
  FL_ASSERT(s_.in_fiber() && "object store calls block: make them from a fiber");
  FL_ASSERT(s_.current_node() == caller, s_.current_node(), caller);
  FL_ASSERT(op == ObjectOp::kList || !key.empty(), to_string(op));

  const Instant issued = s_.now();
  const uint64_t id = calls_.size();
  ObjectCall c;
  c.id = id;
  c.caller = caller;
  c.op = op;
  c.key = std::move(key);
  c.issued_at = issued;
  if (op == ObjectOp::kPut) {
    c.digest = fnv1a(bytes);
    c.size = bytes.size();
  }
  ++counters_.issued;

  // The request's fate on the way there is settled now, while the caller is certainly
  // alive; from here on nothing the caller does (or suffers) changes it.
  Instant reach = issued + leg(issued);
  bool lost = false;
  if (ambiguous_.active(issued) && fault_prng_.chance(ambiguous_rate_)) {
    c.ambiguous = true;
    ++counters_.ambiguous;
    if (!is_write(op) || !fault_prng_.chance(options_.ambiguous_applied)) {
      lost = true;
    } else if (options_.ambiguous_late_max > Duration::zero() && fault_prng_.chance(options_.ambiguous_late)) {
      reach += fault_prng_.uniform(Duration::nanos(1), options_.ambiguous_late_max);
    }
  }
  const bool reply_lost = c.ambiguous;
  calls_.push_back(std::move(c));

  Promise<Reply> reply(s_, "object-store reply");
  if (lost) {
    ++counters_.lost;
  } else {
    if (is_write(op)) pending_writes_[id] = reach;
    // The promise's state is shared: the reply can be delivered (to nobody) after the caller
    // timed out or was killed, without touching the caller's stack.
    s_.at(reach, [this, id, reply_lost, reply, bytes = std::move(bytes)]() mutable {
      arrive(id, std::move(bytes), reply_lost, std::move(reply));
    });
  }

  std::optional<Reply> got;
  try {
    got = reply.take(saturating_add(issued, options_.client_timeout));  // read once: no copy of the bytes
  } catch (const NodeKilled&) {
    abandon(calls_[id]);
    throw;
  }
  Reply r = got ? std::move(*got) : Reply{};  // a default Reply is kTimeout
  finish(calls_[id], r.status);
  return r;
}

void ObjectStore::arrive(uint64_t id, std::string bytes, bool reply_lost, Promise<Reply> reply) {
  ObjectCall& c = calls_[id];
  pending_writes_.erase(id);
  Reply r;
  r.status = judge();
  if (r.status == ObjectStatus::kOk) {
    apply(c, std::move(bytes), r);
  } else {
    ++counters_.rejected;
  }
  if (c.ambiguous) {
    // The one event of an ambiguous write that no client record shows: say when it landed.
    s_.trace().record(s_.now(), c.caller, "s3-ambiguous-arrival",
                      {{"call", c.id}, {"key", c.key}, {"applied", c.applied}, {"caller_waiting", !c.completed && !c.abandoned}});
  }
  if (reply_lost) return;
  const Instant now = s_.now();
  s_.at(now + leg(now), [reply, r = std::move(r)]() mutable { reply.set(std::move(r)); });
}

ObjectStatus ObjectStore::judge() {
  const Instant now = s_.now();
  if (outage_.active(now)) return ObjectStatus::kSlowDown;
  if (!errors_.active(now) || (slow_down_.num == 0 && internal_error_.num == 0)) return ObjectStatus::kOk;
  // One draw on a common denominator, so both rates are exact and disjoint.
  const uint64_t den = slow_down_.den * internal_error_.den;
  const uint64_t slow = slow_down_.num * internal_error_.den;
  const uint64_t internal = internal_error_.num * slow_down_.den;
  const uint64_t u = fault_prng_.below(den);
  if (u < slow) return ObjectStatus::kSlowDown;
  if (u < slow + internal) return ObjectStatus::kInternalError;
  return ObjectStatus::kOk;
}

void ObjectStore::apply(ObjectCall& c, std::string bytes, Reply& reply) {
  const Instant now = s_.now();
  c.applied = true;
  c.applied_at = now;
  c.applied_order = ++counters_.applied;
  switch (c.op) {
    case ObjectOp::kPut: {
      c.version = ++counters_.writes_applied;
      objects_[c.key] = StoredObject{std::move(bytes), c.version, now};
      break;
    }
    case ObjectOp::kDelete: {
      c.version = ++counters_.writes_applied;
      objects_.erase(c.key);
      break;
    }
    case ObjectOp::kGet:
    case ObjectOp::kHead: {
      const auto it = objects_.find(c.key);
      if (it == objects_.end()) {
        reply.status = ObjectStatus::kNotFound;
        break;
      }
      const StoredObject& o = it->second;
      c.version = o.version;
      c.digest = fnv1a(o.bytes);
      c.size = o.bytes.size();
      if (c.op == ObjectOp::kGet) reply.bytes = o.bytes;
      reply.size_bytes = o.bytes.size();
      break;
    }
    case ObjectOp::kList: {
      for (auto it = objects_.lower_bound(c.key); it != objects_.end() && it->first.starts_with(c.key); ++it) {
        reply.keys.push_back(it->first);
      }
      c.size = reply.keys.size();
      break;
    }
  }
  if (is_write(c.op) && (c.completed || c.abandoned)) ++counters_.writes_applied_unobserved;
}

Duration ObjectStore::leg(Instant start) {
  Duration d = options_.latency_base + latency_prng_.exponential(options_.latency_jitter_mean);
  if (spike_.active(start)) d += spike_extra_;
  return d;
}

void ObjectStore::finish(ObjectCall& c, ObjectStatus status) {
  const Instant now = s_.now();
  c.completed = true;
  c.status = status;
  c.completed_at = now;
  ++counters_.completed;
  switch (status) {
    case ObjectStatus::kOk: ++counters_.ok; break;
    case ObjectStatus::kNotFound: ++counters_.not_found; break;
    case ObjectStatus::kSlowDown: ++counters_.slow_down; break;
    case ObjectStatus::kInternalError: ++counters_.internal_error; break;
    case ObjectStatus::kTimeout: ++counters_.timeout; break;
  }
  s_.trace().record(now, c.caller, trace_kind(c.op),
                    {{"call", c.id}, {"key", c.key}, {"status", to_string(status)}, {"took", now - c.issued_at}});
}

void ObjectStore::abandon(ObjectCall& c) {
  const Instant now = s_.now();
  c.abandoned = true;
  c.completed_at = now;
  ++counters_.abandoned;
  s_.trace().record(now, c.caller, trace_kind(c.op),
                    {{"call", c.id}, {"key", c.key}, {"status", "abandoned"}, {"took", now - c.issued_at}});
}

// --- faults ---------------------------------------------------------------------------------

void ObjectStore::errors(Ratio slow_down, Ratio internal_error, Instant until) {
  FL_ASSERT(valid(slow_down) && valid(internal_error), slow_down.num, slow_down.den, internal_error.num,
            internal_error.den);
  FL_ASSERT(slow_down.den <= kRatioDenMax && internal_error.den <= kRatioDenMax, slow_down.den, internal_error.den);
  FL_ASSERT(slow_down.num * internal_error.den + internal_error.num * slow_down.den <= slow_down.den * internal_error.den &&
                "error rates add up to more than 1",
            format_ratio(slow_down), format_ratio(internal_error));
  slow_down_ = slow_down;
  internal_error_ = internal_error;
  s_.trace().record(s_.now(), kWorld, "s3-fault",
                    {{"fault", "errors"},
                     {"slow_down", format_ratio(slow_down)},
                     {"internal_error", format_ratio(internal_error)},
                     {"until", until.since_start()}});
  open(errors_, "errors", until);
}

void ObjectStore::latency_spike(Duration extra, Instant until) {
  FL_ASSERT(extra >= Duration::zero(), extra.ns());
  spike_extra_ = extra;
  s_.trace().record(s_.now(), kWorld, "s3-fault",
                    {{"fault", "latency-spike"}, {"extra", extra}, {"until", until.since_start()}});
  open(spike_, "latency-spike", until);
}

void ObjectStore::outage(Instant until) {
  s_.trace().record(s_.now(), kWorld, "s3-fault", {{"fault", "outage"}, {"until", until.since_start()}});
  open(outage_, "outage", until);
}

void ObjectStore::ambiguous_timeouts(Ratio rate, Instant until) {
  FL_ASSERT(valid(rate), rate.num, rate.den);
  ambiguous_rate_ = rate;
  s_.trace().record(s_.now(), kWorld, "s3-fault",
                    {{"fault", "ambiguous-timeouts"}, {"rate", format_ratio(rate)}, {"until", until.since_start()}});
  open(ambiguous_, "ambiguous-timeouts", until);
}

void ObjectStore::heal() {
  const Instant now = s_.now();
  const std::pair<Window*, const char*> windows[] = {
      {&errors_, "errors"}, {&spike_, "latency-spike"}, {&outage_, "outage"}, {&ambiguous_, "ambiguous-timeouts"}};
  for (const auto& [w, fault] : windows) {
    if (!w->active(now)) continue;
    w->until = now;
    ++w->generation;  // its scheduled end is now stale
    healed(fault);
  }
}

void ObjectStore::open(Window& w, const char* fault, Instant until) {
  // A window in the past is a fault plan bug, not something to shrug off.
  FL_ASSERT(until >= s_.now(), fault, until.ns(), s_.now().ns());
  w.until = until;
  const uint64_t generation = ++w.generation;
  if (until == s_.now() || until == Instant::max()) return;  // nothing to end, or never ends
  s_.at(until, [this, &w, fault, generation] {
    // A later window of the same kind replaced this one: its end is not a heal.
    if (w.generation == generation) healed(fault);
  });
}

void ObjectStore::healed(const char* fault) {
  s_.trace().record(s_.now(), kWorld, "s3-heal", {{"fault", fault}});
}

// --- ground truth ---------------------------------------------------------------------------

size_t ObjectStore::ambiguous_writes_pending() const {
  size_t n = 0;
  for (const auto& [id, at] : pending_writes_) n += calls_[id].ambiguous ? 1 : 0;
  return n;
}

Instant ObjectStore::writes_settle_at() const {
  Instant last = s_.now();
  for (const auto& [id, at] : pending_writes_) last = std::max(last, at);
  return last;
}

// --- the client -----------------------------------------------------------------------------

ObjectStatus ObjectStoreClient::put(const std::string& key, std::string bytes) {
  return store_->call(caller_, ObjectOp::kPut, key, std::move(bytes)).status;
}

GetResult ObjectStoreClient::get(const std::string& key) {
  ObjectStore::Reply r = store_->call(caller_, ObjectOp::kGet, key, {});
  return GetResult{r.status, std::move(r.bytes)};
}

HeadResult ObjectStoreClient::head(const std::string& key) {
  const ObjectStore::Reply r = store_->call(caller_, ObjectOp::kHead, key, {});
  return HeadResult{r.status, r.size_bytes};
}

ObjectStatus ObjectStoreClient::del(const std::string& key) {
  return store_->call(caller_, ObjectOp::kDelete, key, {}).status;
}

ListResult ObjectStoreClient::list(const std::string& prefix) {
  ObjectStore::Reply r = store_->call(caller_, ObjectOp::kList, prefix, {});
  return ListResult{r.status, std::move(r.keys)};
}

}  // namespace faultline
