#include "numa/binding.h"

#include <numaif.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "numa/node_mask.h"
#include "numa/placement.h"
#include "os/fault_injection.h"

namespace hakmem::numa {

namespace {

// The raw syscall rather than libnuma's wrapper: libhakmem.so stays free of
// libnuma at start-up.
bool mbind_region(void* base, std::size_t bytes, int policy, const NodeMask& nodes) {
  if (os::fault_due(os::Fault::kMbind)) return false;  // EPERM, errno kept as the real call keeps it
  const int saved = errno;
  const long r =
      syscall(SYS_mbind, base, bytes, policy, nodes.words(), static_cast<unsigned long>(NodeMask::kMaxNodes) + 1, 0);
  errno = saved;
  return r == 0;
}

}  // namespace

bool bind_region(void* base, std::size_t bytes, NodeId node) {
  const BindMode mode = placement().bind;
  if (mode == BindMode::kNone) return true;
  NodeMask mask;
  mask.add(node.value);
  return mbind_region(base, bytes, mode == BindMode::kStrict ? MPOL_BIND : MPOL_PREFERRED, mask);
}

bool bind_region_spread(void* base, std::size_t bytes, NodeId node) {
  const Placement& p = placement();
  if (p.kind != PlacementKind::kInterleave || p.bind == BindMode::kNone) return bind_region(base, bytes, node);
  return mbind_region(base, bytes, MPOL_INTERLEAVE, p.nodes);
}

}  // namespace hakmem::numa
