// The huge arena's free index by size: its ranges and its best fit, against
// a scan of every segment.
#include "tiers/huge_free_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace hakmem::tiers {
namespace {

TEST(HugeFreeIndex, RangesFollowTheSizeAndCoverEverySize) {
  unsigned last = 0;
  for (std::size_t g = 1; g < (std::size_t{1} << 20); g += 1 + g / 64) {
    const unsigned r = HugeFreeIndex::range_of(g * kHugeGranule);
    EXPECT_GE(r, last) << "a bigger segment in an earlier range: " << g;
    EXPECT_LT(r, HugeFreeIndex::kRanges);
    last = r;
  }
  EXPECT_LT(HugeFreeIndex::range_of(~std::size_t{0} / kHugeGranule * kHugeGranule), HugeFreeIndex::kRanges);
  // Four ranges per doubling.
  EXPECT_EQ(HugeFreeIndex::range_of(64 * kHugeGranule) + 4, HugeFreeIndex::range_of(128 * kHugeGranule));
}

TEST(HugeFreeIndex, BestFitIsTheSmallestThatFitsWithTiesToTheLowerAddress) {
  std::mt19937_64 rng(7);
  std::vector<HugeSegment> segs(600);
  HugeFreeIndex index;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    segs[i].base = reinterpret_cast<char*>((std::uintptr_t{1} << 32) + (rng() % (1u << 20)) * kHugeGranule);
    segs[i].bytes = (1 + rng() % 300) * kHugeGranule;
    index.insert(&segs[i]);
  }
  // Some leave, some change size in place, as merges and cuts do.
  for (std::size_t i = 0; i < segs.size(); i += 7) index.remove(&segs[i]);
  for (std::size_t i = 3; i < segs.size(); i += 7) {
    segs[i].bytes = (1 + rng() % 300) * kHugeGranule;
    index.resized(&segs[i]);
  }
  EXPECT_EQ(index.size(), segs.size() - (segs.size() + 6) / 7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t want = (1 + rng() % 320) * kHugeGranule;
    const bool odd_only = trial % 3 == 0;  // a filter, as node and alignment are
    auto fits = [odd_only](const HugeSegment* s) {
      return !odd_only || (reinterpret_cast<std::uintptr_t>(s->base) / kHugeGranule) % 2 == 1;
    };
    const HugeSegment* expected = nullptr;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const HugeSegment* s = &segs[i];
      if (i % 7 == 0 || s->bytes < want || !fits(s)) continue;
      if (expected == nullptr || s->bytes < expected->bytes || (s->bytes == expected->bytes && s->base < expected->base)) {
        expected = s;
      }
    }
    EXPECT_EQ(index.best_fit(want, fits), expected) << "request of " << want / kHugeGranule << " granules";
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (i % 7 != 0) index.remove(&segs[i]);
  }
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.best_fit(kHugeGranule, [](const HugeSegment*) { return true; }), nullptr);
}

}  // namespace
}  // namespace hakmem::tiers
