// Binding a freshly mapped region to a NUMA node, before its first touch.
//
// Layer: numa. Any thread; one mbind syscall per region, on slow paths only.
// On a machine with one node this does nothing (there is nothing to choose).
#pragma once

#include <cstddef>

#include "numa/topology.h"

namespace hakmem::numa {

// Asks the kernel to place the region's pages on `node`, as the placement
// policy says (numa/placement.h): MPOL_PREFERRED under local and interleave
// (advisory, so a full node spills over instead of failing), MPOL_BIND under
// bind:LIST, nothing under off, an inherited policy or a single node.
// Returns true when bound or when binding does not apply; false if the
// kernel refused, in which case the region is still usable.
bool bind_region(void* base, std::size_t bytes, NodeId node);

// Under the interleave policy: spreads the region's pages over the usable
// nodes page by page (MPOL_INTERLEAVE), for huge blocks, whose pages one
// thread fills; under any other policy, the same as bind_region(node).
bool bind_region_spread(void* base, std::size_t bytes, NodeId node);

}  // namespace hakmem::numa
