// The free units of a heap's SuperSlabs keep their pages until they have
// been free for the purge delay, then a purge look gives them back
// (ThreadHeap::purge_long_free_units). The test runs on a thread of its
// own, with blocks of a large class (a slab each).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "purge_delay.h"
#include "residency.h"
#include "written_blocks.h"
#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {
namespace {

constexpr std::size_t kBlock = 128 * 1024;

std::size_t resident_pages(const std::vector<void*>& blocks, std::size_t size) {
  std::size_t n = 0;
  for (void* p : blocks) {
    for (std::size_t off = 0; off < size; off += kOsPageBytes) n += resident(static_cast<char*>(p) + off) ? 1 : 0;
  }
  return n;
}

void free_all(ThreadHeap& h, const std::vector<void*>& blocks) {
  for (void* p : blocks) deallocate(p);
  h.flush_all();
}

// Frees nine in ten of `count` written blocks (the survivors keep each
// SuperSlab in the heap); returns {survivors, freed}.
std::pair<std::vector<void*>, std::vector<void*>> free_most(std::size_t count) {
  std::vector<void*> all = allocate_written(kBlock, count, 0x3c);
  EXPECT_EQ(all.size(), count);
  std::sort(all.begin(), all.end());
  std::vector<void*> live, freed;
  for (std::size_t i = 0; i < all.size(); ++i) (i % 10 == 0 ? live : freed).push_back(all[i]);
  for (void* p : freed) deallocate(p);
  t_heap->flush_all();
  return {live, freed};
}

// Bursts of a tiny class, each bigger than its bin: slow-path events that
// bring the heap's looks round without taking a unit.
void let_looks_come_round() {
  std::vector<void*> burst(8192);
  for (int b = 0; b < 100; ++b) {
    for (void*& p : burst) p = allocate(32);
    for (void* p : burst) deallocate(p);
  }
}

TEST(FreeUnitsPurge, FreeUnitsKeepTheirPagesForThePurgeDelayThenGiveThemBack) {
  std::thread([] {
    ThreadHeap& h = *attach_current_thread();
    trim();
    {
      const ScopedPurgeDelay long_delay(600'000);
      const std::uint64_t purged_before = h.dirty_units_purged.get();
      // 48 MiB of blocks, 43 MiB of them freed at once.
      const auto [live, freed] = free_most(384);
      let_looks_come_round();
      EXPECT_EQ(h.dirty_units_purged.get(), purged_before);
      EXPECT_EQ(resident_pages(freed, kBlock), freed.size() * (kBlock / kOsPageBytes))
          << "a free unit was purged before the delay was over";

      // Sleeps longer than half the delay make each round's first look a
      // purge look; a unit free across two of them is due.
      const ScopedPurgeDelay short_delay(100);
      for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        let_looks_come_round();
      }
      EXPECT_GT(h.dirty_units_purged.get(), purged_before) << "the purge was not counted";
      EXPECT_LT(resident_pages(freed, kBlock), freed.size() * (kBlock / kOsPageBytes) / 10)
          << "free units kept their pages past the delay";
      for (void* p : live) EXPECT_TRUE(holds(p, kBlock, 0x3c)) << "a live block lost its bytes";
      ASSERT_TRUE(h.check_invariants());
      // The purged units serve again.
      std::vector<void*> again = allocate_written(kBlock, freed.size(), 0x4d);
      ASSERT_EQ(again.size(), freed.size());
      for (void* p : again) EXPECT_TRUE(holds(p, kBlock, 0x4d));
      free_all(h, again);
      free_all(h, live);
      ASSERT_TRUE(h.check_invariants());
    }
  }).join();
}

}  // namespace
}  // namespace hakmem::tiers
