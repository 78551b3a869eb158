#include "sim/prng.h"

#include <bit>

#include "sim/assert.h"

namespace faultline {

namespace {
// GCC/Clang's 128-bit integer: exact 64x64 products for Lemire's method and fixed point.
__extension__ typedef unsigned __int128 u128;
}  // namespace

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t stable_hash(const char* text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* p = text; *p != '\0'; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 0x100000001b3ULL;
  }
  return h;
}

Prng::Prng(uint64_t seed) { seed_from(seed); }

Prng::Prng(uint64_t seed, const char* stream_label) {
  uint64_t mix = stable_hash(stream_label);
  seed_from(seed ^ splitmix64(mix));
}

void Prng::seed_from(uint64_t seed) {
  uint64_t sm = seed;
  for (uint64_t& word : s_) word = splitmix64(sm);
  // xoshiro's only bad state is all zeros; splitmix64 cannot produce four zeros in a row,
  // but say so rather than rely on it silently.
  FL_ASSERT((s_[0] | s_[1] | s_[2] | s_[3]) != 0);
}

uint64_t Prng::next() {
  const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

uint64_t Prng::below(uint64_t n) {
  FL_ASSERT(n > 0);
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  u128 m = static_cast<u128>(next()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<u128>(next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

int64_t Prng::range(int64_t lo, int64_t hi) {
  FL_ASSERT(lo <= hi, lo, hi);
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(next());
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + below(span + 1));
}

bool Prng::chance(Ratio r) {
  FL_ASSERT(r.den > 0 && r.num <= r.den, r.num, r.den);
  if (r.num == 0) return false;
  if (r.num == r.den) return true;
  return below(r.den) < r.num;
}

Duration Prng::uniform(Duration lo, Duration hi) {
  return Duration::nanos(range(lo.ns(), hi.ns()));
}

Duration Prng::exponential(Duration mean) {
  FL_ASSERT(mean.ns() >= 0, mean.ns());
  if (mean.ns() == 0) return mean;
  const uint64_t bits = next();
  // Low 32 bits: trailing zeros give the geometric integer part (P(k) = 2^-(k+1)).
  uint64_t k = static_cast<uint64_t>(std::countr_zero(static_cast<uint32_t>(bits) | (1ULL << 31)));
  const uint64_t frac = bits >> 32;                     // uniform fraction, 32 bits
  const uint64_t fixed = (k << 32) | frac;              // (k + frac) in 32.32 fixed point
  // E[k + frac] = 1 + 1/2, so scale by 2/3 to make the mean exact.
  constexpr uint64_t kTwoThirdsFixed = 2863311531ULL;   // 2/3 * 2^32
  const u128 scaled = static_cast<u128>(fixed) * kTwoThirdsFixed;  // in 2^-64 units
  const u128 ns = (scaled * static_cast<uint64_t>(mean.ns())) >> 64;
  const uint64_t cap = static_cast<uint64_t>(mean.ns()) * 40;
  return Duration::nanos(static_cast<int64_t>(ns > cap ? cap : static_cast<uint64_t>(ns)));
}

Prng Prng::fork() {
  Prng child;
  child.seed_from(next());
  return child;
}

}  // namespace faultline
