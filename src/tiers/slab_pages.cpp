#include "tiers/slab_pages.h"

#include <cstdint>

#include "base/build_config.h"
#include "base/check.h"
#include "os/pages.h"
#include "tiers/allocator.h"

namespace hakmem::tiers {

namespace {

constexpr unsigned kPagesPerUnit = kSlabUnitBytes / kOsPageBytes;
static_assert(kPagesPerUnit == 16, "Slab::purged_pages is one 16-bit mask");
// The most blocks a one-unit slab holds (8-byte blocks).
constexpr std::size_t kMaxBlocks = kSlabUnitBytes / 8;

// Where the slab's unit, blocks and carved blocks lie.
struct Layout {
  char* unit;
  char* begin;
  std::size_t block_bytes;
  std::uint32_t carved;
  std::uint32_t capacity;

  Layout(const SuperSlab& ss, const Slab& head)
      : unit(const_cast<char*>(reinterpret_cast<const char*>(&ss)) + ss.index_of(head) * kSlabUnitBytes),
        begin(ss.slab_begin(head)),
        block_bytes(block_size(head.size_class)),
        carved(head.carved),
        capacity(head.capacity) {}

  // The blocks that overlap page k: [*first, *last]. False where the page
  // is not wholly carved: the header's pages, and pages that reach past the
  // carved blocks into memory still to be carved (whose blocks could be
  // handed out while the page is purged). Past the last block that fits,
  // the slab's tail holds no block: a page reaching into it counts.
  bool blocks_on_page(unsigned k, std::uint32_t* first, std::uint32_t* last) const {
    const char* page = unit + std::size_t{k} * kOsPageBytes;
    if (page < begin) return false;
    const std::size_t from = static_cast<std::size_t>(page - begin) / block_bytes;
    const std::size_t to = static_cast<std::size_t>(page + kOsPageBytes - 1 - begin) / block_bytes;
    if (from >= carved || (to >= carved && carved < capacity)) return false;
    *first = static_cast<std::uint32_t>(from);
    *last = static_cast<std::uint32_t>(to < carved ? to : carved - 1);
    return true;
  }

  std::uint32_t index_of(const void* block) const {
    return static_cast<std::uint32_t>(static_cast<std::size_t>(static_cast<const char*>(block) - begin) / block_bytes);
  }
  char* block(std::uint32_t i) const { return begin + std::size_t{i} * block_bytes; }

  // The mask of the pages a block overlaps (one or two: blocks are at most
  // a page).
  std::uint16_t pages_of(const void* block) const {
    const auto first = static_cast<std::size_t>(static_cast<const char*>(block) - unit) / kOsPageBytes;
    const auto last = static_cast<std::size_t>(static_cast<const char*>(block) + block_bytes - 1 - unit) / kOsPageBytes;
    return static_cast<std::uint16_t>((1u << first) | (1u << last));
  }
};

// Calls f(i) once for each carved block that overlaps a page of `pages`,
// in address order.
template <typename F>
void for_each_block_on(const Layout& at, std::uint16_t pages, F&& f) {
  std::int64_t done = -1;  // the highest block visited so far
  for (unsigned k = 0; k < kPagesPerUnit; ++k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (((pages >> k) & 1u) == 0 || !at.blocks_on_page(k, &first, &last)) continue;
    for (std::int64_t i = done + 1 > first ? done + 1 : first; i <= last; ++i) f(static_cast<std::uint32_t>(i));
    if (last > done) done = last;
  }
}

}  // namespace

bool slab_pages_parkable(const SuperSlab& ss, const Slab& head) {
  // Purging part of a hugetlb page is not possible.
  return head.unit_count == 1 && block_size(head.size_class) <= kOsPageBytes &&
         ss.backing() != os::Backing::kHugetlb;
}

std::size_t park_free_pages(SuperSlab& ss, Slab& head) {
  HAKMEM_ASSERT(slab_pages_parkable(ss, head));
  if (head.free_list == nullptr) return 0;
  const Layout at(ss, head);
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  // Which blocks are free: those on the free list and the parked ones.
  std::uint64_t free_bits[kMaxBlocks / 64] = {};
  for (void* p = head.free_list; p != nullptr; p = *static_cast<void**>(p)) {
    const std::uint32_t i = at.index_of(p);
    free_bits[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  for_each_block_on(at, purged, [&](std::uint32_t i) { free_bits[i / 64] |= std::uint64_t{1} << (i % 64); });
  // Pages not yet purged whose every block is free.
  std::uint16_t fresh = 0;
  for (unsigned k = 0; k < kPagesPerUnit; ++k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (((purged >> k) & 1u) != 0 || !at.blocks_on_page(k, &first, &last)) continue;
    bool all_free = true;
    for (std::uint32_t i = first; i <= last && all_free; ++i) all_free = ((free_bits[i / 64] >> (i % 64)) & 1u) != 0;
    if (all_free) fresh = static_cast<std::uint16_t>(fresh | (1u << k));
  }
  if (fresh == 0) return 0;
  // Park: take the blocks on those pages off the free list (their links
  // are about to read as zero), keeping the others in their order.
  void** link = &head.free_list;
  while (*link != nullptr) {
    void* p = *link;
    if ((at.pages_of(p) & fresh) != 0) {
      *link = *static_cast<void**>(p);
      ++head.parked;
    } else {
      link = static_cast<void**>(p);
    }
  }
  head.purged_pages.store(static_cast<std::uint16_t>(purged | fresh), std::memory_order_relaxed);
  // One call per run of consecutive pages. A refused purge leaves the pages
  // resident; the blocks stay parked all the same, which is still correct.
  std::size_t bytes = 0;
  for (unsigned k = 0; k < kPagesPerUnit;) {
    if (((fresh >> k) & 1u) == 0) {
      ++k;
      continue;
    }
    unsigned end = k;
    while (end < kPagesPerUnit && ((fresh >> end) & 1u) != 0) ++end;
    const std::size_t run = std::size_t{end - k} * kOsPageBytes;
    if (os::purge(at.unit + std::size_t{k} * kOsPageBytes, run)) bytes += run;
    k = end;
  }
  return bytes;
}

void unpark_blocks(SuperSlab& ss, Slab& head) {
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  if (purged == 0) return;
  const Layout at(ss, head);
  std::uint32_t linked = 0;
  // Linked from the highest address down, so the list hands them out in
  // address order.
  void* list = head.free_list;
  std::int64_t below = static_cast<std::int64_t>(at.carved);  // the lowest block linked so far
  for (int k = static_cast<int>(kPagesPerUnit) - 1; k >= 0; --k) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (((purged >> k) & 1u) == 0 || !at.blocks_on_page(static_cast<unsigned>(k), &first, &last)) continue;
    for (std::int64_t i = last < below ? last : below - 1; i >= static_cast<std::int64_t>(first); --i) {
      void* p = at.block(static_cast<std::uint32_t>(i));
      *static_cast<void**>(p) = list;
      if constexpr (kChecked) {
        // The freed-block mark the pages lost, so that freeing it again is caught.
        if (head.size_class != 0) static_cast<std::uintptr_t*>(p)[1] = kFreedCanary ^ reinterpret_cast<std::uintptr_t>(p);
      }
      list = p;
      ++linked;
    }
    if (first < below) below = first;
  }
  HAKMEM_ASSERT(linked == head.parked);
  head.free_list = list;
  head.parked = 0;
  head.purged_pages.store(0, std::memory_order_relaxed);
}

bool block_is_parked(const void* p) {
  const Slab& unit = SuperSlab::unit_slab(p);
  const std::uint16_t purged = unit.purged_pages.load(std::memory_order_relaxed);
  if (purged == 0) return false;
  const auto unit_base = reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{kSlabUnitBytes} - 1);
  const auto offset = reinterpret_cast<std::uintptr_t>(p) - unit_base;
  const std::size_t last = offset + block_size(unit.size_class) - 1;
  const unsigned first_page = static_cast<unsigned>(offset / kOsPageBytes);
  const unsigned last_page = static_cast<unsigned>(last / kOsPageBytes);
  return ((purged >> first_page) & 1u) != 0 || (last_page < kPagesPerUnit && ((purged >> last_page) & 1u) != 0);
}

std::uint32_t count_blocks_on_purged_pages(const SuperSlab& ss, const Slab& head) {
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  if (purged == 0) return 0;
  std::uint32_t n = 0;
  for_each_block_on(Layout(ss, head), purged, [&n](std::uint32_t) { ++n; });
  return n;
}

}  // namespace hakmem::tiers
