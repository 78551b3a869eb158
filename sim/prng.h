// sim/prng.h
// The only source of randomness in a run (style.md, example 3).
//
// Contract: the generator is xoshiro256** 1.0 (Blackman and Vigna), seeded through
// splitmix64, specified bit for bit here and pinned by known-answer tests in
// tests/prng_test.cpp. Every helper uses integer arithmetic only, so a seed replays the same
// on any compiler and standard library. Never use std:: distributions (their algorithms are
// implementation-defined) and never draw from a stream that another subsystem also uses:
// derive one with fork() or with the (seed, stream) constructor.
#pragma once

#include <cstdint>

#include "sim/time.h"

namespace faultline {

// A probability as an exact integer ratio: Ratio{1, 20} is 5 %.
struct Ratio {
  uint64_t num = 0;
  uint64_t den = 1;
  static constexpr Ratio never() { return {0, 1}; }
  static constexpr Ratio always() { return {1, 1}; }
  static constexpr Ratio percent(uint64_t p) { return {p, 100}; }
  static constexpr Ratio per_mille(uint64_t p) { return {p, 1000}; }
};

// splitmix64: used to expand seeds and to hash stream labels into seeds.
uint64_t splitmix64(uint64_t& state);
// A stable 64-bit hash of a label (FNV-1a), for naming derived streams.
uint64_t stable_hash(const char* text);

class Prng {
 public:
  // The root stream of a run.
  explicit Prng(uint64_t seed);
  // A stream derived from (seed, stream_label) without consuming anything from another
  // stream, so adding a subsystem never changes the draws of the existing ones.
  Prng(uint64_t seed, const char* stream_label);

  // Raw 64 random bits.
  uint64_t next();

  // Uniform in [0, n). n must be > 0. Lemire's multiply-and-reject: unbiased.
  uint64_t below(uint64_t n);
  // Uniform in [lo, hi], inclusive on both ends. lo <= hi.
  int64_t range(int64_t lo, int64_t hi);
  // True with probability r.num / r.den.
  bool chance(Ratio r);
  // Uniform duration in [lo, hi].
  Duration uniform(Duration lo, Duration hi);
  // An exponential-ish delay with the given mean, in integer arithmetic only: a geometric
  // count of trailing zero bits (P(k) = 2^-(k+1), the integer part of Exp(1)/ln2) plus a
  // uniform 32-bit fraction, scaled so the mean is exact. A memoryless-looking tail without
  // floating point; capped at 40 * mean so one draw cannot stall a run.
  Duration exponential(Duration mean);

  // A new independent stream derived from this one (consumes one draw).
  Prng fork();

  // A generator with exactly this state (for known-answer tests against the reference).
  static Prng from_state(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
    Prng p;
    p.s_[0] = s0; p.s_[1] = s1; p.s_[2] = s2; p.s_[3] = s3;
    return p;
  }

  // For tests and reports: the raw state.
  const uint64_t* state() const { return s_; }

 private:
  Prng() = default;
  void seed_from(uint64_t seed);
  uint64_t s_[4] = {0, 0, 0, 0};
};

}  // namespace faultline
