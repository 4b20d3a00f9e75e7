// Mosaic slabs (mosaic.h): the holes of an idle class's sparse one-unit
// slabs serve the other tiny and mid classes. Each test runs on a thread of its own:
// it frees most of one class's blocks, lets the idle looks come round by
// working a large class (which never uses mosaics), then allocates another
// class and checks where its blocks went.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "purge_delay.h"
#include "residency.h"
#include "written_blocks.h"
#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "tiers/mosaic.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {
namespace {

constexpr std::size_t kSparseSize = 64;
constexpr std::size_t kSparseCount = 16 * 1024;  // 1 MiB: 16 slabs
constexpr std::size_t kOtherSize = 512;

// Bursts of a large class, bigger than its bin: refills and flushes, the
// slow-path events the idle looks count.
void let_looks_come_round() {
  std::vector<void*> burst(256);
  for (int b = 0; b < 200; ++b) {
    for (void*& p : burst) p = allocate(48 * 1024);
    for (void* p : burst) deallocate(p);
  }
}

// 16 slabs of 64-byte blocks with one in n kept (returned, in address
// order), then enough idle looks for their class to count as idle.
std::vector<void*> holes_of_an_idle_class(std::size_t n) {
  std::vector<void*> live = keep_one_in(n, allocate_written(kSparseSize, kSparseCount, 0x5c));
  let_looks_come_round();
  return live;
}

bool in_mosaic(const void* p) { return SuperSlab::unit_slab(p).size_class == kMosaicClass; }

std::size_t count_in_mosaics(const std::vector<void*>& blocks) {
  return static_cast<std::size_t>(std::count_if(blocks.begin(), blocks.end(), in_mosaic));
}

void free_all(ThreadHeap& h, const std::vector<void*>& blocks) {
  for (void* p : blocks) deallocate(p);
  h.flush_all();
}

TEST(Mosaic, AnIdleClassesSparseSlabsServeAnotherTinyClass) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::size_t mosaics_before = h.mosaic_count();
    const std::uint64_t made_before = h.mosaics_made.get();
    const std::vector<void*> live = holes_of_an_idle_class(10);
    ASSERT_EQ(live.size(), kSparseCount / 10 + 1);

    // About 900 KiB of holes: 1,000 blocks of 512 B fit in them.
    std::vector<void*> other = allocate_written(kOtherSize, 1000, 0x6d);
    ASSERT_EQ(other.size(), 1000u);
    EXPECT_GT(h.mosaics_made.get(), made_before);
    EXPECT_GT(count_in_mosaics(other), other.size() / 2) << "the holes of the idle class served no one";
    for (void* p : other) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kMinAlignment, 0u) << "not at malloc's alignment";
      EXPECT_EQ(usable_size(p), kOtherSize);
    }
    // Neither kind of block overlaps the other.
    for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c)) << "a survivor lost its bytes";
    for (void* p : other) EXPECT_TRUE(holds(p, kOtherSize, 0x6d));
    for (void* p : live) EXPECT_EQ(usable_size(p), kSparseSize);
    ASSERT_TRUE(h.check_invariants());

    // realloc of a mosaic block: in place while it fits, else moved and
    // the old one freed into its mosaic.
    const auto in = std::find_if(other.begin(), other.end(), in_mosaic);
    ASSERT_NE(in, other.end());
    void* p = *in;
    EXPECT_EQ(reallocate(p, 300), p);
    void* moved = reallocate(p, 4000);
    ASSERT_NE(moved, nullptr);
    EXPECT_TRUE(holds(moved, 300, 0x6d));
    *in = moved;
    EXPECT_TRUE(h.check_invariants());

    // Once every block is gone, so are the mosaics.
    free_all(h, other);
    free_all(h, live);
    EXPECT_EQ(h.mosaic_count(), mosaics_before);
    EXPECT_EQ(h.mosaics_released.get() - made_before, h.mosaics_made.get() - made_before);
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

// The sparse class, after the looks, allocates `blocks` blocks (freed at
// once), then 200 blocks of another class come; returns how many of the
// sparse class's survivors are in mosaics then, less those that already were.
std::size_t survivors_in_new_mosaics(std::size_t blocks) {
  ThreadHeap& h = *attach_current_thread();
  const std::vector<void*> live = keep_one_in(10, allocate_written(kSparseSize, kSparseCount, 0x5c));
  // (Some may have come from mosaics already there: a recycled heap's.)
  const std::size_t in_mosaics_before = count_in_mosaics(live);
  let_looks_come_round();
  const std::vector<void*> again = allocate_written(kSparseSize, blocks, 0x5d);
  free_all(h, again);
  const std::vector<void*> other = allocate_written(kOtherSize, 200, 0x6d);
  EXPECT_EQ(other.size(), 200u);
  const std::size_t moved = count_in_mosaics(live) - in_mosaics_before;
  for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c));
  for (void* p : other) EXPECT_TRUE(holds(p, kOtherSize, 0x6d));
  EXPECT_TRUE(h.check_invariants());
  free_all(h, other);
  free_all(h, live);
  EXPECT_TRUE(h.check_invariants());
  return moved;
}

TEST(Mosaic, AlignedAllocationPassesMisalignedBlocksByAndTheClassKeepsItsAlignmentFromThen) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::vector<void*> live = holes_of_an_idle_class(10);
    // malloc's blocks of 512 B fill the holes on any 16-byte boundary; the
    // cache holds more of them.
    std::vector<void*> loose = allocate_written(kOtherSize, 500, 0x6d);
    const auto misaligned = [](void* p) { return reinterpret_cast<std::uintptr_t>(p) % kOtherSize != 0; };
    ASSERT_GT(std::count_if(loose.begin(), loose.end(), misaligned), 100) << "the holes were cut at 512-byte steps";
    ASSERT_GT(h.cached_blocks(class_of(kOtherSize)), 0u);
    // Every aligned block is aligned, whatever the cache held; malloc's
    // blocks cut from then on are too.
    std::vector<void*> aligned;
    for (int i = 0; i < 300; ++i) {
      void* p = allocate_aligned(kOtherSize, kOtherSize);
      ASSERT_NE(p, nullptr);
      EXPECT_FALSE(misaligned(p));
      std::memset(p, 0x3a, kOtherSize);
      aligned.push_back(p);
    }
    std::vector<void*> after = allocate_written(kOtherSize, 500, 0x4e);
    EXPECT_EQ(std::count_if(after.begin(), after.end(), misaligned), 0);
    EXPECT_GT(count_in_mosaics(after), 0u) << "the aligned cut found no room in the holes";
    for (void* p : loose) EXPECT_TRUE(holds(p, kOtherSize, 0x6d));
    for (void* p : aligned) EXPECT_TRUE(holds(p, kOtherSize, 0x3a));
    for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c));
    ASSERT_TRUE(h.check_invariants());
    free_all(h, loose);
    free_all(h, aligned);
    free_all(h, after);
    free_all(h, live);
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

// The first aligned call of a class may find its cache empty: the refill
// then cuts the mosaic's holes on any 16-byte boundary, and the call must
// still return an aligned block (an empty cache once let such a refill's
// first block through).
TEST(Mosaic, AlignedAllocationFromAnEmptyCacheIsAlignedThoughARefillCutLoosely) {
  std::thread([] {
    constexpr std::size_t kAlignedSize = 256;  // a class no other test here aligns
    ThreadHeap& h = *attach_current_thread();
    const std::vector<void*> live = holes_of_an_idle_class(10);
    h.flush_all();
    ASSERT_EQ(h.cached_blocks(class_of(kAlignedSize)), 0u);
    const auto misaligned = [](void* p) { return reinterpret_cast<std::uintptr_t>(p) % kAlignedSize != 0; };
    std::vector<void*> aligned;
    for (int i = 0; i < 300; ++i) {
      void* p = allocate_aligned(kAlignedSize, kAlignedSize);
      ASSERT_NE(p, nullptr);
      EXPECT_FALSE(misaligned(p)) << i;
      std::memset(p, 0x2b, kAlignedSize);
      aligned.push_back(p);
    }
    EXPECT_GT(count_in_mosaics(aligned), 0u) << "no aligned block came from the holes";
    for (void* p : aligned) EXPECT_TRUE(holds(p, kAlignedSize, 0x2b));
    for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c));
    ASSERT_TRUE(h.check_invariants());
    free_all(h, aligned);
    free_all(h, live);
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

TEST(Mosaic, AClassInUseKeepsItsSlabs) {
  std::thread([] {
    // 5,000 blocks since the last look, against 16 slabs of 1,024 (and what
    // a recycled heap holds): in use.
    // (Other idle classes of this heap may have given their holes.)
    EXPECT_EQ(survivors_in_new_mosaics(5000), 0u) << "a slab of the class in use became a mosaic";
  }).join();
}

TEST(Mosaic, AQuietClassGivesTheSparseSlabsAtTheBackOfItsList) {
  std::thread([] {
    // One block since the last look: the class is not idle, but its 16
    // sparse slabs will not be reached for long.
    EXPECT_GT(survivors_in_new_mosaics(1), 0u) << "the quiet class kept all its sparse slabs";
  }).join();
}

TEST(Mosaic, BlocksFreedByAnotherThreadGoBackToTheirMosaic) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::size_t mosaics_before = h.mosaic_count();
    const std::vector<void*> live = holes_of_an_idle_class(10);
    std::vector<void*> other = allocate_written(kOtherSize, 1000, 0x6d);
    ASSERT_GT(count_in_mosaics(other), 0u);
    // Another thread frees them all, survivors included, and hands them
    // over when it exits.
    std::vector<void*> everything = other;
    everything.insert(everything.end(), live.begin(), live.end());
    std::thread([&everything] {
      for (void* p : everything) deallocate(p);
    }).join();
    h.drain_inbox();
    h.flush_all();
    EXPECT_EQ(h.mosaic_count(), mosaics_before) << "a mosaic kept blocks the other thread freed";
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

// Blocks of kOtherSize cut from the mosaics of an idle class with one
// survivor in 200 blocks of 64 B (pages of 64 blocks, some hold none), then
// freed: the mosaics keep only the survivors.
struct FreedFromMosaics {
  std::vector<void*> live;        // the survivors
  std::vector<void*> in_mosaics;  // the freed blocks that were in mosaics
  std::vector<void*> lone;        // those of them on a page with no survivor
};

FreedFromMosaics freed_from_mosaics(ThreadHeap& h) {
  FreedFromMosaics f;
  f.live = holes_of_an_idle_class(200);
  std::vector<void*> other = allocate_written(kOtherSize, 1500, 0x6d);
  for (void* p : other) {
    if (in_mosaic(p)) f.in_mosaics.push_back(p);
  }
  free_all(h, other);
  auto page_of = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{4095}; };
  for (void* p : f.in_mosaics) {
    if (std::none_of(f.live.begin(), f.live.end(), [&](void* q) { return page_of(q) == page_of(p); })) {
      f.lone.push_back(p);
    }
  }
  return f;
}

std::size_t count_resident(const std::vector<void*>& blocks) {
  return static_cast<std::size_t>(std::count_if(blocks.begin(), blocks.end(), [](void* p) { return resident(p); }));
}

// The purged pages serve again; then everything goes, mosaics included.
void purged_pages_serve_again(ThreadHeap& h, const std::vector<void*>& live, std::size_t mosaics_before) {
  std::vector<void*> again = allocate_written(kOtherSize, 1500, 0x7e);
  ASSERT_EQ(again.size(), 1500u);
  for (void* p : again) EXPECT_TRUE(holds(p, kOtherSize, 0x7e));
  for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c));
  ASSERT_TRUE(h.check_invariants());
  free_all(h, again);
  free_all(h, live);
  EXPECT_EQ(h.mosaic_count(), mosaics_before);
}

TEST(Mosaic, TrimPurgesTheMosaicPagesNoBlockHolds) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::size_t mosaics_before = h.mosaic_count();
    const FreedFromMosaics f = freed_from_mosaics(h);
    ASSERT_GT(f.in_mosaics.size(), 100u);
    ASSERT_GT(h.mosaic_count(), mosaics_before);
    trim();
    // The pages of the 512 B blocks that shared no page with a survivor
    // are gone; a survivor's page is not.
    EXPECT_GT(f.lone.size() - count_resident(f.lone), f.in_mosaics.size() / 4) << "trim kept the mosaics' free pages";
    for (void* p : f.live) EXPECT_TRUE(resident(p) && holds(p, kSparseSize, 0x5c));
    ASSERT_TRUE(h.check_invariants());
    purged_pages_serve_again(h, f.live, mosaics_before);
  }).join();
}

TEST(Mosaic, MidBlocksFitTheHolesAndAnIdleMidClassGivesItsOwn) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::size_t mosaics_before = h.mosaic_count();
    // One survivor in 100 blocks of 64 B leaves holes of about 6 KiB:
    // room for 2 KiB blocks.
    const std::vector<void*> live = holes_of_an_idle_class(100);
    constexpr std::size_t kMidSize = 2048;
    std::vector<void*> mid = allocate_written(kMidSize, 200, 0x6d);
    ASSERT_EQ(mid.size(), 200u);
    EXPECT_GT(count_in_mosaics(mid), mid.size() / 2) << "mid blocks found no room in the holes";
    for (void* p : mid) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kMinAlignment, 0u) << "not at malloc's alignment";
      EXPECT_EQ(usable_size(p), kMidSize);
    }
    // Aligned allocation of the class still gets its alignment.
    for (int i = 0; i < 50; ++i) {
      void* q = allocate_aligned(kMidSize, kMidSize);
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(q) % kMidSize, 0u) << "not at the alignment asked for";
      mid.push_back(q);
    }
    for (void* p : live) EXPECT_TRUE(holds(p, kSparseSize, 0x5c));
    ASSERT_TRUE(h.check_invariants());
    free_all(h, mid);

    // Now a mid class goes idle with one block in ten of its one-unit slabs
    // live: those slabs take 512 B blocks.
    const std::vector<void*> mid_live = keep_one_in(10, allocate_written(kMidSize, 32 * 16, 0x4b));
    let_looks_come_round();
    const std::uint64_t made_before = h.mosaics_made.get();
    std::vector<void*> other = allocate_written(kOtherSize, 3000, 0x7e);
    ASSERT_EQ(other.size(), 3000u);
    EXPECT_GT(h.mosaics_made.get(), made_before);
    const std::size_t with_mid_survivors = static_cast<std::size_t>(std::count_if(other.begin(), other.end(), [&](void* p) {
      return std::any_of(mid_live.begin(), mid_live.end(), [p](void* q) {
        return SuperSlab::of(p) == SuperSlab::of(q) && SuperSlab::of(p)->index_of(SuperSlab::unit_slab(p)) ==
                                                           SuperSlab::of(q)->index_of(SuperSlab::unit_slab(q));
      });
    }));
    EXPECT_GT(with_mid_survivors, 0u) << "no slab of the idle mid class became a mosaic";
    for (void* p : mid_live) EXPECT_TRUE(holds(p, kMidSize, 0x4b)) << "a mid survivor lost its bytes";
    for (void* p : other) EXPECT_TRUE(holds(p, kOtherSize, 0x7e));
    ASSERT_TRUE(h.check_invariants());
    free_all(h, other);
    free_all(h, mid_live);
    free_all(h, live);
    EXPECT_EQ(h.mosaic_count(), mosaics_before);
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

TEST(Mosaic, AQuietMosaicPurgesItsFreePagesWithoutATrim) {
  const ScopedPurgeDelay every_look(0);
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    const std::size_t mosaics_before = h.mosaic_count();
    const FreedFromMosaics f = freed_from_mosaics(h);
    ASSERT_GT(f.in_mosaics.size(), 100u);
    ASSERT_GT(f.lone.size(), f.in_mosaics.size() / 4);
    // Looks come round while no one uses the mosaics: their free pages go,
    // without a trim.
    let_looks_come_round();
    EXPECT_LT(count_resident(f.lone), f.lone.size() / 4) << "quiet mosaics kept their free pages";
    for (void* p : f.live) EXPECT_TRUE(resident(p) && holds(p, kSparseSize, 0x5c));
    ASSERT_TRUE(h.check_invariants());
    purged_pages_serve_again(h, f.live, mosaics_before);
  }).join();
}

}  // namespace
}  // namespace hakmem::tiers
