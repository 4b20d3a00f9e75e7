// realloc and reallocarray: contents survive growing and shrinking across
// every tier boundary (tiny 8 B..1 KiB, mid ..32 KiB, large ..1 MiB, huge
// beyond), and the glibc conventions for null, zero and overflow hold.
#include <malloc.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

// The boundaries of the size classes and tiers, and one past each.
std::vector<std::size_t> boundary_sizes() {
  return {1,           7,          8,          9,           16,          17,          127,
          128,         129,        1023,       1024,        1025,        32 * kKiB,   32 * kKiB + 1,
          kMiB - 1,    kMiB,       kMiB + 1,   2 * kMiB,    2 * kMiB + 1, 4 * kMiB,   16 * kMiB};
}

TEST(Realloc, KeepsContentsBetweenEveryPairOfTierBoundarySizes) {
  const std::vector<std::size_t> sizes = boundary_sizes();
  unsigned seed = 0;
  for (std::size_t from : sizes) {
    for (std::size_t to : sizes) {
      ++seed;
      void* p = malloc(from);
      ASSERT_NE(p, nullptr) << "malloc(" << from << ")";
      fill_pattern(p, from, seed);
      void* q = realloc(p, to);
      ASSERT_NE(q, nullptr) << "realloc " << from << " -> " << to;
      EXPECT_GE(malloc_usable_size(q), to) << "realloc " << from << " -> " << to;
      const std::size_t kept = std::min(from, to);
      EXPECT_EQ(first_pattern_mismatch(q, kept, seed), kept) << "realloc " << from << " -> " << to;
      // The whole new size is writable.
      std::memset(q, 0x3c, to);
      free(q);
    }
  }
}

// One block grown step by step from 1 B to 8 MiB through every boundary,
// then shrunk back the same way; after each step the surviving prefix still
// carries the pattern, and the newly gained bytes are patterned in turn.
TEST(Realloc, GrowsStepByStepTo8MiBAndShrinksBackKeepingContents) {
  std::vector<std::size_t> steps;
  for (std::size_t n = 1; n <= 8 * kMiB; n += std::max<std::size_t>(1, n / 5)) steps.push_back(n);
  for (std::size_t b : boundary_sizes()) {
    if (b <= 8 * kMiB) steps.push_back(b);
  }
  steps.push_back(8 * kMiB);
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());

  constexpr unsigned kSeed = 41;
  void* p = malloc(steps.front());
  ASSERT_NE(p, nullptr);
  fill_pattern(p, steps.front(), kSeed);
  std::size_t size = steps.front();
  for (std::size_t i = 1; i < steps.size(); ++i) {
    const std::size_t next = steps[i];
    void* q = realloc(p, next);
    ASSERT_NE(q, nullptr) << "grow " << size << " -> " << next;
    p = q;
    ASSERT_EQ(first_pattern_mismatch(p, size, kSeed), size) << "grow " << size << " -> " << next;
    // Extend the pattern over the new tail (the pattern depends on the
    // offset only, so the whole block is one pattern).
    fill_pattern_range(p, size, next, kSeed);
    size = next;
  }
  for (std::size_t i = steps.size() - 1; i-- > 0;) {
    const std::size_t next = steps[i];
    void* q = realloc(p, next);
    ASSERT_NE(q, nullptr) << "shrink " << size << " -> " << next;
    p = q;
    ASSERT_EQ(first_pattern_mismatch(p, next, kSeed), next) << "shrink " << size << " -> " << next;
    size = next;
  }
  free(p);
}

// Huge blocks grow in place (mremap) or move: either way the contents stay,
// also while other huge blocks sit around them.
TEST(Realloc, HugeBlocksKeepContentsWhenGrownAndShrunkAmongOthers) {
  std::vector<void*> blocks;
  std::vector<std::size_t> sizes;
  for (unsigned i = 0; i < 6; ++i) {
    sizes.push_back((i + 2) * kMiB + i * 4097);
    blocks.push_back(malloc(sizes.back()));
    ASSERT_NE(blocks.back(), nullptr);
    fill_pattern(blocks.back(), sizes.back(), i);
  }
  for (unsigned round = 0; round < 3; ++round) {
    for (unsigned i = 0; i < blocks.size(); ++i) {
      const std::size_t next = (round == 1) ? sizes[i] / 2 + 1 : sizes[i] * 2 + 12345;
      void* q = realloc(blocks[i], next);
      ASSERT_NE(q, nullptr);
      const std::size_t kept = std::min(sizes[i], next);
      ASSERT_EQ(first_pattern_mismatch(q, kept, i), kept) << "block " << i << " round " << round;
      blocks[i] = q;
      sizes[i] = next;
      fill_pattern(q, next, i);
    }
  }
  for (unsigned i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(first_pattern_mismatch(blocks[i], sizes[i], i), sizes[i]) << "block " << i;
    free(blocks[i]);
  }
}

// An aligned block that moves on realloc keeps its contents too; so does a
// huge block whose alignment (beyond 2 MiB) put it at an offset into its
// mapping, when it grows and shrinks as a huge block.
TEST(Realloc, AlignedBlocksKeepContentsWhenReallocated) {
  for (std::size_t alignment : {std::size_t{64}, std::size_t{4096}, std::size_t{64} * kKiB, 4 * kMiB}) {
    void* p = aligned_alloc(alignment, 1000);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, 1000, 3);
    for (std::size_t next : {std::size_t{5000}, 3 * kMiB, std::size_t{200}, 9 * kMiB}) {
      const std::size_t kept = std::min<std::size_t>(200, next);
      void* q = realloc(p, next);
      ASSERT_NE(q, nullptr) << "alignment " << alignment << " -> " << next;
      ASSERT_EQ(first_pattern_mismatch(q, kept, 3), kept) << "alignment " << alignment << " -> " << next;
      fill_pattern(q, next, 3);
      p = q;
    }
    free(p);
  }
  for (std::size_t alignment : {4 * kMiB, 16 * kMiB}) {
    void* p = aligned_alloc(alignment, 3 * kMiB);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(is_aligned(p, alignment));
    std::size_t size = 3 * kMiB;
    fill_pattern(p, size, 8);
    for (std::size_t next : {5 * kMiB, 3 * kMiB + 1, 24 * kMiB, 2 * kMiB, 40 * kMiB}) {
      void* q = realloc(p, next);
      ASSERT_NE(q, nullptr) << "alignment " << alignment << ": " << size << " -> " << next;
      const std::size_t kept = std::min(size, next);
      ASSERT_EQ(first_pattern_mismatch(q, kept, 8), kept)
          << "alignment " << alignment << ": " << size << " -> " << next;
      EXPECT_GE(malloc_usable_size(q), next);
      fill_pattern(q, next, 8);
      p = q;
      size = next;
    }
    free(p);
  }
}

TEST(Realloc, OfNullAllocates) {
  for (std::size_t n : boundary_sizes()) {
    void* p = realloc(nullptr, n);
    ASSERT_NE(p, nullptr) << "realloc(NULL, " << n << ")";
    EXPECT_GE(malloc_usable_size(p), n);
    fill_pattern(p, n, 1);
    EXPECT_EQ(first_pattern_mismatch(p, n, 1), n);
    free(p);
  }
}

// glibc's convention: realloc(p, 0) frees p and returns null. The block is
// really given back: the live-block count returns to where it was.
TEST(Realloc, ToZeroFreesTheBlockAndReturnsNull) {
  for (std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{5000}, std::size_t{100} * kKiB, 3 * kMiB}) {
    const hkm_stats before = stats_now();
    void* p = malloc(n);
    ASSERT_NE(p, nullptr);
    const hkm_stats held = stats_now();
    EXPECT_EQ(held.live_blocks, before.live_blocks + 1) << "size " << n;
    errno = 0;
    EXPECT_EQ(realloc(p, 0), nullptr) << "size " << n;
    EXPECT_EQ(errno, 0) << "size " << n;
    const hkm_stats after = stats_now();
    EXPECT_EQ(after.live_blocks, before.live_blocks) << "size " << n;
  }
}

// The old block is used after a reallocarray that failed, which leaves it
// valid; the compiler cannot know that the call failed.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
TEST(Realloc, ReallocarrayOverflowFailsWithEnomemAndKeepsTheOldBlock) {
  void* p = malloc(100);
  ASSERT_NE(p, nullptr);
  fill_pattern(p, 100, 9);
  const std::size_t pairs[][2] = {{SIZE_MAX / 2, 3}, {std::size_t{1} << 40, std::size_t{1} << 40}, {SIZE_MAX, 2}};
  for (const auto& pair : pairs) {
    errno = 0;
    EXPECT_EQ(reallocarray(p, pair[0], pair[1]), nullptr) << pair[0] << " x " << pair[1];
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(first_pattern_mismatch(p, 100, 9), 100u);
  }
  void* q = reallocarray(p, 10, 20);
  ASSERT_NE(q, nullptr);
  EXPECT_GE(malloc_usable_size(q), 200u);
  EXPECT_EQ(first_pattern_mismatch(q, 100, 9), 100u);
  free(q);
}
#pragma GCC diagnostic pop

TEST(Realloc, ReallocarrayResizesLikeRealloc) {
  void* p = reallocarray(nullptr, 7, 9);
  ASSERT_NE(p, nullptr);
  fill_pattern(p, 63, 5);
  void* q = reallocarray(p, 1024, 1024 + 1);
  ASSERT_NE(q, nullptr);
  EXPECT_GE(malloc_usable_size(q), 1024u * 1025u);
  EXPECT_EQ(first_pattern_mismatch(q, 63, 5), 63u);
  void* r = reallocarray(q, 3, 5);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(first_pattern_mismatch(r, 15, 5), 15u);
  free(r);
}

}  // namespace
}  // namespace hakmem::preload_test
