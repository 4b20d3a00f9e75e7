#include "tiers/node_pool.h"

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "os/pages.h"
#include "os/purge_batch.h"
#include "tiers/allocator.h"
#include "tiers/chunk_map.h"
#include "tiers/size_classes.h"
#include "purge_delay.h"

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

// SuperSlabs whose delay ran out together are purged together: one batch,
// one submission where io_uring is up, and none is reused before its purge.
TEST(NodePool, ExpiredSuperSlabsArePurgedInOneBatch) {
  std::optional<ScopedPurgeDelay> delay(std::in_place, 3'600'000);
  NodePool pool;
  pool.init(numa::NodeId{0});
  constexpr unsigned kCount = 40;
  std::vector<SuperSlab*> taken;
  for (unsigned i = 0; i < kCount; ++i) {
    SuperSlab* ss = pool.acquire(kOwner, Tier::kLarge);
    ASSERT_NE(ss, nullptr);
    std::memset(ss->purgeable_begin(0), 0x5a, 64 * 1024);
    taken.push_back(ss);
  }
  for (SuperSlab* ss : taken) pool.release(ss);
  EXPECT_EQ(pool.stats().superslabs_dirty, kCount);

  delay.emplace(0);
  const os::PurgeBatchStats before = os::purge_batch_stats();
  pool.decay(false);
  const os::PurgeBatchStats after = os::purge_batch_stats();
  if (os::purge_uring_ready()) {
    EXPECT_EQ(after.uring_submits - before.uring_submits, 1u);
    EXPECT_EQ(after.uring_ranges - before.uring_ranges, kCount);
  } else {
    EXPECT_EQ(after.madvise_ranges - before.madvise_ranges, kCount);
  }
  const NodePool::Stats s = pool.stats();
  EXPECT_EQ(s.superslabs_dirty, 0u);
  EXPECT_EQ(s.superslabs_clean, kCount);
  EXPECT_EQ(s.superslabs_purged, kCount);
  for (SuperSlab* ss : taken) EXPECT_EQ(os::resident_pages(ss->purgeable_begin(0), 64 * 1024), 0);
  SuperSlab* again = pool.acquire(kOwner, Tier::kLarge);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(static_cast<void*>(again->purgeable_begin(0)))[100], 0u)
      << "a purged SuperSlab reads as zero";
  pool.release(again);
  pool.decay(true);
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
TEST(NodePool, AutoAdvisesHugePagesForTinyBlocksOnlyOnceTheHeapHolds32MiB) {
  using os::HugePagePolicy;
  constexpr std::uint64_t MiB = std::uint64_t{1} << 20;
  const auto at = [](Tier tier, std::uint64_t mapped, std::uint64_t reserved = 0) {
    return wants_thp_at(HugePagePolicy::kAuto, tier, mapped, reserved);
  };
  EXPECT_FALSE(at(Tier::kTiny, 31 * MiB));
  EXPECT_TRUE(at(Tier::kTiny, 32 * MiB));
  EXPECT_FALSE(at(Tier::kMid, 16 * MiB)) << "mid blocks are often touched sparsely";
  EXPECT_FALSE(at(Tier::kMid, 1024 * MiB)) << "mid blocks are often touched sparsely";
  EXPECT_FALSE(at(Tier::kLarge, 1024 * MiB)) << "large blocks are often touched sparsely";
  EXPECT_FALSE(at(Tier::kTiny, 50 * MiB, 30 * MiB)) << "untouched reserves do not count";
  EXPECT_FALSE(at(Tier::kTiny, 10 * MiB, 20 * MiB)) << "a difference that would be negative";
  EXPECT_TRUE(wants_thp_at(HugePagePolicy::kThp, Tier::kLarge, 0, 0));
  EXPECT_TRUE(wants_thp_at(HugePagePolicy::kHugetlb, Tier::kTiny, 0, 0)) << "the fallback when the pool runs dry";
  EXPECT_FALSE(wants_thp_at(HugePagePolicy::kOff, Tier::kMid, 1024 * MiB, 0));
}

namespace {

// Whether this kernel makes a populated, aligned 2 MiB range of a private
// mapping huge pages on request: the answer the allocator must follow.
bool kernel_collapses() {
  void* raw = mmap(nullptr, 2 * kSuperSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return false;
  char* p = reinterpret_cast<char*>(align_up(reinterpret_cast<std::uintptr_t>(raw), kSuperSlabBytes));
  std::memset(p, 1, kSuperSlabBytes);
  const bool ok = madvise(p, kSuperSlabBytes, 25 /* MADV_COLLAPSE */) == 0;
  munmap(raw, 2 * kSuperSlabBytes);
  return ok;
}

// AnonHugePages of the mapping that holds p, in KiB (/proc/self/smaps).
long anon_huge_kib_of_mapping(const void* p) {
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return -1;
  char line[512];
  bool inside = false;
  long kib = -1;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    if (std::sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-') {
      inside = lo <= addr && addr < hi;
    } else if (inside && std::sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) {
      break;
    }
  }
  std::fclose(f);
  return kib;
}

// A SuperSlab of a pool of its own, for the tests of collapse_if_dense;
// its slabs are emptied and it goes back at the end.
class FullSuperSlab : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_initialized();
    pool_.init(numa::NodeId{0});
    ss_ = pool_.acquire(kOwner, Tier::kTiny);
    ASSERT_NE(ss_, nullptr);
    ASSERT_EQ(ss_->backing(), os::Backing::kPlain) << "a first SuperSlab gets no THP advice when mapped";
    ASSERT_EQ(units_per_slab(kTiny), 1u);
  }
  void TearDown() override {
    if (ss_ == nullptr) return;
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      if (ss_->slab(u).state == Slab::State::kHead) ss_->release_slab(ss_->slab(u));
    }
    pool_.release(ss_);
    pool_.decay(true);
  }
  // Carves units [first, end) as one-unit slabs of class c.
  void carve_units(unsigned first, unsigned end, SizeClass c) {
    for (unsigned u = first; u < end; ++u) ss_->carve_slab(u, 1, c, kOwner);
  }
  std::uint64_t madvise_calls() const { return os::os_stats().madvise_calls.get(); }
  // Carves units [first, end) as one-unit slabs of a class of `tier`.
  void carve_units_of(unsigned first, unsigned end, Tier tier) {
    SizeClass c = 0;
    while (tier_of(c) != tier || units_per_slab(c) != 1) ++c;
    carve_units(first, end, c);
  }
  // The full SuperSlab holds blocks touched sparsely: it keeps small pages,
  // and says so once.
  void expect_small_pages_kept() {
    const std::uint64_t madvise_before = madvise_calls();
    collapse_if_dense(*ss_);
    EXPECT_EQ(madvise_calls(), madvise_before);
    EXPECT_EQ(ss_->backing(), os::Backing::kPlain);
    EXPECT_TRUE(ss_->collapse_tried()) << "decided once, not at every fill";
  }

  const SizeClass kTiny = tiny_class_of(64);
  NodePool pool_;
  SuperSlab* ss_ = nullptr;
};

TEST_F(FullSuperSlab, OfTinySlabsBecomesHugePagesOnce) {
  carve_units(0, kUnitsPerSuperSlab - 1, kTiny);
  const std::uint64_t madvise_before = madvise_calls();
  collapse_if_dense(*ss_);
  EXPECT_EQ(madvise_calls(), madvise_before) << "a unit is still free: not yet";
  EXPECT_FALSE(ss_->collapse_tried());

  carve_units(kUnitsPerSuperSlab - 1, kUnitsPerSuperSlab, kTiny);
  const bool expected = kernel_collapses();
  const std::uint64_t done_before = os::os_stats().thp_collapses.get();
  const std::uint64_t refused_before = os::os_stats().thp_collapse_failures.get();
  collapse_if_dense(*ss_);
  EXPECT_TRUE(ss_->collapse_tried());
  if (expected) {
    EXPECT_EQ(ss_->backing(), os::Backing::kThp);
    EXPECT_EQ(os::os_stats().thp_collapses.get(), done_before + 1);
    EXPECT_GE(anon_huge_kib_of_mapping(ss_), 2048) << "the SuperSlab is one huge page now";
  } else {
    EXPECT_EQ(ss_->backing(), os::Backing::kPlain) << "a refusal leaves the pages as they were";
    EXPECT_EQ(os::os_stats().thp_collapse_failures.get(), refused_before + 1);
  }

  // Once per mapping: a SuperSlab full again asks nothing more.
  ss_->release_slab(ss_->slab(3));
  carve_units(3, 4, kTiny);
  const std::uint64_t madvise_after = madvise_calls();
  collapse_if_dense(*ss_);
  EXPECT_EQ(madvise_calls(), madvise_after);
}

TEST_F(FullSuperSlab, WithALargeSlabKeepsItsSmallPages) {
  carve_units(0, 7, kTiny);
  carve_units_of(7, 8, Tier::kLarge);  // large blocks are touched sparsely
  carve_units(8, kUnitsPerSuperSlab, kTiny);
  expect_small_pages_kept();
}

TEST_F(FullSuperSlab, MostlyOfMidSlabsKeepsItsSmallPages) {
  carve_units(0, 8, kTiny);
  carve_units_of(8, kUnitsPerSuperSlab, Tier::kMid);  // mid blocks are often touched sparsely
  expect_small_pages_kept();
}

TEST_F(FullSuperSlab, OfTinySlabsWithAMidSlabBecomesHugePages) {
  carve_units(0, 7, kTiny);
  carve_units_of(7, 8, Tier::kMid);
  carve_units(8, kUnitsPerSuperSlab, kTiny);
  const bool expected = kernel_collapses();
  collapse_if_dense(*ss_);
  EXPECT_TRUE(ss_->collapse_tried());
  EXPECT_EQ(ss_->backing(), expected ? os::Backing::kThp : os::Backing::kPlain);
}

}  // namespace

}  // namespace hakmem::tiers
