// Statistics: a snapshot summed on demand from the per-thread counters (no
// counter is shared on the fast path), the node pools, the huge tier and the
// OS layer; and the HAKMEM_STATS=1 report.
//
// Layer: tiers. Any thread; take_snapshot() walks the heap registry under its
// lock and reads counters that their owners keep writing, so figures of a
// running program are each exact but not mutually simultaneous. Once the
// threads that allocate have stopped, they add up exactly:
// allocations - frees = live blocks, per class and per tier.
#pragma once

#include <cstdint>

#include "numa/topology.h"
#include "tiers/huge.h"
#include "tiers/size_classes.h"

namespace hakmem::tiers {

struct ClassStats {
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;          // by any thread, local or remote
  std::uint64_t remote_frees = 0;   // the part of `frees` made by a thread that did not own the block
  std::uint64_t cached_blocks = 0;  // in thread caches
  std::uint64_t refills = 0;
  std::uint64_t flushes = 0;
  std::uint64_t slabs_carved = 0;
  std::uint64_t slabs_released = 0;
  std::uint64_t live_blocks() const { return allocations - frees; }
};

struct TierStats {
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
  std::uint64_t remote_frees = 0;
  std::uint64_t live_blocks = 0;
  std::uint64_t bytes_in_use = 0;   // live blocks x block size (huge: mapped bytes)
  std::uint64_t bytes_cached = 0;   // free blocks held by thread caches (huge: reuse cache)
};

struct Snapshot {
  ClassStats classes[kClassCount];
  TierStats tiers[kTierCount];
  HugeStats huge;
  std::uint64_t heaps_active = 0;
  std::uint64_t heaps_idle = 0;
  std::uint64_t heaps_dead = 0;
  std::uint64_t remote_received = 0;  // blocks owners took back from their inboxes
  std::uint64_t superslabs_live = 0;
  std::uint64_t superslabs_in_pools = 0;
  std::uint64_t superslabs_reserved = 0;  // mapped in a batch, never used
  std::uint64_t superslabs_mapped_ever = 0;
  std::uint64_t superslabs_purged_ever = 0;
  std::uint64_t superslabs_released_ever = 0;
  std::uint64_t mosaics_live = 0;  // mosaic slabs (mosaic.h)
  std::uint64_t mosaics_made_ever = 0;
  std::uint64_t mosaics_released_ever = 0;
  std::uint64_t dirty_units_purged_ever = 0;  // ThreadHeap::purge_long_free_units
  // From the OS layer.
  std::uint64_t mapped_bytes = 0;
  std::uint64_t mmap_calls = 0;
  std::uint64_t munmap_calls = 0;
  std::uint64_t madvise_calls = 0;
  std::uint64_t mremap_calls = 0;
  std::uint64_t purged_bytes = 0;
  std::uint64_t hugetlb_maps = 0;
  std::uint64_t thp_maps = 0;
  std::uint64_t plain_maps = 0;
  std::uint64_t hugetlb_fallbacks = 0;
  std::uint64_t thp_fallbacks = 0;
  std::uint64_t thp_collapses = 0;
  std::uint64_t thp_collapse_failures = 0;
  std::uint64_t map_failures = 0;
  std::uint64_t metadata_bytes = 0;
};

void take_snapshot(Snapshot* out);

// Writes the human-readable report (the HAKMEM_STATS=1 output) to fd.
void print_snapshot(const Snapshot& s, int fd);

// A remote free by a thread that has no heap (it never allocated), of a
// block of a heap on `owner_node`.
void count_unattributed_remote_free(SizeClass c, numa::NodeId owner_node);

// Memory per NUMA node.
struct NodeStats {
  std::uint64_t bytes_mapped = 0;  // SuperSlabs (in heaps, free in the pool, reserved) and huge spans
  std::uint64_t bytes_in_use = 0;  // live blocks of the node's heaps, live huge blocks on the node
  std::uint64_t bytes_cached = 0;  // free blocks in the node's thread caches, free huge ranges there
};
NodeStats node_stats(numa::NodeId node);
// Blocks freed by threads whose heap is on node `from` that belonged to
// heaps on node `to` (from == to: by another thread of the same node).
std::uint64_t remote_frees_between(numa::NodeId from, numa::NodeId to);
// Sets up the per-node counters; during global init, after the topology.
bool init_stats();

}  // namespace hakmem::tiers
