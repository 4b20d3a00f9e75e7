// Blocks written with a known byte, and the check that they still hold it:
// for the tests where blocks of several kinds share slabs and pages.
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

}  // namespace hakmem::tiers
