// The parts of the C allocation interface that validate their arguments or
// translate between glibc's conventions and the tiers' calls.
//
// Layer: preload. Any thread; nothing here allocates except through tiers.
#pragma once

#include <malloc.h>

#include <cerrno>
#include <cstddef>

#include "base/attributes.h"
#include "base/bits.h"
#include "tiers/allocator.h"

namespace hakmem::preload {

void* reallocarray_impl(void* ptr, std::size_t count, std::size_t size);
// memalign: a non-power-of-two alignment is rounded up to one (glibc does
// the same); an alignment too large to round is EINVAL.
void* memalign_impl(std::size_t alignment, std::size_t size);
// posix_memalign: EINVAL unless the alignment is a power of two and a
// multiple of sizeof(void*); ENOMEM on exhaustion; errno is left alone.
int posix_memalign_impl(void** out, std::size_t alignment, std::size_t size);
// aligned_alloc: EINVAL unless the alignment is a power of two. Inline: a
// hit in the thread cache costs no call.
HAKMEM_FAST_PATH void* aligned_alloc_impl(std::size_t alignment, std::size_t size) noexcept {
  if (HAKMEM_UNLIKELY(!is_power_of_two(alignment))) {
    errno = EINVAL;
    return nullptr;
  }
  return tiers::allocate_aligned(alignment, size);
}
void* valloc_impl(std::size_t size);
// pvalloc: the size rounds up to whole 4 KiB pages (a page for size 0).
void* pvalloc_impl(std::size_t size);
int malloc_trim_impl(std::size_t pad);
struct mallinfo2 mallinfo2_impl();
struct mallinfo mallinfo_impl();
void malloc_stats_impl();

}  // namespace hakmem::preload
