// Collapses queued for a worker thread: it collapses only ranges that are
// still SuperSlabs and mostly resident, retries sparse ones a bounded number
// of times, and recycles its records.
#include "tiers/deferred_collapse.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <thread>
#include <vector>

#include "os/pages.h"
#include "scratch_superslab.h"
#include "tiers/allocator.h"

namespace hakmem::tiers {
namespace {

std::uint64_t collapse_attempts() {
  const os::OsStats& s = os::os_stats();
  return s.thp_collapses.get() + s.thp_collapse_failures.get();
}

class DeferredCollapseTest : public ScratchSuperSlabTest {
 protected:
  void SetUp() override {
    ScratchSuperSlabTest::SetUp();
    run_deferred_collapses();  // nothing left over from other tests
    ASSERT_EQ(deferred_collapses_pending(), 0u);
  }
  void TearDown() override {
    g_chunk_map.clear(region_, kSuperSlabBytes);
    ScratchSuperSlabTest::TearDown();
  }
  void mark_superslab() { ASSERT_TRUE(g_chunk_map.set(region_, kSuperSlabBytes, ChunkKind::kSuperSlab)); }
};

TEST(ResidentPages, CountsTouchedPagesAndRefusesUnmappedRanges) {
  void* p = mmap(nullptr, kSuperSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* bytes = static_cast<char*>(p);
  for (int i = 0; i < 3; ++i) bytes[i * 8192] = 1;
  EXPECT_EQ(os::resident_pages(p, kSuperSlabBytes), 3);
  munmap(p, kSuperSlabBytes);
  EXPECT_EQ(os::resident_pages(p, kSuperSlabBytes), -1);
}

TEST_F(DeferredCollapseTest, AResidentSuperSlabIsCollapsedOnceAndItsRecordRecycled) {
  mark_superslab();
  std::memset(region_, 1, kSuperSlabBytes);
  const std::uint64_t before = collapse_attempts();
  ASSERT_TRUE(defer_collapse(region_));
  EXPECT_EQ(deferred_collapses_pending(), 1u);
  run_deferred_collapses();
  // Made huge pages or refused by the kernel (THP "never"): asked once.
  EXPECT_EQ(collapse_attempts() - before, 1u);
  EXPECT_EQ(deferred_collapses_pending(), 0u);
  EXPECT_EQ(static_cast<unsigned char*>(region_)[kSuperSlabBytes - 1], 1) << "the contents stay";
}

TEST_F(DeferredCollapseTest, ASparseSuperSlabWaitsABoundedNumberOfLooksAndIsNeverCollapsed) {
  mark_superslab();
  // The header and a few pages: far from dense.
  std::memset(region_, 1, 16 * 4096);
  const std::uint64_t before = collapse_attempts();
  ASSERT_TRUE(defer_collapse(region_));
  for (unsigned look = 1; look < kCollapseTries; ++look) {
    run_deferred_collapses();
    EXPECT_EQ(deferred_collapses_pending(), 1u) << "look " << look;
  }
  run_deferred_collapses();
  EXPECT_EQ(deferred_collapses_pending(), 0u);
  EXPECT_EQ(collapse_attempts(), before);
}

TEST_F(DeferredCollapseTest, ARangeNoLongerASuperSlabIsDroppedUnread) {
  // Not in the chunk map: gone back to the OS, or never ours.
  std::memset(region_, 1, kSuperSlabBytes);
  const std::uint64_t before = collapse_attempts();
  ASSERT_TRUE(defer_collapse(region_));
  run_deferred_collapses();
  EXPECT_EQ(deferred_collapses_pending(), 0u);
  EXPECT_EQ(collapse_attempts(), before);
}

TEST_F(DeferredCollapseTest, ManyRequestsFromManyThreadsAreAllServed) {
  mark_superslab();
  std::memset(region_, 1, 16 * 4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 500; ++i) ASSERT_TRUE(defer_collapse(region_));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(deferred_collapses_pending(), 2000u);
  for (unsigned look = 0; look < kCollapseTries; ++look) run_deferred_collapses();
  EXPECT_EQ(deferred_collapses_pending(), 0u);
}

}  // namespace
}  // namespace hakmem::tiers
