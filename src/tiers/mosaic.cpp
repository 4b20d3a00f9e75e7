#include "tiers/mosaic.h"

#include <atomic>
#include <bit>
#include <cstring>

#include "base/bits.h"
#include "base/build_config.h"
#include "base/check.h"
#include "os/pages.h"
#include "tiers/allocator.h"

namespace hakmem::tiers {

namespace {

constexpr unsigned kCellsPerPage = kOsPageBytes / kGranuleBytes;

// A block of class c takes this many granules...
unsigned granules_of(SizeClass c) { return static_cast<unsigned>(block_size(c) / kGranuleBytes); }
// ...and, cut with MosaicCut::natural_alignment, starts on a multiple of
// this many: its alignment in a slab of its own (whose blocks start 4 KiB-
// aligned), which aligned allocation relies on.
unsigned natural_alignment_granules(SizeClass c) {
  std::size_t a = block_size(c) & (~block_size(c) + 1);  // the lowest set bit
  if (a > kOsPageBytes) a = kOsPageBytes;
  return static_cast<unsigned>(a / kGranuleBytes);
}

// Where granule g of the mosaic lies, and back.
char* granule_address(const SuperSlab& ss, const Slab& head, unsigned g) {
  return ss.slab_begin(head) + std::size_t{g} * kGranuleBytes;
}
unsigned granule_of(const Slab& unit, const void* p) {
  // A mosaic is a one-unit slab, so the unit's record is its head.
  const SuperSlab* ss = SuperSlab::of(p);
  return static_cast<unsigned>(static_cast<std::size_t>(static_cast<const char*>(p) - ss->slab_begin(unit)) /
                               kGranuleBytes);
}
// The unit's page that holds granule g (page 0 is the unit's first page,
// the header in unit 0).
unsigned page_of(const SuperSlab& ss, const Slab& head, unsigned g) {
  const char* unit = reinterpret_cast<const char*>(&ss) + std::size_t{ss.index_of(head)} * kSlabUnitBytes;
  return static_cast<unsigned>(static_cast<std::size_t>(granule_address(ss, head, g) - unit) / kOsPageBytes);
}

// The class whose blocks take n granules; kMosaicClass if none does (a
// map that does not say what a valid one says).
SizeClass class_of_granules(unsigned n) {
  const std::size_t bytes = std::size_t{n} * kGranuleBytes;
  if (n == 0 || bytes > kMaxMidBlock) return kMosaicClass;
  const SizeClass c = compute_class(bytes);
  return block_size(c) == bytes ? c : kMosaicClass;
}

// The length of the free run around granules [g, g + n), which are free.
unsigned free_run_around(const MosaicMap& map, unsigned g, unsigned n, unsigned end) {
  return map.first_used(g + n, end) - map.free_run_begin(g);
}

// The first granule of the unit's page k (page_of's inverse; 0 for pages
// before the first granule, as unit 0's header page is).
unsigned granule_at_page(const SuperSlab& ss, const Slab& head, unsigned k) {
  const unsigned first_page = page_of(ss, head, 0);
  return k <= first_page ? 0 : (k - first_page) * kCellsPerPage;
}

// The bits of Slab::purged_pages for the pages that granules [g, g + n) touch.
unsigned page_bits(const SuperSlab& ss, const Slab& head, unsigned g, unsigned n) {
  const unsigned first = page_of(ss, head, g);
  const unsigned last = page_of(ss, head, g + n - 1);
  return ((2u << last) - 1) & ~((1u << first) - 1);
}

void clear_purged_pages(const SuperSlab& ss, Slab& head, unsigned g, unsigned n) {
  const unsigned bits = page_bits(ss, head, g, n);
  const std::uint16_t mask = head.purged_pages.load(std::memory_order_relaxed);
  if ((mask & bits) != 0) head.purged_pages.store(static_cast<std::uint16_t>(mask & ~bits), std::memory_order_relaxed);
}

}  // namespace

bool mosaic_candidate(const Slab& head) {
  return head.state == Slab::State::kHead && head.unit_count == 1 && mosaic_source_class(head.size_class) &&
         head.used != 0 && std::uint64_t{head.used} * 4 <= head.capacity;
}

void make_mosaic(SuperSlab& ss, Slab& head, MosaicMap* map) {
  HAKMEM_ASSERT(mosaic_candidate(head) && !head.on_full_list);
  const SizeClass c = head.size_class;
  const unsigned span = granules_of(c);
  const std::size_t bs = block_size(c);
  char* begin = ss.slab_begin(head);
  // Which blocks are free: those on the free list, those parked (every
  // block that overlaps a purged page) and those never carved. The rest
  // are live, wherever they are: with the program, in a thread cache of
  // this heap (the caller flushed the class), or in the inbox.
  constexpr std::size_t kMaxBlocks = kSlabUnitBytes / kGranuleBytes;
  std::uint64_t free_bits[kMaxBlocks / 64] = {};
  auto mark_free = [&free_bits](std::uint32_t i) { free_bits[i / 64] |= std::uint64_t{1} << (i % 64); };
  for (void* p = head.free_list; p != nullptr; p = *static_cast<void**>(p)) {
    mark_free(static_cast<std::uint32_t>(static_cast<std::size_t>(static_cast<char*>(p) - begin) / bs));
  }
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  const char* unit = reinterpret_cast<const char*>(&ss) + std::size_t{ss.index_of(head)} * kSlabUnitBytes;
  for (unsigned k = 0; k < kPagesPerUnit; ++k) {
    if (((purged >> k) & 1u) == 0) continue;
    const char* page = unit + std::size_t{k} * kOsPageBytes;
    const std::size_t from = page < begin ? 0 : static_cast<std::size_t>(page - begin) / bs;
    const std::size_t to = static_cast<std::size_t>(page + kOsPageBytes - 1 - begin) / bs;
    for (std::size_t i = from; i <= to && i < head.capacity; ++i) mark_free(static_cast<std::uint32_t>(i));
  }
  HAKMEM_ASSERT(map->all_free());
  std::uint32_t live = 0;
  for (std::uint32_t i = 0; i < head.capacity; ++i) {
    if (!ss.is_carved(head, i) || ((free_bits[i / 64] >> (i % 64)) & 1u) != 0) continue;
    map->mark_block(i * span, span);
    ++live;
  }
  HAKMEM_ASSERT(live == head.used);
  const auto granules = static_cast<unsigned>((ss.slab_end(head) - begin) / kGranuleBytes);
  unsigned longest = 0;
  for (unsigned g = map->first_free(0, granules); g < granules;) {
    const unsigned end = map->first_used(g, granules);
    if (end - g > longest) longest = end - g;
    g = map->first_free(end, granules);
  }
  head.capacity = granules;
  head.carved = longest;
  head.parked = 0;
  head.free_list = nullptr;
  head.mosaic = map;
  ss.set_scaled_origin(head, kMosaicClass);
  // Other threads read the class of a block they free; once they see
  // kMosaicClass they read the map, which must be complete by then.
  __atomic_store_n(&head.size_class, kMosaicClass, __ATOMIC_RELEASE);
}

std::uint32_t mosaic_carve(SuperSlab& ss, Slab& head, SizeClass c, std::uint32_t want, MosaicCut cut,
                           void** list) {
  HAKMEM_ASSERT(head.size_class == kMosaicClass && mosaic_class(c));
  const unsigned need = granules_of(c);
  if (head.carved < need || want == 0) return 0;
  const unsigned align = cut.natural_alignment ? natural_alignment_granules(c) : 1;
  MosaicMap& map = *head.mosaic;
  const unsigned granules = head.capacity;
  std::uint32_t got = 0;
  unsigned longest = 0;  // of the free runs left behind
  unsigned g = map.first_free(0, granules);
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  while (g < granules && got < want) {
    const unsigned end = map.first_used(g, granules);
    auto at = static_cast<unsigned>(align_up(g, align));
    unsigned left = g;  // start of the free run still unused before `at`
    while (at + need <= end && got < want) {
      if (!cut.into_purged && purged != 0) {
        // Past the purged pages the block would touch, if any.
        const unsigned bits = page_bits(ss, head, at, need);
        if ((purged & bits) != 0) {
          const unsigned last_purged = 31u - static_cast<unsigned>(std::countl_zero(unsigned{purged} & bits));
          at = static_cast<unsigned>(align_up(granule_at_page(ss, head, last_purged + 1), align));
          continue;
        }
      }
      map.mark_block(at, need);
      clear_purged_pages(ss, head, at, need);
      void* p = granule_address(ss, head, at);
      *static_cast<void**>(p) = *list;
      *list = p;
      ++got;
      if (at - left > longest) longest = at - left;
      left = at + need;
      at = static_cast<unsigned>(align_up(left, align));
    }
    if (end - left > longest) longest = end - left;
    g = map.first_free(end, granules);
  }
  head.used += got;
  if (got != 0) head.parked = 0;  // quiet looks: none
  // A whole scan knows the longest run left; one cut short by `want` only
  // shrank runs, so the old bound still holds.
  if (g >= granules) head.carved = longest;
  return got;
}

SizeClass mosaic_free(Slab& head, void* p) {
  MosaicMap& map = *head.mosaic;
  const unsigned g = granule_of(head, p);
  HAKMEM_ASSERT(g < head.capacity && map.cell(g) == Cell::kStart && head.used > 0);
  const unsigned n = map.block_end(g, head.capacity) - g;
  const SizeClass c = class_of_granules(n);
  HAKMEM_ASSERT(c != kMosaicClass);
  map.clear_block(g, n);
  --head.used;
  head.parked = 0;  // quiet looks: none
  const unsigned run = free_run_around(map, g, n, head.capacity);
  if (run > head.carved) head.carved = run;
  return c;
}

namespace {

// The granule of the mosaic that holds p, with p's offset into it; false
// where p lies outside the mosaic's granules (or the unit is no mosaic now).
bool granule_holding(const Slab& unit, const void* p, const MosaicMap** map, unsigned* g, std::size_t* misalignment) {
  *map = __atomic_load_n(&unit.mosaic, __ATOMIC_ACQUIRE);
  const char* begin = SuperSlab::of(p)->slab_begin(unit);
  if (*map == nullptr || static_cast<const char*>(p) < begin) return false;
  const auto offset = static_cast<std::size_t>(static_cast<const char*>(p) - begin);
  if (offset / kGranuleBytes >= unit.capacity) return false;
  *g = static_cast<unsigned>(offset / kGranuleBytes);
  *misalignment = offset % kGranuleBytes;
  return true;
}

}  // namespace

SizeClass mosaic_block_class(const Slab& unit, const void* p) {
  const MosaicMap* map = nullptr;
  unsigned g = 0;
  std::size_t misalignment = 0;
  if (!granule_holding(unit, p, &map, &g, &misalignment) || misalignment != 0 || map->cell(g) != Cell::kStart) {
    return kMosaicClass;
  }
  return class_of_granules(map->block_end(g, unit.capacity) - g);
}

bool mosaic_block_live(const Slab& unit, const void* p) { return mosaic_block_class(unit, p) != kMosaicClass; }

bool mosaic_block_naturally_aligned(SizeClass c, const void* p) {
  const std::size_t align = std::size_t{natural_alignment_granules(c)} * kGranuleBytes;
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

bool mosaic_block_interior(const Slab& unit, const void* p) {
  const MosaicMap* map = nullptr;
  unsigned g = 0;
  std::size_t misalignment = 0;
  if (!granule_holding(unit, p, &map, &g, &misalignment)) return false;
  const Cell cell = map->cell(g);
  return cell == Cell::kInside || (cell == Cell::kStart && misalignment != 0);
}

std::size_t mosaic_purge_free_pages(SuperSlab& ss, Slab& head) {
  if (ss.backing() == os::Backing::kHugetlb) return 0;
  const MosaicMap& map = *head.mosaic;
  const unsigned granules = head.capacity;
  std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  std::size_t bytes = 0;
  // Whole pages only: unit 0's first page is the header, and the granules
  // start at a page boundary in every unit.
  const unsigned first_page = page_of(ss, head, 0);
  for (unsigned k = first_page; k < kPagesPerUnit;) {
    unsigned end = k;
    while (end < kPagesPerUnit && ((purged >> end) & 1u) == 0) {
      const unsigned g = (end - first_page) * kCellsPerPage;
      if (g + kCellsPerPage > granules || map.first_used(g, g + kCellsPerPage) != g + kCellsPerPage) break;
      ++end;
    }
    if (end == k) {
      ++k;
      continue;
    }
    char* from = granule_address(ss, head, (k - first_page) * kCellsPerPage);
    const std::size_t len = std::size_t{end - k} * kOsPageBytes;
    if (os::purge(from, len)) bytes += len;
    purged = static_cast<std::uint16_t>(purged | (((1u << (end - k)) - 1) << k));
    k = end;
  }
  head.purged_pages.store(purged, std::memory_order_relaxed);
  return bytes;
}

bool mosaic_check(const SuperSlab& ss, const Slab& head) {
  if (head.size_class != kMosaicClass || head.mosaic == nullptr || head.unit_count != 1) return false;
  if (head.free_list != nullptr || head.parked > kMosaicQuietLooks || head.on_full_list) return false;
  const MosaicMap& map = *head.mosaic;
  const unsigned granules = head.capacity;
  if (granules != static_cast<unsigned>((ss.slab_end(head) - ss.slab_begin(head)) / kGranuleBytes)) return false;
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  for (unsigned g = granules; g < kCellsPerUnit; ++g) {
    if (map.cell(g) != Cell::kFree) return false;  // past the unit's end (unit 0 is short)
  }
  std::uint32_t live = 0;
  unsigned run = 0;
  for (unsigned g = 0; g < granules;) {
    const Cell cell = map.cell(g);
    if (cell == Cell::kFree) {
      if (++run > head.carved) return false;
      ++g;
      continue;
    }
    run = 0;
    if (cell != Cell::kStart) return false;
    const unsigned n = map.block_end(g, granules) - g;
    const SizeClass c = class_of_granules(n);
    if (!mosaic_class(c)) return false;
    for (unsigned k = page_of(ss, head, g); k <= page_of(ss, head, g + n - 1); ++k) {
      if (((purged >> k) & 1u) != 0) return false;
    }
    ++live;
    g += n;
  }
  return live == head.used;
}

}  // namespace hakmem::tiers
