// Binding a freshly mapped region to a NUMA node, before its first touch.
//
// Layer: numa. Any thread; one mbind syscall per region, on slow paths only.
// On a machine with one node this does nothing (there is nothing to choose).
#pragma once

#include <cstddef>

#include "numa/topology.h"

namespace hakmem::numa {

// Asks the kernel to place the region's pages on `node` (MPOL_PREFERRED:
// advisory, so a full node spills over instead of failing the allocation).
// Returns true when bound or when binding does not apply; false if the
// kernel refused, in which case the region is still usable.
bool bind_region(void* base, std::size_t bytes, NodeId node);

}  // namespace hakmem::numa
