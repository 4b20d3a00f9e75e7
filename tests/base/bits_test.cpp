#include "base/bits.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hakmem {
namespace {

TEST(Bits, PowerOfTwoAndAlign) {
  EXPECT_FALSE(is_power_of_two(0));
  EXPECT_TRUE(is_power_of_two(1));
  EXPECT_TRUE(is_power_of_two(std::size_t{1} << 63));
  EXPECT_FALSE(is_power_of_two(24));
  EXPECT_EQ(align_up(0, 16), 0u);
  EXPECT_EQ(align_up(1, 16), 16u);
  EXPECT_EQ(align_up(16, 16), 16u);
  EXPECT_EQ(align_down(4097, 4096), 4096u);
  EXPECT_EQ(log2_floor(1), 0u);
  EXPECT_EQ(log2_floor(4095), 11u);
  EXPECT_EQ(log2_floor(4096), 12u);
}

TEST(Bits, CheckedAlignUpReportsOverflow) {
  std::size_t out = 0;
  EXPECT_TRUE(checked_align_up(100, 64, &out));
  EXPECT_EQ(out, 128u);
  EXPECT_FALSE(checked_align_up(SIZE_MAX - 10, 64, &out));
}

}  // namespace
}  // namespace hakmem
