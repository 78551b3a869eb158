#include "models/kafka/tier/tier_object.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

namespace faultline::kafka::tier_object {

std::string prefix(PartitionId p) { return fmt::format("tier/p{}/", p); }
std::string data_key(PartitionId p, const std::string& id) { return prefix(p) + id + ".data"; }
std::string epochs_key(PartitionId p, const std::string& id) { return prefix(p) + id + ".epochs"; }

std::string encode_entries(const std::vector<LogEntry>& entries) {
  std::string out = fmt::format("entries {}\n", entries.size());
  for (const LogEntry& e : entries) out += fmt::format("{} {} {}\n", e.offset, e.epoch, e.record_id);
  return out;
}

std::optional<std::vector<LogEntry>> decode_entries(const std::string& bytes) {
  std::istringstream in(bytes);
  std::string word;
  size_t n = 0;
  if (!(in >> word >> n) || word != "entries") return std::nullopt;
  std::vector<LogEntry> out;
  for (size_t i = 0; i < n; ++i) {
    LogEntry e;
    if (!(in >> e.offset >> e.epoch >> e.record_id)) return std::nullopt;
    out.push_back(e);
  }
  return out;
}

std::string encode_epochs(const std::vector<EpochStart>& epochs) {
  std::string out = fmt::format("epochs {}\n", epochs.size());
  for (const EpochStart& e : epochs) out += fmt::format("{} {}\n", e.epoch, e.start_offset);
  return out;
}

std::optional<std::vector<EpochStart>> decode_epochs(const std::string& bytes) {
  std::istringstream in(bytes);
  std::string word;
  size_t n = 0;
  if (!(in >> word >> n) || word != "epochs") return std::nullopt;
  std::vector<EpochStart> out;
  for (size_t i = 0; i < n; ++i) {
    EpochStart e;
    if (!(in >> e.epoch >> e.start_offset)) return std::nullopt;
    out.push_back(e);
  }
  return out;
}

}  // namespace faultline::kafka::tier_object
