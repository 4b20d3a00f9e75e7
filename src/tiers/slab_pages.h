// Small pages inside a slab that hold nothing but free blocks: giving them
// back to the kernel while the slab lives on, and taking them back when the
// slab needs its blocks again.
//
// A slab holds blocks of one class for as long as one of them is live, so
// without this a program that frees most of a phase's small blocks at
// random keeps most of the phase's memory: a 4 KiB page of 500-byte blocks
// with one live neighbour is free bar one block, but its slab is not empty.
// Trim (malloc_trim, hkm_trim, idle heaps) and the idle look of a size
// class (thread_heap.h) find every page of a slab whose blocks are all
// free, purge it (MADV_DONTNEED), and park the blocks that overlap it: they
// leave the free list, since their links may have been in the purged page
// and now read as zero. When the slab's free list runs dry, its parked
// blocks are linked back in, and the first write faults a zeroed page in.
//
// Slabs of every size take part. A block bigger than a page has pages of
// its own, which go as soon as it is free; the pages it shares with its
// neighbours (its own first page among them, where its link is) go when
// those are free too. Each unit's Slab record keeps the mask of its own 16
// pages, so a slab of several units spreads its mask over their records.
//
// Layer: tiers. Owner-only (see thread_heap.h), except block_is_parked.
#pragma once

#include <cstddef>

#include "tiers/superslab.h"

namespace hakmem::tiers {

// Purges the not yet purged pages of the slab whose blocks are all free and
// parks their blocks. Returns the bytes purged: none in a hugetlb
// SuperSlab, where purging part of a huge page is not possible.
std::size_t park_free_pages(SuperSlab& ss, Slab& head);

// Links every parked block back into the free list; the pages are no
// longer marked purged.
void unpark_blocks(SuperSlab& ss, Slab& head);

// Whether the block at p (of a live slab) is parked, i.e. free: for checked
// builds' free, from any thread.
bool block_is_parked(const void* p);

// The number of blocks that overlap a purged page of the slab (for
// ThreadHeap::check_invariants: it equals head.parked).
std::uint32_t count_blocks_on_purged_pages(const SuperSlab& ss, const Slab& head);

}  // namespace hakmem::tiers
