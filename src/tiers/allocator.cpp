// Slow paths of the allocation entry points (allocator.h), and the calls
// that are never fast: calloc, realloc, aligned allocation, usable size, trim.
#include "tiers/allocator.h"

#include "numa/topology.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "base/format.h"
#include "os/address_kind.h"
#include "os/libc_fallback.h"
#include "os/pages.h"
#include "tiers/address_space.h"
#include "tiers/bootstrap.h"
#include "tiers/huge.h"
#include "tiers/mosaic.h"
#include "tiers/node_pool.h"
#include "tiers/slab_pages.h"
#include "tiers/slow_path_hook.h"
#include "tiers/stats.h"

namespace hakmem::tiers {

namespace {

void* fail_enomem() {
  errno = ENOMEM;
  return nullptr;
}

// The calling thread's heap, attaching one if needed; null if impossible.
ThreadHeap* current_heap() {
  ThreadHeap* h = t_heap;
  if (HAKMEM_LIKELY(h != &g_unattached_heap)) {
    // With several nodes, each refill first sees whether the thread has
    // moved to another node (getcpu, served by the vDSO): new memory must
    // come from the node the thread runs on now.
    if (HAKMEM_UNLIKELY(numa::node_count() > 1)) return follow_thread_to_its_node();
    return h;
  }
  return attach_current_thread();
}

void* pop_block(ThreadHeap* h, SizeClass c) {
  Bin& b = h->bins[c];
  if (b.head == nullptr && !h->refill(c)) return nullptr;
  void* p = b.head;
  b.head = *static_cast<void**>(p);
  b.count_alloc();
  clear_freed_mark(p);
  return p;
}

// A block of class c for the calling thread, or null + ENOMEM.
void* allocate_from_class(SizeClass c) {
  if (HAKMEM_UNLIKELY(t_heap == &g_unattached_heap && current_thread_is_exiting())) {
    void* p = with_exit_heap([c](ThreadHeap* exit_heap) { return pop_block(exit_heap, c); });
    return p != nullptr ? p : fail_enomem();
  }
  ThreadHeap* h = current_heap();
  if (h == nullptr) return fail_enomem();
  void* p = pop_block(h, c);
  return p != nullptr ? p : fail_enomem();
}

// The class of the live block at p, whose unit's record is `unit` (a mosaic's
// map tells the class of each of its blocks; kMosaicClass where none starts
// at p). Any thread.
SizeClass class_of_block(const Slab& unit, const void* p) {
  const SizeClass c = __atomic_load_n(&unit.size_class, __ATOMIC_ACQUIRE);
  return c == kMosaicClass ? mosaic_block_class(unit, p) : c;
}

[[noreturn]] HAKMEM_SLOW_PATH void report_misuse(const char* what, const void* p, const Slab* unit) {
  Formatter f;
  f.str("hakmem: ").str(what).str(" of ").ptr(p);
  if (unit != nullptr && unit->state != Slab::State::kFree && unit->size_class == kMosaicClass) {
    f.str(" (a mosaic slab of tiny blocks of several sizes)");
  } else if (unit != nullptr && unit->state != Slab::State::kFree) {
    f.str(" (size class ").dec(unit->size_class).str(", ").dec(block_size(unit->size_class)).str("-byte blocks)");
  }
  f.ch('\n').write_to(2);
  abort();
}

// What a checked pointer was handed to, for the report.
enum class Use { kFree, kRealloc };

[[noreturn]] void report_not_a_block_start(const void* p, const Slab& unit, Use use) {
  report_misuse(use == Use::kFree ? "invalid free (not the start of a block)"
                                  : "realloc of an invalid pointer (not the start of a block)",
                p, &unit);
}
[[noreturn]] void report_free_block(const void* p, const Slab& unit, Use use) {
  report_misuse(use == Use::kFree ? "double free" : "realloc of a freed pointer", p, &unit);
}

// p, freed or resized, must be the start of a live block of the mosaic
// `unit`. Its map marks a free block's granules free: a second free finds
// none starting there, and nor does a pointer into a block.
HAKMEM_SLOW_PATH void check_mosaic_block(const void* p, const Slab& unit, Use use) {
  if (mosaic_block_interior(unit, p)) report_not_a_block_start(p, unit, use);
  if (!mosaic_block_live(unit, p) || has_freed_mark(p, unit.owner)) report_free_block(p, unit, use);
}

// The slab's geometry says whether p starts a block of class c (its offset
// from the slab's first block, bounded by the slab's capacity); reports it
// if not. A mosaic's
// conversion may have changed the record since the caller read the class.
HAKMEM_SLOW_PATH void check_block_geometry(const void* p, const Slab& unit, SizeClass c, Use use) {
  if (__atomic_load_n(&unit.size_class, __ATOMIC_ACQUIRE) == kMosaicClass) return check_mosaic_block(p, unit, use);
  const Slab& head = SuperSlab::head_slab(p);
  const char* begin = SuperSlab::of(p)->slab_begin(head);
  if (static_cast<const char*>(p) < begin ||
      !is_block_start(static_cast<std::size_t>(static_cast<const char*>(p) - begin), c, head.capacity)) {
    report_not_a_block_start(p, unit, use);
  }
}

// The cheap tests a sound free or realloc passes: a live slab with an owner,
// not a mosaic, p at a block's start by the multiply, no freed mark. False
// says only that check_small_block must look closer.
bool passes_cheap_block_tests(const void* p, const Slab& unit, SizeClass c) {
  return unit.state != Slab::State::kFree && unit.owner != nullptr && c != kMosaicClass &&
         unit.starts_block(p, kBlockStartMultiplier[c]) && !has_freed_mark(p, unit.owner);
}

// p must be the start of a carved block of the live slab whose unit record
// is `unit`, and the block must not be free: what every build checks on a
// free or resize that left the fast path (remote frees, a freed mark found,
// realloc). Remote frees are frequent, so the release build tests with the
// fast path's multiply and looks at the slab's geometry only when that
// fails; checked builds always do, and look for parked blocks too. Any
// thread: the class is read as other threads' frees read it.
void check_small_block(const void* p, const Slab& unit, Use use) {
  if (!kChecked && passes_cheap_block_tests(p, unit, __atomic_load_n(&unit.size_class, __ATOMIC_ACQUIRE))) return;
  // A block of a slab already given back: freed twice (its slab emptied and
  // went), or never allocated; nothing left here can tell which.
  if (unit.state == Slab::State::kFree || unit.owner == nullptr) {
    report_misuse(use == Use::kFree ? "invalid or double free (no live slab holds it)"
                                    : "realloc of a freed or invalid pointer (no live slab holds it)",
                  p, nullptr);
  }
  const SizeClass c = __atomic_load_n(&unit.size_class, __ATOMIC_ACQUIRE);
  if (c == kMosaicClass) return check_mosaic_block(p, unit, use);
  if (kChecked || !unit.starts_block(p, kBlockStartMultiplier[c])) check_block_geometry(p, unit, c, use);
  // A parked block (slab_pages.h) is free, its page purged: its mark is gone
  // with the page, but the slab's page mask still tells.
  if ((kChecked && block_is_parked(p)) || has_freed_mark(p, unit.owner)) report_free_block(p, unit, use);
}

void free_small(void* p) {
  const Slab& unit = SuperSlab::unit_slab(p);
  check_small_block(p, unit, Use::kFree);
  ThreadHeap* owner = unit.owner;
  set_freed_mark(p, owner);
  ThreadHeap* h = t_heap;
  if (owner == h) {
    // The owner's bin of the unit's class: kMosaicClass's for a mosaic.
    const SizeClass c = unit.size_class;
    Bin& b = h->bins[c];
    *static_cast<void**>(p) = b.head;
    b.head = p;
    if (b.count_free_over_capacity()) h->flush_overflow(c);
    return;
  }
  // Counted by the block's own class.
  const SizeClass c = class_of_block(unit, p);
  // A thread that frees other threads' blocks gets a heap of its own to
  // batch them in (a consumer thread may never allocate at all).
  if (HAKMEM_UNLIKELY(h == &g_unattached_heap)) {
    h = current_thread_is_initialising() || current_thread_is_exiting() ? nullptr : attach_current_thread();
    if (h == nullptr) {
      owner->push_remote(p, p);
      count_unattributed_remote_free(c, owner->node());
      return;
    }
  }
  h->free_remote(owner, p, c);
}

// Checked builds: p, which no part of hakmem holds, goes to glibc's free or
// realloc only if glibc could have made it. A stack or global address, or
// one at a mapping's start, would make glibc read a header that is not
// there and crash without a word.
[[maybe_unused]] void check_foreign_pointer(const void* p, Use use) {
  const os::AddressFacts facts = os::classify_foreign_address(p);
  const char* what = use == Use::kFree ? "invalid free" : "realloc of an invalid pointer";
  Formatter f;
  f.str("hakmem: ").str(what).str(" of ").ptr(p).str(" (");
  switch (facts.kind) {
    case os::AddressKind::kMaybeLibcBlock:
      return;
    case os::AddressKind::kUnmapped:
      f.str("no mapping holds it");
      break;
    case os::AddressKind::kImage:
      f.str("a global or constant of ").str(facts.object[0] != '\0' ? facts.object : "the program");
      break;
    case os::AddressKind::kStack:
      f.str("a stack address");
      break;
    case os::AddressKind::kMappingStart:
      f.str("the start of a mapping no allocator made");
      break;
    case os::AddressKind::kMisaligned:
      f.str("misaligned: no allocator's block starts there");
      break;
  }
  f.str(")\n").write_to(2);
  abort();
}

// Where a realloc keeps its block: smaller requests keep it while they use
// at least half of it, so shrinking by a little never copies.
bool fits_in_place(std::size_t usable, std::size_t n) { return n <= usable && n >= usable / 2; }

void* move_block(void* p, std::size_t old_usable, std::size_t n) {
  void* fresh = allocate(n);
  if (fresh == nullptr) return nullptr;
  std::memcpy(fresh, p, old_usable < n ? old_usable : n);
  deallocate(p);
  return fresh;
}

}  // namespace

constinit std::atomic<SlowPathHook> g_slow_path_hook{nullptr};
constinit std::atomic<std::uint64_t> g_flush_epoch{0};

void* allocate_slow(std::size_t n) noexcept {
  run_slow_path_hook();
  if (n > kMaxSlabBlock) {
    void* p = huge_allocate(n, kMinAlignment, false);
    return p != nullptr ? p : fail_enomem();
  }
  if (HAKMEM_UNLIKELY(current_thread_is_initialising())) {
    void* p = bootstrap_allocate(n, kMinAlignment);
    return p != nullptr ? p : fail_enomem();
  }
  return allocate_from_class(class_of(n));
}

// No hook here: glibc frees with its own locks held (a thread's TLS, under
// the stack cache lock), and the hook may start the service thread, whose
// pthread_create takes that lock again.
void deallocate_slow(void* p, ChunkKind kind) noexcept {
  switch (kind) {
    case ChunkKind::kSuperSlab:
      free_small(p);
      return;
    case ChunkKind::kHuge:
      if (!huge_free(p)) report_misuse("invalid or double free (no huge block starts there)", p, nullptr);
      return;
    case ChunkKind::kBootstrap:
      return;
    case ChunkKind::kForeign:
      if (p == nullptr) return;
      if constexpr (kChecked) check_foreign_pointer(p, Use::kFree);
      os::libc_free(p);
      return;
  }
}

void flush_slow(ThreadHeap* h, std::size_t c) noexcept { h->flush_overflow(static_cast<SizeClass>(c)); }

// The common remote free, kept short: the cheap block tests, then
// free_remote. A thread without a heap, a mosaic
// block or any failed test takes free_small, which says what is wrong.
void free_other_heaps_block(void* p, ThreadHeap* h) noexcept {
  const Slab& unit = SuperSlab::unit_slab(p);
  const SizeClass c = __atomic_load_n(&unit.size_class, __ATOMIC_ACQUIRE);
  if (HAKMEM_UNLIKELY(h == &g_unattached_heap || !passes_cheap_block_tests(p, unit, c))) return free_small(p);
  ThreadHeap* owner = unit.owner;
  set_freed_mark(p, owner);
  h->free_remote(owner, p, c);
}

void* allocate_zeroed(std::size_t count, std::size_t size) {
  std::size_t n = 0;
  if (__builtin_mul_overflow(count, size, &n)) return fail_enomem();
  if (n > kMaxSlabBlock) {
    void* p = huge_allocate(n, kMinAlignment, true);
    return p != nullptr ? p : fail_enomem();
  }
  void* p = allocate(n);
  if (p != nullptr) std::memset(p, 0, n);
  return p;
}

void* reallocate(void* p, std::size_t n) {
  if (p == nullptr) return allocate(n);
  if (n == 0) {
    deallocate(p);
    return nullptr;
  }
  switch (g_chunk_map.kind_of(p)) {
    case ChunkKind::kSuperSlab: {
      const Slab& unit = SuperSlab::unit_slab(p);
      check_small_block(p, unit, Use::kRealloc);
      const SizeClass c = class_of_block(unit, p);
      const std::size_t usable = block_size(c);
      if (fits_in_place(usable, n)) return p;
      void* fresh = move_block(p, usable, n);
      return fresh != nullptr ? fresh : fail_enomem();
    }
    case ChunkKind::kHuge: {
      bool unknown = false;
      if (n > kMaxSlabBlock) {
        // A string growing by a few bytes at a time mostly stays where it
        // is: the thread's hints answer without the lock, else one lookup
        // under it.
        ThreadHeap* h = t_heap;
        HugeHints* hints = h != &g_unattached_heap ? &h->huge_hints : nullptr;
        if (hints != nullptr && hints->fits(p, n)) return p;
        void* moved = huge_reallocate(p, n, &unknown, hints);
        if (moved != nullptr) return moved;
      } else if (const std::size_t usable = huge_usable_size(p); usable != 0) {
        void* fresh = move_block(p, usable, n);
        return fresh != nullptr ? fresh : fail_enomem();
      } else {
        unknown = true;
      }
      if (unknown) report_misuse("realloc of a freed pointer, or of one inside a block (no huge block starts there)", p, nullptr);
      return fail_enomem();
    }
    case ChunkKind::kBootstrap: {
      void* fresh = allocate(n);
      if (fresh == nullptr) return nullptr;
      const std::size_t old = bootstrap_usable_size(p);
      std::memcpy(fresh, p, old < n ? old : n);
      return fresh;
    }
    case ChunkKind::kForeign:
      break;
  }
  if constexpr (kChecked) check_foreign_pointer(p, Use::kRealloc);
  return os::libc_realloc(p, n);
}

void* allocate_aligned_slow(std::size_t alignment, std::size_t n) noexcept {
  if (alignment <= kMinAlignment) {
    // Every class's blocks are 16-byte aligned.
    return allocate(n);
  }
  if (alignment <= kOsPageBytes && n <= kMaxSlabBlock) {
    const SizeClass c = aligned_class_of(n, alignment);
    if (c < kClassCount) {
      if (HAKMEM_UNLIKELY(current_thread_is_initialising())) {
        void* p = bootstrap_allocate(n, alignment);
        return p != nullptr ? p : fail_enomem();
      }
      // A refill may cut the class from a mosaic on any 16-byte boundary
      // until an aligned call has met such a block (allocate_aligned_past).
      void* p = pop_cached(c);
      if (p == nullptr) p = allocate_from_class(c);
      if (p != nullptr && (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) != 0) {
        if (t_heap != &g_unattached_heap) return allocate_aligned_past(p, c, alignment);
        // A thread past its heap (exiting) borrowed the shared exit heap,
        // whose class it cannot switch: the huge tier aligns anything.
        deallocate(p);
        p = huge_allocate(n, alignment, false);
        return p != nullptr ? p : fail_enomem();
      }
      return p;
    }
  }
  void* p = huge_allocate(n, alignment, false);
  return p != nullptr ? p : fail_enomem();
}

void* allocate_aligned_past(void* misaligned, SizeClass c, std::size_t alignment) noexcept {
  // The block came from this thread's cache or a refill of it, so the
  // thread has a heap.
  t_heap->keep_mosaic_alignment(c);
  void* p = misaligned;
  while (p != nullptr && (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) != 0) {
    deallocate(p);  // a mosaic's block: straight back to its mosaic
    p = pop_cached(c);
    // An empty cache refills with blocks at their natural alignment now.
    if (p == nullptr) p = allocate_from_class(c);
  }
  return p;
}

std::size_t usable_size(const void* p) {
  if (p == nullptr) return 0;
  switch (g_chunk_map.kind_of(p)) {
    case ChunkKind::kSuperSlab: {
      const Slab& unit = SuperSlab::unit_slab(p);
      if (unit.owner == nullptr) return 0;
      const SizeClass c = class_of_block(unit, p);
      return c == kMosaicClass ? 0 : block_size(c);
    }
    case ChunkKind::kHuge:
      return huge_usable_size(p);
    case ChunkKind::kBootstrap:
      return bootstrap_usable_size(p);
    case ChunkKind::kForeign:
      break;
  }
  return os::libc_usable_size(p);
}

std::size_t trim() {
  const os::OsStats& os = os::os_stats();
  const std::uint64_t purged_before = os.purged_bytes.get();
  const std::uint64_t mapped_before = os.mapped_bytes.get();
  ThreadHeap* h = t_heap;
  if (h != &g_unattached_heap) {
    h->flush_remote_batches();
    h->drain_inbox();
    h->flush_all();
    h->release_free_memory(true);
  }
  collect_idle_heaps(true);
  release_unused_address_space();
  const std::uint64_t purged = os.purged_bytes.get() - purged_before;
  const std::uint64_t mapped_after = os.mapped_bytes.get();
  return static_cast<std::size_t>(purged + (mapped_before > mapped_after ? mapped_before - mapped_after : 0));
}

}  // namespace hakmem::tiers
