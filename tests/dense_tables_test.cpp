// The checkers' flat tables (scenarios/kafka/dense_tables.h) behave as the ordered maps they
// replaced: made-on-first-use, emplace keeps the first value, unknown keys are absent, and
// keys outside the dense range (negative, huge) work through the overflow map.
#include <gtest/gtest.h>

#include "scenarios/kafka/dense_tables.h"

namespace faultline::kafka {
namespace {

TEST(DenseTable, EmplaceKeepsTheFirstValueAndFindTellsMadeFromNever) {
  DenseTable<uint64_t> t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.find(5), nullptr);
  auto [v, fresh] = t.emplace(5, 50);
  EXPECT_TRUE(fresh);
  EXPECT_EQ(*v, 50u);
  auto [again, fresh2] = t.emplace(5, 99);
  EXPECT_FALSE(fresh2);
  EXPECT_EQ(*again, 50u);
  // The gap below 5 was never made, even though the vector covers it.
  EXPECT_EQ(t.find(3), nullptr);
  EXPECT_EQ(t.find(0), nullptr);
  // A made key holding the default value is still found.
  t[2];
  ASSERT_NE(t.find(2), nullptr);
  EXPECT_EQ(*t.find(2), 0u);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.last_key(), 5);
}

TEST(DenseTable, KeysOutsideTheDenseRangeGoToTheOverflow) {
  DenseTable<int> t;
  const int64_t huge = static_cast<int64_t>(DenseTable<int>::kDenseLimit) + 7;
  t[-3] = 1;
  t[huge] = 2;
  t[4] = 3;
  EXPECT_EQ(*t.find(-3), 1);
  EXPECT_EQ(*t.find(huge), 2);
  EXPECT_EQ(t.find(huge + 1), nullptr);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.last_key(), huge);
}

TEST(RecordTable, RecordIdsOfDifferentProducersNeverShareAnEntry) {
  RecordTable<int> t;
  const uint64_t a = uint64_t{1} << 40 | 7;  // producer node 0, attempt 7
  const uint64_t b = uint64_t{2} << 40 | 7;  // producer node 1, attempt 7
  t[a] = 10;
  EXPECT_EQ(t.find(b), nullptr);
  t[b] = 20;
  EXPECT_EQ(*t.find(a), 10);
  EXPECT_EQ(*t.find(b), 20);
  EXPECT_FALSE(t.emplace(a, 11).second);
  EXPECT_EQ(*t.find(a), 10);
  EXPECT_EQ(t.find(uint64_t{3} << 40 | 7), nullptr);
  EXPECT_EQ(t.find(a + 1), nullptr);
}

}  // namespace
}  // namespace faultline::kafka
