// The records of the huge arena (huge_arena.h): spans, large mappings that
// huge blocks are cut from, and the segments that tile them (a live block,
// a free range or a range being purged).
//
// Layer: tiers. Used under huge.cpp's lock only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/intrusive_list.h"
#include "numa/topology.h"
#include "os/pages.h"

namespace hakmem::tiers {

// Segments start and end on this granule: a block wastes less than 64 KiB of
// address space (and no memory: untouched pages are never faulted in).
inline constexpr std::size_t kHugeGranule = std::size_t{64} << 10;
// Address space reserved per shared span.
inline constexpr std::size_t kHugeSpanBytes = std::size_t{64} << 20;
// Blocks above this get a span of their own, which realloc grows and moves
// with mremap (no copy) and which goes back to the OS whole.
inline constexpr std::size_t kHugeDedicatedAbove = std::size_t{16} << 20;

struct HugeSpan;

struct HugeSegment {
  enum class State : std::uint8_t { kLive, kFree, kPurging };

  char* base = nullptr;
  std::size_t bytes = 0;
  HugeSpan* span = nullptr;
  State state = State::kFree;
  bool zeroed = false;              // free and reads as zero (purged or never touched)
  std::uint8_t free_range = 0;      // free: its list in the arena's HugeFreeIndex
  std::uint64_t freed_at_ms = 0;    // free: when it last became free or was purged
  void* user = nullptr;             // live: the block's address (registry key)
  HugeSegment* bucket_next = nullptr;  // registry chain, or the spare-record chain
  ListLinks<HugeSegment> span_links;   // address order within the span
  ListLinks<HugeSegment> free_links;   // its list in the arena's HugeFreeIndex

  std::size_t usable() const { return static_cast<std::size_t>(base + bytes - static_cast<char*>(user)); }
};

using SegmentsInSpan = IntrusiveList<HugeSegment, &HugeSegment::span_links>;
using FreeSegments = IntrusiveList<HugeSegment, &HugeSegment::free_links>;

struct HugeSpan {
  char* base = nullptr;
  std::size_t bytes = 0;
  os::Backing backing = os::Backing::kPlain;
  numa::NodeId node;
  bool dedicated = false;  // made for one block above kHugeDedicatedAbove
  SegmentsInSpan segments;
  ListLinks<HugeSpan> links;
  HugeSpan* spare_next = nullptr;

  // One free segment covering all of it.
  bool wholly_free() const {
    const HugeSegment* s = segments.front();
    return s != nullptr && s->state == HugeSegment::State::kFree && s->bytes == bytes;
  }
};

using SpanList = IntrusiveList<HugeSpan, &HugeSpan::links>;

}  // namespace hakmem::tiers
