// Pins the generator bit for bit (semantics of sim/prng.h): if any of these change, every
// recorded seed in every bug report stops replaying.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "sim/prng.h"

namespace faultline {
namespace {

TEST(Prng, MatchesXoshiro256StarStarReferenceVector) {
  // The reference implementation's output for state {1, 2, 3, 4}.
  Prng p = Prng::from_state(1, 2, 3, 4);
  EXPECT_EQ(p.next(), 11520u);
  EXPECT_EQ(p.next(), 0u);
  EXPECT_EQ(p.next(), 1509978240u);
  EXPECT_EQ(p.next(), 1215971899390074240u);
  EXPECT_EQ(p.next(), 1216172134540287360u);
}

TEST(Prng, Splitmix64KnownAnswer) {
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220a8397b1dcdafULL);
}

TEST(Prng, SeedingThroughSplitmixIsPinned) {
  Prng zero(0);
  EXPECT_EQ(zero.next(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(zero.next(), 0xbf6e1f784956452aULL);
  Prng p(42);
  EXPECT_EQ(p.next(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(p.next(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(p.next(), 0xae17533239e499a1ULL);
  EXPECT_EQ(p.next(), 0xecb8ad4703b360a1ULL);
}

TEST(Prng, BelowIsPinned) {
  Prng p(42);
  std::vector<uint64_t> got;
  for (int i = 0; i < 10; ++i) got.push_back(p.below(10));
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 3, 6, 9, 9, 7, 7, 8, 7, 5}));
}

TEST(Prng, LabelledStreamsAreIndependentOfEachOther) {
  Prng a1(7, "network"), a2(7, "network"), b(7, "disk");
  EXPECT_EQ(a1.next(), a2.next());
  Prng a3(7, "network");
  EXPECT_NE(a3.next(), b.next());
}

TEST(Prng, ForkDiffersFromParentAndIsDeterministic) {
  Prng p1(9), p2(9);
  Prng c1 = p1.fork(), c2 = p2.fork();
  EXPECT_EQ(c1.next(), c2.next());
  EXPECT_NE(c1.next(), p1.next());
}

TEST(Prng, ChanceExtremes) {
  Prng p(3);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(p.chance(Ratio::never()));
    EXPECT_TRUE(p.chance(Ratio::always()));
  }
}

TEST(Prng, ChanceFrequencyIsClose) {
  Prng p(5);
  int hits = 0;
  for (int i = 0; i < 100000; ++i) hits += p.chance(Ratio{1, 4}) ? 1 : 0;
  EXPECT_NEAR(hits, 25000, 600);
}

TEST(Prng, ExponentialMeanIsClose) {
  Prng p(11);
  const Duration mean = Duration::millis(10);
  int64_t total = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) total += p.exponential(mean).ns();
  const double got = static_cast<double>(total) / n;
  EXPECT_NEAR(got, static_cast<double>(mean.ns()), mean.ns() * 0.01);
  EXPECT_EQ(p.exponential(Duration::zero()), Duration::zero());
}

RC_GTEST_PROP(PrngProps, BelowStaysInRange, (uint64_t seed, uint64_t n)) {
  RC_PRE(n > 0u);
  Prng p(seed);
  for (int i = 0; i < 20; ++i) RC_ASSERT(p.below(n) < n);
}

RC_GTEST_PROP(PrngProps, RangeIsInclusive, (uint64_t seed, int32_t a, int32_t b)) {
  const int64_t lo = std::min<int64_t>(a, b), hi = std::max<int64_t>(a, b);
  Prng p(seed);
  for (int i = 0; i < 20; ++i) {
    const int64_t v = p.range(lo, hi);
    RC_ASSERT(v >= lo);
    RC_ASSERT(v <= hi);
  }
}

RC_GTEST_PROP(PrngProps, ExponentialIsCapped, (uint64_t seed, uint32_t mean_us)) {
  Prng p(seed);
  const Duration mean = Duration::micros(mean_us);
  for (int i = 0; i < 20; ++i) {
    const Duration d = p.exponential(mean);
    RC_ASSERT(d >= Duration::zero());
    RC_ASSERT(d <= mean * 40);
  }
}

}  // namespace
}  // namespace faultline
