#include "tiers/huge.h"

#include <cstring>

#include "base/bits.h"
#include "base/check.h"
#include "base/constants.h"
#include "base/futex_lock.h"
#include "config/options.h"
#include "numa/binding.h"
#include "numa/placement.h"
#include "os/clock.h"
#include "os/pages.h"
#include "os/purge_batch.h"
#include "tiers/address_space.h"
#include "tiers/chunk_map.h"
#include "tiers/heap_registry.h"
#include "tiers/huge_arena.h"
#include "tiers/huge_registry.h"
#include "tiers/node_pool.h"

namespace hakmem::tiers {

namespace {

constinit FutexLock g_lock{LockRank::kHugeCache};
constinit HugeArena g_arena HAKMEM_GUARDED_BY(g_lock);
constinit HugeRegistry g_registry HAKMEM_GUARDED_BY(g_lock);
constinit HugeStats g_stats HAKMEM_GUARDED_BY(g_lock);
constinit std::uint64_t g_last_decay_ms HAKMEM_GUARDED_BY(g_lock) = 0;

void bump_layout_epoch() HAKMEM_REQUIRES(g_lock) { g_huge_layout_epoch.fetch_add(1, std::memory_order_release); }

// Sizes near SIZE_MAX cannot be mapped; refuse before any arithmetic wraps.
constexpr std::size_t kMaxRequest = std::size_t{1} << 62;
constexpr std::size_t kMaxAlignment = std::size_t{1} << 40;

std::size_t granules_for(std::size_t bytes) { return align_up(bytes == 0 ? 1 : bytes, kHugeGranule); }

std::size_t cache_budget() HAKMEM_REQUIRES(g_lock) {
  // Twice as much wholly free address space as is live: a program whose
  // huge blocks come and go at a steady footprint then never maps again,
  // even though mixed sizes leave holes between the live blocks. Free
  // ranges are purged after the purge delay, so this bounds address space,
  // not RSS.
  const std::size_t twice_live = 2 * g_stats.live_bytes;
  return twice_live > kCacheFloorBytes ? twice_live : kCacheFloorBytes;
}

bool bind_to_node(void* base, std::size_t bytes, void* node) {
  numa::bind_region_spread(base, bytes, *static_cast<numa::NodeId*>(node));
  return true;
}

// Maps `bytes` (a multiple of 2 MiB) for huge blocks and marks it in the
// chunk map. Transparent huge pages only when the user asked for them: a
// huge block is often touched sparsely (a buffer filled to a fraction, a
// table indexed at random), and each first touch of an advised 2 MiB page
// faults in and zeroes all of it.
os::Region map_span(std::size_t bytes, numa::NodeId node) {
  const os::HugePagePolicy policy = config::options().huge_pages;
  const std::size_t thp_bytes = policy == os::HugePagePolicy::kAuto ? 0 : os::kAdviseAll;
  os::Region region = os::map_aligned(bytes, policy, bind_to_node, &node, thp_bytes);
  if (region.base == nullptr) return region;
  if (!chunk_map().set(region.base, bytes, ChunkKind::kHuge)) {
    os::release(region.base, bytes);
    return os::Region{};
  }
  return region;
}

void unmap_span(char* base, std::size_t bytes) {
  chunk_map().clear(base, bytes);
  os::release(base, bytes);
}

// How much address space a new span for this request takes: a shared span,
// or exactly the block when it is big enough to have one of its own. With
// hugetlb pages, which are populated when mapped, no more than the block.
// The least a span for the request can be: the block and its alignment.
std::size_t exact_span_bytes_for(std::size_t need, std::size_t alignment) {
  const std::size_t extra = alignment > kSuperSlabBytes ? alignment : 0;
  return align_up(need + extra, kSuperSlabBytes);
}

std::size_t span_bytes_for(std::size_t need, std::size_t alignment) {
  const std::size_t exact = exact_span_bytes_for(need, alignment);
  if (need > kHugeDedicatedAbove || config::options().huge_pages == os::HugePagePolicy::kHugetlb) return exact;
  return exact > kHugeSpanBytes ? exact : kHugeSpanBytes;
}

// A live block's segment is now in the registry and counted. false (and
// the block freed again) if the registry could not take it.
bool register_block(HugeSegment* live, std::uint64_t now) HAKMEM_REQUIRES(g_lock) {
  if (!g_registry.insert(live)) {
    g_arena.release_block(live, now);
    return false;
  }
  ++g_stats.allocations;
  ++g_stats.live_blocks;
  g_stats.live_bytes += live->bytes;
  return true;
}

void unregister_block(HugeSegment* seg) HAKMEM_REQUIRES(g_lock) {
  ++g_stats.frees;
  --g_stats.live_blocks;
  g_stats.live_bytes -= seg->bytes;
  bump_layout_epoch();
}

// The block was resized in place from old_bytes of segment.
void account_resize(HugeSegment* seg, std::size_t old_bytes) HAKMEM_REQUIRES(g_lock) {
  g_stats.live_bytes = g_stats.live_bytes - old_bytes + seg->bytes;
}

// A dedicated span whose one block starts it: mremap can move or resize it
// whole. hugetlb mappings cannot be resized.
bool remappable(const HugeSegment* seg) {
  const HugeSpan* span = seg->span;
  return span->dedicated && span->segments.front() == seg && span->segments.back() == seg &&
         seg->user == seg->base && span->backing != os::Backing::kHugetlb;
}

// Grows a remappable block to `need` bytes with mremap, in place or by
// moving its pages into a new span. The block is out of the registry (the
// caller owns it); on success it is back in, on failure it is untouched
// and the caller puts it back. Returns the block's address or null.
void* remap_block(HugeSegment* seg, std::size_t need) {
  HugeSpan* span = seg->span;
  char* const old_base = span->base;
  const std::size_t old_bytes = span->bytes;
  const std::size_t new_bytes = align_up(need, kSuperSlabBytes);
  char* result = nullptr;
  if (os::remap(old_base, old_bytes, new_bytes, nullptr) != nullptr) {
    if (chunk_map().set(old_base + old_bytes, new_bytes - old_bytes, ChunkKind::kHuge)) {
      result = old_base;
    } else {
      os::remap(old_base, new_bytes, old_bytes, nullptr);
    }
  }
  bool moved = false;
  if (result == nullptr) {
    os::Region fresh = map_span(new_bytes, span->node);
    if (fresh.base == nullptr && release_unused_address_space()) fresh = map_span(new_bytes, span->node);
    if (fresh.base == nullptr) return nullptr;
    // The old range is unmarked first: the moment mremap frees it, the
    // kernel may hand it to another thread's new SuperSlab, whose mark must
    // not be cleared after the fact. Nobody looks the block up meanwhile.
    chunk_map().clear(old_base, old_bytes);
    if (os::remap(old_base, old_bytes, old_bytes, fresh.base) == nullptr) {
      chunk_map().set(old_base, old_bytes, ChunkKind::kHuge);
      unmap_span(static_cast<char*>(fresh.base), new_bytes);
      return nullptr;
    }
    os::os_stats().mapped_bytes.sub(old_bytes);  // the old pages replaced the new mapping's head
    result = static_cast<char*>(fresh.base);
    moved = true;
  }
  LockGuard guard(g_lock);
  const std::size_t old_seg_bytes = seg->bytes;
  g_arena.span_remapped(span, result, new_bytes);
  account_resize(seg, old_seg_bytes);
  if (moved) {
    ++g_stats.moved_by_remap;
    bump_layout_epoch();
  }
  g_registry.insert(seg);  // it was in before, so the table has buckets
  return result;
}

}  // namespace

constinit std::atomic<std::uint64_t> g_huge_layout_epoch{1};

namespace {

// A block of `bytes` in a segment of at least `room` bytes (room >= bytes).
void* allocate_block(std::size_t bytes, std::size_t room, std::size_t alignment, bool zero) {
  if (room > kMaxRequest || alignment > kMaxAlignment) return nullptr;
  const std::size_t need = granules_for(room);
  if (alignment < kHugeGranule) alignment = kHugeGranule;
  // Under interleave, spans are spread page by page (bind_to_node), so the
  // node only sorts them; the thread's own keeps its free ranges together.
  const numa::NodeId node = current_thread_node();
  const std::uint64_t now = os::monotonic_ms();

  HugeSegment* live = nullptr;
  bool was_zeroed = false;
  {
    LockGuard guard(g_lock);
    if (HugeSegment* fit = g_arena.find_fit(need, alignment, node); fit != nullptr) {
      live = g_arena.carve(fit, need, alignment);
      if (live != nullptr) {
        ++g_stats.cache_hits;
        was_zeroed = live->zeroed;
        if (!register_block(live, now)) return nullptr;
      }
    }
  }
  if (live == nullptr) {
    std::size_t span_bytes = span_bytes_for(need, alignment);
    os::Region region = map_span(span_bytes, node);
    if (region.base == nullptr) {
      // Refused (an address-space limit, overcommit): a span of the block's
      // own size, then once more after giving back what is mapped and not
      // in use.
      span_bytes = exact_span_bytes_for(need, alignment);
      region = map_span(span_bytes, node);
      if (region.base == nullptr && release_unused_address_space()) region = map_span(span_bytes, node);
      if (region.base == nullptr) return nullptr;
    }
    LockGuard guard(g_lock);
    HugeSegment* seg = g_arena.add_span(static_cast<char*>(region.base), span_bytes, region.backing, node,
                                        need > kHugeDedicatedAbove, now);
    if (seg == nullptr) {
      unmap_span(static_cast<char*>(region.base), span_bytes);
      return nullptr;
    }
    ++g_stats.cache_misses;
    // The span is free for the taking until we carve it; it was made to fit.
    live = g_arena.carve(seg, need, alignment);
    if (live == nullptr || !register_block(live, now)) return nullptr;
    was_zeroed = true;
  }
  live->zeroed = false;
  if (zero && !was_zeroed) std::memset(live->user, 0, bytes);
  return live->user;
}

}  // namespace

void* huge_allocate(std::size_t bytes, std::size_t alignment, bool zero) {
  return allocate_block(bytes, bytes, alignment, zero);
}

bool huge_free(void* p) {
  const std::uint64_t now = os::monotonic_ms();
  bool decay_due = false;
  {
    LockGuard guard(g_lock);
    HugeSegment* seg = g_registry.remove(p);
    if (seg == nullptr) return false;
    unregister_block(seg);
    g_arena.release_block(seg, now);
    // The decay scan walks every free range and span: once per clock tick
    // is often enough, since nothing it does is due sooner.
    if (now != g_last_decay_ms) {
      g_last_decay_ms = now;
      decay_due = true;
    }
  }
  if (decay_due) huge_decay(false);
  return true;
}

std::size_t huge_usable_size(const void* p) {
  LockGuard guard(g_lock);
  const HugeSegment* seg = g_registry.find(p);
  return seg == nullptr ? 0 : seg->usable();
}

void* huge_reallocate(void* p, std::size_t bytes, bool* unknown, HugeHints* hints) {
  if (bytes > kMaxRequest) return nullptr;
  const std::size_t need = granules_for(bytes);
  std::size_t keep = 0;
  HugeSegment* to_remap = nullptr;  // out of the registry while mremap works on it
  {
    LockGuard guard(g_lock);
    HugeSegment* seg = g_registry.find(p);
    if (seg == nullptr) {
      *unknown = true;
      return nullptr;
    }
    const std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - seg->base);
    const std::size_t want = offset + need;
    const std::size_t old_bytes = seg->bytes;
    // A block keeps its end unless it shrinks to half or less: a string
    // growing step by step asks for a little more than it holds, within
    // the room its last move gave it, and must keep that room. (A shrink
    // that finds no record for the tail keeps the block as it is.)
    bool in_place = true;
    if (want <= seg->bytes / 2) {
      g_arena.shrink_in_place(seg, want, os::monotonic_ms());
      bump_layout_epoch();
    } else if (want > seg->bytes) {
      in_place = g_arena.grow_in_place(seg, want);
    }
    if (in_place) {
      account_resize(seg, old_bytes);
      if (hints != nullptr) hints->remember(p, seg->usable(), g_huge_layout_epoch.load(std::memory_order_relaxed));
      return p;
    }
    // Everything the block may hold moves: its bytes up to its usable end
    // (the program may have grown it in place, unseen, within them).
    keep = seg->usable() < bytes ? seg->usable() : bytes;
    if (remappable(seg) && need > kHugeDedicatedAbove) {
      g_registry.remove(p);
      to_remap = seg;
    }
  }
  if (to_remap != nullptr) {
    void* moved = remap_block(to_remap, need);
    if (moved != nullptr) return moved;
    LockGuard guard(g_lock);
    g_registry.insert(to_remap);
  }
  // A block that outgrew its place by a little is growing step by step (a
  // string appended to): its new place gets room for the next steps, so it
  // moves a few times in all rather than once per granule. The room is
  // address space; its pages cost nothing until the block grows into them.
  const std::size_t room = bytes > keep && bytes - keep < keep / 4 ? keep + keep / 2 : bytes;
  void* fresh = allocate_block(bytes, room, kHugeGranule, false);
  if (fresh == nullptr) return nullptr;
  std::memcpy(fresh, p, keep);
  huge_free(p);
  return fresh;
}

std::size_t huge_decay(bool force) {
  const std::uint64_t now = os::monotonic_ms();
  const std::uint64_t delay = config::options().purge_delay_ms.load(std::memory_order_relaxed);
  std::size_t done = 0;
  // Each round purges a batch of free ranges or unmaps a span. A range whose purge
  // failed stays dirty and would come back under `force`: the rounds are
  // bounded by what there was to do at the start.
  std::size_t rounds;
  {
    LockGuard guard(g_lock);
    rounds = g_arena.free_segments() + g_arena.span_count();
  }
  while (rounds > 0) {
    HugeSegment* segs[os::PurgeBatch::kMaxRanges];
    unsigned count = 0;
    HugeSpan* span = nullptr;
    {
      LockGuard guard(g_lock);
      // Releases first: a span about to be unmapped need not be purged.
      span = g_arena.take_for_release(now, delay, NodePool::kReleaseAfterPurgedMs, force, cache_budget());
      while (span == nullptr && count < os::PurgeBatch::kMaxRanges && count < rounds) {
        HugeSegment* seg = g_arena.take_for_purge(now, delay, force);
        if (seg == nullptr) break;
        segs[count++] = seg;
      }
    }
    if (span != nullptr) {
      unmap_span(span->base, span->bytes);
      done += span->bytes;
      LockGuard guard(g_lock);
      g_arena.forget_span(span);
      --rounds;
      continue;
    }
    if (count == 0) break;
    // The segments are off the free list (kPurging) until purged() puts
    // them back, after the batch is done.
    os::PurgeBatch batch;
    for (unsigned i = 0; i < count; ++i) batch.add(segs[i]->base, segs[i]->bytes);
    done += batch.submit();
    LockGuard guard(g_lock);
    for (unsigned i = 0; i < count; ++i) g_arena.purged(segs[i], now, batch.purged(i));
    rounds -= count;
  }
  return done;
}

HugeStats huge_stats() {
  LockGuard guard(g_lock);
  HugeStats s = g_stats;
  s.cached_blocks = g_arena.free_segments();
  s.cached_bytes = g_arena.free_bytes();
  s.dirty_cached_bytes = g_arena.dirty_free_bytes();
  s.spans = g_arena.span_count();
  s.span_bytes = g_arena.span_bytes();
  return s;
}

HugeNodeStats huge_node_stats(numa::NodeId node) {
  LockGuard guard(g_lock);
  std::size_t span_bytes = 0;
  std::size_t free_bytes = 0;
  std::size_t dirty_free_bytes = 0;
  g_arena.node_totals(node, &span_bytes, &free_bytes, &dirty_free_bytes);
  HugeNodeStats s;
  s.span_bytes = span_bytes;
  s.free_bytes = free_bytes;
  s.dirty_free_bytes = dirty_free_bytes;
  s.live_bytes = span_bytes - free_bytes;
  return s;
}

void huge_lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.lock_for_fork(); }
void huge_unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.unlock_after_fork_parent(); }
void huge_reset_after_fork_child() { g_lock.reset_after_fork(); }

}  // namespace hakmem::tiers
