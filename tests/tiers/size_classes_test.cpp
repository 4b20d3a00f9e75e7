#include "tiers/size_classes.h"

#include <gtest/gtest.h>

namespace hakmem::tiers {
namespace {

TEST(SizeClasses, EveryRequestGetsTheSmallestFittingClass) {
  for (std::size_t n = 0; n <= kMaxSlabBlock; n += (n < 4096 ? 1 : n / 64)) {
    const SizeClass c = class_of(n);
    ASSERT_LT(c, kClassCount);
    ASSERT_GE(block_size(c), n) << n;
    if (c > 0) {
      ASSERT_LT(block_size(c - 1), n) << n;
    }
  }
}

TEST(SizeClasses, BlockSizesGrowAndWasteIsBounded) {
  for (unsigned c = 1; c < kClassCount; ++c) {
    const std::size_t b = block_size(static_cast<SizeClass>(c));
    const std::size_t prev = block_size(static_cast<SizeClass>(c - 1));
    ASSERT_GT(b, prev);
    // Eight classes per doubling to 1 KiB, four above: a request just
    // above prev wastes < 12.5% or < 25% (the 16 B steps below 128 B: at
    // most 15 bytes).
    if (b > 128) {
      EXPECT_LE((b - prev - 1) * (b <= kMaxTinyBlock ? 8 : 4), b) << b;
    }
    EXPECT_EQ(b % 16, 0u) << "every class keeps 16-byte alignment";
  }
  EXPECT_EQ(block_size(0), 16u) << "a free block holds its link and its freed mark";
  EXPECT_EQ(class_of(0), 0);
  EXPECT_EQ(class_of(8), 0);
  EXPECT_EQ(block_size(kClassCount - 1), kMaxSlabBlock);
}

TEST(SizeClasses, SlabsHoldBlocksWithLittleWaste) {
  for (unsigned c = 0; c < kClassCount; ++c) {
    const std::size_t b = block_size(static_cast<SizeClass>(c));
    const std::size_t bytes = units_per_slab(static_cast<SizeClass>(c)) * kSlabUnitBytes;
    ASSERT_GE(bytes / b, 1u);
    EXPECT_LE(units_per_slab(static_cast<SizeClass>(c)), 16u);
    EXPECT_LE((bytes % b) * 8, bytes) << "class " << c << " wastes more than 1/8 of its slab";
    if (b <= 8192) {
      EXPECT_GE(bytes / b, 8u);
    }
  }
}

TEST(SizeClasses, TinyClassesComeEightADoublingAndTheRestFour) {
  EXPECT_EQ(block_size(class_of(129)), 144u);
  EXPECT_EQ(block_size(class_of(513)), 576u);
  EXPECT_EQ(block_size(class_of(1000)), 1024u);
  EXPECT_EQ(block_size(class_of(1025)), 1280u);
  EXPECT_EQ(class_of(2048) - class_of(1024), 4);
  EXPECT_EQ(class_of(1024) - class_of(512), 8);
  for (std::size_t n = 129; n <= kMaxSlabBlock; ++n) {
    ASSERT_EQ(compute_class(n), class_of(n)) << "the tiny table and the arithmetic disagree at " << n;
  }
}

TEST(SizeClasses, TiersByBlockSize) {
  EXPECT_EQ(tier_of(class_of(1)), Tier::kTiny);
  EXPECT_EQ(tier_of(class_of(1024)), Tier::kTiny);
  EXPECT_EQ(tier_of(class_of(1025)), Tier::kMid);
  EXPECT_EQ(tier_of(class_of(32 * 1024)), Tier::kMid);
  EXPECT_EQ(tier_of(class_of(32 * 1024 + 1)), Tier::kLarge);
  EXPECT_EQ(tier_of(class_of(kMaxSlabBlock)), Tier::kLarge);
}

TEST(SizeClasses, AlignedClassIsAMultipleOfTheAlignment) {
  for (std::size_t align = 8; align <= kOsPageBytes; align *= 2) {
    for (std::size_t n : {std::size_t{1}, align - 1, align, align + 1, 3 * align, std::size_t{100000}}) {
      const SizeClass c = aligned_class_of(n, align);
      ASSERT_LT(c, kClassCount);
      EXPECT_EQ(block_size(c) % align, 0u);
      EXPECT_GE(block_size(c), n);
    }
  }
  EXPECT_EQ(aligned_class_of(kMaxSlabBlock + 1, 16), kClassCount);
}

// The multiply test agrees with a division at every offset of every slab.
TEST(SizeClasses, BlockStartTestAgreesWithDivision) {
  for (unsigned i = 0; i < kClassCount; ++i) {
    const auto c = static_cast<SizeClass>(i);
    const std::size_t b = block_size(c);
    const std::size_t bytes = units_per_slab(c) * kSlabUnitBytes;
    const auto capacity = static_cast<std::uint32_t>(bytes / b);
    for (std::size_t offset = 0; offset < bytes + b; offset += (b < 64 ? 1 : 7)) {
      ASSERT_EQ(is_block_start(offset, c, capacity), offset % b == 0 && offset / b < capacity)
          << "class " << i << " (" << b << " B), offset " << offset;
    }
  }
}

}  // namespace
}  // namespace hakmem::tiers
