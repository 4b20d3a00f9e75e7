// A library loaded with dlopen after start-up allocates through the same
// allocator as the program: blocks cross between the two in both
// directions, before and after the library is unloaded.
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>
#include <iterator>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

struct Module {
  void* handle = nullptr;
  void* (*malloc_fn)(std::size_t, unsigned) = nullptr;
  void* (*new_array_fn)(std::size_t, unsigned) = nullptr;
  void (*free_fn)(void*) = nullptr;
  void (*delete_array_fn)(void*) = nullptr;

  bool open() {
    handle = dlopen(HAKMEM_PRELOAD_TEST_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return false;
    malloc_fn = reinterpret_cast<void* (*)(std::size_t, unsigned)>(dlsym(handle, "module_malloc"));
    new_array_fn = reinterpret_cast<void* (*)(std::size_t, unsigned)>(dlsym(handle, "module_new_array"));
    free_fn = reinterpret_cast<void (*)(void*)>(dlsym(handle, "module_free"));
    delete_array_fn = reinterpret_cast<void (*)(void*)>(dlsym(handle, "module_delete_array"));
    return malloc_fn != nullptr && new_array_fn != nullptr && free_fn != nullptr && delete_array_fn != nullptr;
  }
  bool close() { return dlclose(handle) == 0; }
};

bool module_pattern_intact(const void* p, std::size_t bytes, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (b[i] != static_cast<unsigned char>(i * 7 + seed)) return false;
  }
  return true;
}

const std::size_t kSizes[] = {1, 24, 1000, 5000, 100000, 3 * kMiB};

TEST(Dlopen, LibraryAllocationsComeFromHakmemAndTheProgramFreesThem) {
  for (int cycle = 0; cycle < 3; ++cycle) {
    Module m;
    ASSERT_TRUE(m.open()) << dlerror();
    std::vector<void*> from_malloc;
    std::vector<void*> from_new;
    for (std::size_t n : kSizes) {
      const hkm_stats before = stats_now();
      void* p = m.malloc_fn(n, 3);
      ASSERT_NE(p, nullptr);
      void* q = m.new_array_fn(n, 4);
      ASSERT_NE(q, nullptr);
      // Both blocks are hakmem's: its live-block count grew by two.
      const hkm_stats after = stats_now();
      EXPECT_EQ(after.live_blocks - before.live_blocks, 2u) << "size " << n;
      EXPECT_GE(malloc_usable_size(p), n);
      EXPECT_GE(malloc_usable_size(q), n);
      from_malloc.push_back(p);
      from_new.push_back(q);
    }
    // Half are freed while the library is loaded, half after dlclose.
    for (std::size_t i = 0; i < std::size(kSizes); i += 2) {
      EXPECT_TRUE(module_pattern_intact(from_malloc[i], kSizes[i], 3));
      EXPECT_TRUE(module_pattern_intact(from_new[i], kSizes[i], 4));
      free(from_malloc[i]);
      delete[] static_cast<unsigned char*>(from_new[i]);
    }
    ASSERT_TRUE(m.close()) << dlerror();
    for (std::size_t i = 1; i < std::size(kSizes); i += 2) {
      EXPECT_TRUE(module_pattern_intact(from_malloc[i], kSizes[i], 3));
      EXPECT_TRUE(module_pattern_intact(from_new[i], kSizes[i], 4));
      free(from_malloc[i]);
      ::operator delete[](from_new[i]);
    }
  }
}

TEST(Dlopen, LibraryFreesBlocksTheProgramAllocated) {
  Module m;
  ASSERT_TRUE(m.open()) << dlerror();
  for (std::size_t n : kSizes) {
    void* p = malloc(n);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, n, 1);
    void* q = new unsigned char[n];
    const hkm_stats before = stats_now();
    m.free_fn(p);
    m.delete_array_fn(q);
    const hkm_stats after = stats_now();
    EXPECT_EQ(before.live_blocks - after.live_blocks, 2u) << "size " << n;
  }
  EXPECT_TRUE(m.close()) << dlerror();
}

}  // namespace
}  // namespace hakmem::preload_test
