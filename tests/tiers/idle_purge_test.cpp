// The pages an idle class gives back while the program runs (ThreadHeap's
// idle look, thread_heap.h): no trim call anywhere here. Each test runs on a
// thread of its own, frees most of one class's blocks, then works another
// class until the idle looks have come round, and checks which pages went.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <cstring>
#include <thread>
#include <vector>

#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "tiers/slab_pages.h"
#include "purge_delay.h"
#include "residency.h"
#include "written_blocks.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {
namespace {

// `count` written blocks of `size`, every n-th of them (by address) kept
// live and the rest freed.
struct SparseBlocks {
  std::vector<void*> all;   // in address order
  std::vector<void*> live;  // in address order
};
SparseBlocks make_sparse(std::size_t size, std::size_t count, std::size_t n) {
  SparseBlocks b;
  b.all = allocate_written(size, count, 0x5c);
  std::sort(b.all.begin(), b.all.end());
  if (b.all.size() == count) b.live = keep_one_in(n, b.all);
  return b;
}

// The live blocks still hold their bytes and the heap its invariants; then
// they are freed.
void check_and_free(ThreadHeap& h, const std::vector<void*>& live, std::size_t size) {
  for (void* p : live) EXPECT_TRUE(holds(p, size, 0x5c)) << "a live block lost its bytes";
  EXPECT_TRUE(h.check_invariants());
  for (void* p : live) deallocate(p);
  h.flush_all();
}

// Bursts of another class, each bigger than its bin can hold, so that every
// burst refills and flushes: the slow-path events the idle looks count.
void work_another_class(std::size_t size, int bursts) {
  std::vector<void*> burst(256);
  for (int b = 0; b < bursts; ++b) {
    for (void*& p : burst) p = allocate(size);
    for (void* p : burst) deallocate(p);
  }
}

// Blocks of a large class: mosaics never hold them, so working it leaves
// the idle class's slabs as they are.
constexpr std::size_t kOtherSize = 48 * 1024;

// Some ten idle looks' worth of events (a burst of 256 blocks of 48 KiB,
// six times what their bin may hold, refills and flushes a dozen times).
constexpr int kEnoughBursts = 200;

TEST(IdlePurge, AnIdleClassParksThePagesOfItsFreeBlocks) {
  const ScopedPurgeDelay every_look(0);
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 640;
    const SparseBlocks b = make_sparse(kSize, 4096, 10);  // 2.5 MiB
    ASSERT_EQ(b.all.size(), 4096u);
    work_another_class(kOtherSize, kEnoughBursts);

    std::size_t parked = 0;
    for (void* p : b.all) {
      if (!block_is_parked(p)) continue;
      ++parked;
      EXPECT_FALSE(resident(p) && resident(static_cast<char*>(p) + kSize - 1)) << "parked, but its pages are resident";
    }
    // 640 B blocks, one in ten live: about 6 blocks reach into each page,
    // so some 40% of the freed blocks lie on pages with no live block.
    EXPECT_GT(parked, b.all.size() / 5) << "the idle class kept its pages";
    for (void* p : b.live) EXPECT_FALSE(block_is_parked(p));
    for (void* p : b.live) EXPECT_TRUE(holds(p, kSize, 0x5c)) << "a live block lost its bytes";
    ASSERT_TRUE(h.check_invariants());
    // The class serves again from its parked blocks once its free list is
    // dry; every block handed out is distinct from the live ones.
    std::vector<void*> again = allocate_written(kSize, b.all.size() - b.live.size(), 0x6d);
    ASSERT_EQ(again.size(), b.all.size() - b.live.size());
    for (void* p : again) EXPECT_FALSE(std::binary_search(b.live.begin(), b.live.end(), p));
    ASSERT_TRUE(h.check_invariants());
    for (void* p : again) deallocate(p);
    check_and_free(h, b.live, kSize);
    ASSERT_TRUE(h.check_invariants());
  }).join();
}

TEST(IdlePurge, AnIdleClassOfBigBlocksPurgesThePagesInsideThem) {
  const ScopedPurgeDelay every_look(0);
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 20 * 1024;
    const SparseBlocks b = make_sparse(kSize, 512, 10);  // 10 MiB
    ASSERT_EQ(b.all.size(), 512u);
    work_another_class(kOtherSize, kEnoughBursts);

    // The page after a freed block's first 16 bytes lies wholly inside it
    // (20 KiB blocks hold 4 such pages): gone, for most of the freed blocks
    // of the slabs that still hold a live one. (A slab left empty goes back
    // to its SuperSlab's free units, which trim and the node pool purge.)
    std::size_t freed = 0;
    std::size_t purged = 0;
    for (void* p : b.all) {
      if (std::binary_search(b.live.begin(), b.live.end(), p)) continue;
      if (SuperSlab::head_slab(p).state != Slab::State::kHead) continue;
      ++freed;
      const auto inner = (reinterpret_cast<std::uintptr_t>(p) + 16 + kOsPageBytes - 1) & ~(std::uintptr_t{kOsPageBytes} - 1);
      if (!resident(reinterpret_cast<void*>(inner))) ++purged;
    }
    EXPECT_GT(freed, 100u) << "most slabs keep a live block";
    EXPECT_GT(purged, freed / 2) << purged << " of " << freed << " freed blocks lost their inner pages";
    ASSERT_TRUE(h.check_invariants());
    check_and_free(h, b.live, kSize);
  }).join();
}

// More blocks than one look may scan (ThreadHeap::kIdlePurgeBlocksPerLook):
// the purge resumes at the next looks and reaches every slab.
TEST(IdlePurge, AnIdleClassWithMoreSlabsThanALookScansIsPurgedOverSeveralLooks) {
  const ScopedPurgeDelay every_look(0);
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 64;
    const std::size_t count = 4 * ThreadHeap::kIdlePurgeBlocksPerLook;
    // One in a hundred live: sparse enough that a page of 64 blocks is
    // often wholly free.
    const SparseBlocks b = make_sparse(kSize, count, 100);
    ASSERT_EQ(b.all.size(), count);
    work_another_class(kOtherSize, 4 * kEnoughBursts);
    // Parked blocks in the first and in the last quarter of the blocks, by
    // address: the purge went past the first look's budget.
    std::size_t parked_low = 0;
    std::size_t parked_high = 0;
    for (std::size_t i = 0; i < b.all.size(); ++i) {
      if (!block_is_parked(b.all[i])) continue;
      if (i < b.all.size() / 4) ++parked_low;
      if (i >= b.all.size() * 3 / 4) ++parked_high;
    }
    EXPECT_GT(parked_low, b.all.size() / 16);
    EXPECT_GT(parked_high, b.all.size() / 16);
    ASSERT_TRUE(h.check_invariants());
    check_and_free(h, b.live, kSize);
  }).join();
}

// How many of the freed blocks lie on parked pages.
std::size_t count_parked(const std::vector<void*>& blocks) {
  return static_cast<std::size_t>(std::count_if(blocks.begin(), blocks.end(), block_is_parked));
}

TEST(IdlePurge, AClassIdleForLessThanThePurgeDelayKeepsItsPages) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 640;
    std::vector<void*> freed;
    {
      // Many idle looks, all within a delay no test outlasts: the class
      // goes idle, but its pages stay, as a program whose size mix shifts
      // back within the delay finds them.
      const ScopedPurgeDelay long_delay(600'000);
      const SparseBlocks b = make_sparse(kSize, 4096, 10);
      ASSERT_EQ(b.all.size(), 4096u);
      std::set_difference(b.all.begin(), b.all.end(), b.live.begin(), b.live.end(), std::back_inserter(freed));
      work_another_class(kOtherSize, 4 * kEnoughBursts);
      EXPECT_EQ(count_parked(freed), 0u) << "purged before the delay was over";
      ASSERT_TRUE(h.check_invariants());

      // Once the delay has passed twice over a purge look's spacing, the
      // next looks purge: sleeps longer than half the delay between bursts
      // make each burst's first look a purge look.
      const ScopedPurgeDelay short_delay(100);
      for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        work_another_class(kOtherSize, kEnoughBursts);
      }
      EXPECT_GT(count_parked(freed), freed.size() / 4) << "the delay passed, but the idle class kept its pages";
      for (void* p : b.live) EXPECT_FALSE(block_is_parked(p));
      check_and_free(h, b.live, kSize);
    }
  }).join();
}

TEST(IdlePurge, AClassInUseKeepsItsPages) {
  const ScopedPurgeDelay every_look(0);
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    constexpr std::size_t kSize = 640;
    const SparseBlocks b = make_sparse(kSize, 4096, 10);
    ASSERT_EQ(b.all.size(), 4096u);
    // The same bursts, but the class of the sparse slabs takes part in
    // each: it is never idle, so nothing of it is purged.
    for (int burst = 0; burst < kEnoughBursts; ++burst) {
      void* p = allocate(kSize);
      ASSERT_NE(p, nullptr);
      work_another_class(kOtherSize, 1);
      deallocate(p);
    }
    std::size_t parked = 0;
    for (void* p : b.all) parked += block_is_parked(p) ? 1 : 0;
    EXPECT_EQ(parked, 0u) << "a class in use gave pages back";
    ASSERT_TRUE(h.check_invariants());
    check_and_free(h, b.live, kSize);
  }).join();
}

}  // namespace
}  // namespace hakmem::tiers
