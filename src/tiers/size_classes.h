// Size classes: which block size serves a request, and how big a slab of that
// class is.
//
// Layer: tiers. Pure functions over constexpr tables; any thread.
//
// Classes: 16 B steps to 128 B, then eight classes per power of two to
// 1 KiB (144, 160, ..., 256, 288, ..., 576, 640, ..., 1024), then four
// to 256 KiB (1280, 1536, 1792, 2048, 2560, ...).
//
// No class is smaller than 16 B: a free block holds two words, the free
// list's link and the freed mark that catches a second free of it
// (allocator.h), and every block keeps 16-byte alignment.
//
// Tiny blocks get eight a doubling for the cache as much as for the waste.
// With four, a third of random tiny requests landed in the 768 B and 1 KiB
// classes, whose block starts fall on one cache set in four and one in
// sixteen; a 512 KiB 8-way cache missed 2.19 M times in 2 M random ops
// against 1.72 M now (tcmalloc, which has classes this fine, 1.65 M), and
// the blocks waste half as much. Above 1 KiB the classes stay coarse: mid
// and large slabs are big, and more classes would leave more of them part
// full.
//
// Requests above kMaxSlabBlock
// are huge blocks, cut from spans shared by every size (huge.h): a freed
// 512 KiB block's place can serve a 1 MiB one after it coalesces, where a
// slab serves one class only (buffers growing through these sizes left
// every class's slabs behind them).
//
// Tiers (the names used in stats):
//   tiny  16 B .. 1 KiB     one 64 KiB slab unit per slab
//   mid    1 KiB .. 32 KiB  slabs of one or more units, at least 4 blocks
//   large  32 KiB .. 256 KiB  slabs of 1 to 5 units holding 1 to 4 blocks
//   huge   above 256 KiB      cut from shared spans on 64 KiB granules
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/attributes.h"
#include "base/bits.h"
#include "base/constants.h"

namespace hakmem::tiers {

using SizeClass = std::uint8_t;

inline constexpr std::size_t kMaxTinyBlock = 1024;
inline constexpr std::size_t kMaxMidBlock = 32 * 1024;
inline constexpr std::size_t kMaxSlabBlock = std::size_t{256} << 10;  // 256 KiB
inline constexpr unsigned kTinyStepsPerDoubling = 8;
inline constexpr unsigned kStepsPerDoubling = 4;
inline constexpr unsigned kFirstTinyGeometricClass = 8;                                   // 144 B
inline constexpr unsigned kFirstGeometricClass = kFirstTinyGeometricClass + 3 * kTinyStepsPerDoubling;  // 1280 B
inline constexpr unsigned kClassCount = kFirstGeometricClass + (18 - 10) * kStepsPerDoubling;  // .. 256 KiB

// Not a size: the class a mosaic slab's records carry (mosaic.h), whose
// blocks are of several sizes. Every heap has a bin for it that is always
// over capacity, so the free fast path hands such a block to the slow path
// without a test of its own. Never passed to block_size().
inline constexpr SizeClass kMosaicClass = kClassCount;
inline constexpr unsigned kBinCount = kClassCount + 1;

enum class Tier : std::uint8_t { kTiny, kMid, kLarge, kHuge };
inline constexpr unsigned kTierCount = 4;
const char* tier_name(Tier t);

// The class for a request of n bytes, n <= kMaxSlabBlock. Pure arithmetic,
// in a full register: the fast path indexes with it, and a SizeClass result
// would cost it a zero extension.
constexpr unsigned compute_class_index(std::size_t n) {
  if (n <= 16) return 0;
  if (n <= 128) return static_cast<unsigned>((n + 15) / 16 - 1);
  const std::size_t m = n - 1;
  const unsigned p = log2_floor(m);  // 2^p <= m < 2^(p+1), p >= 7
  if (n <= kMaxTinyBlock) {
    const unsigned step = static_cast<unsigned>(m >> (p - 3));  // 8..15
    return kFirstTinyGeometricClass + (p - 7) * kTinyStepsPerDoubling + step - 8;
  }
  const unsigned step = static_cast<unsigned>(m >> (p - 2));  // 4..7
  return kFirstGeometricClass + (p - 10) * kStepsPerDoubling + step - 4;
}
constexpr SizeClass compute_class(std::size_t n) { return static_cast<SizeClass>(compute_class_index(n)); }

constexpr std::size_t compute_block_size(SizeClass c) {
  if (c < kFirstTinyGeometricClass) return (std::size_t{c} + 1) * 16;
  if (c < kFirstGeometricClass) {
    const unsigned g = c - kFirstTinyGeometricClass;
    const unsigned p = 7 + g / kTinyStepsPerDoubling;
    const unsigned step = 8 + g % kTinyStepsPerDoubling + 1;  // 9..16 eighths of 2^p
    return (std::size_t{step} << p) / 8;
  }
  const unsigned g = c - kFirstGeometricClass;
  const unsigned p = 10 + g / kStepsPerDoubling;
  const unsigned step = 4 + g % kStepsPerDoubling + 1;  // 5..8 quarters of 2^p
  return (std::size_t{step} << p) / 4;
}

// Slab units (64 KiB each) per slab of class c: one for tiny and small mid
// classes; for bigger blocks, the fewest units that hold enough blocks (4
// for mid classes, 1 for large ones) with at most 1/8 of the slab left over.
// Large slabs stay short (1 to 5 units): a slab needs its units in one run,
// and slabs of 10 to 16 units left SuperSlabs with a third of their units
// free in runs too short for them, so a heap kept mapping new ones long
// after its working set had stopped growing.
constexpr unsigned compute_units_per_slab(SizeClass c) {
  const std::size_t b = compute_block_size(c);
  if (b <= 8 * 1024) return 1;
  const std::size_t max_units = 16;
  const std::size_t max_blocks_in_max = max_units * kSlabUnitBytes / b;
  const std::size_t want_blocks = b > kMaxMidBlock ? 1 : max_blocks_in_max < 4 ? max_blocks_in_max : 4;
  for (std::size_t u = 1; u <= max_units; ++u) {
    const std::size_t bytes = u * kSlabUnitBytes;
    const std::size_t blocks = bytes / b;
    if (blocks >= want_blocks && (bytes - blocks * b) * 8 <= bytes) return static_cast<unsigned>(u);
  }
  return static_cast<unsigned>(max_units);
}

struct ClassInfo {
  std::uint32_t block_bytes;
  std::uint8_t units_per_slab;
  Tier tier;
};

namespace detail {
constexpr std::array<ClassInfo, kClassCount> make_class_table() {
  std::array<ClassInfo, kClassCount> t{};
  for (unsigned c = 0; c < kClassCount; ++c) {
    const std::size_t b = compute_block_size(static_cast<SizeClass>(c));
    t[c].block_bytes = static_cast<std::uint32_t>(b);
    t[c].units_per_slab = static_cast<std::uint8_t>(compute_units_per_slab(static_cast<SizeClass>(c)));
    t[c].tier = b <= kMaxTinyBlock ? Tier::kTiny : b <= kMaxMidBlock ? Tier::kMid : Tier::kLarge;
  }
  return t;
}
// Indexed by (n + 7) / 8 for n <= kMaxTinyBlock: the fast path's lookup.
constexpr std::array<SizeClass, kMaxTinyBlock / 8 + 1> make_tiny_lookup() {
  std::array<SizeClass, kMaxTinyBlock / 8 + 1> t{};
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = compute_class(i * 8);
  return t;
}
}  // namespace detail

inline constexpr std::array<ClassInfo, kClassCount> kClassInfo = detail::make_class_table();
inline constexpr std::array<SizeClass, kMaxTinyBlock / 8 + 1> kTinyClassOf = detail::make_tiny_lookup();

static_assert(compute_block_size(kClassCount - 1) == kMaxSlabBlock);
static_assert(compute_class(kMaxSlabBlock) == kClassCount - 1);
static_assert(compute_class(kMaxTinyBlock) == kTinyClassOf[kMaxTinyBlock / 8]);

HAKMEM_FAST_PATH SizeClass tiny_class_of(std::size_t n) { return kTinyClassOf[(n + 7) >> 3]; }
HAKMEM_FAST_PATH SizeClass class_of(std::size_t n) {
  return n <= kMaxTinyBlock ? tiny_class_of(n) : compute_class(n);
}
HAKMEM_FAST_PATH std::size_t block_size(SizeClass c) { return kClassInfo[c].block_bytes; }
// By bin (class, and last the mosaic bin, whose blocks start on any 16-byte
// granule): ceil(2^64 / block size). For an offset below 2^32, offset
// times it (mod 2^64) falls below it exactly when the block size divides
// the offset: the product's low part is the remainder scaled up.
constexpr std::array<std::uint64_t, kBinCount> make_block_start_multipliers() {
  std::array<std::uint64_t, kBinCount> t{};
  for (unsigned c = 0; c < kBinCount; ++c) {
    const std::size_t b = c == kMosaicClass ? 16 : compute_block_size(static_cast<SizeClass>(c));
    t[c] = ~std::uint64_t{0} / b + 1;
  }
  return t;
}
inline constexpr std::array<std::uint64_t, kBinCount> kBlockStartMultiplier = make_block_start_multipliers();

HAKMEM_FAST_PATH bool block_starts_at(std::uint64_t offset, std::uint64_t multiplier) {
  return offset * multiplier < multiplier;
}

// Whether a block of class c starts `offset` bytes into a slab that holds
// `capacity` of them: a multiply and two compares, no division.
inline bool is_block_start(std::size_t offset, SizeClass c, std::uint32_t capacity) {
  return offset < std::size_t{capacity} * block_size(c) && block_starts_at(offset, kBlockStartMultiplier[c]);
}
inline unsigned units_per_slab(SizeClass c) { return kClassInfo[c].units_per_slab; }
inline Tier tier_of(SizeClass c) { return kClassInfo[c].tier; }

namespace detail {
// By class and log2(alignment), up to the small page: the first class from
// there on whose block size is a multiple of the alignment (kClassCount if
// none). Slabs start on 4 KiB boundaries, so such a class's blocks are all
// aligned.
inline constexpr unsigned kMaxAlignShift = 12;
static_assert(std::size_t{1} << kMaxAlignShift == kOsPageBytes);
constexpr std::array<std::array<SizeClass, kMaxAlignShift + 1>, kClassCount> make_aligned_table() {
  std::array<std::array<SizeClass, kMaxAlignShift + 1>, kClassCount> t{};
  for (unsigned c = 0; c < kClassCount; ++c) {
    for (unsigned shift = 0; shift <= kMaxAlignShift; ++shift) {
      unsigned found = c;
      while (found < kClassCount && compute_block_size(static_cast<SizeClass>(found)) % (std::size_t{1} << shift) != 0) {
        ++found;
      }
      t[c][shift] = static_cast<SizeClass>(found);
    }
  }
  return t;
}
inline constexpr auto kAlignedClass = make_aligned_table();
}  // namespace detail

// The smallest class >= n whose block size is a multiple of `alignment` (a
// power of two, at most kOsPageBytes), or kClassCount if none up to kMaxSlabBlock.
HAKMEM_FAST_PATH SizeClass aligned_class_of(std::size_t n, std::size_t alignment) {
  if (n > kMaxSlabBlock) return kClassCount;
  return detail::kAlignedClass[class_of(n)][static_cast<unsigned>(__builtin_ctzll(alignment))];
}

}  // namespace hakmem::tiers
