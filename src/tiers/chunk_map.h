// The address-space map: for every 2 MiB chunk of the user address space,
// what hakmem keeps there, if anything. free(), realloc() and
// malloc_usable_size() ask it first, so a pointer hakmem does not own is
// recognised and never dereferenced (it goes to the C library instead).
//
// Layer: tiers. Two levels: 2^13 root slots (one per 16 GiB) pointing at
// leaves of 2^13 one-byte entries, created on demand from the metadata arena.
// The root is zero-initialised (.bss: no relocations, no start-up cost), so it
// works from the very first free, before any init has run.
//
// Synchronisation: set() and clear() run on slow paths under the kChunkMap
// lock; kind_of() is lock-free from any thread. A chunk is marked before any
// block in it is handed out, and cleared only after it holds no live block,
// so a thread freeing a live block always sees the mark (the block's own
// hand-over orders the accesses).
#pragma once

#include <atomic>
#include <cstdint>

#include "base/attributes.h"
#include "base/constants.h"

namespace hakmem::tiers {

enum class ChunkKind : std::uint8_t {
  kForeign = 0,    // not ours
  kSuperSlab = 1,  // a SuperSlab of slabs (tiny, mid, large blocks)
  kHuge = 2,       // part of a huge block's own mapping
  kBootstrap = 3,  // the bootstrap arena (allocations made during init)
};

class ChunkMap {
 public:
  static constexpr unsigned kLeafBits = 13;
  static constexpr unsigned kRootBits = kAddressBits - kSuperSlabShift - kLeafBits;
  static constexpr std::size_t kLeafEntries = std::size_t{1} << kLeafBits;
  static constexpr std::size_t kRootEntries = std::size_t{1} << kRootBits;

  HAKMEM_FAST_PATH ChunkKind kind_of(const void* p) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    // Above the user address space: a root index past the root.
    const std::uintptr_t root_index = a >> (kSuperSlabShift + kLeafBits);
    if (HAKMEM_UNLIKELY(root_index >= kRootEntries)) return ChunkKind::kForeign;
    const Leaf* leaf = __atomic_load_n(&root_[root_index], __ATOMIC_ACQUIRE);
    if (HAKMEM_UNLIKELY(leaf == nullptr)) return ChunkKind::kForeign;
    return static_cast<ChunkKind>(
        leaf->entries[(a >> kSuperSlabShift) & (kLeafEntries - 1)].load(std::memory_order_relaxed));
  }

  // Marks every chunk of [base, base + bytes) (base 2 MiB aligned). Returns
  // false if a leaf could not be created (the caller then gives up the region).
  bool set(const void* base, std::size_t bytes, ChunkKind kind);
  void clear(const void* base, std::size_t bytes);

  // For fork handlers.
  void lock_for_fork();
  void unlock_after_fork_parent();
  void reset_after_fork_child();

 private:
  struct Leaf {
    std::atomic<std::uint8_t> entries[kLeafEntries];
  };

  // Written with __atomic_store_n (release) under the lock, read with
  // __atomic_load_n (acquire): a plain array keeps the root in .bss.
  Leaf* root_[kRootEntries] = {};
};

ChunkMap& chunk_map();

}  // namespace hakmem::tiers
