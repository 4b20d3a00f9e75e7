// mallinfo2 and mallinfo: the figures move the way their glibc meaning says
// when blocks are allocated and freed. hakmem maps them as: uordblks = bytes
// in live slab blocks, ordblks = live slab blocks, hblks / hblkhd = live
// huge blocks and their bytes, arena = bytes of SuperSlabs.
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>
#include <iterator>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

TEST(Mallinfo, UordblksAndOrdblksGrowWithLiveSlabBlocks) {
  for (std::size_t size : {std::size_t{64}, std::size_t{1000}, std::size_t{12000}, std::size_t{200000}}) {
    constexpr std::size_t kBlocks = 500;
    std::vector<void*> blocks;
    blocks.reserve(kBlocks);
    const struct mallinfo2 before = mallinfo2();
    for (std::size_t i = 0; i < kBlocks; ++i) {
      blocks.push_back(malloc(size));
      ASSERT_NE(blocks.back(), nullptr);
    }
    const struct mallinfo2 held = mallinfo2();
    // Each block counts with its block size: at least the request, at most
    // a quarter more (four size classes per power of two).
    EXPECT_GE(held.uordblks - before.uordblks, kBlocks * size) << "size " << size;
    EXPECT_LE(held.uordblks - before.uordblks, kBlocks * (size + size / 4 + 16)) << "size " << size;
    EXPECT_EQ(held.ordblks - before.ordblks, kBlocks) << "size " << size;
    EXPECT_GE(held.arena, held.uordblks);
    EXPECT_EQ(held.hblks, before.hblks);
    for (void* p : blocks) free(p);
    const struct mallinfo2 after = mallinfo2();
    EXPECT_EQ(after.uordblks, before.uordblks) << "size " << size;
    EXPECT_EQ(after.ordblks, before.ordblks) << "size " << size;
  }
}

TEST(Mallinfo, HblksCountsHugeBlocks) {
  constexpr std::size_t kSizes[] = {kMiB + 1, 2 * kMiB, 3 * kMiB, 10 * kMiB + 3};
  std::vector<void*> blocks;
  blocks.reserve(std::size(kSizes));
  const struct mallinfo2 before = mallinfo2();
  std::size_t requested = 0;
  for (std::size_t n : kSizes) {
    blocks.push_back(malloc(n));
    ASSERT_NE(blocks.back(), nullptr);
    requested += n;
  }
  const struct mallinfo2 held = mallinfo2();
  EXPECT_EQ(held.hblks - before.hblks, std::size(kSizes));
  EXPECT_GE(held.hblkhd - before.hblkhd, requested);
  // Huge blocks are not slab blocks.
  EXPECT_EQ(held.ordblks, before.ordblks);
  EXPECT_EQ(held.uordblks, before.uordblks);
  for (void* p : blocks) free(p);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_EQ(after.hblks, before.hblks);
  EXPECT_EQ(after.hblkhd, before.hblkhd);
}

TEST(Mallinfo, LegacyMallinfoAgreesWithMallinfo2) {
  void* p = malloc(3000);
  void* h = malloc(4 * kMiB);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(h, nullptr);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const struct mallinfo legacy = mallinfo();
#pragma GCC diagnostic pop
  const struct mallinfo2 wide = mallinfo2();
  // Small process: no field is large enough to saturate an int.
  EXPECT_EQ(static_cast<std::size_t>(legacy.hblks), wide.hblks);
  EXPECT_EQ(static_cast<std::size_t>(legacy.hblkhd), wide.hblkhd);
  EXPECT_EQ(static_cast<std::size_t>(legacy.ordblks), wide.ordblks);
  EXPECT_EQ(static_cast<std::size_t>(legacy.uordblks), wide.uordblks);
  EXPECT_EQ(static_cast<std::size_t>(legacy.arena), wide.arena);
  EXPECT_GE(wide.hblks, 1u);
  EXPECT_GE(wide.uordblks, 3000u);
  free(h);
  free(p);
}

}  // namespace
}  // namespace hakmem::preload_test
