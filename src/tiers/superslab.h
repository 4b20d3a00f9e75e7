// SuperSlab: a 2 MiB-aligned, 2 MiB region from the OS, bound to one node,
// cut into 64 KiB slab units. Its header (at the start of unit 0) holds one
// Slab record per unit; a slab is one or more consecutive units serving one
// size class.
//
// Layer: tiers.
//
// OWNERSHIP. A SuperSlab is owned either by one thread heap (which carves
// slabs from it and is the only writer of its header and of its slabs'
// owner-side fields) or by its node pool (under the pool lock, with every
// unit free). Other threads only read Slab::owner and Slab::size_class of a
// unit that holds a block they are freeing; those two fields are written
// before any block of the slab is handed out and stay unchanged while any
// block is live, so the read needs no synchronisation of its own.
//
// INVARIANTS of a slab (head unit), checked by ThreadHeap::check_invariants():
//   used + parked <= carved <= capacity;
//   blocks on free_list == carved - used - parked (a block waiting in the
//   owner's remote inbox still counts as used: the slab has not got it back);
//   the parked blocks are exactly the blocks that overlap a purged page
//   (slab_pages.h);
//   the slab is on its class's full list iff it has no free block.
// A mosaic slab (mosaic.h) keeps its own invariants, checked by mosaic_check.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/attributes.h"
#include "base/bits.h"
#include "base/constants.h"
#include "base/intrusive_list.h"
#include "numa/topology.h"
#include "os/pages.h"
#include "tiers/size_classes.h"

namespace hakmem::tiers {

class ThreadHeap;
class MosaicMap;

// The most blocks a slab holds: a one-unit slab of the smallest blocks
// (slabs of several units hold bigger ones).
inline constexpr std::size_t kMaxSlabBlocks = kSlabUnitBytes / 16;
static_assert(kMaxSlabBlocks <= 0xffff, "Slab counts blocks in 16 bits");

// Small pages per slab unit: Slab::purged_pages has a bit for each.
inline constexpr unsigned kPagesPerUnit = kSlabUnitBytes / kOsPageBytes;
static_assert(kPagesPerUnit == 16, "Slab::purged_pages is one 16-bit mask per unit");

struct alignas(64) Slab {  // 64 bytes: the free path indexes the array with a shift
  enum class State : std::uint8_t { kFree, kHead, kContinuation };

  // Read by the free path of any thread (see OWNERSHIP).
  ThreadHeap* owner = nullptr;
  SizeClass size_class = 0;
  State state = State::kFree;
  std::uint8_t head_unit = 0;   // the slab's first unit (itself for the head)
  std::uint8_t unit_count = 0;  // head only: units in the slab

  // Head only; written by the owner thread alone. A slab holds at most a
  // unit's worth of the smallest blocks (kMaxSlabBlocks).
  std::uint16_t capacity = 0;   // blocks that fit
  std::uint16_t used = 0;       // blocks out of the slab: in a thread cache, with the program, or in the inbox
  std::uint16_t carved = 0;     // blocks cut from fresh memory so far, in carve order (SuperSlab::carve_start)
  std::uint16_t parked = 0;     // free blocks off the free list, their pages purged (slab_pages.h)
  // Which of the unit's 16 small pages are purged, their blocks parked (in
  // every unit record of the slab, head and continuations alike). Written
  // by the owner; read (relaxed) by checked builds' free, from any thread,
  // to catch a free of a parked block.
  std::atomic<std::uint16_t> purged_pages{0};
  bool on_full_list = false;
  // The slab's first block's address times its bin's block-start
  // multiplier (size_classes.h), in every unit record of the slab: the free
  // fast path tests that p starts a block as p * multiplier - this <
  // multiplier, one multiply with no subtraction before it.
  std::uint64_t scaled_origin = 0;
  void* free_list = nullptr;    // blocks given back, singly linked through their first word
  ListLinks<Slab> links;        // the owner's partial or full list for size_class
  // A mosaic slab (size_class == kMosaicClass, mosaic.h): where each block
  // starts and which class it is. Its record then reads: used = live
  // blocks, capacity = 16-byte granules, carved = no free run of granules
  // is longer (an upper bound), parked = purge looks of the heap since the
  // last carve or free (up to kMosaicQuietLooks), free_list null.
  MosaicMap* mosaic = nullptr;

  // Whether p starts a block of the slab, by its bin's block-start
  // multiplier: one multiply, one subtraction, one compare. A pointer
  // below the slab's first block may pass; the checked slow path bounds it.
  HAKMEM_FAST_PATH bool starts_block(const void* p, std::uint64_t multiplier) const {
    return reinterpret_cast<std::uintptr_t>(p) * multiplier - scaled_origin < multiplier;
  }

  bool is_empty() const { return used == 0; }
  bool has_free_block() const { return free_list != nullptr || carved < capacity || parked != 0; }
  // Blocks on the free list.
  std::uint32_t listed_free() const { return carved - used - parked; }
};
static_assert(sizeof(Slab) == 64);

class SuperSlab {
 public:
  static constexpr std::uint64_t kMagic = 0x68616b6d656d5353ull;  // "hakmemSS"

  static SuperSlab* of(const void* p) {
    return reinterpret_cast<SuperSlab*>(reinterpret_cast<std::uintptr_t>(p) & ~kSuperSlabMask);
  }
  static unsigned unit_index(const void* p) {
    return static_cast<unsigned>((reinterpret_cast<std::uintptr_t>(p) >> kSlabUnitShift) &
                                 (kUnitsPerSuperSlab - 1));
  }
  // The Slab record of the unit holding p (for a continuation unit, not the head).
  static Slab& unit_slab(const void* p) { return of(p)->slabs_[unit_index(p)]; }
  // The head Slab record of the slab holding p.
  static Slab& head_slab(const void* p) {
    SuperSlab* ss = of(p);
    return ss->slabs_[ss->slabs_[unit_index(p)].head_unit];
  }

  // Formats a freshly mapped region as an empty SuperSlab.
  static SuperSlab* format(void* base, numa::NodeId node, os::Backing backing);

  // Where the blocks of the slab headed at `head` begin and end.
  char* slab_begin(const Slab& head) const;
  char* slab_end(const Slab& head) const;
  unsigned index_of(const Slab& s) const { return static_cast<unsigned>(&s - slabs_); }

  // Carve order. A slab's blocks are cut from block carve_start(head) up,
  // wrapping to block 0; Slab::carved counts them in that order. Every
  // unit starts on a 64 KiB boundary, the span of the sets of a 512 KiB
  // 8-way cache, so slabs that all began at their first block put the
  // blocks each class uses first (and a class that holds few, all of its
  // blocks) on the same cache sets. Sixteen starts, spread over the slab
  // and chosen by its place (nothing stored): in random tiny's 2 M ops,
  // data misses of such a cache went 1.72 M -> 1.29 M. Not for mosaics.
  static constexpr unsigned kCarveStarts = 16;
  std::uint32_t carve_start(const Slab& head) const {
    const unsigned turn = (index_of(head) * 5u + static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(this) >> kSuperSlabShift)) %
                          kCarveStarts;
    return static_cast<std::uint32_t>(std::uint64_t{turn} * head.capacity / kCarveStarts);
  }
  // The block carved n-th (n < capacity), by its index in address order.
  std::uint32_t carved_block(const Slab& head, std::uint32_t n) const {
    const std::uint32_t i = carve_start(head) + n;
    return i < head.capacity ? i : i - head.capacity;
  }
  // Whether block i (in address order, i < capacity) has been carved.
  bool is_carved(const Slab& head, std::uint32_t i) const {
    const std::uint32_t start = carve_start(head);
    return (i >= start ? i - start : i + head.capacity - start) < head.carved;
  }
  Slab& slab(unsigned unit) { return slabs_[unit]; }

  // Finds `count` consecutive free units usable for a slab whose blocks are
  // `block_bytes` (unit 0 is shorter, as it holds this header, and is used
  // only where that costs little), in the shortest run of free units that
  // holds them (best fit). Returns the first unit, or -1.
  int find_free_run(unsigned count, std::size_t block_bytes) const;
  // Sets Slab::scaled_origin in the records of the slab headed at `head`,
  // for blocks of the bin `bin` (a class, or kMosaicClass).
  void set_scaled_origin(Slab& head, unsigned bin);
  // Marks the units as a slab of `size_class` owned by `owner`.
  Slab& carve_slab(unsigned first, unsigned count, SizeClass size_class, ThreadHeap* owner);
  // Returns the slab's units to the free set. The slab must be empty.
  void release_slab(Slab& head);

  bool all_units_free() const { return free_units_ == kAllUnits; }
  bool has_free_unit() const { return free_units_ != 0; }
  std::uint32_t free_unit_mask() const { return free_units_; }
  // Free units whose pages may still be resident (purge candidates).
  std::uint32_t dirty_unit_mask() const { return dirty_units_ & free_units_; }
  void mark_units_purged(std::uint32_t mask) { dirty_units_ &= ~mask; }
  // At each purge look of the owner (thread_heap.h): the dirty free units
  // that were free and dirty at the two looks before too, so for at least
  // the purge delay, and are now due to be purged; the rest age by a look.
  // A unit a slab takes starts again (carve_slab).
  std::uint32_t take_units_free_across_looks() {
    const std::uint32_t dirty = dirty_unit_mask();
    const std::uint32_t due = dirty & free_two_looks_ago_;
    free_two_looks_ago_ = dirty & free_at_last_look_ & ~due;
    free_at_last_look_ = dirty & ~due;
    return due;
  }
  // Byte range of unit u that may be purged (unit 0 keeps its header page).
  char* purgeable_begin(unsigned u);
  char* purgeable_end(unsigned u) { return reinterpret_cast<char*>(this) + (u + 1) * kSlabUnitBytes; }

  std::uint64_t magic() const { return magic_; }
  numa::NodeId node() const { return node_; }
  os::Backing backing() const { return backing_; }
  // Full SuperSlabs are made huge pages once per mapping (node_pool.h:
  // collapse_if_dense); the flag keeps a refusal from being asked again.
  bool collapse_tried() const { return collapse_tried_; }
  void note_collapse(bool done) {
    collapse_tried_ = true;
    if (done) backing_ = os::Backing::kThp;
  }
  ThreadHeap* owner() const { return owner_; }
  void set_owner(ThreadHeap* h) { owner_ = h; }
  std::uint64_t released_at_ms() const { return released_at_ms_; }
  void set_released_at_ms(std::uint64_t t) { released_at_ms_ = t; }
  bool purged() const { return purged_; }
  void set_purged(bool p) { purged_ = p; if (p) dirty_units_ = 0; }
  // The longest run of consecutive free units (0 when none is free).
  unsigned longest_free_run() const {
    unsigned n = 0;
    for (std::uint32_t m = free_units_; m != 0; m &= m >> 1) ++n;  // each step shortens every run by one
    return n;
  }
  // Where the owner's RoomIndex filed it: the longest free run then, 0 if
  // it is not filed.
  unsigned room_run() const { return room_run_; }
  void set_room_run(unsigned run) { room_run_ = static_cast<std::uint8_t>(run); }

  ListLinks<SuperSlab> links;  // the owning heap's list, or the node pool's

 private:
  static_assert(kUnitsPerSuperSlab == 32, "free_units_ is one 32-bit mask");
  static constexpr std::uint32_t kAllUnits = 0xffffffffu;

  std::uint64_t magic_ = kMagic;
  ThreadHeap* owner_ = nullptr;
  numa::NodeId node_;
  os::Backing backing_ = os::Backing::kPlain;
  bool purged_ = false;
  std::uint8_t room_run_ = 0;
  bool collapse_tried_ = false;
  std::uint32_t free_units_ = kAllUnits;
  std::uint32_t dirty_units_ = 0;
  // Dirty free units at the owner's last purge look, and at that look and
  // the one before (take_units_free_across_looks).
  std::uint32_t free_at_last_look_ = 0;
  std::uint32_t free_two_looks_ago_ = 0;
  std::uint64_t released_at_ms_ = 0;
  Slab slabs_[kUnitsPerSuperSlab];
};

// Unit 0's blocks start after the header, on a 4 KiB boundary, so that every
// slab starts 4 KiB-aligned (aligned allocation relies on it).
inline constexpr std::size_t kSuperSlabHeaderBytes = align_up(sizeof(SuperSlab), kOsPageBytes);
static_assert(kSuperSlabHeaderBytes < kSlabUnitBytes);

}  // namespace hakmem::tiers
