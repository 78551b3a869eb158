#include "models/ping/ping.h"

#include <fmt/format.h>

#include <charconv>

#include "sim/assert.h"

namespace faultline {

namespace {

constexpr const char* kLog = "rounds.log";
constexpr const char* kCheckpoint = "checkpoint";
constexpr uint64_t kCheckMagic = 0x9e3779b97f4a7c15ULL;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

std::optional<uint64_t> parse_u64(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string PingNode::encode_record(uint64_t seq) {
  std::string out;
  put_u64(out, seq);
  put_u64(out, seq ^ kCheckMagic);
  return out;
}

PingNode::PingNode(NodeContext& ctx, PingConfig config, const BugSet& bugs, const PingHooks& hooks)
    : ctx_(ctx), config_(std::move(config)), bugs_(bugs), hooks_(hooks) {}

void PingNode::start() {
  ctx_.spawn("main", [this] {
    recover();
    ctx_.spawn("pinger", [this] { pinger(); });
    ctx_.spawn("receiver", [this] { receiver(); });
    ctx_.spawn("uploader", [this] { uploader(); });
  });
}

void PingNode::recover() {
  Disk& disk = ctx_.disk();
  uint64_t recovered = 0;
  if (auto cp = disk.read(kCheckpoint)) {
    // Written with write_atomically: a checkpoint is whole or absent, never torn (F2).
    auto v = parse_u64(*cp);
    FL_ASSERT(v.has_value() && "torn checkpoint", *cp);
    recovered = *v;
  }
  if (auto log = disk.read(kLog)) {
    // Re-validate the log and cut it at the first bad or partial record (F3).
    size_t good = 0;
    while (good + kRecordBytes <= log->size()) {
      const uint64_t seq = get_u64(*log, good);
      if (get_u64(*log, good + 8) != (seq ^ kCheckMagic)) break;
      recovered = std::max(recovered, seq);
      good += kRecordBytes;
    }
    if (good < log->size()) {
      ctx_.trace("log-truncated", {{"from", static_cast<uint64_t>(log->size())}, {"to", static_cast<uint64_t>(good)}});
      disk.truncate(kLog, good);
      disk.fsync(kLog);
    }
  }
  seq_ = recovered;
  last_uploaded_ = 0;
  ctx_.trace("recovered", {{"seq", seq_}});
  if (hooks_.on_recovered) hooks_.on_recovered(ctx_.id(), seq_);
}

void PingNode::persist_round(uint64_t seq) {
  Disk& disk = ctx_.disk();
  disk.append(kLog, encode_record(seq));
  // Report the round as soon as it is in the page cache: a kill during the fsync below
  // must not hide it from the checker, since a restart will find it.
  if (hooks_.on_round) hooks_.on_round(ctx_.id(), ctx_.incarnation(), seq);
  if (seq % config_.fsync_every != 0) return;
  disk.fsync(kLog);
  if (hooks_.on_fsynced) hooks_.on_fsynced(ctx_.id(), seq);
  disk.write_atomically(kCheckpoint, std::to_string(seq));
}

void PingNode::pinger() {
  for (;;) {
    ctx_.sleep_for(config_.interval + ctx_.prng().uniform(Duration::zero(), config_.jitter_max));
    const uint64_t seq = ++seq_;
    persist_round(seq);
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
    if (const Ping* ping = env->body.get<Ping>()) {
      if (hooks_.on_ping) hooks_.on_ping(ctx_.id(), env->from, env->from_incarnation, ping->seq);
      ctx_.send(env->from, Pong{ping->seq});
    } else if (const Pong* pong = env->body.get<Pong>()) {
      FL_ASSERT(pong->seq <= seq_, pong->seq, seq_);  // a pong answers a ping we sent
      if (hooks_.on_pong) hooks_.on_pong(ctx_.id(), env->from, pong->seq);
    } else {
      FL_UNREACHABLE("unknown message type");
    }
  }
}

void PingNode::uploader() {
  ObjectStoreClient& store = ctx_.objects();
  const std::string prefix = fmt::format("ping/{}/", ctx_.name());
  Duration backoff = Duration::millis(100);
  for (;;) {
    ctx_.sleep_for(config_.upload_interval);
    const uint64_t seq = seq_;
    if (seq == last_uploaded_) continue;
    const std::string key = fmt::format("{}{:020d}", prefix, seq);
    const std::string value = std::to_string(seq);
    const ObjectStatus put = store.put(key, value);
    ctx_.trace("upload", {{"key", key}, {"status", to_string(put)}});
    if (put != ObjectStatus::kOk) {
      // 503/500 and ambiguous timeouts: back off and try again with whatever is newest.
      ctx_.sleep_for(backoff);
      backoff = std::min(backoff * 2, Duration::seconds(5));
      continue;
    }
    backoff = Duration::millis(100);
    last_uploaded_ = seq;
    const GetResult back = store.get(key);
    if (hooks_.on_uploaded) {
      hooks_.on_uploaded(ctx_.id(), key, value, back.status == ObjectStatus::kOk ? back.bytes : std::string());
    }
    // Keep only the newest object: list and delete the rest.
    const ListResult listed = store.list(prefix);
    if (listed.status != ObjectStatus::kOk) continue;
    for (const std::string& old : listed.keys) {
      if (old < key) store.del(old);
    }
  }
}

}  // namespace faultline
