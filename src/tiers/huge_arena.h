// The address space that huge blocks are cut from: spans (large mappings,
// 64 MiB or one block's size) tiled by segments, each either a live block, a
// free range or a range being purged. The bookkeeping only: no syscalls and
// no lock here; huge.cpp holds the lock and talks to the OS.
//
// Layer: tiers. Used under huge.cpp's lock only.
//
// Why spans: a freed block merges with the free segments around it (they
// are adjacent in the span), so freed ranges of any sizes form larger ones
// that later requests are cut from without a syscall, and without the first
// touch of fresh pages. Separate mappings per block could not merge, and
// every miss cost an mmap and new page faults.
//
// Fit: the smallest free segment that holds the request on the asked node
// (ties: the lower address), so exact holes are reused before big ranges are
// split. Free segments are indexed by size (huge_free_index.h).
//
// Records of segments and spans come from the meta arena and are recycled,
// never capped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/intrusive_list.h"
#include "numa/topology.h"
#include "os/pages.h"
#include "tiers/huge_free_index.h"
#include "tiers/huge_segment.h"

namespace hakmem::tiers {

class HugeArena {
 public:
  // Adds a freshly mapped span, all free (it reads as zero). Returns its one
  // free segment, or null if no record was left (nothing changed then).
  HugeSegment* add_span(char* base, std::size_t bytes, os::Backing backing, numa::NodeId node,
                        bool dedicated, std::uint64_t now_ms);

  // The best-fitting free segment for `bytes` (a multiple of kHugeGranule)
  // at `alignment` on `node`, or null. Any free range serves any size, a
  // dedicated span's too: two pools kept apart would each hold free memory
  // the other's requests could use.
  HugeSegment* find_fit(std::size_t bytes, std::size_t alignment, numa::NodeId node) const;

  // Makes a live block of `bytes` at `alignment` out of the free segment
  // `seg` (from find_fit or add_span); the parts before and after stay free.
  // Returns the live segment (user set), or null if no record was left.
  HugeSegment* carve(HugeSegment* seg, std::size_t bytes, std::size_t alignment);

  // A live segment becomes free and merges with free neighbours. Returns
  // the merged free segment.
  HugeSegment* release_block(HugeSegment* seg, std::uint64_t now_ms);

  // Grows the live segment to `bytes` (from its base) by taking from the
  // free segment right after it. False if that is not free or too small.
  bool grow_in_place(HugeSegment* seg, std::size_t bytes);
  // Shrinks the live segment to `bytes` (from its base); the tail becomes
  // free. False only when no record was left (nothing changed then).
  bool shrink_in_place(HugeSegment* seg, std::size_t bytes, std::uint64_t now_ms);

  // Decay. A free segment to purge: dirty and free for `delay_ms` (any dirty
  // one if `force`). Not in hugetlb spans: their pages are populated once
  // and must stay (a purged hugetlb page could fail to come back). The
  // segment is marked kPurging, off the free list, until purged() puts it
  // back: `zeroed` if the purge worked.
  HugeSegment* take_for_purge(std::uint64_t now_ms, std::uint64_t delay_ms, bool force);
  void purged(HugeSegment* seg, std::uint64_t now_ms, bool zeroed);
  // A wholly free span to unmap: purged for `release_after_ms`; or, while
  // wholly free spans exceed `budget` bytes, free for `delay_ms` (purged or
  // not: unmapping frees the pages too); or any one if `force`. Removed
  // from the arena; the caller unmaps it and hands it to forget_span().
  HugeSpan* take_for_release(std::uint64_t now_ms, std::uint64_t delay_ms, std::uint64_t release_after_ms,
                             bool force, std::size_t budget);
  void forget_span(HugeSpan* span);

  // A dedicated span's one live block was moved or resized by mremap.
  void span_remapped(HugeSpan* span, char* new_base, std::size_t new_bytes);

  std::size_t free_bytes() const { return free_bytes_; }
  // Bytes of free segments that may hold pages: not purged since they were
  // last used, or hugetlb (populated for good). Walks the free segments.
  std::size_t dirty_free_bytes() const;
  std::size_t free_segments() const { return free_.size(); }
  std::size_t span_bytes() const { return span_bytes_; }
  std::size_t span_count() const { return spans_.size(); }
  std::size_t wholly_free_bytes() const;
  // Address space and free bytes of the spans on `node`.
  void node_totals(numa::NodeId node, std::size_t* span_bytes, std::size_t* free_bytes,
                   std::size_t* dirty_free_bytes) const;

 private:
  HugeSegment* new_segment();
  void recycle_segment(HugeSegment* seg);
  HugeSpan* new_span();
  // Splits seg at `offset`: seg keeps [base, base+offset), the returned new
  // segment (same state) gets the rest and follows it. null: no record.
  HugeSegment* split(HugeSegment* seg, std::size_t offset);
  HugeSegment* merge_free_neighbours(HugeSegment* seg);
  void add_free(HugeSegment* seg);
  void remove_free(HugeSegment* seg);

  SpanList spans_;
  HugeFreeIndex free_;
  std::size_t free_bytes_ = 0;
  std::size_t span_bytes_ = 0;
  HugeSegment* spare_segments_ = nullptr;
  HugeSpan* spare_spans_ = nullptr;
};

}  // namespace hakmem::tiers
