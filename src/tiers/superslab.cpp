#include "tiers/superslab.h"

#include <new>

#include "base/check.h"

namespace hakmem::tiers {

SuperSlab* SuperSlab::format(void* base, numa::NodeId node, os::Backing backing) {
  auto* ss = new (base) SuperSlab();
  ss->node_ = node;
  ss->backing_ = backing;
  for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) ss->slabs_[u].head_unit = static_cast<std::uint8_t>(u);
  return ss;
}

char* SuperSlab::slab_begin(const Slab& head) const {
  const unsigned first = index_of(head);
  char* unit = const_cast<char*>(reinterpret_cast<const char*>(this)) + first * kSlabUnitBytes;
  return first == 0 ? unit + kSuperSlabHeaderBytes : unit;
}

char* SuperSlab::slab_end(const Slab& head) const {
  const unsigned end_unit = index_of(head) + head.unit_count;
  return const_cast<char*>(reinterpret_cast<const char*>(this)) + end_unit * kSlabUnitBytes;
}

char* SuperSlab::purgeable_begin(unsigned u) {
  char* unit = reinterpret_cast<char*>(this) + u * kSlabUnitBytes;
  return u == 0 ? unit + kSuperSlabHeaderBytes : unit;
}

int SuperSlab::find_free_run(unsigned count, std::size_t block_bytes) const {
  // Unit 0 loses the header; use it only when the slab keeps at least 7/8
  // of the blocks it would hold elsewhere (it does for small blocks).
  const std::size_t full = count * kSlabUnitBytes / block_bytes;
  const std::size_t short_by_header = (count * kSlabUnitBytes - kSuperSlabHeaderBytes) / block_bytes;
  const bool unit0_ok = short_by_header * 8 >= full * 7 && short_by_header > 0;
  // Best fit: the shortest run of free units that holds the slab, so that
  // long runs stay whole for slabs of many units. At most 16 runs in 32 units.
  int best = -1;
  unsigned best_len = kUnitsPerSuperSlab + 1;
  std::uint32_t rest = free_units_;
  while (rest != 0) {
    const unsigned begin = static_cast<unsigned>(__builtin_ctz(rest));
    const std::uint32_t from_begin = rest >> begin;
    const unsigned len = from_begin == kAllUnits >> begin ? kUnitsPerSuperSlab - begin
                                                           : static_cast<unsigned>(__builtin_ctz(~from_begin));
    rest = begin + len >= 32 ? 0u : rest & (~0u << (begin + len));
    const unsigned start = begin == 0 && !unit0_ok ? 1 : begin;
    const unsigned usable = len - (start - begin);
    if (usable >= count && usable < best_len) {
      best = static_cast<int>(start);
      best_len = usable;
    }
  }
  return best;
}

void SuperSlab::set_scaled_origin(Slab& head, unsigned bin) {
  const std::uint64_t scaled = reinterpret_cast<std::uintptr_t>(slab_begin(head)) * kBlockStartMultiplier[bin];
  const unsigned first = index_of(head);
  for (unsigned u = first; u < first + head.unit_count; ++u) slabs_[u].scaled_origin = scaled;
}

Slab& SuperSlab::carve_slab(unsigned first, unsigned count, SizeClass size_class, ThreadHeap* owner) {
  HAKMEM_ASSERT(first + count <= kUnitsPerSuperSlab);
  for (unsigned u = first; u < first + count; ++u) {
    Slab& s = slabs_[u];
    HAKMEM_ASSERT(s.state == Slab::State::kFree);
    s.owner = owner;
    s.size_class = size_class;
    s.head_unit = static_cast<std::uint8_t>(first);
    s.state = u == first ? Slab::State::kHead : Slab::State::kContinuation;
  }
  const std::uint32_t mask = (count >= 32 ? kAllUnits : ((1u << count) - 1)) << first;
  free_units_ &= ~mask;
  dirty_units_ |= mask;
  free_at_last_look_ &= ~mask;
  free_two_looks_ago_ &= ~mask;
  Slab& head = slabs_[first];
  head.unit_count = static_cast<std::uint8_t>(count);
  head.capacity = static_cast<std::uint16_t>((slab_end(head) - slab_begin(head)) / block_size(size_class));
  head.used = 0;
  head.carved = 0;
  head.parked = 0;
  head.purged_pages.store(0, std::memory_order_relaxed);
  head.free_list = nullptr;
  head.on_full_list = false;
  set_scaled_origin(head, size_class);
  HAKMEM_ASSERT(head.capacity > 0);
  return head;
}

void SuperSlab::release_slab(Slab& head) {
  HAKMEM_ASSERT(head.state == Slab::State::kHead && head.used == 0);
  const unsigned first = index_of(head);
  const unsigned count = head.unit_count;
  for (unsigned u = first; u < first + count; ++u) {
    Slab& s = slabs_[u];
    s.owner = nullptr;
    s.state = Slab::State::kFree;
    s.head_unit = static_cast<std::uint8_t>(u);
    s.unit_count = 0;
    s.capacity = s.used = s.carved = s.parked = 0;
    s.purged_pages.store(0, std::memory_order_relaxed);
    s.scaled_origin = 0;
    s.free_list = nullptr;
    s.mosaic = nullptr;
  }
  const std::uint32_t mask = (count >= 32 ? kAllUnits : ((1u << count) - 1)) << first;
  free_units_ |= mask;
}

}  // namespace hakmem::tiers
