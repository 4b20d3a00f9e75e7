// Blocks from glibc's own allocator, reached through its __libc_ entry
// points (as a library that captured them before hakmem was loaded would
// hold): free, realloc and malloc_usable_size recognise them as foreign and
// hand them to glibc, whatever their size or the thread that made them.
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>

#include "preload_test_util.h"

extern "C" {
void* __libc_malloc(std::size_t bytes);
void* __libc_calloc(std::size_t count, std::size_t bytes);
void* __libc_memalign(std::size_t alignment, std::size_t bytes);
void __libc_free(void* p);
}

namespace hakmem::preload_test {
namespace {

// Small (a main-arena chunk), medium, and large enough that glibc mmaps it.
const std::size_t kForeignSizes[] = {1, 24, 100, 1000, 64 * kKiB, 200 * kKiB, 3 * kMiB};

TEST(ForeignPointer, FreeOfALibcBlockWorks) {
  for (std::size_t n : kForeignSizes) {
    for (int i = 0; i < 50; ++i) {
      void* p = __libc_malloc(n);
      ASSERT_NE(p, nullptr);
      fill_pattern(p, n, 1);
      free(p);
    }
  }
  // The libc heap is still sound: its own calls keep working.
  void* p = __libc_malloc(100);
  ASSERT_NE(p, nullptr);
  __libc_free(p);
}

TEST(ForeignPointer, UsableSizeOfALibcBlockCoversTheRequest) {
  for (std::size_t n : kForeignSizes) {
    void* p = __libc_malloc(n);
    ASSERT_NE(p, nullptr);
    const std::size_t usable = malloc_usable_size(p);
    EXPECT_GE(usable, n) << "__libc_malloc(" << n << ")";
    EXPECT_EQ(hkm_usable_size(p), usable);
    // glibc rounds a request up by less than a page, mmapped chunks to a page.
    EXPECT_LE(usable, n + 4096 + 32) << "__libc_malloc(" << n << ")";
    std::memset(p, 0xee, usable);
    free(p);
  }
}

TEST(ForeignPointer, ReallocOfALibcBlockKeepsItsContents) {
  for (std::size_t n : kForeignSizes) {
    for (std::size_t to : {std::size_t{1}, n / 2 + 1, n + 1, 2 * n + 100, 5 * kMiB}) {
      void* p = __libc_malloc(n);
      ASSERT_NE(p, nullptr);
      fill_pattern(p, n, 2);
      void* q = realloc(p, to);
      ASSERT_NE(q, nullptr) << n << " -> " << to;
      const std::size_t kept = n < to ? n : to;
      EXPECT_EQ(first_pattern_mismatch(q, kept, 2), kept) << n << " -> " << to;
      EXPECT_GE(malloc_usable_size(q), to);
      fill_pattern(q, to, 3);
      free(q);
    }
  }
}

TEST(ForeignPointer, ReallocOfALibcBlockToZeroFreesIt) {
  void* p = __libc_malloc(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(realloc(p, 0), nullptr);
}

TEST(ForeignPointer, AlignedAndZeroedLibcBlocksWork) {
  for (std::size_t alignment : {std::size_t{64}, std::size_t{4096}, std::size_t{64} * kKiB}) {
    void* p = __libc_memalign(alignment, 1000);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, alignment));
    EXPECT_GE(malloc_usable_size(p), 1000u);
    fill_pattern(p, 1000, 4);
    void* q = realloc(p, 50000);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(first_pattern_mismatch(q, 1000, 4), 1000u);
    free(q);
  }
  void* z = __libc_calloc(100, 10);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(first_byte_not(z, 1000, 0), 1000u);
  EXPECT_GE(malloc_usable_size(z), 1000u);
  free(z);
}

// A block glibc made on another thread lives in a non-main arena (a heap
// aligned to 64 MiB); it is foreign all the same.
TEST(ForeignPointer, LibcBlocksOfAnotherThreadsArenaWork) {
  void* blocks[4] = {};
  ASSERT_TRUE(run_on_new_thread(
      [](void* arg) -> void* {
        auto* b = static_cast<void**>(arg);
        const std::size_t sizes[4] = {40, 3000, 100000, 2 * 1024 * 1024};
        for (int i = 0; i < 4; ++i) {
          b[i] = __libc_malloc(sizes[i]);
          if (b[i] != nullptr) fill_pattern(b[i], sizes[i], 6);
        }
        return nullptr;
      },
      blocks));
  const std::size_t sizes[4] = {40, 3000, 100000, 2 * kMiB};
  for (int i = 0; i < 4; ++i) {
    ASSERT_NE(blocks[i], nullptr);
    EXPECT_GE(malloc_usable_size(blocks[i]), sizes[i]);
    void* q = realloc(blocks[i], sizes[i] + 10);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(first_pattern_mismatch(q, sizes[i], 6), sizes[i]);
    free(q);
  }
}

// Foreign blocks never enter hakmem's books.
TEST(ForeignPointer, LibcBlocksDoNotChangeHakmemsCounts) {
  void* p = __libc_malloc(500);
  ASSERT_NE(p, nullptr);
  const hkm_stats before = stats_now();
  free(p);
  const hkm_stats after = stats_now();
  EXPECT_EQ(after.frees, before.frees);
  EXPECT_EQ(after.live_blocks, before.live_blocks);
}

}  // namespace
}  // namespace hakmem::preload_test
