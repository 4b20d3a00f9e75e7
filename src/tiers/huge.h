// Huge blocks: requests above kMaxSlabBlock (1 MiB), and alignments above
// 4 KiB, each in its own 2 MiB-aligned mapping whose length is a multiple of
// 2 MiB (so every 2 MiB chunk it covers is wholly ours in the chunk map).
//
// Layer: tiers. Any thread; the registry and the cache are guarded by one
// lock (rank kHugeCache); mmap/munmap/madvise run outside it.
//
// A freed huge block's mapping goes to the reuse cache, not back to the OS,
// merged with adjacent free ranges: the next huge request of any size that
// fits is cut from the best-fitting range without a syscall. Cached
// mappings keep their pages for purge_delay_ms, are then purged (RSS drops,
// the pages read as zero, so calloc skips its memset), and are unmapped
// after NodePool::kReleaseAfterPurgedMs more. The cache holds at most
// max(kCacheFloorBytes, live huge bytes): it grows with the program.
//
// The registry (user pointer -> mapping) is a chained hash table that
// doubles when its load passes 1; its records are recycled, never capped.
#pragma once

#include <cstddef>
#include <cstdint>

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

// Resizes in place when it can (shrinking, or growing into free address
// space right after the mapping); otherwise moves the pages to a new mapping
// without copying them (mremap). Returns the block's new address, or null
// (p still valid) when memory is exhausted.
void* huge_reallocate(void* p, std::size_t bytes);

// Purges and releases cached mappings per the delays; `force` does all now.
// Returns bytes purged or released.
std::size_t huge_decay(bool force);

struct HugeStats {
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
  std::uint64_t live_blocks = 0;
  std::uint64_t live_bytes = 0;        // mapped bytes of live blocks
  std::uint64_t requested_bytes = 0;   // what the program asked for, live blocks
  std::uint64_t cached_blocks = 0;
  std::uint64_t cached_bytes = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t moved_by_remap = 0;    // reallocs that moved pages instead of copying
};
HugeStats huge_stats();

void huge_lock_for_fork();
void huge_unlock_after_fork_parent();
void huge_reset_after_fork_child();

}  // namespace hakmem::tiers
