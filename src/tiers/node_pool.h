// NodePool: the SuperSlabs of one NUMA node that no heap owns, and the policy
// that turns them back into free memory.
//
// Layer: tiers. Any thread; every member function takes the pool's lock
// (rank kNodePool) except where noted. Syscalls (mmap, madvise, munmap) are
// made outside the lock.
//
// Lifecycle of a SuperSlab:
//   map (bound to the node) -> owned by a heap -> empty: back to the pool,
//   "dirty" (pages resident, reused first) -> after purge_delay_ms: purged
//   (MADV_DONTNEED, RSS drops; hugetlb ones are released instead) -> after
//   kReleaseAfterPurgedMs more: released (munmap) -> or reused at any stage.
#pragma once

#include <cstdint>

#include "base/counter.h"
#include "base/futex_lock.h"
#include "base/intrusive_list.h"
#include "numa/topology.h"
#include "os/pages.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {

// Whether a fresh SuperSlab for slabs of `tier` gets THP advice under
// `policy` (under hugetlb, for when no reserved huge page is left: the
// fallback) while the process has `mapped` bytes mapped, `reserved` of them
// in untouched reserves (node_pool.cpp: kThpFromMappedBytes).
bool wants_thp_at(os::HugePagePolicy policy, Tier tier, std::uint64_t mapped, std::uint64_t reserved);

// A SuperSlab whose units were just all carved, of tiny slabs and mosaics
// (and at most a quarter of its units in mid slabs, none in large ones),
// is made transparent huge pages at once (os::collapse_huge_pages), unless
// the user turned huge pages off or it has them already. Why: its blocks are
// then one TLB entry, and their cache sets are those of their addresses.
// The L2 is indexed by physical address, and 4 KiB pages land where the
// kernel's free lists put them, which undoes the carve starts' spreading
// (superslab.h). Random tiny 1t, 85 rounds run in the report's order: +3.7%
// against the library without it (paired median), 1.00x tcmalloc where it
// was 0.98x; huge pages for every SuperSlab gave +5.8%, at 2 MiB of RSS for
// each partly used one. Waiting for the SuperSlab to fill keeps small heaps
// and the first SuperSlab on small pages: the collapse makes every page
// resident, and a full SuperSlab of dense slabs holds little it has not
// touched (memory overhead and fragmentation RSS did not move). Once per
// mapping: a slow path, never the steady state.
void collapse_if_dense(SuperSlab& ss);

class NodePool {
 public:
  static constexpr std::uint64_t kReleaseAfterPurgedMs = 10'000;
  static constexpr std::uint32_t kMaxBatch = 32;

  constexpr NodePool() = default;
  void init(numa::NodeId node) { node_ = node; }

  // A SuperSlab for `owner`: a dirty one, then a purged one, then a fresh
  // one from the reserve, then a new mapping. null when the OS has no memory
  // left. `tier` is that of the slabs wanted: tiny blocks fill their pages
  // (a fresh SuperSlab may then get transparent huge pages, see
  // kThpFromMappedBytes); bigger blocks are often touched sparsely.
  //
  // New mappings come in batches that grow with the pool (1 SuperSlab at
  // first, then as many as the reserve has handed out, up to kMaxBatch): the
  // SuperSlabs of a batch not yet used are a reserve, address space whose
  // pages were never touched and so cost no memory. A heap that grows to
  // its high-water mark in steps then makes a few mmap calls in all, rather
  // than two per SuperSlab, and one that creeps past it now and then (a
  // random mix of sizes sets a new record every few thousand cycles) finds
  // room already mapped instead of making a system call in its steady state.
  // Dense and sparse SuperSlabs have a reserve each, so that a batch for
  // small blocks can take its THP advice in one call when it is mapped.
  SuperSlab* acquire(ThreadHeap* owner, Tier tier) HAKMEM_EXCLUDES(lock_);
  // Takes back a SuperSlab whose units are all free.
  void release(SuperSlab* ss) HAKMEM_EXCLUDES(lock_);
  // Purges dirty SuperSlabs older than the purge delay and releases purged
  // ones older than kReleaseAfterPurgedMs. `force` releases all, the
  // reserve included.
  void decay(bool force) HAKMEM_EXCLUDES(lock_);

  struct Stats {
    std::uint64_t superslabs_mapped = 0;    // ever
    std::uint64_t superslabs_released = 0;  // ever (munmap)
    std::uint64_t superslabs_purged = 0;    // ever
    std::uint64_t superslabs_live = 0;      // mapped now
    std::uint64_t superslabs_dirty = 0;     // in the pool, pages resident
    std::uint64_t superslabs_clean = 0;     // in the pool, purged
    std::uint64_t superslabs_reserved = 0;  // mapped in a batch, never used yet
  };
  Stats stats() const HAKMEM_EXCLUDES(lock_);

  numa::NodeId node() const { return node_; }

  void lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { lock_.lock_for_fork(); }
  void unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { lock_.unlock_after_fork_parent(); }
  void reset_after_fork_child() { lock_.reset_after_fork(); }

 private:
  using List = IntrusiveList<SuperSlab, &SuperSlab::links>;

  // A batch mapped together, not yet handed out: `left` SuperSlabs from
  // `next` on, untouched.
  struct Reserve {
    char* next = nullptr;
    std::uint32_t left = 0;
    os::Backing backing = os::Backing::kPlain;
    std::uint64_t handed_out = 0;  // ever, from this reserve: sizes its batches
  };

  // Formats the next SuperSlab of the dense or the sparse reserve, mapping
  // a new batch when it is empty.
  SuperSlab* take_fresh(Tier tier) HAKMEM_EXCLUDES(lock_);
  // From the reserve, mapping a batch of up to max_batch when it is empty.
  SuperSlab* take_fresh_in_batch_of(Tier tier, std::uint32_t max_batch) HAKMEM_EXCLUDES(lock_);
  // Unmaps both reserves.
  void release_reserves() HAKMEM_EXCLUDES(lock_);
  void unmap(SuperSlab* ss);

  mutable FutexLock lock_{LockRank::kNodePool};
  numa::NodeId node_;
  List dirty_ HAKMEM_GUARDED_BY(lock_);   // newest first
  List clean_ HAKMEM_GUARDED_BY(lock_);   // purged; newest first
  std::uint64_t mapped_ HAKMEM_GUARDED_BY(lock_) = 0;
  std::uint64_t released_ HAKMEM_GUARDED_BY(lock_) = 0;
  std::uint64_t purged_ HAKMEM_GUARDED_BY(lock_) = 0;
  // [0]: for mid and large blocks (sparse), [1]: for tiny blocks (dense).
  Reserve reserves_[2] HAKMEM_GUARDED_BY(lock_);
};

// The pools, one per possible node, sized from the machine at init.
bool init_node_pools();
NodePool& node_pool(numa::NodeId node);
std::uint32_t node_pool_count();

}  // namespace hakmem::tiers
