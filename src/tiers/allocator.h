// The allocation entry points of the tiers: what src/preload forwards every
// malloc, free, new and delete to.
//
// Layer: tiers. Any thread, any time (before init, during thread exit).
//
// ┌──────────────────────────── Allocation Code Overview ────────────────────────────┐
// │ allocate(n)                            [FAST] n <= 256 KiB and the bin has a block │
// │   class_of(n) -> t_heap->bins[c].head -> pop                                        │
// │   └─ allocate_slow(n)                    [SLOW]                                     │
// │        ├─ n > 256 KiB ────────────────> huge_allocate (huge.cpp; shared spans,     │
// │        │                                 best fit, coalescing, lock)                │
// │        ├─ unattached thread ──────────> attach_current_thread (heap_registry.cpp) │
// │        └─ ThreadHeap::refill (thread_heap.cpp)                                     │
// │             ├─ drain_inbox          blocks other threads freed to us               │
// │             ├─ partial slab         its free list, then never-used blocks          │
// │             ├─ new slab             free units of an owned SuperSlab               │
// │             └─ NodePool::acquire    (node_pool.cpp; lock) reuse, else              │
// │                  os::map_aligned    hugetlb -> THP -> plain pages (os/pages.cpp)   │
// │                                                                                   │
// │ deallocate(p)                            [FAST] p in a SuperSlab of this thread's │
// │   chunk_map().kind_of(p) -> unit's Slab -> owner == t_heap -> push bins[c]          │
// │   ├─ p not a block's start, or freed mark set ──> deallocate_slow: report, abort   │
// │   ├─ bin over capacity ───> ThreadHeap::flush_overflow: oldest half to the slabs   │
// │   ├─ other owner ─────> free_other_heaps_block [SLOW] kept in bins[c] while it has │
// │   │                     room, else batched home to owner->push_remote (inbox)      │
// │   └─ deallocate_slow(p)                  [SLOW]                                     │
// │        ├─ small ───────────> free_small: says what misuse it is, else as above     │
// │        ├─ huge ────────────> huge_free (to the reuse cache)                         │
// │        ├─ bootstrap ───────> nothing (bootstrap blocks live forever)                │
// │        └─ foreign ─────────> os::libc_free (glibc's own free)                       │
// └───────────────────────────────────────────────────────────────────────────────────┘
//
// The fast paths take no lock, make no syscall, test no option, update no
// shared counter: a thread-local pointer, a table lookup, a list pop or push,
// two per-thread counters, and on free the two misuse tests (a multiply
// that says p starts a block, the freed mark of freed_mark.h).
#pragma once

#include <cstddef>

#include "base/attributes.h"
#include "base/build_config.h"
#include "tiers/chunk_map.h"
#include "tiers/freed_mark.h"
#include "tiers/heap_registry.h"
#include "tiers/size_classes.h"
#include "tiers/superslab.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {

extern ChunkMap g_chunk_map;

HAKMEM_SLOW_PATH void* allocate_slow(std::size_t n) noexcept;
HAKMEM_SLOW_PATH void deallocate_slow(void* p, ChunkKind kind) noexcept;
HAKMEM_SLOW_PATH void flush_slow(ThreadHeap* h, std::size_t c) noexcept;
HAKMEM_SLOW_PATH void free_other_heaps_block(void* p, ThreadHeap* h) noexcept;

// A block of class c from this thread's cache, or null when its bin is
// empty (or the thread has no heap yet: its bins are the empty ones of the
// unattached heap).
HAKMEM_FAST_PATH void* pop_cached(unsigned c) noexcept {
  Bin* const b = &t_heap->bins[c];
  void* p = b->head;
  if (HAKMEM_LIKELY(p != nullptr)) {
    b->head = *static_cast<void**>(p);
    b->count_alloc();
    clear_freed_mark(p);
  }
  return p;
}

HAKMEM_FAST_PATH void* allocate(std::size_t n) noexcept {
  // Tiny requests first: they pass one compare, the rest two.
  unsigned c;
  if (HAKMEM_LIKELY(n <= kMaxTinyBlock)) {
    c = tiny_class_of(n);
  } else if (HAKMEM_LIKELY(n <= kMaxSlabBlock)) {
    c = compute_class_index(n);
  } else {
    return allocate_slow(n);
  }
  if (void* p = pop_cached(c); HAKMEM_LIKELY(p != nullptr)) return p;
  return allocate_slow(n);
}

HAKMEM_FAST_PATH void deallocate(void* p) noexcept {
  const ChunkKind kind = g_chunk_map.kind_of(p);
  if (HAKMEM_LIKELY(kind == ChunkKind::kSuperSlab) && !kChecked) {
    const Slab& unit = SuperSlab::unit_slab(p);
    ThreadHeap* h = t_heap;
    if (HAKMEM_LIKELY(unit.owner == h)) {
      const std::size_t c = unit.size_class;
      // Not a block's start, or freed already: the slow path says which
      // and stops.
      if (HAKMEM_UNLIKELY(has_freed_mark(p, h))) return deallocate_slow(p, kind);
      if (HAKMEM_UNLIKELY(!unit.starts_block(p, h->block_start_multipliers[c]))) return deallocate_slow(p, kind);
      set_freed_mark(p, h);
      Bin& b = h->bins[c];
      *static_cast<void**>(p) = b.head;
      b.head = p;
      // Tail calls: the fast path needs no stack frame.
      if (HAKMEM_UNLIKELY(b.count_free_over_capacity())) return flush_slow(h, c);
      return;
    }
    return free_other_heaps_block(p, h);
  }
  return deallocate_slow(p, kind);
}

// calloc: n * size zeroed; null + ENOMEM on overflow.
void* allocate_zeroed(std::size_t count, std::size_t size);
// realloc with glibc's semantics: realloc(nullptr, n) allocates;
// realloc(p, 0) frees p and returns null.
void* reallocate(void* p, std::size_t n);
HAKMEM_SLOW_PATH void* allocate_aligned_slow(std::size_t alignment, std::size_t n) noexcept;
// The thread cache gave `misaligned`, a block of class c that a mosaic cut
// off its natural alignment: it goes back, and so do the next ones like it.
HAKMEM_SLOW_PATH void* allocate_aligned_past(void* misaligned, SizeClass c, std::size_t alignment) noexcept;

// memalign-style: alignment is a power of two (callers validate). Blocks of
// up to a page's alignment come from a class whose blocks are that aligned,
// through the thread cache like malloc's. Mosaics may cut a class's blocks
// on any 16-byte boundary, so the block's alignment is checked.
HAKMEM_FAST_PATH void* allocate_aligned(std::size_t alignment, std::size_t n) noexcept {
  if (HAKMEM_LIKELY(alignment > kMinAlignment && alignment <= kOsPageBytes && n <= kMaxSlabBlock)) {
    if (const SizeClass c = aligned_class_of(n, alignment); HAKMEM_LIKELY(c < kClassCount)) {
      if (void* p = pop_cached(c); HAKMEM_LIKELY(p != nullptr)) {
        if (HAKMEM_LIKELY((reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0)) return p;
        return allocate_aligned_past(p, c, alignment);
      }
    }
  }
  return allocate_aligned_slow(alignment, n);
}
// Usable bytes of any pointer malloc could return (0 for null).
std::size_t usable_size(const void* p);
// Gives back every page hakmem can: this thread's cache and empty slabs,
// idle heaps, node pools, the huge cache. Returns bytes purged or released.
std::size_t trim();

}  // namespace hakmem::tiers
