#include "tiers/chunk_map.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hakmem::tiers {
namespace {

const void* at(std::uintptr_t a) { return reinterpret_cast<const void*>(a); }

TEST(ChunkMap, UnknownAddressesAreForeign) {
  ChunkMap& map = chunk_map();
  EXPECT_EQ(map.kind_of(nullptr), ChunkKind::kForeign);
  EXPECT_EQ(map.kind_of(at(0x123456789)), ChunkKind::kForeign);
  EXPECT_EQ(map.kind_of(at(std::uintptr_t{1} << 50)), ChunkKind::kForeign);
  EXPECT_EQ(map.kind_of(at(~std::uintptr_t{0})), ChunkKind::kForeign);
  int on_stack = 0;
  EXPECT_EQ(map.kind_of(&on_stack), ChunkKind::kForeign);
}

TEST(ChunkMap, SetMarksEveryChunkOfTheRangeAndClearUnmarks) {
  ChunkMap& map = chunk_map();
  // An address range no real mapping uses in this test (the map only records).
  const std::uintptr_t base = std::uintptr_t{0x5ab} << 36;
  ASSERT_TRUE(map.set(at(base), 3 * kSuperSlabBytes, ChunkKind::kHuge));
  EXPECT_EQ(map.kind_of(at(base - 1)), ChunkKind::kForeign);
  EXPECT_EQ(map.kind_of(at(base)), ChunkKind::kHuge);
  EXPECT_EQ(map.kind_of(at(base + 3 * kSuperSlabBytes - 1)), ChunkKind::kHuge);
  EXPECT_EQ(map.kind_of(at(base + 3 * kSuperSlabBytes)), ChunkKind::kForeign);
  map.clear(at(base), 3 * kSuperSlabBytes);
  EXPECT_EQ(map.kind_of(at(base + kSuperSlabBytes)), ChunkKind::kForeign);
}

TEST(ChunkMap, RangesAcrossLeavesAndAtTheTopOfUserSpace) {
  ChunkMap& map = chunk_map();
  const std::uintptr_t leaf_span = kSuperSlabBytes * ChunkMap::kLeafEntries;
  const std::uintptr_t base = 7 * leaf_span - kSuperSlabBytes;  // last chunk of one leaf
  ASSERT_TRUE(map.set(at(base), 2 * kSuperSlabBytes, ChunkKind::kSuperSlab));
  EXPECT_EQ(map.kind_of(at(base)), ChunkKind::kSuperSlab);
  EXPECT_EQ(map.kind_of(at(base + kSuperSlabBytes)), ChunkKind::kSuperSlab);
  map.clear(at(base), 2 * kSuperSlabBytes);
  const std::uintptr_t top = (std::uintptr_t{1} << kAddressBits) - kSuperSlabBytes;
  ASSERT_TRUE(map.set(at(top), kSuperSlabBytes, ChunkKind::kBootstrap));
  EXPECT_EQ(map.kind_of(at(top + 12345)), ChunkKind::kBootstrap);
  map.clear(at(top), kSuperSlabBytes);
  EXPECT_FALSE(map.set(at(std::uintptr_t{1} << kAddressBits), kSuperSlabBytes, ChunkKind::kHuge));
}

}  // namespace
}  // namespace hakmem::tiers
