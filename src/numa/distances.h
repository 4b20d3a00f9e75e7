// Distances between nodes (the firmware's SLIT: 10 to itself, more the
// farther) and, from them, where a thread's memory goes when its own node
// may not take it: a node without memory, outside the cpuset, or left out of
// bind:LIST. The kernel's own answer for a CPU without local memory is the
// nearest node that has some; hakmem gives the same, within the nodes the
// placement allows.
//
// Layer: numa. init_nearest_nodes() runs once in global init, after the
// placement is resolved. It reads only the distance rows of the nodes that
// need an answer, with plain read(2): no allocation, no hwloc, so start-up
// stays cheap (the full topology is machine_topology.h, loaded lazily).
// Afterwards nearest_allowed_node() is a lock-free table lookup.
#pragma once

#include <cstdint>
#include <string_view>

#include "numa/node_mask.h"
#include "numa/topology.h"

namespace hakmem::numa {

// A distance row as sysfs writes it ("10 21 31\n"): fills row[0 .. count)
// and returns how many distances it held, or 0 if the text is not a row.
std::uint32_t parse_distance_row(std::string_view text, std::uint32_t* row, std::uint32_t count);

// The node of `allowed` nearest to the node whose row this is (row[i]: its
// distance to node i, for i < count; 0 where unknown, which counts as
// farthest). Ties go to the lower id. kMaxNodes if `allowed` holds no node.
std::uint32_t nearest_node(const std::uint32_t* row, std::uint32_t count, const NodeMask& allowed);

// Fills the table for every online node outside `allowed`, when `allowed`
// holds more than one node (with one, that node is every node's answer).
void init_nearest_nodes(const NodeMask& allowed);

// The node of `allowed` (as given to init_nearest_nodes) nearest to `from`;
// its lowest node where the distances are unknown.
NodeId nearest_allowed_node(NodeId from, const NodeMask& allowed);

}  // namespace hakmem::numa
