// The test binary links libhakmem.so ahead of libc and libstdc++: every
// allocation symbol the process resolves must then be hakmem's, or the
// other tests would be testing glibc.
#include <dlfcn.h>

#include <string>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

// The C entry points and the Itanium-mangled operators new and delete.
const char* const kAllocationSymbols[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc",
    "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "mallinfo", "mallinfo2", "malloc_stats",
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvm", "_ZdaPvm",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    "hkm_version", "hkm_malloc", "hkm_free", "hkm_calloc", "hkm_realloc", "hkm_aligned_alloc",
    "hkm_usable_size", "hkm_trim", "hkm_stats_get", "hkm_stats_print", "hkm_thread_set_node",
    "hkm_thread_node", "hkm_node_count", "hkm_node_stats_get", "hkm_remote_frees", "hkm_node_info_get",
    "hkm_node_distance", "hkm_node_has_cpu",
};

std::string library_of(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr) return "(unresolved)";
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

TEST(Exports, EveryAllocationSymbolResolvesToHakmem) {
  const std::string expected = HAKMEM_PRELOAD_TEST_CHECKED ? "libhakmem_checked.so" : "libhakmem.so";
  for (const char* symbol : kAllocationSymbols) {
    EXPECT_NE(library_of(symbol).find(expected), std::string::npos) << symbol << " resolves to " << library_of(symbol);
  }
}

// Nothing but the interface leaks out of the library: an internal symbol
// of the allocator core cannot be found.
TEST(Exports, InternalSymbolsAreNotExported) {
  void* self = dlopen(HAKMEM_PRELOAD_TEST_CHECKED ? "libhakmem_checked.so.0" : "libhakmem.so.0",
                      RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr) << dlerror();
  EXPECT_EQ(dlsym(self, "_ZN6hakmem5tiers8allocateEm"), nullptr);
  EXPECT_EQ(dlsym(self, "_ZN6hakmem5tiers13allocate_slowEm"), nullptr);
  EXPECT_EQ(dlsym(self, "_ZN6hakmem5tiers6t_heapE"), nullptr);
  EXPECT_NE(dlsym(self, "malloc"), nullptr);
  EXPECT_NE(dlsym(self, "hkm_stats_get"), nullptr);
  dlclose(self);
}

}  // namespace
}  // namespace hakmem::preload_test
