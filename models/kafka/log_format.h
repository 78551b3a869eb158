// models/kafka/log_format.h
// Internal to the log (log*.cpp): the batch encoding, the checkpoint texts and the
// leader-epoch cache operations on a plain vector (Kafka's LeaderEpochFileCache), shared by
// the log's appends, truncations and recovery. Not for use outside models/kafka/log*.cpp.
#pragma once

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/kafka/log.h"
#include "sim/assert.h"

namespace faultline::kafka::log_format {

// --- the batch format (see the header) ----------------------------------------------------
inline constexpr uint64_t kHeaderBytes = 4 + 8;     // body length, checksum
inline constexpr uint64_t kBodyFixedBytes = 8 + 4 + 4;  // base offset, epoch, count
// Per record: record id, producer id, producer epoch, sequence, base sequence (B6).
inline constexpr uint64_t kRecordBytes = 8 + 8 + 2 + 4 + 4;
inline constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// A batch's checksum: over 64-bit little-endian words (the last one zero-padded), then the
// body length, each step an xor, a multiply by FNV's prime and an xor-shift. Every step is a
// bijection of the running value, so any change to one word changes the result, as a
// corrupted or torn batch needs; the shift carries high bits down, so that changes to two
// words do not cancel as they would through multiplies alone (which only carry bits up:
// two flips of bit 63 would). Byte steps cost 8x the multiplies on every append (issue 15).
// Kafka's CRC32C plays this part.
// The little-endian word at `at` (one load on a little-endian host; GCC 12 does not merge
// the byte loop into one, and this is on every append's path).
inline uint64_t load_le64(const char* at) {
  uint64_t w = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&w, at, 8);
  } else {
    for (int b = 0; b < 8; ++b) w |= static_cast<uint64_t>(static_cast<unsigned char>(at[b])) << (8 * b);
  }
  return w;
}
// Writes the low `Bytes` bytes of `v` little-endian at `p` and moves `p` past them.
template <int Bytes>
inline void store_le(char*& p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, Bytes);
  } else {
    for (int i = 0; i < Bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  p += Bytes;
}

inline uint64_t batch_checksum(std::string_view body) {
  auto step = [](uint64_t h, uint64_t w) {
    h = (h ^ w) * kFnvPrime;
    return h ^ (h >> 29);
  };
  uint64_t h = kFnvOffsetBasis;
  size_t i = 0;
  for (; i + 8 <= body.size(); i += 8) h = step(h, load_le64(body.data() + i));
  if (i < body.size()) {
    uint64_t w = 0;
    for (size_t b = 0; i + b < body.size(); ++b) w |= static_cast<uint64_t>(static_cast<unsigned char>(body[i + b])) << (8 * b);
    h = step(h, w);
  }
  return step(h, body.size());
}

inline void put_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
}
inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline uint16_t get_u16(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(in[at]) | (static_cast<unsigned char>(in[at + 1]) << 8));
}
inline uint32_t get_u32(std::string_view in, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
inline uint64_t get_u64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

// One batch: entries [first, first + count), contiguous and of one epoch. Written into one
// buffer of its final size (every append encodes: this is on the hot path); the bytes are
// those the put_* helpers give, little-endian.
template <typename Entries>
std::string encode_batch(const Entries& entries, size_t first, size_t count) {
  FL_ASSERT(count > 0 && first + count <= entries.size(), first, count, entries.size());
  const uint64_t body_bytes = kBodyFixedBytes + kRecordBytes * count;
  std::string out(kHeaderBytes + body_bytes, '\0');
  char* p = out.data();
  store_le<4>(p, body_bytes);
  p += 8;  // the checksum, once the body is written
  store_le<8>(p, static_cast<uint64_t>(entries[first].offset));
  store_le<4>(p, static_cast<uint32_t>(entries[first].epoch));
  store_le<4>(p, count);
  for (size_t i = first; i < first + count; ++i) {
    FL_ASSERT(entries[i].offset == entries[first].offset + static_cast<int64_t>(i - first) &&
                  entries[i].epoch == entries[first].epoch && "a batch is contiguous and of one epoch",
              entries[i].offset, entries[i].epoch, entries[first].offset, entries[first].epoch);
    store_le<8>(p, entries[i].record_id);
    store_le<8>(p, entries[i].producer_id);
    store_le<2>(p, static_cast<uint16_t>(entries[i].producer_epoch));
    store_le<4>(p, static_cast<uint32_t>(entries[i].sequence));
    store_le<4>(p, static_cast<uint32_t>(entries[i].base_sequence));
  }
  const uint64_t checksum = batch_checksum(std::string_view(out).substr(kHeaderBytes));
  p = out.data() + 4;
  store_le<8>(p, checksum);
  return out;
}

// --- checkpoints --------------------------------------------------------------------------
inline constexpr const char* kCheckpointVersion = "0";

inline std::string offset_checkpoint_text(int64_t value) { return fmt::format("{}\n{}\n", kCheckpointVersion, value); }

inline std::string epoch_checkpoint_text(const std::vector<EpochStart>& epochs) {
  std::string out = fmt::format("{}\n{}\n", kCheckpointVersion, epochs.size());
  for (const EpochStart& e : epochs) out += fmt::format("{} {}\n", e.epoch, e.start_offset);
  return out;
}

// Splits "a\nb\n" into {"a", "b"}; nullopt unless every line ends with '\n'.
inline std::optional<std::vector<std::string_view>> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

template <typename T>
inline std::optional<T> parse_int(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

inline std::optional<std::vector<EpochStart>> parse_epoch_checkpoint(const std::string& bytes) {
  auto lines = lines_of(bytes);
  if (!lines || lines->size() < 2 || (*lines)[0] != kCheckpointVersion) return std::nullopt;
  auto n = parse_int<size_t>((*lines)[1]);
  if (!n || lines->size() != 2 + *n) return std::nullopt;
  std::vector<EpochStart> out;
  for (size_t i = 0; i < *n; ++i) {
    std::string_view line = (*lines)[2 + i];
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto epoch = parse_int<Epoch>(line.substr(0, sp));
    auto start = parse_int<int64_t>(line.substr(sp + 1));
    if (!epoch || !start) return std::nullopt;
    out.push_back({*epoch, *start});
  }
  return out;
}

// --- the leader-epoch cache (Kafka's LeaderEpochFileCache) --------------------------------

// assign: nothing if `epoch` is the latest and start_offset is not below its start; else
// removes from the end every entry with epoch >= `epoch` or start >= start_offset and
// appends the new one. Returns the lowest start offset added or removed, if anything changed.
inline std::optional<int64_t> cache_assign(std::vector<EpochStart>& epochs, Epoch epoch, int64_t start_offset) {
  if (!epochs.empty() && epochs.back().epoch == epoch && start_offset >= epochs.back().start_offset) {
    return std::nullopt;
  }
  int64_t lowest = start_offset;
  while (!epochs.empty() && (epochs.back().epoch >= epoch || epochs.back().start_offset >= start_offset)) {
    lowest = std::min(lowest, epochs.back().start_offset);
    epochs.pop_back();
  }
  epochs.push_back({epoch, start_offset});
  return lowest;
}

// truncateFromEnd: removes every entry starting at or after end_offset. Returns how many.
inline uint32_t cache_truncate_from_end(std::vector<EpochStart>& epochs, int64_t end_offset) {
  uint32_t removed = 0;
  while (!epochs.empty() && epochs.back().start_offset >= end_offset) {
    epochs.pop_back();
    ++removed;
  }
  return removed;
}

// truncateFromStart: entries starting at or before start_offset collapse into one, the last
// of them, moved to start at start_offset.
inline void cache_truncate_from_start(std::vector<EpochStart>& epochs, int64_t start_offset) {
  size_t covered = 0;  // entries with start <= start_offset
  while (covered < epochs.size() && epochs[covered].start_offset <= start_offset) ++covered;
  if (covered == 0) return;
  const Epoch last = epochs[covered - 1].epoch;
  epochs.erase(epochs.begin(), epochs.begin() + static_cast<std::ptrdiff_t>(covered - 1));
  epochs.front() = {last, start_offset};
}

}  // namespace faultline::kafka::log_format
