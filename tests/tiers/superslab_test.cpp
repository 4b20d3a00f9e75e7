#include "tiers/superslab.h"

#include <gtest/gtest.h>

#include "os/pages.h"
#include "scratch_superslab.h"

namespace hakmem::tiers {
namespace {

using SuperSlabTest = ScratchSuperSlabTest;

TEST_F(SuperSlabTest, HeaderFitsBeforeTheFirstBlocksAndIsPageAligned) {
  EXPECT_EQ(ss_->magic(), SuperSlab::kMagic);
  EXPECT_TRUE(ss_->all_units_free());
  EXPECT_EQ(kSuperSlabHeaderBytes % kOsPageBytes, 0u);
  EXPECT_GE(kSuperSlabHeaderBytes, sizeof(SuperSlab));
}

// Where a slab of `count` units goes, by brute force: the start of the
// shortest maximal run of free units that holds it (unit 0 allowed or not),
// the lowest such run on a tie; -1 if none does.
int best_free_run(std::uint32_t free_mask, unsigned count, bool unit0_ok) {
  int best = -1;
  unsigned best_len = kUnitsPerSuperSlab + 1;
  unsigned u = 0;
  while (u < kUnitsPerSuperSlab) {
    if (((free_mask >> u) & 1u) == 0) {
      ++u;
      continue;
    }
    unsigned end = u;
    while (end < kUnitsPerSuperSlab && ((free_mask >> end) & 1u) != 0) ++end;
    const unsigned start = u == 0 && !unit0_ok ? 1 : u;
    if (end >= start + count && end - start < best_len) {
      best = static_cast<int>(start);
      best_len = end - start;
    }
    u = end;
  }
  return best;
}

TEST_F(SuperSlabTest, FreeRunsAreFoundWhereverTheFreeUnitsLie) {
  // Random layouts of one-unit slabs; then every run length, with a block
  // size that allows unit 0 (64 B) and one that allows it only for runs of
  // two units or more (a 1-unit slab of 62 KiB blocks loses its only block
  // to the header).
  std::uint64_t seed = 88172645463325252ull;
  for (int layout = 0; layout < 200; ++layout) {
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      if (seed % 3 == 0) ss_->carve_slab(u, 1, class_of(64), owner_);
    }
    const std::uint32_t mask = ss_->free_unit_mask();
    for (unsigned count = 1; count <= kUnitsPerSuperSlab; ++count) {
      ASSERT_EQ(ss_->find_free_run(count, 64), best_free_run(mask, count, true)) << mask << " " << count;
      ASSERT_EQ(ss_->find_free_run(count, 62 * 1024), best_free_run(mask, count, count > 1))
          << mask << " " << count;
    }
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      Slab& s = ss_->slab(u);
      if (s.state == Slab::State::kHead) ss_->release_slab(s);
    }
    ASSERT_TRUE(ss_->all_units_free());
  }
}

TEST_F(SuperSlabTest, ASlabTakesTheTightestHoleAndLeavesTheLongRunWhole) {
  const SizeClass small = class_of(64);
  // Units 0-3 used, 4-5 free (a hole of 2), 6 used, 7-31 free (a run of 25).
  for (unsigned u : {0u, 1u, 2u, 3u, 6u}) ss_->carve_slab(u, 1, small, owner_);
  EXPECT_EQ(ss_->find_free_run(1, 64), 4) << "the hole, not the long run";
  EXPECT_EQ(ss_->find_free_run(2, 64), 4);
  EXPECT_EQ(ss_->find_free_run(3, 64), 7) << "only the long run holds three";
  EXPECT_EQ(ss_->find_free_run(25, 64), 7);
  EXPECT_EQ(ss_->find_free_run(26, 64), -1);
}

TEST_F(SuperSlabTest, CarveAndReleaseSlabsOfSeveralUnits) {
  const SizeClass big = class_of(160 * 1024);
  const unsigned units = units_per_slab(big);
  ASSERT_GT(units, 1u);
  const int first = ss_->find_free_run(units, block_size(big));
  ASSERT_EQ(first, 1) << "unit 0 is too short for a multi-unit slab of big blocks";
  Slab& head = ss_->carve_slab(static_cast<unsigned>(first), units, big, owner_);
  EXPECT_EQ(head.capacity, units * kSlabUnitBytes / block_size(big));
  // Every unit of the slab answers the free path's questions.
  for (unsigned u = 1; u < 1 + units; ++u) {
    char* p = reinterpret_cast<char*>(ss_) + u * kSlabUnitBytes + 100;
    EXPECT_EQ(SuperSlab::unit_slab(p).owner, owner_);
    EXPECT_EQ(SuperSlab::unit_slab(p).size_class, big);
    EXPECT_EQ(&SuperSlab::head_slab(p), &head);
  }
  EXPECT_FALSE(ss_->all_units_free());
  ss_->release_slab(head);
  EXPECT_TRUE(ss_->all_units_free());
  EXPECT_EQ(SuperSlab::unit_slab(reinterpret_cast<char*>(ss_) + kSlabUnitBytes).owner, nullptr);
}

TEST_F(SuperSlabTest, UnitZeroHoldsSmallBlocksAfterTheHeader) {
  const SizeClass c = class_of(64);
  ASSERT_EQ(ss_->find_free_run(1, 64), 0);
  Slab& head = ss_->carve_slab(0, 1, c, owner_);
  EXPECT_EQ(ss_->slab_begin(head), reinterpret_cast<char*>(ss_) + kSuperSlabHeaderBytes);
  EXPECT_EQ(head.capacity, (kSlabUnitBytes - kSuperSlabHeaderBytes) / 64);
}

TEST_F(SuperSlabTest, FillsEveryUnitThenFindsNoRoom) {
  const SizeClass c = class_of(1000);
  for (unsigned i = 0; i < kUnitsPerSuperSlab; ++i) {
    const int u = ss_->find_free_run(1, block_size(c));
    ASSERT_GE(u, 0);
    ss_->carve_slab(static_cast<unsigned>(u), 1, c, owner_);
  }
  EXPECT_FALSE(ss_->has_free_unit());
  EXPECT_EQ(ss_->find_free_run(1, block_size(c)), -1);
}

}  // namespace
}  // namespace hakmem::tiers
