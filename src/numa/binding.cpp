#include "numa/binding.h"

#include <numaif.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace hakmem::numa {

bool bind_region(void* base, std::size_t bytes, NodeId node) {
  if (node_count() <= 1) return true;
  // The raw syscall rather than libnuma's wrapper: libhakmem.so stays free of
  // libnuma at start-up. The mask lives on the stack; 16 words cover every
  // node id the kernel can report (MAX_NUMNODES is 1 << CONFIG_NODES_SHIFT,
  // at most 1024).
  constexpr std::uint32_t kBitsPerWord = 64;
  const std::uint32_t words = (node.value / kBitsPerWord) + 1;
  unsigned long mask[16] = {};
  if (words > sizeof(mask) / sizeof(mask[0])) return false;
  mask[node.value / kBitsPerWord] = 1ul << (node.value % kBitsPerWord);
  const int saved = errno;
  const long r = syscall(SYS_mbind, base, bytes, MPOL_PREFERRED, mask,
                         static_cast<unsigned long>(words) * kBitsPerWord + 1, 0);
  errno = saved;
  return r == 0;
}

}  // namespace hakmem::numa
