// Cutting blocks from one mosaic, made by hand in a SuperSlab of its own:
// the resident holes go first, the purged pages only when asked.
#include <gtest/gtest.h>

#include <set>

#include "scratch_superslab.h"
#include "tiers/mosaic.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {
namespace {

constexpr std::size_t kSourceSize = 64;
constexpr std::size_t kCutSize = 512;
constexpr unsigned kUnit = 1;
constexpr MosaicCut kResidentAligned{.into_purged = false, .natural_alignment = true};
constexpr MosaicCut kAnyAligned{.into_purged = true, .natural_alignment = true};

class MosaicCarve : public ScratchSuperSlabTest {
 protected:
  void SetUp() override {
    ScratchSuperSlabTest::SetUp();
    head_ = &ss_->carve_slab(kUnit, 1, class_of(kSourceSize), owner_);
    // Every block carved; two live, at the starts of pages 0 and 8; the
    // rest on the free list.
    char* begin = ss_->slab_begin(*head_);
    head_->carved = head_->capacity;
    for (std::uint32_t i = head_->capacity; i-- > 0;) {
      if (i == 0 || i == kOsPageBytes * 8 / kSourceSize) continue;
      void* p = begin + std::size_t{i} * kSourceSize;
      *static_cast<void**>(p) = head_->free_list;
      head_->free_list = p;
    }
    head_->used = 2;
    ASSERT_TRUE(mosaic_candidate(*head_));
    make_mosaic(*ss_, *head_, reinterpret_cast<MosaicMap*>(map_words_));
    ASSERT_TRUE(mosaic_check(*ss_, *head_));
  }
  // The unit's page that holds p.
  unsigned page_of(const void* p) const {
    return static_cast<unsigned>(static_cast<std::size_t>(static_cast<const char*>(p) - ss_->slab_begin(*head_)) /
                                 kOsPageBytes);
  }
  std::set<unsigned> pages_of(void* list, std::uint32_t n) const {
    std::set<unsigned> pages;
    for (std::uint32_t i = 0; i < n; ++i, list = *static_cast<void**>(list)) pages.insert(page_of(list));
    return pages;
  }

  Slab* head_ = nullptr;
  alignas(64) std::uint64_t map_words_[MosaicMap::kWords] = {};
};

TEST_F(MosaicCarve, ResidentHolesGoFirstAndPurgedPagesOnlyWhenAsked) {
  // Pages 1-7 purged, as a trim would leave them (their bits only: the
  // carve reads the record, not the kernel).
  head_->purged_pages.store(0xfe, std::memory_order_relaxed);
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
  // Resident room for 512 B blocks: 7 in page 0 and 7 in page 8, beside
  // the survivors, and 8 in each of pages 9-15.
  constexpr std::uint32_t kResident = 7 + 7 + 7 * 8;
  void* list = nullptr;
  const SizeClass c = class_of(kCutSize);
  EXPECT_EQ(mosaic_carve(*ss_, *head_, c, 200, kResidentAligned, &list), kResident);
  for (unsigned page : pages_of(list, kResident)) EXPECT_TRUE(page == 0 || page >= 8) << "cut in purged page " << page;
  EXPECT_EQ(head_->purged_pages.load(), 0xfe) << "a purged page was touched";
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
  // Nothing resident is left; the purged pages serve when asked, and count
  // as resident from then on.
  void* more = nullptr;
  EXPECT_EQ(mosaic_carve(*ss_, *head_, c, 200, kResidentAligned, &more), 0u);
  EXPECT_EQ(mosaic_carve(*ss_, *head_, c, 200, kAnyAligned, &more), 7u * 8);
  EXPECT_EQ(pages_of(more, 7 * 8), (std::set<unsigned>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(head_->purged_pages.load(), 0u);
  EXPECT_EQ(head_->used, 2 + kResident + 7 * 8);
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
}

TEST_F(MosaicCarve, WithoutPurgedPagesBothWaysCutTheSameBlocks) {
  void* a = nullptr;
  const SizeClass c = class_of(kCutSize);
  const std::uint32_t got = mosaic_carve(*ss_, *head_, c, 200, kResidentAligned, &a);
  EXPECT_EQ(got, 7u + 7 + 14 * 8);
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
  // Each block back, from the last cut to the first: the mosaic is as made.
  for (void* p = a; p != nullptr;) {
    void* next = *static_cast<void**>(p);
    EXPECT_EQ(mosaic_free(*head_, p), c);
    p = next;
  }
  EXPECT_EQ(head_->used, 2u);
  void* b = nullptr;
  EXPECT_EQ(mosaic_carve(*ss_, *head_, c, 200, kAnyAligned, &b), got);
  EXPECT_EQ(a, b) << "the same first block";
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
}

TEST_F(MosaicCarve, BlocksFillTheHolesOnAnyGranuleUnlessAskedForTheirAlignment) {
  const SizeClass c = class_of(kCutSize);
  char* begin = ss_->slab_begin(*head_);
  // The hole after the first survivor starts 64 bytes in.
  void* loose = nullptr;
  ASSERT_EQ(mosaic_carve(*ss_, *head_, c, 1, {.into_purged = true, .natural_alignment = false}, &loose), 1u);
  EXPECT_EQ(loose, begin + kSourceSize) << "not at the hole's first granule";
  void* aligned = nullptr;
  ASSERT_EQ(mosaic_carve(*ss_, *head_, c, 1, kAnyAligned, &aligned), 1u);
  EXPECT_EQ(aligned, begin + 2 * kCutSize) << "not at the next 512-byte boundary after the first block";
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
  // Loose, the holes of pages 0-7 and 8-15 (each 64 bytes short of 32 KiB)
  // take 63 blocks each, beside the two already cut.
  void* rest = nullptr;
  EXPECT_EQ(mosaic_carve(*ss_, *head_, c, 1000, {.into_purged = true, .natural_alignment = false}, &rest),
            2u * 63 - 2) << "the 448-byte gap before the aligned block costs no block here";
  ASSERT_TRUE(mosaic_check(*ss_, *head_));
}

}  // namespace
}  // namespace hakmem::tiers
