#include "tiers/node_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "os/pages.h"
#include "tiers/allocator.h"
#include "tiers/chunk_map.h"

namespace hakmem::tiers {
namespace {

ThreadHeap* const kOwner = reinterpret_cast<ThreadHeap*>(0x1000);

TEST(NodePool, NewSuperSlabsComeInGrowingBatches) {
  ensure_initialized();
  NodePool pool;
  pool.init(numa::NodeId{0});
  const std::uint64_t maps_before = os::os_stats().map_calls.get();
  std::vector<SuperSlab*> taken;
  for (int i = 0; i < 40; ++i) {
    SuperSlab* ss = pool.acquire(kOwner, Tier::kLarge);
    ASSERT_NE(ss, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ss) % kSuperSlabBytes, 0u);
    EXPECT_EQ(chunk_map().kind_of(ss), ChunkKind::kSuperSlab);
    EXPECT_TRUE(ss->all_units_free());
    taken.push_back(ss);
  }
  const std::uint64_t maps = os::os_stats().map_calls.get() - maps_before;
  // Each batch is as many SuperSlabs as the reserve has handed out (at
  // least 1): 1, 1, 2, 4, 8, 16, 32 cover 64 in seven mappings (each may
  // take a second mmap when the kernel's first answer is misaligned).
  EXPECT_LE(maps, 14u) << "not one mapping per SuperSlab";
  const NodePool::Stats s = pool.stats();
  EXPECT_EQ(s.superslabs_mapped, 40u);
  EXPECT_EQ(s.superslabs_reserved, 24u);

  for (SuperSlab* ss : taken) pool.release(ss);
  pool.decay(true);
  const NodePool::Stats after = pool.stats();
  EXPECT_EQ(after.superslabs_live, 0u);
  EXPECT_EQ(after.superslabs_reserved, 0u) << "a forced decay unmaps the reserve too";
  EXPECT_EQ(chunk_map().kind_of(taken.front()), ChunkKind::kForeign);
}

TEST(NodePool, SmallAndLargeBlocksHaveAReserveEach) {
  ensure_initialized();
  NodePool pool;
  pool.init(numa::NodeId{0});
  std::vector<SuperSlab*> dense;
  for (int i = 0; i < 4; ++i) dense.push_back(pool.acquire(kOwner, Tier::kTiny));
  // Dense batches 1, 1, 2: the reserve is empty after the fourth.
  EXPECT_EQ(pool.stats().superslabs_reserved, 0u);
  const std::uint64_t maps_before = os::os_stats().map_calls.get();
  SuperSlab* sparse = pool.acquire(kOwner, Tier::kLarge);
  ASSERT_NE(sparse, nullptr);
  EXPECT_GE(os::os_stats().map_calls.get() - maps_before, 1u) << "the sparse reserve maps its own first batch";
  // Its batch is sized by its own count (1), not by the dense SuperSlabs.
  EXPECT_EQ(pool.stats().superslabs_reserved, 0u);
  SuperSlab* next_dense = pool.acquire(kOwner, Tier::kTiny);
  ASSERT_NE(next_dense, nullptr);
  EXPECT_EQ(pool.stats().superslabs_reserved, 3u) << "the fifth dense SuperSlab starts a batch of 4";
  for (SuperSlab* ss : dense) {
    ASSERT_NE(ss, nullptr);
    EXPECT_NE(ss, sparse);
    pool.release(ss);
  }
  pool.release(sparse);
  pool.release(next_dense);
  pool.decay(true);
  EXPECT_EQ(pool.stats().superslabs_reserved, 0u);
  EXPECT_EQ(pool.stats().superslabs_live, 0u);
}

TEST(NodePool, ReleasedSuperSlabsAreReusedBeforeTheReserve) {
  ensure_initialized();
  NodePool pool;
  pool.init(numa::NodeId{0});
  SuperSlab* a = pool.acquire(kOwner, Tier::kLarge);
  ASSERT_NE(a, nullptr);
  pool.release(a);
  EXPECT_EQ(pool.acquire(kOwner, Tier::kLarge), a);
  pool.release(a);
  pool.decay(true);
}

}  // namespace
TEST(NodePool, AutoAdvisesHugePagesForMidBlocksFromHalfTheHeapTinyOnesNeed) {
  using os::HugePagePolicy;
  constexpr std::uint64_t MiB = std::uint64_t{1} << 20;
  const auto at = [](Tier tier, std::uint64_t mapped, std::uint64_t reserved = 0) {
    return wants_thp_at(HugePagePolicy::kAuto, tier, mapped, reserved);
  };
  EXPECT_FALSE(at(Tier::kMid, 15 * MiB));
  EXPECT_TRUE(at(Tier::kMid, 16 * MiB));
  EXPECT_FALSE(at(Tier::kTiny, 31 * MiB));
  EXPECT_TRUE(at(Tier::kTiny, 32 * MiB));
  EXPECT_FALSE(at(Tier::kLarge, 1024 * MiB)) << "large blocks are often touched sparsely";
  EXPECT_FALSE(at(Tier::kMid, 40 * MiB, 30 * MiB)) << "untouched reserves do not count";
  EXPECT_FALSE(at(Tier::kMid, 10 * MiB, 20 * MiB)) << "a difference that would be negative";
  EXPECT_TRUE(wants_thp_at(HugePagePolicy::kThp, Tier::kLarge, 0, 0));
  EXPECT_TRUE(wants_thp_at(HugePagePolicy::kHugetlb, Tier::kTiny, 0, 0)) << "the fallback when the pool runs dry";
  EXPECT_FALSE(wants_thp_at(HugePagePolicy::kOff, Tier::kMid, 1024 * MiB, 0));
}

}  // namespace hakmem::tiers
