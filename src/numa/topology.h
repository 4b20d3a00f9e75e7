// The machine's NUMA nodes, as far as the allocator core needs them: how many
// there are and which one the calling thread runs on.
//
// Layer: numa. init_topology() runs once during global init, reads sysfs with
// plain open/read (no allocation: this runs before any heap exists), and
// freezes the result; afterwards every query is lock-free and read-only.
// Queries are for slow paths (heap creation, refill), never the fast path.
#pragma once

#include <cstdint>

namespace hakmem::numa {

// A node id, distinct from CPU ids and indices so that they cannot be swapped.
struct NodeId {
  std::uint32_t value = 0;
  friend bool operator==(NodeId, NodeId) = default;
};

// Reads /sys/devices/system/node/possible. A machine without NUMA support, or
// with an unreadable sysfs, is one node.
void init_topology();

// Number of node ids (max possible id + 1); node pools are sized from it.
std::uint32_t node_count();

// The node of the CPU the calling thread runs on right now (getcpu, served by
// the vDSO). Node 0 if the kernel cannot say.
NodeId current_node();

// Parses a sysfs node list ("0", "0-3", "0,2-5") and returns max id + 1, or
// 0 if the text is not a list. Exposed for tests.
std::uint32_t node_count_from_list(const char* text, std::uint32_t length);

}  // namespace hakmem::numa
