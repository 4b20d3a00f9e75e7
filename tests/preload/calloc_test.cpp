// calloc: every byte zero, including when the block is memory that held
// other data a moment ago (recycled slab blocks, cached huge mappings); and
// overflow of count * size fails cleanly.
#include <malloc.h>
#include <stdlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

struct SizeSet {
  const char* tier;
  std::vector<std::size_t> sizes;
  unsigned copies;
};

std::vector<SizeSet> tier_sizes() {
  return {
      {"tiny", {1, 8, 9, 24, 100, 512, 1000, 1024}, 64},
      {"mid", {1025, 1500, 4096, 8000, 20000, 32 * kKiB}, 16},
      {"large", {32 * kKiB + 1, 40000, 200000, 512 * kKiB, kMiB}, 4},
      {"huge", {kMiB + 1, 3 * kMiB, 8 * kMiB + 5}, 2},
  };
}

// Dirty blocks of every size are freed, then calloc asks for the same sizes:
// it is handed exactly the memory just dirtied, and must clear it.
TEST(Calloc, ZeroesReusedMemoryOfEveryTier) {
  for (const SizeSet& set : tier_sizes()) {
    for (unsigned round = 0; round < 4; ++round) {
      std::vector<void*> dirty;
      for (std::size_t n : set.sizes) {
        for (unsigned k = 0; k < set.copies; ++k) {
          void* p = malloc(n);
          ASSERT_NE(p, nullptr);
          std::memset(p, 0xab, malloc_usable_size(p));
          dirty.push_back(p);
        }
      }
      for (void* p : dirty) free(p);
      std::vector<void*> clean;
      for (std::size_t n : set.sizes) {
        for (unsigned k = 0; k < set.copies; ++k) {
          void* p = calloc(1, n);
          ASSERT_NE(p, nullptr) << set.tier << " calloc(1, " << n << ")";
          ASSERT_EQ(first_byte_not(p, n, 0), n) << set.tier << " calloc(1, " << n << ") round " << round;
          // Dirty it again for the next round.
          std::memset(p, 0xab, n);
          clean.push_back(p);
        }
      }
      for (void* p : clean) free(p);
    }
  }
}

// The same through calloc's two factors: count * size, not count alone.
TEST(Calloc, ZeroesEveryElementOfAnArray) {
  for (std::size_t count : {std::size_t{1}, std::size_t{3}, std::size_t{1000}, std::size_t{100000}}) {
    for (std::size_t size : {std::size_t{1}, std::size_t{8}, std::size_t{24}, std::size_t{100}}) {
      void* dirty = malloc(count * size);
      ASSERT_NE(dirty, nullptr);
      std::memset(dirty, 0xab, count * size);
      free(dirty);
      void* p = calloc(count, size);
      ASSERT_NE(p, nullptr) << count << " x " << size;
      EXPECT_EQ(first_byte_not(p, count * size, 0), count * size) << count << " x " << size;
      free(p);
    }
  }
}

// Blocks freed by another thread come back through the owner's inbox; a
// calloc that reuses them clears them too.
TEST(Calloc, ZeroesBlocksFreedByAnotherThread) {
  constexpr std::size_t kSizes[] = {16, 200, 3000, 50000};
  constexpr unsigned kCount = 200;
  std::vector<void*> blocks;
  for (std::size_t n : kSizes) {
    for (unsigned i = 0; i < kCount; ++i) {
      void* p = malloc(n);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xab, n);
      blocks.push_back(p);
    }
  }
  ASSERT_TRUE(run_on_new_thread(
      [](void* arg) -> void* {
        for (void* p : *static_cast<std::vector<void*>*>(arg)) free(p);
        return nullptr;
      },
      &blocks));
  for (std::size_t n : kSizes) {
    for (unsigned i = 0; i < kCount; ++i) {
      void* p = calloc(n, 1);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(first_byte_not(p, n, 0), n) << "calloc(" << n << ", 1), block " << i;
      blocks[i] = p;
    }
    for (unsigned i = 0; i < kCount; ++i) free(blocks[i]);
  }
}

TEST(Calloc, OfZeroReturnsAFreeableBlock) {
  for (auto [count, size] : {std::pair<std::size_t, std::size_t>{0, 0}, {0, 100}, {100, 0}}) {
    void* p = calloc(count, size);
    ASSERT_NE(p, nullptr) << count << " x " << size;
    free(p);
  }
}

TEST(Calloc, OverflowOfCountTimesSizeFailsWithEnomem) {
  const std::pair<std::size_t, std::size_t> cases[] = {
      {SIZE_MAX / 2, 3}, {std::size_t{1} << 40, std::size_t{1} << 40}, {SIZE_MAX, SIZE_MAX}, {3, SIZE_MAX / 2}};
  for (auto [count, size] : cases) {
    errno = 0;
    EXPECT_EQ(calloc(count, size), nullptr) << count << " x " << size;
    EXPECT_EQ(errno, ENOMEM) << count << " x " << size;
  }
}

}  // namespace
}  // namespace hakmem::preload_test
