// Geometry constants of the heap. Every size below is derived from these.
//
// Layer: base. A SuperSlab is the unit the OS layer maps and a NUMA node owns;
// it is cut into slab units; a slab is one or more consecutive units serving
// one size class. The number of units per SuperSlab follows from geometry
// (2 MiB / 64 KiB); the number of SuperSlabs is unbounded.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr std::size_t kSuperSlabShift = 21;
inline constexpr std::size_t kSuperSlabBytes = std::size_t{1} << kSuperSlabShift;  // 2 MiB
inline constexpr std::uintptr_t kSuperSlabMask = kSuperSlabBytes - 1;

inline constexpr std::size_t kSlabUnitShift = 16;
inline constexpr std::size_t kSlabUnitBytes = std::size_t{1} << kSlabUnitShift;  // 64 KiB
inline constexpr std::size_t kUnitsPerSuperSlab = kSuperSlabBytes / kSlabUnitBytes;

inline constexpr std::size_t kOsPageBytes = 4096;  // the small OS page
inline constexpr std::size_t kHugePageBytes = kSuperSlabBytes;  // the 2 MiB OS page

// malloc's guaranteed alignment on x86-64 (alignof(max_align_t)); blocks of
// 8 bytes are 8-aligned, as nothing larger than 8 bytes fits in them.
inline constexpr std::size_t kMinAlignment = 16;

// User-space virtual addresses on x86-64 with 4-level paging fit in 47 bits;
// anything above is not ours (we never pass a high mmap hint).
inline constexpr unsigned kAddressBits = 47;

}  // namespace hakmem
