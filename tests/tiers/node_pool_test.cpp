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
    SuperSlab* ss = pool.acquire(kOwner, false);
    ASSERT_NE(ss, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ss) % kSuperSlabBytes, 0u);
    EXPECT_EQ(chunk_map().kind_of(ss), ChunkKind::kSuperSlab);
    EXPECT_TRUE(ss->all_units_free());
    taken.push_back(ss);
  }
  const std::uint64_t maps = os::os_stats().map_calls.get() - maps_before;
  // Each batch is half the SuperSlabs handed out so far (at least 1):
  // 1, 1, 1, 1, 2, 3, 4, 6, 9, 14 cover 42 in ten mappings (each may take
  // a second mmap when the kernel's first answer is misaligned).
  EXPECT_LE(maps, 20u) << "not one mapping per SuperSlab";
  const NodePool::Stats s = pool.stats();
  EXPECT_EQ(s.superslabs_mapped, 40u);
  EXPECT_EQ(s.superslabs_reserved, 2u);

  for (SuperSlab* ss : taken) pool.release(ss);
  pool.decay(true);
  const NodePool::Stats after = pool.stats();
  EXPECT_EQ(after.superslabs_live, 0u);
  EXPECT_EQ(after.superslabs_reserved, 0u) << "a forced decay unmaps the reserve too";
  EXPECT_EQ(chunk_map().kind_of(taken.front()), ChunkKind::kForeign);
}

TEST(NodePool, ReleasedSuperSlabsAreReusedBeforeTheReserve) {
  ensure_initialized();
  NodePool pool;
  pool.init(numa::NodeId{0});
  SuperSlab* a = pool.acquire(kOwner, false);
  ASSERT_NE(a, nullptr);
  pool.release(a);
  EXPECT_EQ(pool.acquire(kOwner, false), a);
  pool.release(a);
  pool.decay(true);
}

}  // namespace
}  // namespace hakmem::tiers
