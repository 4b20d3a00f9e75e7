#include "os/libc_fallback.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstring>

extern "C" void* __libc_malloc(std::size_t);

namespace hakmem::os {
namespace {

TEST(LibcFallback, UsableSizeMatchesGlibcForSmallAndMmappedChunks) {
  for (std::size_t n : {1ul, 24ul, 100ul, 4000ul, 200000ul, 5ul << 20}) {
    void* p = __libc_malloc(n);
    ASSERT_NE(p, nullptr);
#if !defined(__SANITIZE_ADDRESS__)
    // This binary runs on glibc's malloc, so glibc's own answer is the
    // reference (under ASan, malloc_usable_size is ASan's, which refuses
    // glibc's blocks).
    EXPECT_EQ(libc_usable_size(p), malloc_usable_size(p)) << n;
#endif
    EXPECT_GE(libc_usable_size(p), n);
    libc_free(p);
  }
  EXPECT_EQ(libc_usable_size(nullptr), 0u);
}

TEST(LibcFallback, ReallocKeepsContents) {
  auto* p = static_cast<char*>(__libc_malloc(100));
  std::memset(p, 'x', 100);
  auto* q = static_cast<char*>(libc_realloc(p, 100000));
  ASSERT_NE(q, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], 'x');
  libc_free(q);
}

}  // namespace
}  // namespace hakmem::os
