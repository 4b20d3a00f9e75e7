// Huge blocks: requests above kMaxSlabBlock (256 KiB), and alignments above
// 4 KiB. They are cut from spans of reserved address space (huge_arena.h):
// 64 MiB spans shared by blocks up to 16 MiB, a span of its own for each
// bigger block.
//
// Layer: tiers. Any thread; the arena, the registry and the statistics are
// guarded by one lock (rank kHugeCache); mmap/mremap/munmap/madvise run
// outside it.
//
// A freed block's range merges with the free ranges beside it and is cut
// again for the next request of any size that fits, with no syscall and on
// pages that are already faulted in. Free ranges keep their pages for
// purge_delay_ms, are then purged (RSS drops, the pages read as zero, so
// calloc skips its memset); a span that is wholly free and purged is
// unmapped after NodePool::kReleaseAfterPurgedMs more, or at once while
// wholly free spans exceed max(kCacheFloorBytes, live huge bytes).
//
// Blocks above 16 MiB grow and move with mremap: their pages move, nothing
// is copied. Smaller blocks grow into the free range after them when there
// is one, and are copied otherwise (at most 16 MiB).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "numa/topology.h"

namespace hakmem::tiers {

inline constexpr std::size_t kCacheFloorBytes = std::size_t{64} << 20;

// Returns a block of at least `bytes`, aligned to `alignment` (a power of
// two), zeroed if `zero`. null when the OS has no memory (errno untouched:
// the caller sets ENOMEM).
void* huge_allocate(std::size_t bytes, std::size_t alignment, bool zero);

// Frees a huge block. Returns false if p is not the start of a live huge
// block (the caller reports an invalid free).
bool huge_free(void* p);

// Usable bytes of the live huge block starting at p, or 0 if there is none.
std::size_t huge_usable_size(const void* p);

// Counts every change that can make a huge block's usable size smaller or
// its address another block's: frees, shrinks and moves. Bumped under the
// huge lock; read with one load.
extern std::atomic<std::uint64_t> g_huge_layout_epoch;

// A thread's recent huge blocks and their usable bytes, so that realloc of
// a block growing a few bytes at a time (a string appended to) is answered
// without the lock. An entry holds while the layout epoch has not moved
// since it was written. A cache, not a record: a miss only costs the locked
// path, so its size is a choice (one slot per pointer hash), not a limit.
class HugeHints {
 public:
  bool fits(const void* p, std::size_t bytes) const {
    const Entry* set = set_of(p);
    const Entry& e = set[0].user == p ? set[0] : set[1];
    return e.user == p && bytes <= e.usable && e.epoch == g_huge_layout_epoch.load(std::memory_order_acquire);
  }
  void remember(const void* p, std::size_t usable, std::uint64_t epoch) {
    Entry* set = set_of(p);
    // The newest goes first; the other one of the pair stays second.
    if (set[0].user != p) set[1] = set[0];
    set[0] = {p, usable, epoch};
  }

 private:
  // Two ways a set: a few buffers growing side by side (vectors, strings
  // of one request) share sets now and then, and must not evict each other
  // on every call.
  static constexpr unsigned kSets = 32;
  struct Entry {
    const void* user;
    std::size_t usable;
    std::uint64_t epoch;
  };
  // Huge blocks start on 64 KiB granules; the multiply spreads neighbours
  // (blocks cut one after another from a span) over the sets.
  Entry* set_of(const void* p) { return entries_ + 2 * set_index(p); }
  const Entry* set_of(const void* p) const { return entries_ + 2 * set_index(p); }
  static unsigned set_index(const void* p) {
    const std::uint64_t granule = reinterpret_cast<std::uintptr_t>(p) >> 16;
    return static_cast<unsigned>((granule * 0x9e3779b97f4a7c15ull) >> 59);  // top 5 bits: 32 sets
  }
  Entry entries_[2 * kSets] = {};
};

// Resizes in place when it can (shrinking, or growing into the free range
// after the block or, for a block with a span of its own, with mremap);
// otherwise moves the block, by mremap when it has a span of its own and by
// copying when not. Returns the block's new address, or null (p still
// valid) when memory is exhausted, or when p is not a live huge block, in
// which case *unknown is set (it is left alone otherwise). A block resized
// in place is noted in `hints` (when not null).
void* huge_reallocate(void* p, std::size_t bytes, bool* unknown, HugeHints* hints);

// Purges free ranges and unmaps free spans per the delays; `force` does all
// now. Returns bytes purged or released.
std::size_t huge_decay(bool force);

struct HugeStats {
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
  std::uint64_t live_blocks = 0;
  std::uint64_t live_bytes = 0;        // mapped bytes of live blocks
  std::uint64_t cached_blocks = 0;     // free ranges in the spans
  std::uint64_t cached_bytes = 0;      // their bytes
  std::uint64_t dirty_cached_bytes = 0;  // the part that still holds pages (not purged, or hugetlb)
  std::uint64_t spans = 0;
  std::uint64_t span_bytes = 0;        // address space reserved for huge blocks
  std::uint64_t cache_hits = 0;        // blocks cut from a span already mapped
  std::uint64_t cache_misses = 0;      // blocks that needed a new span
  std::uint64_t moved_by_remap = 0;    // reallocs that moved pages instead of copying
};
HugeStats huge_stats();

// Huge-block address space on one node, split into live blocks and free
// ranges (the rest of a span is neither: there is none).
struct HugeNodeStats {
  std::uint64_t span_bytes = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t dirty_free_bytes = 0;  // the part of free_bytes that may hold pages
};
HugeNodeStats huge_node_stats(numa::NodeId node);

void huge_lock_for_fork();
void huge_unlock_after_fork_parent();
void huge_reset_after_fork_child();

}  // namespace hakmem::tiers
