// Whether a small page is resident, for the tests of purging (mincore(2)).
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>

#include "base/constants.h"

namespace hakmem::tiers {

// Whether the small page holding p is resident.
inline bool resident(const void* p) {
  auto page = reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{kOsPageBytes} - 1);
  unsigned char v = 0;
  EXPECT_EQ(mincore(reinterpret_cast<void*>(page), kOsPageBytes, &v), 0);
  return (v & 1u) != 0;
}

}  // namespace hakmem::tiers
