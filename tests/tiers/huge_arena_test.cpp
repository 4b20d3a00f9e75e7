// The huge arena's bookkeeping on made-up address ranges: it never touches
// the memory it tracks, so no mapping is needed.
#include "tiers/huge_arena.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hakmem::tiers {
namespace {

using State = HugeSegment::State;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr numa::NodeId kNode0{0};
constexpr numa::NodeId kNode1{1};

char* at(std::uintptr_t address) { return reinterpret_cast<char*>(address); }

// A shared span at 1 GiB + 2 MiB: 2 MiB aligned, not 4 MiB aligned.
constexpr std::uintptr_t kBase = (std::uintptr_t{1} << 30) + 2 * kMiB;

class HugeArenaTest : public ::testing::Test {
 protected:
  HugeSegment* add_shared(std::uintptr_t base = kBase, numa::NodeId node = kNode0) {
    return arena.add_span(at(base), kHugeSpanBytes, os::Backing::kPlain, node, false, 0);
  }
  HugeSegment* take(std::size_t bytes, std::size_t alignment = kHugeGranule, numa::NodeId node = kNode0) {
    HugeSegment* fit = arena.find_fit(bytes, alignment, node);
    return fit == nullptr ? nullptr : arena.carve(fit, bytes, alignment);
  }
  HugeArena arena;
};

TEST_F(HugeArenaTest, BlocksAreCutFromTheFrontOfAFreshSpan) {
  HugeSegment* free_seg = add_shared();
  ASSERT_NE(free_seg, nullptr);
  EXPECT_TRUE(free_seg->zeroed) << "a fresh span reads as zero";
  HugeSegment* a = take(3 * kMiB);
  HugeSegment* b = take(5 * kMiB + kHugeGranule);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->user, at(kBase));
  EXPECT_EQ(b->user, at(kBase + 3 * kMiB)) << "the lowest of equally good fits";
  EXPECT_EQ(a->state, State::kLive);
  EXPECT_EQ(arena.free_bytes(), kHugeSpanBytes - 8 * kMiB - kHugeGranule);
  EXPECT_EQ(arena.free_segments(), 1u);
  EXPECT_EQ(a->span->segments.size(), 3u);
}

TEST_F(HugeArenaTest, FreedBlocksMergeWithFreeNeighboursOnBothSides) {
  add_shared();
  HugeSegment* a = take(2 * kMiB);
  HugeSegment* b = take(2 * kMiB);
  HugeSegment* c = take(2 * kMiB);
  HugeSpan* span = a->span;
  arena.release_block(a, 10);
  arena.release_block(c, 20);  // merges with the free rest of the span
  EXPECT_EQ(arena.free_segments(), 2u);
  EXPECT_FALSE(span->wholly_free());
  HugeSegment* merged = arena.release_block(b, 30);
  EXPECT_EQ(arena.free_segments(), 1u);
  EXPECT_EQ(merged->base, at(kBase));
  EXPECT_EQ(merged->bytes, kHugeSpanBytes);
  EXPECT_EQ(merged->freed_at_ms, 30u) << "the newest free time of the parts";
  EXPECT_FALSE(merged->zeroed) << "freed blocks are dirty";
  EXPECT_TRUE(span->wholly_free());
  EXPECT_EQ(arena.wholly_free_bytes(), kHugeSpanBytes);
}

TEST_F(HugeArenaTest, TheSmallestHoleThatFitsIsReused) {
  add_shared();
  HugeSegment* big = take(6 * kMiB);
  take(kMiB);
  HugeSegment* small = take(3 * kMiB);
  take(kMiB);
  char* big_at = big->base;
  char* small_at = small->base;
  arena.release_block(big, 1);
  arena.release_block(small, 1);
  HugeSegment* got = take(3 * kMiB);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->base, small_at) << "the exact hole, not the bigger one or the span's rest";
  got = take(4 * kMiB);
  EXPECT_EQ(got->base, big_at);
  EXPECT_EQ(arena.find_fit(kHugeSpanBytes, kHugeGranule, kNode0), nullptr) << "nothing that big is free";
}

TEST_F(HugeArenaTest, AlignmentLeavesTheSkippedHeadFree) {
  add_shared();
  const std::size_t align = 8 * kMiB;
  HugeSegment* a = take(kMiB, align);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a->user) % align, 0u);
  const std::size_t head = static_cast<std::size_t>(a->base - at(kBase));
  EXPECT_GT(head, 0u);
  EXPECT_EQ(arena.free_bytes(), kHugeSpanBytes - kMiB);
  HugeSegment* b = take(head);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->base, at(kBase)) << "the head is a hole like any other";
}

TEST_F(HugeArenaTest, GrowInPlaceTakesFromTheFreeRangeAfterOnly) {
  add_shared();
  HugeSegment* a = take(2 * kMiB);
  HugeSegment* b = take(2 * kMiB);
  EXPECT_FALSE(arena.grow_in_place(a, 3 * kMiB)) << "b is live right after a";
  EXPECT_TRUE(arena.grow_in_place(b, 10 * kMiB));
  EXPECT_EQ(b->bytes, 10 * kMiB);
  EXPECT_EQ(arena.free_bytes(), kHugeSpanBytes - 12 * kMiB);
  EXPECT_TRUE(arena.grow_in_place(b, kHugeSpanBytes - 2 * kMiB)) << "the whole rest";
  EXPECT_EQ(arena.free_segments(), 0u);
  EXPECT_FALSE(arena.grow_in_place(b, kHugeSpanBytes)) << "past the end of the span";
}

TEST_F(HugeArenaTest, ShrinkFreesTheTailAndMergesIt) {
  add_shared();
  HugeSegment* a = take(10 * kMiB);
  ASSERT_TRUE(arena.shrink_in_place(a, 4 * kMiB, 5));
  EXPECT_EQ(a->bytes, 4 * kMiB);
  EXPECT_EQ(arena.free_segments(), 1u) << "the tail merged with the rest of the span";
  EXPECT_EQ(arena.free_bytes(), kHugeSpanBytes - 4 * kMiB);
  HugeSegment* rest = SegmentsInSpan::next(a);
  ASSERT_NE(rest, nullptr);
  EXPECT_FALSE(rest->zeroed) << "the tail was written";
}

TEST_F(HugeArenaTest, RequestsStayOnTheirNodeAndAnyFreeSpanServesAnySize) {
  add_shared(kBase, kNode1);
  EXPECT_EQ(arena.find_fit(kMiB, kHugeGranule, kNode0), nullptr);
  EXPECT_NE(arena.find_fit(kMiB, kHugeGranule, kNode1), nullptr);
  const std::size_t big = kHugeDedicatedAbove + 2 * kMiB;
  HugeSegment* shared = arena.find_fit(big, kHugeGranule, kNode1);
  ASSERT_NE(shared, nullptr) << "a big block fits a shared span's free range";
  EXPECT_FALSE(shared->span->dedicated);
  HugeSegment* own = arena.add_span(at(kBase + kHugeSpanBytes), big, os::Backing::kPlain, kNode1, true, 0);
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(arena.find_fit(big, kHugeGranule, kNode1), own) << "the best fit";
  EXPECT_EQ(arena.find_fit(12 * kMiB, kHugeGranule, kNode1), own)
      << "a free dedicated span serves a smaller block too, rather than a new range of a shared span";
}

TEST_F(HugeArenaTest, DirtyRangesArePurgedAfterTheDelayThenSpansReleased) {
  add_shared();
  HugeSegment* a = take(4 * kMiB);
  HugeSegment* keep = take(kMiB);
  arena.release_block(a, 100);
  EXPECT_EQ(arena.take_for_purge(150, 100, false), nullptr) << "too young";
  HugeSegment* p = arena.take_for_purge(200, 100, false);
  ASSERT_EQ(p, a);
  EXPECT_EQ(p->state, State::kPurging);
  EXPECT_EQ(arena.free_segments(), 1u) << "off the free list while purged";
  arena.purged(p, 200, true);
  EXPECT_TRUE(p->zeroed);
  EXPECT_EQ(arena.take_for_purge(10'000, 100, true), nullptr) << "nothing dirty is left";
  EXPECT_EQ(arena.take_for_release(100'000, 100, 1000, false, 0), nullptr) << "a live block holds the span";

  arena.release_block(keep, 300);  // the span is wholly free, partly dirty
  EXPECT_EQ(arena.take_for_release(300, 100, 1000, false, kHugeSpanBytes), nullptr);
  HugeSegment* all = arena.take_for_purge(400, 100, false);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->bytes, kHugeSpanBytes);
  arena.purged(all, 400, true);
  EXPECT_EQ(arena.take_for_release(1000, 100, 1000, false, kHugeSpanBytes), nullptr) << "purged too recently";
  HugeSpan* gone = arena.take_for_release(1400, 100, 1000, false, kHugeSpanBytes);
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->base, at(kBase));
  EXPECT_EQ(arena.span_count(), 0u);
  EXPECT_EQ(arena.free_bytes(), 0u);
  arena.forget_span(gone);
}

TEST_F(HugeArenaTest, WhollyFreeSpansOverTheBudgetGoAfterThePurgeDelay) {
  add_shared(kBase);
  add_shared(kBase + kHugeSpanBytes);  // both free (and zero) since time 0
  EXPECT_EQ(arena.take_for_release(500, 100, 1000, false, 2 * kHugeSpanBytes), nullptr) << "within the budget";
  EXPECT_EQ(arena.take_for_release(50, 100, 1000, false, kHugeSpanBytes), nullptr)
      << "over it, but freed too recently: a program between two rounds of work";
  HugeSpan* gone = arena.take_for_release(500, 100, 1000, false, kHugeSpanBytes);
  ASSERT_NE(gone, nullptr);
  arena.forget_span(gone);
  EXPECT_EQ(arena.take_for_release(500, 100, 1000, false, kHugeSpanBytes), nullptr) << "back within the budget";
  EXPECT_NE(arena.take_for_release(0, 100, 1000, true, kHugeSpanBytes), nullptr) << "force takes any";
}

TEST_F(HugeArenaTest, HugetlbRangesAreNeverPurged) {
  HugeSegment* seg = arena.add_span(at(kBase), kHugeSpanBytes, os::Backing::kHugetlb, kNode0, false, 0);
  HugeSegment* a = arena.carve(seg, kMiB, kHugeGranule);
  arena.release_block(a, 0);
  EXPECT_EQ(arena.take_for_purge(1'000'000, 1, true), nullptr);
  EXPECT_NE(arena.take_for_release(1'000'000, 100, 1000, false, kHugeSpanBytes), nullptr)
      << "but a wholly free hugetlb span is unmapped once old enough";
}

TEST_F(HugeArenaTest, ARemappedDedicatedSpanMovesItsBlock) {
  const std::size_t big = kHugeDedicatedAbove + 2 * kMiB;
  HugeSegment* seg = arena.add_span(at(kBase), big, os::Backing::kPlain, kNode0, true, 0);
  HugeSegment* live = arena.carve(seg, big, kHugeGranule);
  ASSERT_EQ(live, seg);
  arena.span_remapped(live->span, at(kBase + kHugeSpanBytes), 2 * big);
  EXPECT_EQ(live->user, at(kBase + kHugeSpanBytes));
  EXPECT_EQ(live->bytes, 2 * big);
  EXPECT_EQ(arena.span_bytes(), 2 * big);
}

}  // namespace
}  // namespace hakmem::tiers
