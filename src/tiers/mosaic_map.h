// MosaicMap: two bits per 16-byte granule of a 64 KiB slab unit, 1 KiB in
// all, saying where each block of a mosaic (mosaic.h) starts and ends.
//
// A cell is kFree, kStart (the first granule of a block) or kInside (a
// later granule of one). A block's size is the distance from its start to
// the next cell that is not kInside, and its class follows from the size
// (every class has a size of its own). One byte per granule, holding the
// class, took a 4 KiB page per mosaic: 8 MiB of maps for the 2000 mosaics
// of the fragmentation benchmark.
//
// Layer: tiers. The owner of the mosaic writes; any thread that frees or
// resizes a live block may read. Cells live 32 to a 64-bit word, and every
// word is loaded and stored whole (relaxed atomics), so a reader sees each
// word before or after a change, never torn. That is enough for a reader
// of a live block: its own cells do not change while it lives, and the
// cell just past its end is at every moment kFree or kStart (a carve makes
// it kStart and a free makes it kFree, each in the one store that holds
// it), both of which end the block. A cell is never kInside on the way:
// mark_block stores a block's start cell in the same store as the inside
// cells beside it.
#pragma once

#include <bit>
#include <cstdint>

#include "base/attributes.h"
#include "base/constants.h"

namespace hakmem::tiers {

inline constexpr std::size_t kGranuleBytes = 16;
inline constexpr unsigned kCellsPerUnit = kSlabUnitBytes / kGranuleBytes;

enum class Cell : std::uint8_t { kFree = 0, kInside = 1, kStart = 3 };

class MosaicMap {
 public:
  static constexpr unsigned kCellsPerWord = 32;
  static constexpr unsigned kWords = kCellsPerUnit / kCellsPerWord;

  Cell cell(unsigned g) const {
    return static_cast<Cell>((load(g / kCellsPerWord) >> shift_of(g)) & 3u);
  }
  bool all_free() const {
    for (unsigned k = 0; k < kWords; ++k) {
      if (load(k) != 0) return false;
    }
    return true;
  }

  // Cells [g, g + n) become one block: g kStart, the rest kInside. They
  // must be free. Owner only.
  void mark_block(unsigned g, unsigned n) {
    for_each_word(g, g + n, [g](unsigned first_cell, std::uint64_t range, std::uint64_t w) {
      w = (w & ~range) | (range & kUsedBits);
      if (first_cell == g) w |= std::uint64_t{2} << shift_of(g);  // the start, in the same store
      return w;
    });
  }
  // Cells [g, g + n) become free. Owner only.
  void clear_block(unsigned g, unsigned n) {
    for_each_word(g, g + n, [](unsigned, std::uint64_t range, std::uint64_t w) { return w & ~range; });
  }

  // The first cell in [g, end) that is not free, or end.
  unsigned first_used(unsigned g, unsigned end) const { return find(g, end, used_cells); }
  // The first free cell in [g, end), or end.
  unsigned first_free(unsigned g, unsigned end) const { return find(g, end, free_cells); }
  // Where the block that starts at g ends: the first cell after g, below
  // end, that is not kInside (or end).
  unsigned block_end(unsigned g, unsigned end) const { return find(g + 1, end, not_inside_cells); }
  // Where the run of free cells that ends just before g begins: one past
  // the last cell before g that is not free (0 if none).
  unsigned free_run_begin(unsigned g) const {
    while (g > 0) {
      const unsigned k = (g - 1) / kCellsPerWord;
      const unsigned cells_below = g - k * kCellsPerWord;  // 1..32 cells of word k before g
      const std::uint64_t below = cells_below == kCellsPerWord ? ~std::uint64_t{0}
                                                               : (std::uint64_t{1} << (2 * cells_below)) - 1;
      const std::uint64_t m = used_cells(load(k)) & below;
      if (m != 0) return k * kCellsPerWord + (63u - static_cast<unsigned>(std::countl_zero(m))) / 2 + 1;
      g = k * kCellsPerWord;
    }
    return 0;
  }

 private:
  // Bit 0 of a cell: used (kInside or kStart); bit 1: kStart.
  static constexpr std::uint64_t kUsedBits = 0x5555555555555555ull;
  static unsigned shift_of(unsigned g) { return 2 * (g % kCellsPerWord); }

  // Each returns the used bits (bit 0 of each cell) of the cells that pass.
  static std::uint64_t used_cells(std::uint64_t w) { return w & kUsedBits; }
  static std::uint64_t free_cells(std::uint64_t w) { return ~w & kUsedBits; }
  static std::uint64_t not_inside_cells(std::uint64_t w) { return ~(w & ~(w >> 1)) & kUsedBits; }

  std::uint64_t load(unsigned k) const { return __atomic_load_n(&words_[k], __ATOMIC_RELAXED); }
  void store(unsigned k, std::uint64_t w) { __atomic_store_n(&words_[k], w, __ATOMIC_RELAXED); }

  // The first cell in [g, end) that `pass` picks, or end.
  template <class Pass>
  unsigned find(unsigned g, unsigned end, Pass pass) const {
    while (g < end) {
      const unsigned k = g / kCellsPerWord;
      const std::uint64_t m = pass(load(k)) & (~std::uint64_t{0} << shift_of(g));
      if (m != 0) {
        const unsigned at = k * kCellsPerWord + static_cast<unsigned>(std::countr_zero(m)) / 2;
        return at < end ? at : end;
      }
      g = (k + 1) * kCellsPerWord;
    }
    return end;
  }

  // Rewrites each word that holds cells of [g, end): w = f(first cell of
  // the range in this word, the range's bits in it, the word).
  template <class F>
  void for_each_word(unsigned g, unsigned end, F f) {
    while (g < end) {
      const unsigned k = g / kCellsPerWord;
      const unsigned word_end = (k + 1) * kCellsPerWord < end ? (k + 1) * kCellsPerWord : end;
      const unsigned cells = word_end - g;
      const std::uint64_t range =
          (cells == kCellsPerWord ? ~std::uint64_t{0} : (std::uint64_t{1} << (2 * cells)) - 1) << shift_of(g);
      store(k, f(g, range, load(k)));
      g = word_end;
    }
  }

  std::uint64_t words_[kWords];
};
static_assert(sizeof(MosaicMap) == 1024, "two bits per granule of a unit");

}  // namespace hakmem::tiers
