// Small bit helpers. Layer: base.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace hakmem {

constexpr bool is_power_of_two(std::size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Precondition: `alignment` is a power of two; the result does not overflow.
constexpr std::size_t align_up(std::size_t x, std::size_t alignment) {
  return (x + alignment - 1) & ~(alignment - 1);
}
constexpr std::uintptr_t align_down(std::uintptr_t x, std::size_t alignment) {
  return x & ~(static_cast<std::uintptr_t>(alignment) - 1);
}

// align_up that reports overflow instead of wrapping; used on user sizes.
constexpr bool checked_align_up(std::size_t x, std::size_t alignment, std::size_t* out) {
  if (x > SIZE_MAX - (alignment - 1)) return false;
  *out = align_up(x, alignment);
  return true;
}

// floor(log2(x)) for x > 0.
constexpr unsigned log2_floor(std::size_t x) { return 63u - static_cast<unsigned>(std::countl_zero(x)); }

}  // namespace hakmem
