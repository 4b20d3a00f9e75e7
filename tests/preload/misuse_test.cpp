// Misuse that the checked library (libhakmem_checked.so) must catch: double
// frees and frees of pointers that are not the start of a block, in every
// state a block can be in (deep in a thread cache, purged, in a mosaic).
// Each death test runs the misuse in a child process and expects it to die
// of SIGABRT with the report from report_misuse() (src/tiers/allocator.cpp)
// on stderr. Built into the checked binary only: tests/misuse holds the
// cases the release library catches too, against glibc's.
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>

#include "preload_test_util.h"

#if HAKMEM_PRELOAD_TEST_CHECKED

// Using a pointer after freeing it is what these tests are about.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

namespace hakmem::preload_test {
namespace {

// Through a volatile, so that the compiler sees neither the double free
// nor the interior pointer and emits the calls as written.
void* opaque_pointer(void* p) {
  void* volatile v = p;
  return v;
}

class CheckedMisuse : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(CheckedMisuse, DoubleFreeOfASmallBlockAborts) {
  EXPECT_EXIT(
      {
        void* p = malloc(64);
        free(p);
        free(opaque_pointer(p));
      },
      ::testing::KilledBySignal(SIGABRT), "hakmem: double free of 0x[0-9a-f]+");
}

// The smallest requests share the 16-byte class, whose blocks have room for
// the freed mark.
TEST_F(CheckedMisuse, DoubleFreeOfAnEightByteBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(8);
        free(p);
        free(opaque_pointer(p));
      },
      "double free");
}

TEST_F(CheckedMisuse, DoubleFreeOfAMidAndALargeBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(5000);
        free(p);
        free(opaque_pointer(p));
      },
      "double free");
  EXPECT_DEATH(
      {
        void* p = malloc(200000);
        free(p);
        free(opaque_pointer(p));
      },
      "double free");
}

// The second free comes after other blocks of the class were allocated and
// freed, so the block is no longer at the head of the thread cache.
TEST_F(CheckedMisuse, DoubleFreeOfABlockDeepInTheCacheAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(100);
        void* others[8];
        for (void*& o : others) o = malloc(100);
        free(p);
        for (void* o : others) free(o);
        free(opaque_pointer(p));
      },
      "double free");
}

// After malloc_trim the freed block's page is purged and the block parked
// off its slab's free list (src/tiers/slab_pages.h): its freed-block mark
// went with the page, and the slab's record of purged pages must catch it.
TEST_F(CheckedMisuse, DoubleFreeOfABlockWhosePageTrimPurgedAborts) {
  EXPECT_DEATH(
      {
        // 512 blocks of 64 B fill 8 pages; one stays live so the slab does
        // not empty and go back whole.
        void* blocks[512];
        for (void*& b : blocks) b = malloc(64);
        for (int i = 1; i < 512; ++i) free(blocks[i]);
        malloc_trim(0);
        free(opaque_pointer(blocks[300]));
      },
      "double free");
}

// A block cut from a mosaic slab (src/tiers/mosaic.h): the holes of an idle
// class's sparse slabs serving another class. Its map says which granules
// start a live block.
void* block_in_a_mosaic() {
  // 16 Ki blocks of 64 B, one in ten kept: 16 sparse slabs of an idle class.
  static void* small[16 * 1024];
  for (void*& b : small) b = malloc(64);
  for (int i = 0; i < 16 * 1024; ++i) {
    if (i % 10 != 0) free(small[i]);
  }
  // Slow-path events of a mid class, so that the idle looks come round.
  static void* burst[256];
  for (int round = 0; round < 200; ++round) {
    for (void*& b : burst) b = malloc(16 * 1024);
    for (void* b : burst) free(b);
  }
  // The first 512 B block that lies in a 64 KiB unit of the 64 B blocks.
  for (int i = 0; i < 4096; ++i) {
    void* p = malloc(512);
    for (int k = 0; k < 16 * 1024; k += 10) {
      if ((reinterpret_cast<std::uintptr_t>(p) >> 16) == (reinterpret_cast<std::uintptr_t>(small[k]) >> 16)) return p;
    }
  }
  return nullptr;
}

TEST_F(CheckedMisuse, DoubleFreeOfAMosaicBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = block_in_a_mosaic();
        if (p != nullptr) {
          free(p);
          free(opaque_pointer(p));
        }
      },
      "double free");
}

TEST_F(CheckedMisuse, FreeOfAnInteriorPointerOfAMosaicBlockAborts) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(block_in_a_mosaic());
        if (p != nullptr) free(opaque_pointer(p + 64));
      },
      "invalid free \\(not the start of a block\\)");
}

TEST_F(CheckedMisuse, DoubleFreeThroughDeleteAborts) {
  EXPECT_DEATH(
      {
        auto* p = new long[10];
        delete[] p;
        delete[] static_cast<long*>(opaque_pointer(p));
      },
      "double free");
}

TEST_F(CheckedMisuse, FreeOfAnInteriorPointerAborts) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(malloc(64));
        free(opaque_pointer(p + 16));
      },
      "invalid free");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(malloc(20000));
        free(opaque_pointer(p + 8));
      },
      "invalid free");
}

TEST_F(CheckedMisuse, DoubleFreeOfAHugeBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(8 * 1024 * 1024);
        free(p);
        free(opaque_pointer(p));
      },
      "invalid or double free");
}

TEST_F(CheckedMisuse, FreeOfAnInteriorPointerOfAHugeBlockAborts) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(malloc(8 * 1024 * 1024));
        free(opaque_pointer(p + 4096));
      },
      "invalid or double free");
}

TEST_F(CheckedMisuse, ReallocOfAFreedHugeBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(8 * 1024 * 1024);
        free(p);
        escape(realloc(opaque_pointer(p), 9 * 1024 * 1024));
      },
      "realloc of a freed pointer");
}

// A freed small block that realloc would move: the move frees it a second
// time, which is reported.
TEST_F(CheckedMisuse, ReallocOfAFreedSmallBlockThatMustMoveAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(100);
        free(p);
        escape(realloc(opaque_pointer(p), 5000));
      },
      "realloc of a freed pointer|double free");
}

// A new size that fits the freed block: realloc would hand the block back
// as it is, while it also sits in the thread cache.
TEST_F(CheckedMisuse, ReallocOfAFreedSmallBlockInPlaceAborts) {
  EXPECT_DEATH(
      {
        void* p = malloc(100);
        free(p);
        escape(realloc(opaque_pointer(p), 100));
      },
      "realloc of a freed pointer|double free");
}

// Correct use right next to the misuse cases: a checked build must not
// report anything for a free of a block that was freed, reused and freed.
TEST_F(CheckedMisuse, FreeOfAReusedBlockIsNotReported) {
  for (int i = 0; i < 1000; ++i) {
    void* p = malloc(64);
    ASSERT_NE(p, nullptr);
    free(p);
  }
  void* p = malloc(64);
  free(p);
  void* q = malloc(64);  // most likely p again
  ASSERT_NE(q, nullptr);
  free(q);
}

}  // namespace
}  // namespace hakmem::preload_test

#endif  // HAKMEM_PRELOAD_TEST_CHECKED
