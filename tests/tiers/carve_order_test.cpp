// Carve order (SuperSlab::carve_start): a slab's blocks are cut from a
// start inside it, wrapping to its first block. A slab made by hand whose
// carve has wrapped: parking purges only the pages wholly carved and free,
// and every parked block comes back.
#include <gtest/gtest.h>

#include <set>

#include "scratch_superslab.h"
#include "tiers/slab_pages.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {
namespace {

constexpr std::size_t kBlock = 64;
constexpr std::uint32_t kBlocksPerPage = kOsPageBytes / kBlock;
constexpr std::uint32_t kWrapped = 100;  // blocks carved past the wrap, from block 0

class CarveOrder : public ScratchSuperSlabTest {
 protected:
  // A one-unit slab of 64 B blocks whose carve starts between a quarter and
  // three quarters in.
  Slab* slab_starting_inside() {
    for (unsigned u = 1; u < kUnitsPerSuperSlab; ++u) {
      Slab& s = ss_->carve_slab(u, 1, class_of(kBlock), owner_);
      const std::uint32_t start = ss_->carve_start(s);
      if (start >= s.capacity / 4 && start <= s.capacity * 3 / 4) return &s;
      ss_->release_slab(s);
    }
    return nullptr;
  }
};

TEST_F(CarveOrder, StartsDifferFromSlabToSlabAndTheOrderVisitsEveryBlockOnce) {
  std::set<std::uint32_t> starts;
  for (unsigned u = 1; u < kUnitsPerSuperSlab; ++u) {
    Slab& s = ss_->carve_slab(u, 1, class_of(kBlock), owner_);
    starts.insert(ss_->carve_start(s));
    std::set<std::uint32_t> seen;
    for (std::uint32_t n = 0; n < s.capacity; ++n) seen.insert(ss_->carved_block(s, n));
    EXPECT_EQ(seen.size(), s.capacity);
    EXPECT_EQ(*seen.rbegin(), s.capacity - 1);
    s.carved = s.capacity / 3;
    for (std::uint32_t n = 0; n < s.capacity; ++n) {
      ASSERT_EQ(ss_->is_carved(s, ss_->carved_block(s, n)), n < s.carved) << "unit " << u << ", n " << n;
    }
    s.carved = 0;
  }
  EXPECT_EQ(starts.size(), SuperSlab::kCarveStarts) << "31 slabs of one class share few starts";
}

TEST_F(CarveOrder, AWrappedCarveParksOnlyWhollyCarvedFreePagesAndUnparksThemAll) {
  Slab* s = slab_starting_inside();
  ASSERT_NE(s, nullptr);
  const std::uint32_t start = ss_->carve_start(*s);
  ASSERT_EQ(start % kBlocksPerPage, 0u);
  // Carved: [start, capacity) and then [0, kWrapped); the first block
  // carved stays live, the rest are free.
  s->carved = s->capacity - start + kWrapped;
  s->used = 1;
  char* begin = ss_->slab_begin(*s);
  for (std::uint32_t n = s->carved; n-- > 1;) {
    void* p = begin + std::size_t{ss_->carved_block(*s, n)} * kBlock;
    *static_cast<void**>(p) = s->free_list;
    s->free_list = p;
  }
  EXPECT_GT(park_free_pages(*ss_, *s), 0u);
  // Purged: page 0 (blocks 0-63, carved and free) and the pages after the
  // live block's; not page 1, which holds blocks 100-127, never carved.
  std::uint16_t expected = 1;
  for (std::uint32_t k = start / kBlocksPerPage + 1; k < kPagesPerUnit; ++k) expected |= static_cast<std::uint16_t>(1u << k);
  EXPECT_EQ(s->purged_pages.load(), expected);
  EXPECT_EQ(s->parked, count_blocks_on_purged_pages(*ss_, *s));
  EXPECT_EQ(s->parked, kBlocksPerPage * (1 + kPagesPerUnit - 1 - start / kBlocksPerPage));
  EXPECT_EQ(s->listed_free() + s->parked + s->used, s->carved);

  unpark_blocks(*ss_, *s);
  EXPECT_EQ(s->parked, 0u);
  EXPECT_EQ(s->purged_pages.load(), 0u);
  std::set<void*> listed;
  for (void* p = s->free_list; p != nullptr; p = *static_cast<void**>(p)) {
    const auto i = static_cast<std::uint32_t>((static_cast<char*>(p) - begin) / static_cast<std::ptrdiff_t>(kBlock));
    EXPECT_TRUE(ss_->is_carved(*s, i)) << "block " << i << " was never carved";
    listed.insert(p);
  }
  EXPECT_EQ(listed.size(), s->carved - 1);
  EXPECT_EQ(listed.count(begin + std::size_t{start} * kBlock), 0u) << "the live block is on the free list";
}

}  // namespace
}  // namespace hakmem::tiers
