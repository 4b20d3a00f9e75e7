#include "tiers/huge.h"

#include <cstring>

#include "base/bits.h"
#include "base/check.h"
#include "base/constants.h"
#include "base/futex_lock.h"
#include "base/intrusive_list.h"
#include "config/options.h"
#include "numa/binding.h"
#include "os/clock.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "tiers/chunk_map.h"
#include "tiers/node_pool.h"

namespace hakmem::tiers {

namespace {

struct HugeRecord {  // a live block (in the registry) or a free range (in the cache)
  void* user = nullptr;        // the block's address (registry key); null while cached
  char* base = nullptr;        // the mapping
  std::size_t map_bytes = 0;   // multiple of 2 MiB
  std::size_t requested = 0;
  os::Backing backing = os::Backing::kPlain;
  bool zeroed = false;         // cached and purged (or never touched): reads as zero
  std::uint64_t cached_at_ms = 0;
  HugeRecord* bucket_next = nullptr;
  ListLinks<HugeRecord> cache_links;

  std::size_t usable() const { return map_bytes - static_cast<std::size_t>(static_cast<char*>(user) - base); }
};

using CacheList = IntrusiveList<HugeRecord, &HugeRecord::cache_links>;

constinit FutexLock g_lock{LockRank::kHugeCache};

struct Registry {
  HugeRecord** buckets = nullptr;
  std::size_t bucket_count = 0;
  std::size_t count = 0;
};
constinit Registry g_registry HAKMEM_GUARDED_BY(g_lock);
constinit CacheList g_cache HAKMEM_GUARDED_BY(g_lock);   // newest first
constinit HugeRecord* g_spare_records HAKMEM_GUARDED_BY(g_lock) = nullptr;
constinit HugeStats g_stats HAKMEM_GUARDED_BY(g_lock);

std::size_t bucket_of(const void* p, std::size_t count) {
  // Huge blocks are 2 MiB aligned (or more): drop those bits, then mix.
  std::uint64_t k = reinterpret_cast<std::uintptr_t>(p) >> kSuperSlabShift;
  k *= 0x9e3779b97f4a7c15ull;
  return static_cast<std::size_t>(k >> 32) & (count - 1);
}

HugeRecord* new_record() HAKMEM_REQUIRES(g_lock) {
  if (g_spare_records != nullptr) {
    HugeRecord* r = g_spare_records;
    g_spare_records = r->bucket_next;
    *r = HugeRecord();
    return r;
  }
  void* mem = os::meta_alloc(sizeof(HugeRecord), alignof(HugeRecord));
  return mem == nullptr ? nullptr : new (mem) HugeRecord();
}

void recycle_record(HugeRecord* r) HAKMEM_REQUIRES(g_lock) {
  r->bucket_next = g_spare_records;
  g_spare_records = r;
}

// Doubles the bucket array when the load passes 1. Returns false if the
// table could not grow (it still works, with longer chains).
void maybe_grow() HAKMEM_REQUIRES(g_lock) {
  Registry& reg = g_registry;
  if (reg.count < reg.bucket_count) return;
  const std::size_t new_count = reg.bucket_count == 0 ? 512 : reg.bucket_count * 2;
  auto** fresh = static_cast<HugeRecord**>(os::map_table(new_count * sizeof(HugeRecord*)));
  if (fresh == nullptr) return;
  for (std::size_t i = 0; i < reg.bucket_count; ++i) {
    for (HugeRecord* r = reg.buckets[i]; r != nullptr;) {
      HugeRecord* next = r->bucket_next;
      const std::size_t b = bucket_of(r->user, new_count);
      r->bucket_next = fresh[b];
      fresh[b] = r;
      r = next;
    }
  }
  os::unmap_table(reg.buckets, reg.bucket_count * sizeof(HugeRecord*));
  reg.buckets = fresh;
  reg.bucket_count = new_count;
}

bool insert(HugeRecord* r) HAKMEM_REQUIRES(g_lock) {
  maybe_grow();
  Registry& reg = g_registry;
  if (reg.bucket_count == 0) return false;
  const std::size_t b = bucket_of(r->user, reg.bucket_count);
  r->bucket_next = reg.buckets[b];
  reg.buckets[b] = r;
  ++reg.count;
  return true;
}

HugeRecord* find(const void* p) HAKMEM_REQUIRES(g_lock) {
  const Registry& reg = g_registry;
  if (reg.bucket_count == 0) return nullptr;
  for (HugeRecord* r = reg.buckets[bucket_of(p, reg.bucket_count)]; r != nullptr; r = r->bucket_next) {
    if (r->user == p) return r;
  }
  return nullptr;
}

HugeRecord* remove(const void* p) HAKMEM_REQUIRES(g_lock) {
  Registry& reg = g_registry;
  if (reg.bucket_count == 0) return nullptr;
  for (HugeRecord** link = &reg.buckets[bucket_of(p, reg.bucket_count)]; *link != nullptr;
       link = &(*link)->bucket_next) {
    HugeRecord* r = *link;
    if (r->user == p) {
      *link = r->bucket_next;
      r->bucket_next = nullptr;
      --reg.count;
      return r;
    }
  }
  return nullptr;
}

std::size_t cache_budget() HAKMEM_REQUIRES(g_lock) {
  // As much free address space as is live: a program whose huge blocks come
  // and go at a steady footprint then never maps again. Pages of free ranges
  // are purged after the purge delay, so this bounds address space, not RSS.
  return g_stats.live_bytes > kCacheFloorBytes ? g_stats.live_bytes : kCacheFloorBytes;
}

// Puts a free range into the cache, merged with cached neighbours of the
// same backing: freed huge blocks form larger free ranges that later requests
// of any smaller size can be cut from (munmap and madvise work across the
// original mappings' boundaries). Takes ownership of r.
void cache_insert(HugeRecord* r) HAKMEM_REQUIRES(g_lock) {
  r->user = nullptr;
  for (HugeRecord* c = g_cache.front(); c != nullptr;) {
    HugeRecord* next = CacheList::next(c);
    const bool left = c->base + c->map_bytes == r->base;
    const bool right = r->base + r->map_bytes == c->base;
    if ((left || right) && c->backing == r->backing) {
      g_cache.remove(c);
      g_stats.cached_blocks -= 1;
      g_stats.cached_bytes -= c->map_bytes;
      if (left) r->base = c->base;
      r->map_bytes += c->map_bytes;
      r->zeroed = r->zeroed && c->zeroed;
      if (c->cached_at_ms > r->cached_at_ms) r->cached_at_ms = c->cached_at_ms;
      recycle_record(c);
    }
    c = next;
  }
  g_cache.push_front(r);
  g_stats.cached_blocks += 1;
  g_stats.cached_bytes += r->map_bytes;
}

// Best fit among cached ranges; the rest of a bigger range stays cached.
// null if none is big enough, or no record is left for the rest.
HugeRecord* take_cached(std::size_t need) HAKMEM_REQUIRES(g_lock) {
  HugeRecord* best = nullptr;
  for (HugeRecord* r = g_cache.front(); r != nullptr; r = CacheList::next(r)) {
    if (r->map_bytes >= need && (best == nullptr || r->map_bytes < best->map_bytes)) best = r;
  }
  if (best == nullptr) return nullptr;
  if (best->map_bytes > need) {
    HugeRecord* rest = new_record();
    if (rest == nullptr) return nullptr;
    rest->base = best->base + need;
    rest->map_bytes = best->map_bytes - need;
    rest->backing = best->backing;
    rest->zeroed = best->zeroed;
    rest->cached_at_ms = best->cached_at_ms;
    g_stats.cached_bytes -= rest->map_bytes;
    best->map_bytes = need;
    g_cache.push_front(rest);
    g_stats.cached_blocks += 1;
    g_stats.cached_bytes += rest->map_bytes;
  }
  g_cache.remove(best);
  g_stats.cached_blocks -= 1;
  g_stats.cached_bytes -= best->map_bytes;
  return best;
}

bool bind_to_current_node(void* base, std::size_t bytes, void*) {
  numa::bind_region(base, bytes, numa::current_node());
  return true;
}

void unmap_mapping(char* base, std::size_t bytes) {
  chunk_map().clear(base, bytes);
  os::release(base, bytes);
}

}  // namespace

void* huge_allocate(std::size_t bytes, std::size_t alignment, bool zero) {
  // Sizes near SIZE_MAX cannot be mapped; refuse before any arithmetic wraps.
  if (bytes > (std::size_t{1} << 62) || alignment > (std::size_t{1} << 40)) return nullptr;
  const std::size_t need = align_up(bytes == 0 ? 1 : bytes, kSuperSlabBytes);
  const std::size_t extra = alignment > kSuperSlabBytes ? alignment : 0;

  HugeRecord* r = nullptr;
  {
    LockGuard guard(g_lock);
    if (extra == 0) r = take_cached(need);
    if (r != nullptr) ++g_stats.cache_hits;
    else ++g_stats.cache_misses;
  }
  if (r == nullptr) {
    // THP advice only for the 2 MiB pages the block fills entirely: the
    // partly used last one would be faulted in whole on its first touch.
    const os::Region region = os::map_aligned(need + extra, config::options().huge_pages,
                                              bind_to_current_node, nullptr, bytes + extra);
    if (region.base == nullptr) return nullptr;
    if (!chunk_map().set(region.base, need + extra, ChunkKind::kHuge)) {
      unmap_mapping(static_cast<char*>(region.base), need + extra);
      return nullptr;
    }
    LockGuard guard(g_lock);
    r = new_record();
    if (r == nullptr) {
      unmap_mapping(static_cast<char*>(region.base), need + extra);
      return nullptr;
    }
    r->base = static_cast<char*>(region.base);
    r->map_bytes = need + extra;
    r->backing = region.backing;
    r->zeroed = true;
  }
  r->user = reinterpret_cast<void*>(align_up(reinterpret_cast<std::uintptr_t>(r->base), alignment));
  r->requested = bytes;
  const bool was_zeroed = r->zeroed;
  r->zeroed = false;
  {
    LockGuard guard(g_lock);
    if (!insert(r)) {
      recycle_record(r);
      // Without a registry slot the block could never be freed: give up.
      unmap_mapping(r->base, r->map_bytes);
      return nullptr;
    }
    ++g_stats.allocations;
    ++g_stats.live_blocks;
    g_stats.live_bytes += r->map_bytes;
    g_stats.requested_bytes += bytes;
  }
  if (zero && !was_zeroed) std::memset(r->user, 0, bytes);
  return r->user;
}

bool huge_free(void* p) {
  HugeRecord* r = nullptr;
  {
    LockGuard guard(g_lock);
    r = remove(p);
    if (r == nullptr) return false;
    ++g_stats.frees;
    --g_stats.live_blocks;
    g_stats.live_bytes -= r->map_bytes;
    g_stats.requested_bytes -= r->requested;
    if (g_stats.cached_bytes + r->map_bytes <= cache_budget()) {
      r->cached_at_ms = os::monotonic_ms();
      cache_insert(r);
      r = nullptr;
    }
  }
  if (r != nullptr) {
    unmap_mapping(r->base, r->map_bytes);
    LockGuard guard(g_lock);
    recycle_record(r);
  }
  huge_decay(false);
  return true;
}

std::size_t huge_usable_size(const void* p) {
  LockGuard guard(g_lock);
  const HugeRecord* r = find(p);
  return r == nullptr ? 0 : r->usable();
}

void* huge_reallocate(void* p, std::size_t bytes) {
  if (bytes > (std::size_t{1} << 62)) return nullptr;
  const std::size_t need = align_up(bytes == 0 ? 1 : bytes, kSuperSlabBytes);
  HugeRecord* r = nullptr;
  {
    LockGuard guard(g_lock);
    r = find(p);
    if (r == nullptr) return nullptr;
    // Take it out of the registry while we work on it without the lock; the
    // caller owns the block, so nobody else may free it meanwhile.
    remove(p);
  }
  const std::size_t offset = static_cast<std::size_t>(static_cast<char*>(r->user) - r->base);
  const std::size_t old_bytes = r->map_bytes;
  const std::size_t want = need + offset;
  void* result = p;
  if (want < old_bytes) {
    // Shrink: give the tail back; the block stays where it is.
    unmap_mapping(r->base + want, old_bytes - want);
    r->map_bytes = want;
  } else if (want > old_bytes) {
    void* grown = r->backing == os::Backing::kHugetlb ? nullptr : os::remap(r->base, old_bytes, want, nullptr);
    if (grown != nullptr && chunk_map().set(r->base, want, ChunkKind::kHuge)) {
      r->map_bytes = want;
    } else {
      if (grown != nullptr) {
        // Could not mark the new chunks: unmark them and undo the growth.
        chunk_map().clear(r->base + old_bytes, want - old_bytes);
        os::remap(r->base, want, old_bytes, nullptr);
      }
      void* fresh = huge_allocate(bytes, kSuperSlabBytes, false);
      if (fresh == nullptr) {
        LockGuard guard(g_lock);
        insert(r);
        return nullptr;
      }
      const std::size_t keep = r->requested < bytes ? r->requested : bytes;
      bool moved = false;
      if (offset == 0 && r->backing != os::Backing::kHugetlb) {
        // Move the old pages over the head of the new mapping: no copy.
        // The old range is unmarked first: the moment mremap frees it, the
        // kernel may hand it to another thread's new SuperSlab, whose mark
        // must not be cleared after the fact. The block is the caller's
        // alone meanwhile, so nobody looks it up.
        chunk_map().clear(r->base, old_bytes);
        moved = os::remap(r->base, old_bytes, old_bytes, fresh) != nullptr;
        if (!moved) chunk_map().set(r->base, old_bytes, ChunkKind::kHuge);
      }
      if (moved) {
        os::os_stats().mapped_bytes.sub(old_bytes);
      } else {
        std::memcpy(fresh, p, keep);
        unmap_mapping(r->base, old_bytes);
      }
      LockGuard guard(g_lock);
      if (moved) ++g_stats.moved_by_remap;
      ++g_stats.frees;
      --g_stats.live_blocks;
      g_stats.live_bytes -= old_bytes;
      g_stats.requested_bytes -= r->requested;
      recycle_record(r);
      return fresh;
    }
  }
  LockGuard guard(g_lock);
  g_stats.live_bytes = g_stats.live_bytes - old_bytes + r->map_bytes;
  g_stats.requested_bytes = g_stats.requested_bytes - r->requested + bytes;
  r->requested = bytes;
  insert(r);
  return result;
}

std::size_t huge_decay(bool force) {
  const std::uint64_t now = os::monotonic_ms();
  const std::uint64_t delay = config::options().purge_delay_ms.load(std::memory_order_relaxed);
  std::size_t done = 0;
  for (;;) {
    HugeRecord* r = nullptr;
    bool release = false;
    {
      LockGuard guard(g_lock);
      // Oldest first: the back of the list.
      for (HugeRecord* c = g_cache.back(); c != nullptr; c = c->cache_links.prev) {
        const std::uint64_t age = now - c->cached_at_ms;
        const bool over_budget = g_stats.cached_bytes > cache_budget();
        if (!c->zeroed && (force || age >= delay)) {
          r = c;
          release = force || c->backing == os::Backing::kHugetlb;
        } else if (c->zeroed && (force || over_budget || age >= NodePool::kReleaseAfterPurgedMs)) {
          r = c;
          release = true;
        }
        if (r != nullptr) break;
      }
      if (r == nullptr) break;
      g_cache.remove(r);
      g_stats.cached_blocks -= 1;
      g_stats.cached_bytes -= r->map_bytes;
    }
    done += r->map_bytes;
    if (release) {
      unmap_mapping(r->base, r->map_bytes);
      LockGuard guard(g_lock);
      recycle_record(r);
      continue;
    }
    os::purge(r->base, r->map_bytes);
    LockGuard guard(g_lock);
    r->zeroed = true;
    r->cached_at_ms = now;
    cache_insert(r);
  }
  return done;
}

HugeStats huge_stats() {
  LockGuard guard(g_lock);
  return g_stats;
}

void huge_lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.lock_ignoring_rank(); }
void huge_unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.unlock(); }
void huge_reset_after_fork_child() { g_lock.reset_after_fork(); }

}  // namespace hakmem::tiers
