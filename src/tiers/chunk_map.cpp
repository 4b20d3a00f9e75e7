#include "tiers/chunk_map.h"

#include "base/futex_lock.h"
#include "os/meta_arena.h"

namespace hakmem::tiers {

namespace {
constinit FutexLock g_lock{LockRank::kChunkMap};
}  // namespace

constinit ChunkMap g_chunk_map;

ChunkMap& chunk_map() { return g_chunk_map; }

bool ChunkMap::set(const void* base, std::size_t bytes, ChunkKind kind) {
  const auto start = reinterpret_cast<std::uintptr_t>(base);
  LockGuard guard(g_lock);
  for (std::uintptr_t a = start; a < start + bytes; a += kSuperSlabBytes) {
    if ((a >> kAddressBits) != 0) return false;
    Leaf*& slot = root_[a >> (kSuperSlabShift + kLeafBits)];
    Leaf* leaf = slot;
    if (leaf == nullptr) {
      leaf = static_cast<Leaf*>(os::meta_alloc(sizeof(Leaf), 64));
      if (leaf == nullptr) return false;
      // Released so that a lock-free reader who sees the leaf sees it zeroed.
      __atomic_store_n(&slot, leaf, __ATOMIC_RELEASE);
    }
    leaf->entries[(a >> kSuperSlabShift) & (kLeafEntries - 1)].store(static_cast<std::uint8_t>(kind),
                                                                      std::memory_order_relaxed);
  }
  return true;
}

void ChunkMap::clear(const void* base, std::size_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(base);
  LockGuard guard(g_lock);
  for (std::uintptr_t a = start; a < start + bytes; a += kSuperSlabBytes) {
    Leaf* leaf = root_[a >> (kSuperSlabShift + kLeafBits)];
    if (leaf == nullptr) continue;
    leaf->entries[(a >> kSuperSlabShift) & (kLeafEntries - 1)].store(0, std::memory_order_relaxed);
  }
}

void ChunkMap::lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.lock_for_fork(); }
void ChunkMap::unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.unlock_after_fork_parent(); }
void ChunkMap::reset_after_fork_child() { g_lock.reset_after_fork(); }

}  // namespace hakmem::tiers
