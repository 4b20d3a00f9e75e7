// Trim's purge of the pages inside a slab whose blocks are all free, and the
// return of those blocks, driven through the tiers' entry points on a heap
// of a thread of its own.
#include "tiers/slab_pages.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "residency.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {
namespace {

std::size_t first_byte_not(const void* p, std::size_t n, int value) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != static_cast<unsigned char>(value)) return i;
  }
  return n;
}

// Slabs of class c in heap h, and the blocks they have parked.
std::uint32_t parked_blocks(ThreadHeap& h, SizeClass c) {
  std::uint32_t n = 0;
  for (const Slab* s = h.class_state(c).partial.front(); s != nullptr; s = SlabList::next(s)) n += s->parked;
  return n;
}

class SlabPages : public ::testing::TestWithParam<std::size_t> {};

// Whether some small page of [p, p + size) is not resident.
bool some_page_purged(const void* p, std::size_t size) {
  const auto* b = static_cast<const char*>(p);
  for (std::size_t off = 0; off < size; off += kOsPageBytes) {
    if (!resident(b + off)) return true;
  }
  return !resident(b + size - 1);
}

// 96 KiB of blocks of one size (at least 64 blocks), one block per 16 KiB
// (or per 4 blocks, for big ones) staying live: trim purges each page that
// no live block reaches into, the live blocks keep their bytes, and the
// freed places are all handed out again, each once.
TEST_P(SlabPages, TrimParksPagesOfFreeBlocksAndTheyServeAgain) {
  const std::size_t size = GetParam();
  std::thread([size] {
    ThreadHeap& h = *attach_current_thread();
    const SizeClass c = class_of(size);
    const std::size_t count = std::max<std::size_t>(96 * 1024 / size, 64);
    const std::size_t window_bytes = std::max<std::size_t>(16 * 1024, 4 * size);
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
      void* p = allocate(size);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0x5c, size);
      blocks.push_back(p);
    }
    // The heap may be one an earlier test's thread left: its blocks need
    // not come in address order. Keep the lowest block of each 16 KiB.
    std::sort(blocks.begin(), blocks.end());
    std::vector<void*> live;
    std::uintptr_t window = ~std::uintptr_t{0};
    for (void* p : blocks) {
      const std::uintptr_t w = reinterpret_cast<std::uintptr_t>(p) / window_bytes;
      if (w != window) {
        live.push_back(p);
        window = w;
      } else {
        deallocate(p);
      }
    }
    h.flush_all();
    h.release_free_memory(true);
    ASSERT_TRUE(h.check_invariants());
    const std::uint32_t parked = parked_blocks(h, c);
    EXPECT_GT(parked, count / 4) << "pages without a live block are parked";
    // Each parked block lies on a purged page (one of the two a block may
    // overlap); the pages of the live blocks stay.
    std::size_t ours_parked = 0;
    for (void* p : blocks) {
      if (!block_is_parked(p)) continue;
      ++ours_parked;
      EXPECT_TRUE(some_page_purged(p, size)) << "parked, but its pages are resident";
    }
    EXPECT_GT(ours_parked, count / 4);
    for (void* p : live) {
      EXPECT_TRUE(resident(p));
      EXPECT_EQ(first_byte_not(p, size, 0x5c), size) << "a live block lost its bytes";
    }

    // Allocate until every parked block of ours is handed out again (the
    // heap serves other free blocks as it likes meanwhile): distinct
    // blocks, never a live one.
    std::set<void*> waiting;
    for (void* p : blocks) {
      if (block_is_parked(p)) waiting.insert(p);
    }
    EXPECT_GT(waiting.size(), 0u);
    std::set<void*> seen(live.begin(), live.end());
    std::vector<void*> again;
    while (!waiting.empty() && again.size() < 16 * count) {
      void* p = allocate(size);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(seen.insert(p).second) << "block handed out twice";
      std::memset(p, 0x6d, size);
      again.push_back(p);
      waiting.erase(p);
    }
    EXPECT_TRUE(waiting.empty()) << waiting.size() << " parked blocks never came back";
    EXPECT_EQ(parked_blocks(h, c), 0u);
    ASSERT_TRUE(h.check_invariants());
    for (void* p : live) EXPECT_EQ(first_byte_not(p, size, 0x5c), size);
    for (void* p : again) EXPECT_EQ(first_byte_not(p, size, 0x6d), size);
    for (void* p : again) deallocate(p);
    for (void* p : live) deallocate(p);
    h.flush_all();
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

// 64 B blocks tile the pages; 80 B and 3 KiB blocks straddle page
// boundaries, so a page goes only when the blocks reaching into it from
// either side are free too; 640 B blocks do both. Blocks of 6 KiB hold a
// page of their own and share others; 20 KiB blocks fill slabs of two
// units, and 48 KiB (large) ones slabs of several.
INSTANTIATE_TEST_SUITE_P(BlockSizes, SlabPages, ::testing::Values(64, 80, 640, 3072, 6144, 20480, 49152));

TEST(SlabPagesUnit, ASlabWithALiveBlockOnEveryPageParksNothing) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 256;
    std::vector<void*> blocks;
    for (int i = 0; i < 256; ++i) blocks.push_back(allocate(kSize));
    // Blocks of 256 B tile the pages: keep the lowest of ours on each page.
    std::sort(blocks.begin(), blocks.end());
    std::vector<void*> live;
    for (void* p : blocks) {
      if (live.empty() || reinterpret_cast<std::uintptr_t>(p) / kOsPageBytes !=
                              reinterpret_cast<std::uintptr_t>(live.back()) / kOsPageBytes) {
        live.push_back(p);
      } else {
        deallocate(p);
      }
    }
    h.flush_all();
    h.release_free_memory(true);
    // Pages none of our blocks share a slab with (an adopted heap's older
    // free blocks) may go; none of ours may.
    for (void* p : blocks) EXPECT_FALSE(block_is_parked(p));
    EXPECT_TRUE(h.check_invariants());
    for (void* p : live) deallocate(p);
  }).join();
}

TEST(SlabPagesUnit, AParkedBlockIsKnownAsOneFromAnyOfItsPages) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 3072;  // straddles: blocks 1 and 2 reach into page 1
    std::vector<void*> blocks;
    for (int i = 0; i < 64; ++i) blocks.push_back(allocate(kSize));
    for (int i = 1; i < 64; ++i) deallocate(blocks[i]);
    h.flush_all();
    h.release_free_memory(true);
    EXPECT_FALSE(block_is_parked(blocks[0]));
    std::size_t parked = 0;
    for (int i = 1; i < 64; ++i) parked += block_is_parked(blocks[i]) ? 1 : 0;
    EXPECT_EQ(parked, parked_blocks(h, class_of(kSize)));
    EXPECT_GT(parked, 0u);
    EXPECT_TRUE(h.check_invariants());
    deallocate(blocks[0]);
  }).join();
}

}  // namespace
}  // namespace hakmem::tiers
