#include "tiers/huge.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/constants.h"
#include "config/options.h"
#include "tiers/allocator.h"
#include "tiers/chunk_map.h"
#include "tiers/huge_arena.h"
#include "tiers/heap_registry.h"

namespace hakmem::tiers {
namespace {

class HugeTest : public ::testing::Test {
 protected:
  void SetUp() override { ensure_initialized(); }
};

TEST_F(HugeTest, AlignedUsableAndMarkedInTheChunkMap) {
  void* p = huge_allocate(3 << 20, kMinAlignment, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kHugeGranule, 0u);
  EXPECT_GE(huge_usable_size(p), std::size_t{3} << 20);
  EXPECT_EQ(chunk_map().kind_of(static_cast<char*>(p) + (3 << 20) - 1), ChunkKind::kHuge);
  std::memset(p, 0x42, 3 << 20);
  EXPECT_TRUE(huge_free(p));
  EXPECT_FALSE(huge_free(p)) << "a second free of the same block is refused";
  EXPECT_EQ(huge_usable_size(p), 0u);
}

TEST_F(HugeTest, LargeAlignmentsAreHonoured) {
  for (std::size_t align = kSuperSlabBytes; align <= (std::size_t{32} << 20); align *= 2) {
    void* p = huge_allocate(100, align, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u);
    EXPECT_TRUE(huge_free(p));
  }
}

TEST_F(HugeTest, FreedMappingsAreReusedFromTheCache) {
  void* p = huge_allocate(5 << 20, kMinAlignment, false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(huge_free(p));
  const HugeStats before = huge_stats();
  void* q = huge_allocate(5 << 20, kMinAlignment, false);
  const HugeStats after = huge_stats();
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(q, p);
  huge_free(q);
}

TEST_F(HugeTest, CallocFromAPurgedCachedMappingIsZero) {
  auto* p = static_cast<unsigned char*>(huge_allocate(4 << 20, kMinAlignment, false));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xee, 4 << 20);
  huge_free(p);
  huge_decay(true);  // purge (or release) everything cached
  auto* q = static_cast<unsigned char*>(huge_allocate(4 << 20, kMinAlignment, true));
  ASSERT_NE(q, nullptr);
  for (std::size_t i = 0; i < (4u << 20); i += 4093) ASSERT_EQ(q[i], 0) << i;
  // And a dirty cached mapping handed to calloc is cleared by memset.
  std::memset(q, 0xee, 4 << 20);
  huge_free(q);
  auto* r = static_cast<unsigned char*>(huge_allocate(4 << 20, kMinAlignment, true));
  for (std::size_t i = 0; i < (4u << 20); i += 4093) ASSERT_EQ(r[i], 0) << i;
  huge_free(r);
}

TEST_F(HugeTest, ReallocGrowsAndShrinksKeepingContents) {
  std::size_t size = 2 << 20;
  auto* p = static_cast<unsigned char*>(huge_allocate(size, kMinAlignment, false));
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<unsigned char>(i * 31);
  for (std::size_t next : {std::size_t{7} << 20, std::size_t{33} << 20, std::size_t{3} << 20}) {
    bool unknown = false;
    auto* q = static_cast<unsigned char*>(huge_reallocate(p, next, &unknown, nullptr));
    EXPECT_FALSE(unknown);
    ASSERT_NE(q, nullptr);
    const std::size_t keep = size < next ? size : next;
    for (std::size_t i = 0; i < keep; i += 1021) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 31)) << i;
    for (std::size_t i = keep; i < next; ++i) q[i] = static_cast<unsigned char>(i * 31);
    EXPECT_GE(huge_usable_size(q), next);
    p = q;
    size = next;
  }
  EXPECT_TRUE(huge_free(p));
}

TEST_F(HugeTest, ReallocOfAFreedBlockIsReportedUnknown) {
  void* p = huge_allocate(2 << 20, kMinAlignment, false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(huge_free(p));
  bool unknown = false;
  EXPECT_EQ(huge_reallocate(p, 4 << 20, &unknown, nullptr), nullptr);
  EXPECT_TRUE(unknown);
}

TEST_F(HugeTest, SmallGrowthStaysInPlace) {
  auto* p = static_cast<char*>(huge_allocate((1 << 20) + 16, kMinAlignment, false));
  ASSERT_NE(p, nullptr);
  bool unknown = false;
  for (std::size_t n = (1 << 20) + 32; n < (std::size_t{1} << 20) + 4096; n += 16) {
    ASSERT_EQ(huge_reallocate(p, n, &unknown, nullptr), p) << n;
  }
  EXPECT_FALSE(unknown);
  EXPECT_TRUE(huge_free(p));
}

TEST_F(HugeTest, HintsAnswerGrowthWithinTheBlockUntilAnyBlockIsFreedShrunkOrMoved) {
  HugeHints hints;
  auto* p = static_cast<char*>(huge_allocate((1 << 20) + 16, kMinAlignment, false));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(hints.fits(p, (1 << 20) + 32)) << "nothing noted yet";
  bool unknown = false;
  ASSERT_EQ(huge_reallocate(p, (1 << 20) + 32, &unknown, &hints), p);
  const std::size_t usable = huge_usable_size(p);
  EXPECT_TRUE(hints.fits(p, usable));
  EXPECT_FALSE(hints.fits(p, usable + 1)) << "past its end the lock decides";
  EXPECT_FALSE(hints.fits(p + kHugeGranule, 64)) << "another address";

  // Freeing any other block may make room for a block at a noted address:
  // every hint is void.
  void* other = huge_allocate(2 << 20, kMinAlignment, false);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(hints.fits(p, usable)) << "a new block changes nothing noted";
  ASSERT_TRUE(huge_free(other));
  EXPECT_FALSE(hints.fits(p, usable));

  // A shrink voids them too: the block's end moved back.
  ASSERT_EQ(huge_reallocate(p, (1 << 20) + 64, &unknown, &hints), p);
  EXPECT_TRUE(hints.fits(p, (1 << 20) + 64));
  ASSERT_EQ(huge_reallocate(p, 300 << 10, &unknown, &hints), p);
  EXPECT_FALSE(hints.fits(p, (1 << 20) + 64));
  EXPECT_FALSE(unknown);
  EXPECT_TRUE(huge_free(p));
  EXPECT_FALSE(hints.fits(p, 300 << 10));
}

TEST_F(HugeTest, AMoveCarriesEverythingUpToTheUsableEnd) {
  // Bytes written past the size last asked for, within the usable size
  // (where a lock-free realloc may have let the program grow), move too.
  HugeHints hints;
  auto* p = static_cast<unsigned char*>(huge_allocate(300 << 10, kMinAlignment, false));
  ASSERT_NE(p, nullptr);
  const std::size_t usable = huge_usable_size(p);
  for (std::size_t i = 0; i < usable; ++i) p[i] = static_cast<unsigned char>(i * 7);
  // Keep the range after it busy, so that growing must move.
  void* neighbour = huge_allocate(300 << 10, kMinAlignment, false);
  bool unknown = false;
  auto* q = static_cast<unsigned char*>(huge_reallocate(p, 8 << 20, &unknown, &hints));
  ASSERT_NE(q, nullptr);
  for (std::size_t i = 0; i < usable; i += 257) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 7)) << i;
  EXPECT_TRUE(huge_free(q));
  EXPECT_TRUE(huge_free(neighbour));
}

TEST_F(HugeTest, RegistryGrowsPastItsFirstTable) {
  std::vector<void*> blocks;
  for (int i = 0; i < 1500; ++i) {
    void* p = huge_allocate(1 << 20 | 1, kMinAlignment, false);
    ASSERT_NE(p, nullptr) << i;
    blocks.push_back(p);
  }
  EXPECT_GE(huge_stats().live_blocks, 1500u);
  for (void* p : blocks) ASSERT_GE(huge_usable_size(p), std::size_t{1} << 20);
  for (void* p : blocks) ASSERT_TRUE(huge_free(p));
  huge_decay(true);
}

TEST_F(HugeTest, ImpossibleSizesFailCleanly) {
  EXPECT_EQ(huge_allocate(SIZE_MAX, kMinAlignment, false), nullptr);
  EXPECT_EQ(huge_allocate(SIZE_MAX / 2, kMinAlignment, false), nullptr);
  EXPECT_EQ(huge_allocate(std::size_t{1} << 61, kMinAlignment, true), nullptr);
}

}  // namespace
}  // namespace hakmem::tiers
