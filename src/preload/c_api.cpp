#include "preload/c_api.h"

#include <cerrno>
#include <climits>

#include "base/bits.h"
#include "base/constants.h"
#include "tiers/allocator.h"
#include "tiers/stats.h"

namespace hakmem::preload {

namespace {

std::size_t to_size(std::uint64_t v) { return static_cast<std::size_t>(v); }
int to_int(std::uint64_t v) { return v > INT_MAX ? INT_MAX : static_cast<int>(v); }

}  // namespace

void* reallocarray_impl(void* ptr, std::size_t count, std::size_t size) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return tiers::reallocate(ptr, bytes);
}

void* memalign_impl(std::size_t alignment, std::size_t size) {
  if (!is_power_of_two(alignment)) {
    if (alignment > (SIZE_MAX >> 1) + 1) {
      errno = EINVAL;
      return nullptr;
    }
    alignment = alignment == 0 ? 1 : std::size_t{1} << (log2_floor(alignment) + 1);
  }
  return tiers::allocate_aligned(alignment, size);
}

int posix_memalign_impl(void** out, std::size_t alignment, std::size_t size) {
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;
  void* p = tiers::allocate_aligned(alignment, size);
  errno = saved;
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc_impl(std::size_t size) { return tiers::allocate_aligned(kOsPageBytes, size); }

void* pvalloc_impl(std::size_t size) {
  std::size_t rounded = 0;
  if (!checked_align_up(size == 0 ? 1 : size, kOsPageBytes, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  return tiers::allocate_aligned(kOsPageBytes, rounded);
}

int malloc_trim_impl(std::size_t) { return tiers::trim() > 0 ? 1 : 0; }

struct mallinfo2 mallinfo2_impl() {
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  struct mallinfo2 mi = {};
  std::uint64_t in_use = 0;
  std::uint64_t cached = 0;
  std::uint64_t blocks = 0;
  for (unsigned t = 0; t < tiers::kTierCount; ++t) {
    if (t == static_cast<unsigned>(tiers::Tier::kHuge)) continue;
    in_use += s.tiers[t].bytes_in_use;
    cached += s.tiers[t].bytes_cached;
    blocks += s.tiers[t].live_blocks;
  }
  const std::uint64_t slab_bytes = s.superslabs_live * kSuperSlabBytes;
  mi.arena = to_size(slab_bytes);                 // bytes in SuperSlabs
  mi.ordblks = to_size(blocks);                   // live slab blocks
  mi.smblks = 0;
  mi.hblks = to_size(s.huge.live_blocks);         // huge blocks, each its own mapping
  mi.hblkhd = to_size(s.huge.live_bytes);
  mi.usmblks = 0;
  mi.fsmblks = to_size(cached);                   // free blocks in thread caches
  mi.uordblks = to_size(in_use);                  // bytes in live slab blocks
  mi.fordblks = to_size(slab_bytes > in_use ? slab_bytes - in_use : 0);
  mi.keepcost = to_size(s.huge.cached_bytes);     // what malloc_trim could give back at once
  return mi;
}

struct mallinfo mallinfo_impl() {
  const struct mallinfo2 m = mallinfo2_impl();
  struct mallinfo mi = {};
  mi.arena = to_int(m.arena);
  mi.ordblks = to_int(m.ordblks);
  mi.smblks = to_int(m.smblks);
  mi.hblks = to_int(m.hblks);
  mi.hblkhd = to_int(m.hblkhd);
  mi.usmblks = to_int(m.usmblks);
  mi.fsmblks = to_int(m.fsmblks);
  mi.uordblks = to_int(m.uordblks);
  mi.fordblks = to_int(m.fordblks);
  mi.keepcost = to_int(m.keepcost);
  return mi;
}

void malloc_stats_impl() {
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  tiers::print_snapshot(s, 2);
}

}  // namespace hakmem::preload
