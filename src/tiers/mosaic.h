// Mosaic slabs: the free space of a sparse one-unit slab, open to every
// tiny and mid class.
//
// A slab holds blocks of one class for good, so the holes a wave of frees
// leaves in it serve that class alone. A program that frees nine in ten of
// its 64-byte blocks at random and then allocates 500-byte ones keeps
// nearly every page of the first kind (each still holds a live block) and
// needs new pages for the second. When a class of one-unit slabs (16 B to
// 8 KiB) is idle, its slabs with at most a quarter of their blocks live
// may become mosaics when another class needs room
// (ThreadHeap::take_blocks): the survivors stay where they are, and the
// holes between them take blocks of any tiny or mid class (16 B to 32 KiB),
// on any 16-byte boundary: a 1 KiB block fits a hole of 1 KiB, not only one
// that holds a 1 KiB-aligned span. Aligned allocation relies on a class's
// blocks sharing its size's alignment; it takes a misaligned block back
// and asks the heap to cut that class at its natural alignment from then
// on (ThreadHeap::keep_mosaic_alignment).
//
// A mosaic's map (mosaic_map.h) says which 16-byte granules of its unit
// start a block, which lie inside one and which are free. Free, realloc
// and malloc_usable_size read the block's size, and so its class, from it. The fast path
// knows nothing of mosaics: their records carry kMosaicClass, whose bin is
// always over capacity, so a free lands in the slow path, which returns
// the block to its mosaic.
//
// A mosaic whose last block goes is released like any empty slab; one
// neither carved from nor freed into for kMosaicQuietLooks purge looks of
// its heap (thread_heap.h) purges its free pages
// (ThreadHeap::purge_quiet_mosaics).
//
// Layer: tiers. Owner-only (see thread_heap.h), except mosaic_block_class
// and mosaic_block_live, which a thread freeing or resizing a live block
// may call: the cells of a live block do not change while it lives, and
// the map's words are read and written whole (mosaic_map.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/constants.h"
#include "tiers/mosaic_map.h"
#include "tiers/size_classes.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {

// Whether slabs of class c may become mosaics: one-unit slabs (blocks of
// 16 B to 8 KiB).
inline bool mosaic_source_class(SizeClass c) {
  return c < kClassCount && units_per_slab(c) == 1 && block_size(c) >= kGranuleBytes;
}

// Whether blocks of class c may live in a mosaic: those of 16 B to 32 KiB
// (a free run in a 64 KiB unit seldom holds a bigger one).
inline bool mosaic_class(SizeClass c) {
  return c < kClassCount && tier_of(c) != Tier::kLarge && block_size(c) >= kGranuleBytes;
}

// Whether the slab headed by `head` may become a mosaic: one unit of a
// mosaic class, with some but at most a quarter of its blocks live.
bool mosaic_candidate(const Slab& head);

// Turns the candidate slab into a mosaic mapped by `map` (every cell free).
// Its live blocks are those neither on its free list nor parked nor still
// uncarved. The caller has taken it off its class's lists.
void make_mosaic(SuperSlab& ss, Slab& head, MosaicMap* map);

// Cuts up to `want` blocks of class c from the mosaic's free granules and
// pushes them on *list (linked through their first words). Returns how many.
struct MosaicCut {
  // Blocks may touch pages that a purge returned. Without, the pages still
  // resident go first.
  bool into_purged = false;
  // Blocks start at their class's natural alignment (the lowest set bit of
  // their size, at most 4 KiB), as in a slab of their own. Without, on any
  // granule.
  bool natural_alignment = false;
};
std::uint32_t mosaic_carve(SuperSlab& ss, Slab& head, SizeClass c, std::uint32_t want, MosaicCut cut,
                           void** list);

// Takes the live block at p back; returns its class. The block must be the
// start of a live block (mosaic_block_live).
SizeClass mosaic_free(Slab& head, void* p);

// The class of the block that starts at p, in the mosaic whose unit record
// is `unit`; kMosaicClass where no live block starts there.
SizeClass mosaic_block_class(const Slab& unit, const void* p);

// Whether p is the start of a live block of the mosaic (checked builds).
bool mosaic_block_live(const Slab& unit, const void* p);
// Whether p, a block of class c, has the alignment the class's blocks have
// in a slab of their own (what MosaicCut::natural_alignment cuts to).
bool mosaic_block_naturally_aligned(SizeClass c, const void* p);
// Whether p points into a live block of the mosaic past its start.
bool mosaic_block_interior(const Slab& unit, const void* p);

// A mosaic neither carved from nor freed into for this many purge looks of
// its heap (Slab::parked counts them) has its free pages purged, once.
inline constexpr std::uint32_t kMosaicQuietLooks = 2;

// Purges the mosaic's pages that hold no block and were not purged yet.
// Returns the bytes purged (none in a hugetlb SuperSlab).
std::size_t mosaic_purge_free_pages(SuperSlab& ss, Slab& head);

// The mosaic's invariants: `used` counts the blocks that start in the map,
// each of them followed by exactly its granules marked inside, `carved`
// bounds every free run, and no purged page holds a block.
bool mosaic_check(const SuperSlab& ss, const Slab& head);

}  // namespace hakmem::tiers
