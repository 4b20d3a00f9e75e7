// Blocks written with a known byte, the check that they still hold it, and
// sparse sets of them: for the tests where blocks of several kinds share
// slabs and pages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "tiers/allocator.h"

namespace hakmem::tiers {

// Whether the n bytes at p all hold `value`.
inline bool holds(const void* p, std::size_t n, int value) {
  const auto* b = static_cast<const unsigned char*>(p);
  return std::all_of(b, b + n, [value](unsigned char x) { return x == static_cast<unsigned char>(value); });
}

// Up to `count` blocks of `size`, each filled with `value` (fewer if the
// allocator runs out).
inline std::vector<void*> allocate_written(std::size_t size, std::size_t count, int value) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < count; ++i) {
    void* p = allocate(size);
    if (p == nullptr) break;
    std::memset(p, value, size);
    blocks.push_back(p);
  }
  return blocks;
}

// Keeps every n-th block (in address order) and frees the rest; returns
// the kept ones, in address order.
inline std::vector<void*> keep_one_in(std::size_t n, std::vector<void*> blocks) {
  std::sort(blocks.begin(), blocks.end());
  std::vector<void*> live;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % n == 0) {
      live.push_back(blocks[i]);
    } else {
      deallocate(blocks[i]);
    }
  }
  return live;
}

}  // namespace hakmem::tiers
