#include "os/meta_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>

namespace hakmem::os {
namespace {

TEST(MetaArena, ZeroedAlignedAndDisjoint) {
  std::set<std::uintptr_t> seen;
  for (std::size_t i = 1; i < 3000; i += 7) {
    const std::size_t align = std::size_t{1} << (i % 7 + 3);
    auto* p = static_cast<unsigned char*>(meta_alloc(i, align));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u);
    for (std::size_t j = 0; j < i; ++j) ASSERT_EQ(p[j], 0);
    std::memset(p, 0xff, i);
    for (std::size_t j = 0; j < i; j += 64) EXPECT_TRUE(seen.insert(reinterpret_cast<std::uintptr_t>(p) + j).second);
  }
}

TEST(MetaArena, RequestsBiggerThanAChunk) {
  auto* p = static_cast<unsigned char*>(meta_alloc(3 << 20, 64));
  ASSERT_NE(p, nullptr);
  p[(3 << 20) - 1] = 1;
  EXPECT_GE(meta_mapped_bytes(), std::size_t{3} << 20);
}

TEST(MetaArena, TablesAreZeroedAndReturnable) {
  auto* t = static_cast<std::uint64_t*>(map_table(100000));
  ASSERT_NE(t, nullptr);
  for (std::size_t i = 0; i < 100000 / 8; ++i) ASSERT_EQ(t[i], 0u);
  unmap_table(t, 100000);
}

}  // namespace
}  // namespace hakmem::os
