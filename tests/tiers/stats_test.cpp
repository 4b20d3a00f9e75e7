#include "tiers/stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tiers/allocator.h"

namespace hakmem::tiers {
namespace {

TEST(Stats, AllocationsMinusFreesIsLiveBlocks) {
  Snapshot before;
  take_snapshot(&before);
  std::vector<void*> kept;
  std::thread([&] {
    std::vector<void*> freed;
    for (int i = 0; i < 30000; ++i) {
      const std::size_t n = static_cast<std::size_t>(i % 3000) + 1;
      (i % 3 == 0 ? kept : freed).push_back(allocate(n));
    }
    kept.push_back(allocate(3 << 20));  // one huge block
    for (void* p : freed) deallocate(p);
  }).join();
  Snapshot after;
  take_snapshot(&after);
  std::uint64_t live_before = 0;
  std::uint64_t live_after = 0;
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  for (unsigned t = 0; t < kTierCount; ++t) {
    live_before += before.tiers[t].live_blocks;
    live_after += after.tiers[t].live_blocks;
    allocs += after.tiers[t].allocations - before.tiers[t].allocations;
    frees += after.tiers[t].frees - before.tiers[t].frees;
    EXPECT_EQ(after.tiers[t].allocations - after.tiers[t].frees, after.tiers[t].live_blocks);
  }
  EXPECT_EQ(allocs, 30001u);
  EXPECT_EQ(frees, 20000u);
  EXPECT_EQ(live_after - live_before, kept.size());
  // The worker has exited; its heap is idle and may be adopted by the next
  // thread, whose frees of those blocks are then local. Free them here.
  for (void* p : kept) deallocate(p);
  Snapshot end;
  take_snapshot(&end);
  std::uint64_t live_end = 0;
  for (unsigned t = 0; t < kTierCount; ++t) live_end += end.tiers[t].live_blocks;
  EXPECT_EQ(live_end, live_before);
}

TEST(Stats, FreesByAnotherThreadAreRemoteFrees) {
  std::vector<void*> blocks;
  for (int i = 0; i < 10000; ++i) blocks.push_back(allocate(64));
  Snapshot before;
  take_snapshot(&before);
  // The main thread keeps running, so its heap stays its own: every free
  // below is remote.
  std::thread([&] {
    for (void* p : blocks) deallocate(p);
  }).join();
  Snapshot after;
  take_snapshot(&after);
  const auto tiny = static_cast<unsigned>(Tier::kTiny);
  EXPECT_EQ(after.tiers[tiny].remote_frees - before.tiers[tiny].remote_frees, blocks.size());
  EXPECT_EQ(after.tiers[tiny].frees - before.tiers[tiny].frees, blocks.size());
  EXPECT_EQ(before.tiers[tiny].live_blocks - after.tiers[tiny].live_blocks, blocks.size());
}

}  // namespace
}  // namespace hakmem::tiers
