// Live huge blocks by address: a chained hash table from a block's user
// pointer to its segment, doubling when its load passes 1. Unbounded: the
// table grows with the number of live blocks, its chains are the segments'
// own links.
//
// Layer: tiers. Used under huge.cpp's lock only.
#pragma once

#include <cstddef>

#include "tiers/huge_arena.h"

namespace hakmem::tiers {

class HugeRegistry {
 public:
  // False only when the table has no buckets and none could be mapped.
  bool insert(HugeSegment* seg);
  HugeSegment* find(const void* user) const;
  HugeSegment* remove(const void* user);
  std::size_t size() const { return count_; }

 private:
  void maybe_grow();

  HugeSegment** buckets_ = nullptr;
  std::size_t bucket_count_ = 0;
  std::size_t count_ = 0;
};

}  // namespace hakmem::tiers
