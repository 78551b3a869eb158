#include "sim/trace.h"

#include <fmt/format.h>

namespace faultline {

Trace::Trace() = default;

void Trace::set_node_name(NodeId node, std::string name) {
  if (node >= node_names_.size()) node_names_.resize(node + 1);
  node_names_[node] = std::move(name);
}

const std::string& Trace::node_name(NodeId node) const {
  if (node < node_names_.size() && !node_names_[node].empty()) return node_names_[node];
  return world_name_;
}

uint64_t Trace::hash_text(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void Trace::record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) {
  ++records_;
  uint64_t h = mix(hash_ ^ static_cast<uint64_t>(at.ns()));
  h = mix(h ^ node);
  h = mix(h ^ hash_text(kind));
  for (const TraceField& f : fields) {
    h = mix(h ^ hash_text(f.key));
    h = mix(h ^ (f.is_text ? hash_text(f.text) : static_cast<uint64_t>(f.num)));
  }
  hash_ = h;
  if ((records_ & (kCheckpointEvery - 1)) == 0) checkpoints_.push_back(h);
  if (sink_ != nullptr) print(at, node, kind, fields);
  if (observer_ != nullptr) observer_->on_record(at, node, kind, fields);
}

void Trace::print(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) {
  std::string line = fmt::format("{} {:<10} {}", format_instant(at), node_name(node), kind);
  for (const TraceField& f : fields) {
    if (f.is_text) {
      line += fmt::format(" {}={}", f.key, f.text);
    } else if (f.is_duration) {
      line += fmt::format(" {}={}", f.key, format_duration(Duration::nanos(f.num)));
    } else {
      line += fmt::format(" {}={}", f.key, f.num);
    }
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), sink_);
}

}  // namespace faultline
