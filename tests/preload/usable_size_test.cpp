// malloc_usable_size: at least the request for every way a block is made, 0
// for null, and every usable byte really belongs to the block (writing all
// of them leaves neighbouring blocks intact).
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

// Every size 0..2048, then a geometric sweep (about 6 % apart) with the
// neighbours of every power of two, up to 4 MiB.
std::vector<std::size_t> size_sweep() {
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 2048; ++n) sizes.push_back(n);
  for (std::size_t n = 2049; n <= 4 * kMiB; n += n / 16) sizes.push_back(n);
  for (std::size_t p = 4096; p <= 4 * kMiB; p *= 2) {
    sizes.push_back(p - 1);
    sizes.push_back(p);
    sizes.push_back(p + 1);
  }
  return sizes;
}

TEST(UsableSize, IsZeroForNull) {
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
  EXPECT_EQ(hkm_usable_size(nullptr), 0u);
}

TEST(UsableSize, CoversTheRequestForMallocCallocReallocAndAligned) {
  for (std::size_t n : size_sweep()) {
    void* m = malloc(n);
    ASSERT_NE(m, nullptr) << "malloc(" << n << ")";
    EXPECT_GE(malloc_usable_size(m), n) << "malloc(" << n << ")";
    EXPECT_EQ(hkm_usable_size(m), malloc_usable_size(m));

    void* c = calloc(1, n);
    ASSERT_NE(c, nullptr) << "calloc(1, " << n << ")";
    EXPECT_GE(malloc_usable_size(c), n) << "calloc(1, " << n << ")";

    // Grown from a small block, and shrunk from a bigger one.
    void* r = realloc(malloc(1), n == 0 ? 1 : n);
    ASSERT_NE(r, nullptr) << "realloc to " << n;
    EXPECT_GE(malloc_usable_size(r), n) << "realloc to " << n;
    void* s = realloc(malloc(n + 4096), n == 0 ? 1 : n);
    ASSERT_NE(s, nullptr) << "realloc down to " << n;
    EXPECT_GE(malloc_usable_size(s), n) << "realloc down to " << n;

    void* a = aligned_alloc(64, n);
    ASSERT_NE(a, nullptr) << "aligned_alloc(64, " << n << ")";
    EXPECT_GE(malloc_usable_size(a), n) << "aligned_alloc(64, " << n << ")";
    void* pm = nullptr;
    ASSERT_EQ(posix_memalign(&pm, 4096, n), 0) << "posix_memalign(4096, " << n << ")";
    EXPECT_GE(malloc_usable_size(pm), n) << "posix_memalign(4096, " << n << ")";

    for (void* p : {m, c, r, s, a, pm}) free(p);
  }
}

// Three blocks of the same size, made one after the other, usually sit side
// by side in one slab. The outer two carry a pattern over their whole usable
// size; writing every usable byte of the middle one must not touch them (and
// writing theirs must not touch it).
TEST(UsableSize, WritingTheWholeUsableSizeLeavesNeighboursIntact) {
  unsigned seed = 0;
  for (std::size_t n : size_sweep()) {
    void* blocks[3];
    std::size_t usable[3];
    for (int i = 0; i < 3; ++i) {
      blocks[i] = malloc(n);
      ASSERT_NE(blocks[i], nullptr) << "malloc(" << n << ")";
      usable[i] = malloc_usable_size(blocks[i]);
    }
    ++seed;
    fill_pattern(blocks[0], usable[0], seed);
    fill_pattern(blocks[2], usable[2], seed + 1);
    std::memset(blocks[1], 0x5a, usable[1]);
    EXPECT_EQ(first_pattern_mismatch(blocks[0], usable[0], seed), usable[0]) << "size " << n;
    EXPECT_EQ(first_pattern_mismatch(blocks[2], usable[2], seed + 1), usable[2]) << "size " << n;
    EXPECT_EQ(first_byte_not(blocks[1], usable[1], 0x5a), usable[1]) << "size " << n;
    for (void* p : blocks) free(p);
  }
}

// The same with many live blocks of mixed sizes: each block's whole usable
// size carries its own pattern, and every pattern survives all the writes.
TEST(UsableSize, ManyLiveBlocksOwnTheirWholeUsableSize) {
  std::vector<void*> blocks;
  std::vector<std::size_t> usable;
  unsigned i = 0;
  for (std::size_t n : size_sweep()) {
    if (n > 256 * kKiB && n % 3 != 0) continue;  // keep the live set small
    void* p = malloc(n);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
    usable.push_back(malloc_usable_size(p));
    fill_pattern(p, usable.back(), i++);
  }
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    EXPECT_EQ(first_pattern_mismatch(blocks[k], usable[k], static_cast<unsigned>(k)), usable[k])
        << "block " << k << " of usable size " << usable[k];
  }
  for (void* p : blocks) free(p);
}

}  // namespace
}  // namespace hakmem::preload_test
