#include <gtest/gtest.h>

#include "sim/time.h"

namespace faultline {
namespace {

using namespace literals;

TEST(Time, LiteralsAndArithmetic) {
  EXPECT_EQ((5_ms).ns(), 5'000'000);
  EXPECT_EQ((30_s).ms(), 30'000);
  EXPECT_EQ(Instant::zero() + 2_s - Instant::zero(), 2_s);
  EXPECT_EQ((1_s) / (250_ms), 4);
  EXPECT_LT(999_us, 1_ms);
}

TEST(Time, FormatDurationPicksExactUnit) {
  EXPECT_EQ(format_duration(0_s), "0s");
  EXPECT_EQ(format_duration(30_s), "30s");
  EXPECT_EQ(format_duration(1500_ms), "1.5s");
  EXPECT_EQ(format_duration(250_ms), "250ms");
  EXPECT_EQ(format_duration(12_us), "12us");
  EXPECT_EQ(format_duration(7_ns), "7ns");
  EXPECT_EQ(format_duration(Duration::nanos(1'000'000'001)), "1.000000001s");
}

TEST(Time, FormatInstantIsFixedWidthSeconds) {
  EXPECT_EQ(format_instant(Instant::zero() + 12_s + 345_us), "   12.000345000");
}

TEST(Time, ParseDurationAcceptsUnitsAndRejectsJunk) {
  Duration d;
  ASSERT_TRUE(parse_duration("250ms", &d));
  EXPECT_EQ(d, 250_ms);
  ASSERT_TRUE(parse_duration("2m", &d));
  EXPECT_EQ(d, 120_s);
  ASSERT_TRUE(parse_duration("10", &d));
  EXPECT_EQ(d, 10_ns);
  EXPECT_FALSE(parse_duration("", &d));
  EXPECT_FALSE(parse_duration("ms", &d));
  EXPECT_FALSE(parse_duration("5 s", &d));
  EXPECT_FALSE(parse_duration("5h", &d));
  EXPECT_FALSE(parse_duration("-5s", &d));
  EXPECT_FALSE(parse_duration("99999999999999999999s", &d));
}

TEST(Time, SaturatingAdd) {
  EXPECT_EQ(saturating_add(Instant::zero() + 1_s, Duration::max()), Instant::max());
  EXPECT_EQ(saturating_add(Instant::zero(), 1_s), Instant::zero() + 1_s);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {
using namespace literals;
TEST(Time, FormatDurationKeepsFractionsReadable) {
  EXPECT_EQ(format_duration(Duration::nanos(416'680'719)), "416.680719ms");
  EXPECT_EQ(format_duration(Duration::nanos(12'500)), "12.5us");
  EXPECT_EQ(format_duration(Duration::nanos(-1'500'000'000)), "-1.5s");
}
}  // namespace
}  // namespace faultline

namespace faultline {
namespace {
using namespace literals;
TEST(Time, ParseDurationReadsWhatFormatDurationWrites) {
  for (int64_t ns : {0LL, 7LL, 12'500LL, 416'680'719LL, 1'500'000'000LL, 1'000'000'001LL, 30'000'000'000LL}) {
    Duration back;
    ASSERT_TRUE(parse_duration(format_duration(Duration::nanos(ns)), &back)) << ns;
    EXPECT_EQ(back.ns(), ns);
  }
  Duration d;
  EXPECT_FALSE(parse_duration("1.5ns", &d));   // finer than a nanosecond
  EXPECT_FALSE(parse_duration("1.s", &d));
  EXPECT_FALSE(parse_duration(".5s", &d));
  EXPECT_FALSE(parse_duration("1.0000000001s", &d));
}
}  // namespace
}  // namespace faultline
