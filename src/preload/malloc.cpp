// The exported C allocation interface. Each function is a one-line forward
// into hakmem::tiers (allocator.h), or into preload/c_api.h for the calls
// that need validation first; nothing else lives here.
//
// Layer: preload. These symbols replace glibc's when libhakmem.so is
// preloaded or linked; no exception may cross them (the tiers throw none).
#include <malloc.h>

#include "base/attributes.h"
#include "preload/c_api.h"
#include "tiers/allocator.h"

using namespace hakmem;

extern "C" {

HAKMEM_EXPORT void* malloc(size_t size) noexcept { return tiers::allocate(size); }
HAKMEM_EXPORT void free(void* ptr) noexcept { tiers::deallocate(ptr); }
HAKMEM_EXPORT void* calloc(size_t count, size_t size) noexcept { return tiers::allocate_zeroed(count, size); }
HAKMEM_EXPORT void* realloc(void* ptr, size_t size) noexcept { return tiers::reallocate(ptr, size); }
HAKMEM_EXPORT void* reallocarray(void* ptr, size_t count, size_t size) noexcept {
  return preload::reallocarray_impl(ptr, count, size);
}
HAKMEM_EXPORT void* memalign(size_t alignment, size_t size) noexcept { return preload::memalign_impl(alignment, size); }
HAKMEM_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  return preload::posix_memalign_impl(out, alignment, size);
}
HAKMEM_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
  return preload::aligned_alloc_impl(alignment, size);
}
HAKMEM_EXPORT void* valloc(size_t size) noexcept { return preload::valloc_impl(size); }
HAKMEM_EXPORT void* pvalloc(size_t size) noexcept { return preload::pvalloc_impl(size); }
HAKMEM_EXPORT size_t malloc_usable_size(void* ptr) noexcept { return tiers::usable_size(ptr); }
HAKMEM_EXPORT int malloc_trim(size_t pad) noexcept { return preload::malloc_trim_impl(pad); }
HAKMEM_EXPORT struct mallinfo2 mallinfo2() noexcept { return preload::mallinfo2_impl(); }
HAKMEM_EXPORT struct mallinfo mallinfo() noexcept { return preload::mallinfo_impl(); }
HAKMEM_EXPORT void malloc_stats() noexcept { preload::malloc_stats_impl(); }

}  // extern "C"
