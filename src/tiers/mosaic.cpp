#include "tiers/mosaic.h"

#include <atomic>
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
// ...and starts on a multiple of this many: its natural alignment in a slab
// of its own (whose blocks start 4 KiB-aligned), so aligned_class_of's
// promise holds for blocks from mosaics too.
unsigned alignment_granules(SizeClass c) {
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

// Free cells from g up to `end`: the first cell at or after g that is not
// free (or end). Eight cells a step where they are all free.
unsigned skip_free(const std::uint8_t* cells, unsigned g, unsigned end) {
  while (g < end && (g % 8) != 0 && cells[g] == kCellFree) ++g;
  while (g + 8 <= end) {
    std::uint64_t w;
    std::memcpy(&w, cells + g, sizeof w);
    if (w != 0) break;
    g += 8;
  }
  while (g < end && cells[g] == kCellFree) ++g;
  return g;
}

// The first free cell at or after g (or end).
unsigned skip_used(const std::uint8_t* cells, unsigned g, unsigned end) {
  while (g < end && cells[g] != kCellFree) ++g;
  return g;
}

// The length of the free run around granules [g, g + n), which are free.
unsigned free_run_around(const std::uint8_t* cells, unsigned g, unsigned n, unsigned end) {
  unsigned first = g;
  while (first > 0 && cells[first - 1] == kCellFree) --first;
  return skip_free(cells, g + n, end) - first;
}

void clear_purged_pages(const SuperSlab& ss, Slab& head, unsigned g, unsigned n) {
  const unsigned first = page_of(ss, head, g);
  const unsigned last = page_of(ss, head, g + n - 1);
  const unsigned bits = ((2u << last) - 1) & ~((1u << first) - 1);
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
  std::uint32_t live = 0;
  for (std::uint32_t i = 0; i < head.carved; ++i) {
    if (((free_bits[i / 64] >> (i % 64)) & 1u) != 0) continue;
    std::uint8_t* cell = map->cells + std::size_t{i} * span;
    cell[0] = static_cast<std::uint8_t>(c + 1);
    std::memset(cell + 1, kCellInside, span - 1);
    ++live;
  }
  HAKMEM_ASSERT(live == head.used);
  const auto granules = static_cast<unsigned>((ss.slab_end(head) - begin) / kGranuleBytes);
  unsigned longest = 0;
  for (unsigned g = skip_used(map->cells, 0, granules); g < granules;) {
    const unsigned end = skip_free(map->cells, g, granules);
    if (end - g > longest) longest = end - g;
    g = skip_used(map->cells, end, granules);
  }
  head.capacity = granules;
  head.carved = longest;
  head.parked = 0;
  head.free_list = nullptr;
  head.mosaic = map;
  // Other threads read the class of a block they free; once they see
  // kMosaicClass they read the map, which must be complete by then.
  __atomic_store_n(&head.size_class, kMosaicClass, __ATOMIC_RELEASE);
}

std::uint32_t mosaic_carve(SuperSlab& ss, Slab& head, SizeClass c, std::uint32_t want, void** list) {
  HAKMEM_ASSERT(head.size_class == kMosaicClass && mosaic_class(c));
  const unsigned need = granules_of(c);
  if (head.carved < need || want == 0) return 0;
  const unsigned align = alignment_granules(c);
  std::uint8_t* cells = head.mosaic->cells;
  const unsigned granules = head.capacity;
  std::uint32_t got = 0;
  unsigned longest = 0;  // of the free runs left behind
  unsigned g = skip_used(cells, 0, granules);
  while (g < granules && got < want) {
    const unsigned end = skip_free(cells, g, granules);
    auto at = static_cast<unsigned>(align_up(g, align));
    unsigned left = g;  // start of the free run still unused before `at`
    while (at + need <= end && got < want) {
      cells[at] = static_cast<std::uint8_t>(c + 1);
      std::memset(cells + at + 1, kCellInside, need - 1);
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
    g = skip_used(cells, end, granules);
  }
  head.used += got;
  if (got != 0) head.parked = 0;  // quiet looks: none
  // A whole scan knows the longest run left; one cut short by `want` only
  // shrank runs, so the old bound still holds.
  if (g >= granules) head.carved = longest;
  return got;
}

SizeClass mosaic_free(Slab& head, void* p) {
  std::uint8_t* cells = head.mosaic->cells;
  const unsigned g = granule_of(head, p);
  HAKMEM_ASSERT(g < head.capacity && cells[g] != kCellFree && cells[g] != kCellInside && head.used > 0);
  const auto c = static_cast<SizeClass>(cells[g] - 1);
  const unsigned n = granules_of(c);
  std::memset(cells + g, kCellFree, n);
  --head.used;
  head.parked = 0;  // quiet looks: none
  const unsigned run = free_run_around(cells, g, n, head.capacity);
  if (run > head.carved) head.carved = run;
  return c;
}

namespace {

// The cell of the granule holding p, with p's offset into it; null where p
// lies outside the mosaic's granules (or the unit is no mosaic now).
const std::uint8_t* cell_of(const Slab& unit, const void* p, std::size_t* misalignment) {
  const MosaicMap* map = __atomic_load_n(&unit.mosaic, __ATOMIC_ACQUIRE);
  const char* begin = SuperSlab::of(p)->slab_begin(unit);
  if (map == nullptr || static_cast<const char*>(p) < begin) return nullptr;
  const auto offset = static_cast<std::size_t>(static_cast<const char*>(p) - begin);
  if (offset / kGranuleBytes >= unit.capacity) return nullptr;
  *misalignment = offset % kGranuleBytes;
  return &map->cells[offset / kGranuleBytes];
}

}  // namespace

SizeClass mosaic_block_class(const Slab& unit, const void* p) {
  std::size_t misalignment = 0;
  const std::uint8_t* cell = cell_of(unit, p, &misalignment);
  if (cell == nullptr || misalignment != 0 || *cell == kCellFree || *cell == kCellInside) return kMosaicClass;
  return static_cast<SizeClass>(*cell - 1);
}

bool mosaic_block_live(const Slab& unit, const void* p) { return mosaic_block_class(unit, p) != kMosaicClass; }

bool mosaic_block_interior(const Slab& unit, const void* p) {
  std::size_t misalignment = 0;
  const std::uint8_t* cell = cell_of(unit, p, &misalignment);
  return cell != nullptr && (*cell == kCellInside || (*cell != kCellFree && misalignment != 0));
}

std::size_t mosaic_purge_free_pages(SuperSlab& ss, Slab& head) {
  if (ss.backing() == os::Backing::kHugetlb) return 0;
  const std::uint8_t* cells = head.mosaic->cells;
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
      if (g + kCellsPerPage > granules || skip_free(cells, g, g + kCellsPerPage) != g + kCellsPerPage) break;
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
  const std::uint8_t* cells = head.mosaic->cells;
  const unsigned granules = head.capacity;
  if (granules != static_cast<unsigned>((ss.slab_end(head) - ss.slab_begin(head)) / kGranuleBytes)) return false;
  const std::uint16_t purged = head.purged_pages.load(std::memory_order_relaxed);
  std::uint32_t live = 0;
  unsigned run = 0;
  for (unsigned g = 0; g < granules;) {
    const std::uint8_t cell = cells[g];
    if (cell == kCellFree) {
      if (++run > head.carved) return false;
      ++g;
      continue;
    }
    run = 0;
    if (cell == kCellInside || !mosaic_class(static_cast<SizeClass>(cell - 1))) return false;
    const unsigned n = granules_of(static_cast<SizeClass>(cell - 1));
    if (g % alignment_granules(static_cast<SizeClass>(cell - 1)) != 0 || g + n > granules) return false;
    for (unsigned i = 1; i < n; ++i) {
      if (cells[g + i] != kCellInside) return false;
    }
    for (unsigned k = page_of(ss, head, g); k <= page_of(ss, head, g + n - 1); ++k) {
      if (((purged >> k) & 1u) != 0) return false;
    }
    ++live;
    g += n;
  }
  return live == head.used;
}

}  // namespace hakmem::tiers
