#include "numa/binding.h"

#include <numaif.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "numa/node_mask.h"
#include "numa/placement.h"

namespace hakmem::numa {

bool bind_region(void* base, std::size_t bytes, NodeId node) {
  const BindMode mode = placement().bind;
  if (mode == BindMode::kNone) return true;
  // The raw syscall rather than libnuma's wrapper: libhakmem.so stays free of
  // libnuma at start-up.
  NodeMask mask;
  mask.add(node.value);
  const int policy = mode == BindMode::kStrict ? MPOL_BIND : MPOL_PREFERRED;
  const int saved = errno;
  const long r = syscall(SYS_mbind, base, bytes, policy, mask.words(),
                         static_cast<unsigned long>(NodeMask::kMaxNodes) + 1, 0);
  errno = saved;
  return r == 0;
}

bool bind_region_spread(void* base, std::size_t bytes, NodeId node) {
  const Placement& p = placement();
  if (p.kind != PlacementKind::kInterleave || p.bind == BindMode::kNone) return bind_region(base, bytes, node);
  const int saved = errno;
  const long r = syscall(SYS_mbind, base, bytes, MPOL_INTERLEAVE, p.nodes.words(),
                         static_cast<unsigned long>(NodeMask::kMaxNodes) + 1, 0);
  errno = saved;
  return r == 0;
}

}  // namespace hakmem::numa
