#include "tiers/slab_pages.h"

#include <cstdint>

#include "base/build_config.h"
#include "base/check.h"
#include "os/pages.h"
#include "tiers/allocator.h"
#include "tiers/freed_mark.h"

namespace hakmem::tiers {

namespace {


constexpr unsigned max_units_per_slab() {
  unsigned m = 1;
  for (const ClassInfo& c : kClassInfo) m = c.units_per_slab > m ? c.units_per_slab : m;
  return m;
}
constexpr unsigned kMaxSlabPages = max_units_per_slab() * kPagesPerUnit;
constexpr std::size_t kMaxBlocks = kMaxSlabBlocks;

// A set of the slab's small pages, page 0 being the first of its head unit.
struct PageSet {
  std::uint64_t words[(kMaxSlabPages + 63) / 64] = {};

  bool has(unsigned k) const { return ((words[k / 64] >> (k % 64)) & 1u) != 0; }
  void add(unsigned k) { words[k / 64] |= std::uint64_t{1} << (k % 64); }
  void merge(const PageSet& other) {
    for (unsigned i = 0; i < sizeof words / sizeof words[0]; ++i) words[i] |= other.words[i];
  }
  bool empty() const {
    for (std::uint64_t w : words) {
      if (w != 0) return false;
    }
    return true;
  }
  // Whether any page of [first, last] is in the set.
  bool any_of(unsigned first, unsigned last) const {
    for (unsigned k = first; k <= last; ++k) {
      if (has(k)) return true;
    }
    return false;
  }
};

// Where the slab's units, blocks and carved blocks lie.
struct Layout {
  SuperSlab* ss;
  unsigned head_unit;
  unsigned pages;
  char* unit;
  char* begin;
  std::size_t block_bytes;
  std::uint32_t carved;
  std::uint32_t capacity;
  std::uint32_t uncarved_first;  // the next block to carve (the uncarved ones follow it, wrapping)

  // Whether any block of [from, to] (to < capacity) is still to be carved.
  bool uncarved_in(std::uint32_t from, std::uint32_t to) const {
    const std::uint32_t uncarved = capacity - carved;
    if (uncarved == 0) return false;
    // The uncarved blocks: [uncarved_first, uncarved_first + uncarved), wrapping.
    const std::uint32_t end = uncarved_first + uncarved;
    if (end <= capacity) return from < end && uncarved_first <= to;
    return uncarved_first <= to || from < end - capacity;
  }

  Layout(const SuperSlab& s, const Slab& head)
      : ss(const_cast<SuperSlab*>(&s)),
        head_unit(s.index_of(head)),
        pages(head.unit_count * kPagesPerUnit),
        unit(reinterpret_cast<char*>(ss) + std::size_t{head_unit} * kSlabUnitBytes),
        begin(s.slab_begin(head)),
        block_bytes(block_size(head.size_class)),
        carved(head.carved),
        capacity(head.capacity),
        uncarved_first(head.carved < head.capacity ? s.carved_block(head, head.carved) : 0) {}

  // The purged pages, gathered from the masks of the slab's unit records
  // (each unit's record holds its own 16 pages).
  PageSet purged() const {
    PageSet set;
    for (unsigned u = 0; u * kPagesPerUnit < pages; ++u) {
      const std::uint16_t mask = ss->slab(head_unit + u).purged_pages.load(std::memory_order_relaxed);
      for (unsigned i = 0; i < kPagesPerUnit; ++i) {
        if (((mask >> i) & 1u) != 0) set.add(u * kPagesPerUnit + i);
      }
    }
    return set;
  }
  void store_purged(const PageSet& set) const {
    for (unsigned u = 0; u * kPagesPerUnit < pages; ++u) {
      std::uint16_t mask = 0;
      for (unsigned i = 0; i < kPagesPerUnit; ++i) {
        if (set.has(u * kPagesPerUnit + i)) mask = static_cast<std::uint16_t>(mask | (1u << i));
      }
      ss->slab(head_unit + u).purged_pages.store(mask, std::memory_order_relaxed);
    }
  }

  // The blocks that overlap page k: [*first, *last]. False where the page
  // is not wholly carved: the header's pages, and pages that hold part of a
  // block still to be carved (which could be handed out while the page is
  // purged). Past the last block that fits, the slab's tail holds no
  // block: a page reaching into it counts.
  bool blocks_on_page(unsigned k, std::uint32_t* first, std::uint32_t* last) const {
    const char* page = unit + std::size_t{k} * kOsPageBytes;
    if (page < begin) return false;
    const std::size_t from = static_cast<std::size_t>(page - begin) / block_bytes;
    std::size_t to = static_cast<std::size_t>(page + kOsPageBytes - 1 - begin) / block_bytes;
    if (from >= capacity) return false;
    if (to >= capacity) to = capacity - 1;
    if (uncarved_in(static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to))) return false;
    *first = static_cast<std::uint32_t>(from);
    *last = static_cast<std::uint32_t>(to);
    return true;
  }

  std::uint32_t index_of(const void* block) const {
    return static_cast<std::uint32_t>(static_cast<std::size_t>(static_cast<const char*>(block) - begin) / block_bytes);
  }
  char* block(std::uint32_t i) const { return begin + std::size_t{i} * block_bytes; }

  // The first and last pages a block overlaps.
  unsigned first_page(const void* block) const {
    return static_cast<unsigned>(static_cast<std::size_t>(static_cast<const char*>(block) - unit) / kOsPageBytes);
  }
  unsigned last_page(const void* block) const {
    return static_cast<unsigned>(static_cast<std::size_t>(static_cast<const char*>(block) + block_bytes - 1 - unit) /
                                 kOsPageBytes);
  }
};

// Calls f(i) once for each carved block that overlaps a page of `pages`,
// in address order.
template <typename F>
void for_each_block_on(const Layout& at, const PageSet& pages, F&& f) {
  std::int64_t done = -1;  // the highest block visited so far
  for (unsigned k = 0; k < at.pages; ++k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (!pages.has(k) || !at.blocks_on_page(k, &first, &last)) continue;
    for (std::int64_t i = done + 1 > first ? done + 1 : first; i <= last; ++i) f(static_cast<std::uint32_t>(i));
    if (last > done) done = last;
  }
}

}  // namespace

std::size_t park_free_pages(SuperSlab& ss, Slab& head) {
  HAKMEM_ASSERT(head.capacity <= kMaxBlocks);
  // Purging part of a hugetlb page is not possible.
  if (head.free_list == nullptr || ss.backing() == os::Backing::kHugetlb) return 0;
  const Layout at(ss, head);
  const PageSet purged = at.purged();
  // Which blocks are free: those on the free list and the parked ones.
  std::uint64_t free_bits[kMaxBlocks / 64] = {};
  for (void* p = head.free_list; p != nullptr; p = *static_cast<void**>(p)) {
    const std::uint32_t i = at.index_of(p);
    free_bits[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  for_each_block_on(at, purged, [&](std::uint32_t i) { free_bits[i / 64] |= std::uint64_t{1} << (i % 64); });
  // Pages not yet purged whose every block is free.
  PageSet fresh;
  for (unsigned k = 0; k < at.pages; ++k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (purged.has(k) || !at.blocks_on_page(k, &first, &last)) continue;
    bool all_free = true;
    for (std::uint32_t i = first; i <= last && all_free; ++i) all_free = ((free_bits[i / 64] >> (i % 64)) & 1u) != 0;
    if (all_free) fresh.add(k);
  }
  if (fresh.empty()) return 0;
  // Park: take the blocks on those pages off the free list (their links
  // may be about to read as zero), keeping the others in their order.
  void** link = &head.free_list;
  while (*link != nullptr) {
    void* p = *link;
    if (fresh.any_of(at.first_page(p), at.last_page(p))) {
      *link = *static_cast<void**>(p);
      ++head.parked;
    } else {
      link = static_cast<void**>(p);
    }
  }
  PageSet all = purged;
  all.merge(fresh);
  at.store_purged(all);
  // One call per run of consecutive pages. A refused purge leaves the pages
  // resident; the blocks stay parked all the same, which is still correct.
  std::size_t bytes = 0;
  for (unsigned k = 0; k < at.pages;) {
    if (!fresh.has(k)) {
      ++k;
      continue;
    }
    unsigned end = k;
    while (end < at.pages && fresh.has(end)) ++end;
    const std::size_t run = std::size_t{end - k} * kOsPageBytes;
    if (os::purge(at.unit + std::size_t{k} * kOsPageBytes, run)) bytes += run;
    k = end;
  }
  return bytes;
}

void unpark_blocks(SuperSlab& ss, Slab& head) {
  if (head.parked == 0) return;
  const Layout at(ss, head);
  const PageSet purged = at.purged();
  std::uint32_t linked = 0;
  // Linked from the highest address down, so the list hands them out in
  // address order.
  void* list = head.free_list;
  std::int64_t below = static_cast<std::int64_t>(at.capacity);  // the lowest block linked so far
  for (int k = static_cast<int>(at.pages) - 1; k >= 0; --k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (!purged.has(static_cast<unsigned>(k)) || !at.blocks_on_page(static_cast<unsigned>(k), &first, &last)) continue;
    for (std::int64_t i = last < below ? last : below - 1; i >= static_cast<std::int64_t>(first); --i) {
      void* p = at.block(static_cast<std::uint32_t>(i));
      *static_cast<void**>(p) = list;
      // The freed mark the page lost, so that freeing the block again is caught.
      set_freed_mark(p, head.owner);
      list = p;
      ++linked;
    }
    if (first < below) below = first;
  }
  HAKMEM_ASSERT(linked == head.parked);
  head.free_list = list;
  head.parked = 0;
  at.store_purged(PageSet());
}

bool block_is_parked(const void* p) {
  // One mask load per unit the block overlaps (a block of a multi-unit slab
  // may span two), and a test of the bits of its pages in it.
  SuperSlab* ss = SuperSlab::of(p);
  const Slab& head = SuperSlab::head_slab(p);
  // A released slab parks nothing; a mosaic's map marks free blocks itself.
  if (head.unit_count == 0 || head.size_class == kMosaicClass) return false;
  const unsigned head_unit = ss->index_of(head);
  const auto offset = reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(ss) -
                      std::uintptr_t{head_unit} * kSlabUnitBytes;
  const unsigned first = static_cast<unsigned>(offset / kOsPageBytes);
  unsigned last = static_cast<unsigned>((offset + block_size(head.size_class) - 1) / kOsPageBytes);
  if (last >= head.unit_count * kPagesPerUnit) last = head.unit_count * kPagesPerUnit - 1;
  for (unsigned u = first / kPagesPerUnit; u <= last / kPagesPerUnit; ++u) {
    const unsigned from = u == first / kPagesPerUnit ? first % kPagesPerUnit : 0;
    const unsigned to = u == last / kPagesPerUnit ? last % kPagesPerUnit : kPagesPerUnit - 1;
    const unsigned bits = ((2u << to) - 1) & ~((1u << from) - 1);
    if ((ss->slab(head_unit + u).purged_pages.load(std::memory_order_relaxed) & bits) != 0) return true;
  }
  return false;
}

std::uint32_t count_blocks_on_purged_pages(const SuperSlab& ss, const Slab& head) {
  if (head.unit_count == 0) return 0;
  const Layout at(ss, head);
  std::uint32_t n = 0;
  for_each_block_on(at, at.purged(), [&n](std::uint32_t) { ++n; });
  return n;
}

}  // namespace hakmem::tiers
