#include "os/libc_fallback.h"

#include <cstdint>

extern "C" {
void __libc_free(void* p);
void* __libc_realloc(void* p, std::size_t bytes);
}

namespace hakmem::os {

void libc_free(void* p) { __libc_free(p); }

void* libc_realloc(void* p, std::size_t bytes) { return __libc_realloc(p, bytes); }

std::size_t libc_usable_size(const void* p) {
  if (p == nullptr) return 0;
  constexpr std::size_t kSizeBits = ~std::size_t{7};
  constexpr std::size_t kIsMmapped = 2;
  const std::size_t header = reinterpret_cast<const std::size_t*>(p)[-1];
  const std::size_t chunk = header & kSizeBits;
  const std::size_t overhead = (header & kIsMmapped) != 0 ? 2 * sizeof(std::size_t) : sizeof(std::size_t);
  return chunk > overhead ? chunk - overhead : 0;
}

}  // namespace hakmem::os
