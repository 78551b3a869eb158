#include "models/kafka/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "models/kafka/log_format.h"
#include "sim/assert.h"

namespace faultline::kafka {

using namespace log_format;

// --- file names and format, for checkers --------------------------------------------------

std::string PartitionLog::directory(PartitionId p) { return fmt::format("p{}/", p); }
std::string PartitionLog::segment_file(PartitionId p, int64_t base) {
  FL_ASSERT(base >= 0, base);
  return fmt::format("p{}/{:020d}.log", p, base);
}
std::string PartitionLog::leader_epoch_file(PartitionId p) { return directory(p) + "leader-epoch-checkpoint"; }
std::string PartitionLog::high_watermark_file(PartitionId p) { return directory(p) + "high-watermark-checkpoint"; }
std::string PartitionLog::recovery_point_file(PartitionId p) {
  return directory(p) + "recovery-point-offset-checkpoint";
}
std::string PartitionLog::log_start_offset_file(PartitionId p) { return directory(p) + "log-start-offset-checkpoint"; }
std::string PartitionLog::clean_shutdown_file(PartitionId p) { return directory(p) + "clean_shutdown"; }

std::optional<PartitionId> PartitionLog::partition_of(const std::string& file) {
  const size_t slash = file.find('/');
  if (slash == std::string::npos || slash < 2 || file[0] != 'p') return std::nullopt;
  return parse_int<PartitionId>(std::string_view(file).substr(1, slash - 1));
}

std::optional<int64_t> PartitionLog::segment_base(const std::string& file) {
  // "p<digits>/<20 digits>.log", nothing else (not the ".log.tmp" of a rewrite).
  if (!partition_of(file)) return std::nullopt;
  const size_t slash = file.find('/');
  const std::string_view name = std::string_view(file).substr(slash + 1);
  if (name.size() != 20 + 4 || !name.ends_with(".log")) return std::nullopt;
  const std::string_view digits = name.substr(0, 20);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return parse_int<int64_t>(digits);
}

std::optional<int64_t> PartitionLog::parse_offset_checkpoint(const std::string& bytes) {
  auto lines = lines_of(bytes);
  if (!lines || lines->size() != 2 || (*lines)[0] != kCheckpointVersion) return std::nullopt;
  return parse_int<int64_t>((*lines)[1]);
}

PartitionLog::Scan PartitionLog::scan_segment(std::string_view bytes, std::optional<int64_t> base) {
  Scan out;
  out.end_offset = base.value_or(-1);
  uint64_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    const uint64_t length = get_u32(bytes, pos);
    if (length < kBodyFixedBytes || length > bytes.size() - pos - kHeaderBytes) break;
    const std::string_view body = bytes.substr(pos + kHeaderBytes, length);
    if (get_u64(bytes, pos + 4) != batch_checksum(body)) break;
    const auto base_offset = static_cast<int64_t>(get_u64(body, 0));
    const auto epoch = static_cast<Epoch>(get_u32(body, 8));
    const uint32_t count = get_u32(body, 12);
    if (count == 0 || length != kBodyFixedBytes + kRecordBytes * uint64_t{count} || epoch < 0 || base_offset < 0) break;
    if (out.end_offset >= 0 && base_offset != out.end_offset) break;
    out.batches.push_back({pos, base_offset, count, epoch});
    for (uint32_t i = 0; i < count; ++i) {
      const uint64_t at = kBodyFixedBytes + kRecordBytes * uint64_t{i};
      LogEntry e{base_offset + i, epoch, get_u64(body, at)};
      e.producer_id = get_u64(body, at + 8);
      e.producer_epoch = static_cast<int16_t>(get_u16(body, at + 16));
      e.sequence = static_cast<int32_t>(get_u32(body, at + 18));
      e.base_sequence = static_cast<int32_t>(get_u32(body, at + 22));
      out.entries.push_back(e);
    }
    out.end_offset = base_offset + count;
    pos += kHeaderBytes + length;
  }
  out.valid_bytes = pos;
  return out;
}

std::vector<LogEntry> PartitionLog::decode_segment(const std::string& bytes) {
  return scan_segment(bytes, std::nullopt).entries;
}

std::optional<int64_t> PartitionLog::end_offset_of(const std::map<int64_t, std::string>& segments) {
  if (segments.empty()) return std::nullopt;
  int64_t end = segments.begin()->first;
  for (const auto& [base, bytes] : segments) {
    if (base != end) break;  // a gap (or an overlap): recovery would drop this segment
    const Scan scan = scan_segment(bytes, base);
    end = scan.end_offset;
    if (scan.valid_bytes != bytes.size()) break;  // a bad tail: recovery cuts here
  }
  return end;
}

}  // namespace faultline::kafka
