// The machine as hwloc describes it: each NUMA node's CPUs, its memory, and
// the distances between nodes. The allocator's own decisions need none of
// it at start-up (topology.h, placement.h and distances.h read the little
// they need from sysfs); this is the full picture, for the API
// (hkm_node_info_get, hkm_node_distance) and for tests on synthetic machines.
//
// Layer: numa. machine_topology() loads it once, on its first call, and
// never from inside malloc: hwloc allocates through malloc, so it is asked
// for only by callers outside the allocator (the API), when the heap is
// ready. Afterwards it is read-only and every query is lock-free.
#pragma once

#include <cstdint>

#include "numa/hwloc_calls.h"
#include "numa/node_mask.h"

namespace hakmem::numa {

class MachineTopology {
 public:
  // Reads a loaded hwloc topology: the nodes it holds (hwloc leaves out
  // those the process's cpuset does not allow), each node's memory and
  // CPUs, and the node-to-node latency matrix where the machine has one.
  // false if the topology has no node or memory for the tables runs out.
  bool read(hwloc_topology_t topology, const HwlocCalls& calls);
  // The picture when hwloc is missing or fails: one node with every CPU.
  bool read_single_node(std::uint64_t memory_bytes, std::uint32_t cpus);
  // Gives the tables back; the object is empty afterwards.
  void release();

  // Node ids run below node_ids() (the highest id + 1); some may be absent.
  std::uint32_t node_ids() const { return node_ids_; }
  bool present(std::uint32_t node) const { return present_.contains(node); }
  NodeMask present_nodes() const { return present_; }
  // Present nodes with memory: where placement may put pages.
  NodeMask nodes_with_memory() const;
  std::uint64_t memory_bytes(std::uint32_t node) const;
  std::uint32_t cpu_count(std::uint32_t node) const;
  bool has_cpu(std::uint32_t node, std::uint32_t cpu) const;
  // The firmware's distance (10: the node itself), 0 when unknown.
  std::uint32_t distance(std::uint32_t from, std::uint32_t to) const;
  // Distances from `from` to nodes 0 .. node_ids()-1 (for nearest_node);
  // null for a node that is not present.
  const std::uint32_t* distance_row(std::uint32_t from) const;

 private:
  struct NodeFacts {
    std::uint64_t memory_bytes;
    std::uint32_t cpu_count;
  };
  bool allocate(std::uint32_t node_ids, std::uint32_t cpu_ids);
  void add_cpu_to_nodes(hwloc_obj_t memory_child, std::uint32_t cpu);
  std::uint64_t* cpu_words(std::uint32_t node) const { return cpus_ + std::size_t{node} * cpu_words_per_node_; }

  std::uint32_t node_ids_ = 0;
  std::uint32_t cpu_ids_ = 0;
  std::uint32_t cpu_words_per_node_ = 0;
  NodeMask present_;
  NodeFacts* facts_ = nullptr;       // node_ids_ entries
  std::uint32_t* distances_ = nullptr;  // node_ids_ x node_ids_, row-major
  std::uint64_t* cpus_ = nullptr;    // node_ids_ bitmaps of cpu_ids_ bits
  void* tables_ = nullptr;
  std::size_t table_bytes_ = 0;
};

// The process's machine, loaded on first call from the installed hwloc (one
// node with every CPU, quietly, where hwloc is missing or fails). Call it
// only from outside the allocator, with the heap ready.
const MachineTopology& machine_topology();

// For the child after fork(), should the parent have forked mid-load.
void machine_topology_reset_after_fork_child();

}  // namespace hakmem::numa
