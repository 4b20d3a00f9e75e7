// libFuzzer target: the size-class tables against their definition. For
// any request size the class's blocks hold it and the class below does
// not; the block-start multiply agrees with a division; the aligned class
// is aligned and holds the request.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tiers/size_classes.h"

using namespace hakmem;
using namespace hakmem::tiers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  const std::size_t n = raw % (kMaxSlabBlock + 1);
  const SizeClass c = class_of(n);
  if (c >= kClassCount || block_size(c) < n) __builtin_trap();
  if (c > 0 && block_size(static_cast<SizeClass>(c - 1)) >= n && n > block_size(0)) __builtin_trap();
  if (compute_class(n) != c) __builtin_trap();
  const std::size_t slab_bytes = units_per_slab(c) * kSlabUnitBytes;
  const auto capacity = static_cast<std::uint32_t>(slab_bytes / block_size(c));
  const std::size_t offset = (raw >> 32) % (slab_bytes + block_size(c));
  if (is_block_start(offset, c, capacity) != (offset % block_size(c) == 0 && offset / block_size(c) < capacity)) {
    __builtin_trap();
  }
  const std::size_t alignment = std::size_t{1} << ((raw >> 24) % 13);
  const SizeClass a = aligned_class_of(n, alignment);
  if (a < kClassCount && (block_size(a) < n || block_size(a) % alignment != 0)) __builtin_trap();
  return 0;
}
