// The free segments of the huge arena, by size: one list per size range
// (four per doubling, from 64 KiB up) and a bit per non-empty list.
//
// The arena's best fit (the smallest free segment that holds a request, ties
// to the lower address) then scans the range of the request and the ranges
// above it in order, and stops at the first that holds a fit: every segment
// of a later range is bigger. A single list scanned in full took a quarter
// of the time of random 32 KiB-1 MiB blocks (256 live: hundreds of holes).
//
// Layer: tiers. Used under huge.cpp's lock only (through HugeArena).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/intrusive_list.h"
#include "tiers/huge_segment.h"

namespace hakmem::tiers {

class HugeFreeIndex {
 public:
  // 4 ranges per doubling over 48 doublings of the 64 KiB granule: every
  // size a segment can have (a range, not a population: no cap).
  static constexpr unsigned kRanges = 4 * 48;

  // The range of a segment of `bytes` (a multiple of kHugeGranule).
  static unsigned range_of(std::size_t bytes) {
    const std::uint64_t g = bytes / kHugeGranule;
    if (g < 4) return static_cast<unsigned>(g);
    const unsigned p = 63u - static_cast<unsigned>(__builtin_clzll(g));  // 2.. for g >= 4
    return 4 * p + static_cast<unsigned>((g >> (p - 2)) & 3u) - 4;
  }

  void insert(HugeSegment* seg) {
    const unsigned r = range_of(seg->bytes);
    seg->free_range = static_cast<std::uint8_t>(r);
    lists_[r].push_front(seg);
    nonempty_[r / 64] |= std::uint64_t{1} << (r % 64);
    ++size_;
  }

  void remove(HugeSegment* seg) {
    const unsigned r = seg->free_range;
    lists_[r].remove(seg);
    if (lists_[r].empty()) nonempty_[r / 64] &= ~(std::uint64_t{1} << (r % 64));
    --size_;
  }

  // A free segment's size changed (merged with a neighbour, or cut).
  void resized(HugeSegment* seg) {
    if (range_of(seg->bytes) == seg->free_range) return;
    remove(seg);
    insert(seg);
  }

  // The smallest segment of at least `bytes` that `fits` accepts (ties: the
  // lower address), or null.
  template <typename Fits>
  HugeSegment* best_fit(std::size_t bytes, Fits&& fits) const {
    for (unsigned r = next_nonempty(range_of(bytes)); r < kRanges; r = next_nonempty(r + 1)) {
      HugeSegment* best = nullptr;
      for (HugeSegment* s = lists_[r].front(); s != nullptr; s = FreeSegments::next(s)) {
        if (s->bytes < bytes || !fits(s)) continue;
        if (best == nullptr || s->bytes < best->bytes || (s->bytes == best->bytes && s->base < best->base)) best = s;
      }
      if (best != nullptr) return best;
    }
    return nullptr;
  }

  // The first segment `take` accepts, over every range, or null.
  template <typename Take>
  HugeSegment* find(Take&& take) const {
    for (unsigned r = next_nonempty(0); r < kRanges; r = next_nonempty(r + 1)) {
      for (HugeSegment* s = lists_[r].front(); s != nullptr; s = FreeSegments::next(s)) {
        if (take(s)) return s;
      }
    }
    return nullptr;
  }

  std::size_t size() const { return size_; }

 private:
  // The first non-empty range at or after r (kRanges if none).
  unsigned next_nonempty(unsigned r) const {
    while (r < kRanges) {
      const std::uint64_t word = nonempty_[r / 64] & (~std::uint64_t{0} << (r % 64));
      if (word != 0) return (r / 64) * 64 + static_cast<unsigned>(__builtin_ctzll(word));
      r = (r / 64 + 1) * 64;
    }
    return kRanges;
  }

  FreeSegments lists_[kRanges];
  std::uint64_t nonempty_[kRanges / 64] = {};
  std::size_t size_ = 0;
};

}  // namespace hakmem::tiers
