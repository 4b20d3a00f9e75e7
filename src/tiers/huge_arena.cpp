#include "tiers/huge_arena.h"

#include <new>

#include "base/bits.h"
#include "base/check.h"
#include "os/meta_arena.h"

namespace hakmem::tiers {

using State = HugeSegment::State;

HugeSegment* HugeArena::new_segment() {
  if (spare_segments_ != nullptr) {
    HugeSegment* s = spare_segments_;
    spare_segments_ = s->bucket_next;
    return new (s) HugeSegment();
  }
  void* mem = os::meta_alloc(sizeof(HugeSegment), alignof(HugeSegment));
  return mem == nullptr ? nullptr : new (mem) HugeSegment();
}

void HugeArena::recycle_segment(HugeSegment* seg) {
  seg->bucket_next = spare_segments_;
  spare_segments_ = seg;
}

HugeSpan* HugeArena::new_span() {
  if (spare_spans_ != nullptr) {
    HugeSpan* s = spare_spans_;
    spare_spans_ = s->spare_next;
    return new (s) HugeSpan();
  }
  void* mem = os::meta_alloc(sizeof(HugeSpan), alignof(HugeSpan));
  return mem == nullptr ? nullptr : new (mem) HugeSpan();
}

void HugeArena::add_free(HugeSegment* seg) {
  free_.insert(seg);
  free_bytes_ += seg->bytes;
}

void HugeArena::remove_free(HugeSegment* seg) {
  free_.remove(seg);
  free_bytes_ -= seg->bytes;
}

HugeSegment* HugeArena::add_span(char* base, std::size_t bytes, os::Backing backing, numa::NodeId node,
                                 bool dedicated, std::uint64_t now_ms) {
  HugeSpan* span = new_span();
  HugeSegment* seg = span == nullptr ? nullptr : new_segment();
  if (seg == nullptr) {
    if (span != nullptr) {
      span->spare_next = spare_spans_;
      spare_spans_ = span;
    }
    return nullptr;
  }
  span->base = base;
  span->bytes = bytes;
  span->backing = backing;
  span->node = node;
  span->dedicated = dedicated;
  spans_.push_back(span);
  span_bytes_ += bytes;

  seg->base = base;
  seg->bytes = bytes;
  seg->span = span;
  seg->state = State::kFree;
  seg->zeroed = true;
  seg->freed_at_ms = now_ms;
  span->segments.push_back(seg);
  add_free(seg);
  return seg;
}

namespace {

std::size_t padding_for(const HugeSegment* seg, std::size_t alignment) {
  const auto base = reinterpret_cast<std::uintptr_t>(seg->base);
  return static_cast<std::size_t>(align_up(base, alignment) - base);
}

}  // namespace

HugeSegment* HugeArena::find_fit(std::size_t bytes, std::size_t alignment, numa::NodeId node) const {
  return free_.best_fit(bytes, [&](const HugeSegment* s) {
    return s->span->node == node && padding_for(s, alignment) <= s->bytes - bytes;
  });
}

HugeSegment* HugeArena::split(HugeSegment* seg, std::size_t offset) {
  HAKMEM_ASSERT(offset > 0 && offset < seg->bytes);
  HugeSegment* rest = new_segment();
  if (rest == nullptr) return nullptr;
  rest->base = seg->base + offset;
  rest->bytes = seg->bytes - offset;
  rest->span = seg->span;
  rest->state = seg->state;
  rest->zeroed = seg->zeroed;
  rest->freed_at_ms = seg->freed_at_ms;
  seg->bytes = offset;
  seg->span->segments.insert_after(seg, rest);
  return rest;
}

HugeSegment* HugeArena::carve(HugeSegment* seg, std::size_t bytes, std::size_t alignment) {
  HAKMEM_ASSERT(seg->state == State::kFree);
  const std::size_t pad = padding_for(seg, alignment);
  HAKMEM_ASSERT(pad + bytes <= seg->bytes);
  const std::size_t tail = seg->bytes - pad - bytes;
  // Take the records first, so that a shortage changes nothing.
  HugeSegment* spare[2] = {nullptr, nullptr};
  const int wanted = (pad != 0 ? 1 : 0) + (tail != 0 ? 1 : 0);
  for (int i = 0; i < wanted; ++i) {
    spare[i] = new_segment();
    if (spare[i] == nullptr) {
      if (i == 1) recycle_segment(spare[0]);
      return nullptr;
    }
  }
  // Back on the spare chain, where split() finds them.
  for (int i = 0; i < wanted; ++i) recycle_segment(spare[i]);

  remove_free(seg);
  HugeSegment* live = seg;
  if (pad != 0) {
    live = split(seg, pad);
    add_free(seg);
  }
  if (tail != 0) add_free(split(live, bytes));
  live->state = State::kLive;
  live->user = live->base;
  return live;
}

HugeSegment* HugeArena::merge_free_neighbours(HugeSegment* seg) {
  HAKMEM_ASSERT(seg->state == State::kFree);
  SegmentsInSpan& list = seg->span->segments;
  // Merging moves bytes between two free segments: free_bytes_ is unchanged.
  auto absorb = [&](HugeSegment* into, HugeSegment* gone) {
    free_.remove(gone);
    list.remove(gone);
    into->bytes += gone->bytes;
    free_.resized(into);
    into->zeroed = into->zeroed && gone->zeroed;
    if (gone->freed_at_ms > into->freed_at_ms) into->freed_at_ms = gone->freed_at_ms;
    recycle_segment(gone);
  };
  HugeSegment* next = SegmentsInSpan::next(seg);
  if (next != nullptr && next->state == State::kFree) absorb(seg, next);
  HugeSegment* prev = SegmentsInSpan::prev(seg);
  if (prev != nullptr && prev->state == State::kFree) {
    absorb(prev, seg);
    return prev;
  }
  return seg;
}

HugeSegment* HugeArena::release_block(HugeSegment* seg, std::uint64_t now_ms) {
  HAKMEM_ASSERT(seg->state == State::kLive);
  seg->state = State::kFree;
  seg->zeroed = false;
  seg->user = nullptr;
  seg->freed_at_ms = now_ms;
  add_free(seg);
  return merge_free_neighbours(seg);
}

bool HugeArena::grow_in_place(HugeSegment* seg, std::size_t bytes) {
  if (bytes <= seg->bytes) return true;
  HugeSegment* next = SegmentsInSpan::next(seg);
  if (next == nullptr || next->state != State::kFree || seg->bytes + next->bytes < bytes) return false;
  const std::size_t extra = bytes - seg->bytes;
  if (next->bytes == extra) {
    remove_free(next);
    seg->span->segments.remove(next);
    recycle_segment(next);
  } else {
    next->base += extra;
    next->bytes -= extra;
    free_.resized(next);
    free_bytes_ -= extra;
  }
  seg->bytes = bytes;
  return true;
}

bool HugeArena::shrink_in_place(HugeSegment* seg, std::size_t bytes, std::uint64_t now_ms) {
  if (bytes >= seg->bytes) return true;
  HugeSegment* tail = split(seg, bytes);
  if (tail == nullptr) return false;
  tail->state = State::kFree;
  tail->zeroed = false;
  tail->freed_at_ms = now_ms;
  add_free(tail);
  merge_free_neighbours(tail);
  return true;
}

HugeSegment* HugeArena::take_for_purge(std::uint64_t now_ms, std::uint64_t delay_ms, bool force) {
  HugeSegment* s = free_.find([&](const HugeSegment* f) {
    return !f->zeroed && f->span->backing != os::Backing::kHugetlb && (force || now_ms - f->freed_at_ms >= delay_ms);
  });
  if (s == nullptr) return nullptr;
  remove_free(s);
  s->state = State::kPurging;
  return s;
}

void HugeArena::purged(HugeSegment* seg, std::uint64_t now_ms, bool zeroed) {
  HAKMEM_ASSERT(seg->state == State::kPurging);
  seg->state = State::kFree;
  seg->zeroed = zeroed;
  seg->freed_at_ms = now_ms;
  add_free(seg);
  merge_free_neighbours(seg);
}

namespace {

// A free segment that may hold pages: not purged since it was last used, or
// in a hugetlb span (populated for good).
bool may_hold_pages(const HugeSegment* f) { return !f->zeroed || f->span->backing == os::Backing::kHugetlb; }

}  // namespace

std::size_t HugeArena::dirty_free_bytes() const {
  std::size_t total = 0;
  free_.find([&](const HugeSegment* f) {
    if (may_hold_pages(f)) total += f->bytes;
    return false;  // visits every one
  });
  return total;
}

std::size_t HugeArena::wholly_free_bytes() const {
  std::size_t total = 0;
  for (HugeSpan* span = spans_.front(); span != nullptr; span = SpanList::next(span)) {
    if (span->wholly_free()) total += span->bytes;
  }
  return total;
}

void HugeArena::node_totals(numa::NodeId node, std::size_t* span_bytes, std::size_t* free_bytes,
                            std::size_t* dirty_free_bytes) const {
  *span_bytes = 0;
  *free_bytes = 0;
  *dirty_free_bytes = 0;
  for (HugeSpan* span = spans_.front(); span != nullptr; span = SpanList::next(span)) {
    if (span->node != node) continue;
    *span_bytes += span->bytes;
    for (HugeSegment* s = span->segments.front(); s != nullptr; s = SegmentsInSpan::next(s)) {
      if (s->state == HugeSegment::State::kLive) continue;
      *free_bytes += s->bytes;
      if (may_hold_pages(s)) *dirty_free_bytes += s->bytes;
    }
  }
}

HugeSpan* HugeArena::take_for_release(std::uint64_t now_ms, std::uint64_t delay_ms,
                                      std::uint64_t release_after_ms, bool force, std::size_t budget) {
  const bool over_budget = wholly_free_bytes() > budget;
  for (HugeSpan* span = spans_.front(); span != nullptr; span = SpanList::next(span)) {
    if (!span->wholly_free()) continue;
    HugeSegment* seg = span->segments.front();
    const std::uint64_t age = now_ms - seg->freed_at_ms;
    // hugetlb spans are never purged (see take_for_purge): their age counts.
    const bool settled = seg->zeroed || span->backing == os::Backing::kHugetlb;
    // Over the budget a span still waits out the purge delay: a program
    // that frees everything between rounds of work finds its spans again.
    const bool due = force || (settled && age >= release_after_ms) || (over_budget && age >= delay_ms);
    if (!due) continue;
    remove_free(seg);
    span->segments.remove(seg);
    recycle_segment(seg);
    spans_.remove(span);
    span_bytes_ -= span->bytes;
    return span;
  }
  return nullptr;
}

void HugeArena::forget_span(HugeSpan* span) {
  HAKMEM_ASSERT(span->segments.empty());
  span->spare_next = spare_spans_;
  spare_spans_ = span;
}

void HugeArena::span_remapped(HugeSpan* span, char* new_base, std::size_t new_bytes) {
  HugeSegment* seg = span->segments.front();
  HAKMEM_ASSERT(seg != nullptr && seg == span->segments.back() && seg->state == State::kLive);
  span_bytes_ = span_bytes_ - span->bytes + new_bytes;
  span->base = new_base;
  span->bytes = new_bytes;
  seg->base = new_base;
  seg->bytes = new_bytes;
  seg->user = new_base;
}

}  // namespace hakmem::tiers
