// Every lock in hakmem has a rank; a thread may only take locks in increasing
// rank order. This enum is the documentation of lock order; debug builds check
// it on every acquisition (see FutexLock).
//
// Layer: base.
#pragma once

#include <cstdint>

namespace hakmem {

enum class LockRank : std::uint8_t {
  kControlPublish = 0,  // one publisher of the control block's figures (src/control/publish.cpp)
  kExitHeap = 1,      // the heap of threads past their exit hook (tiers/heap_registry.cpp)
  kHeapRegistry = 2,  // the list of thread heaps and the pool of idle ones
  kNodePool = 3,      // one per NUMA node: its free SuperSlabs
  kHugeCache = 4,     // huge blocks: the registry of live ones and the reuse cache
  kChunkMap = 5,      // installing leaves of the address-space map
  kMetaArena = 6,     // the internal metadata arena (leaf: takes nothing else)
  kPurgeRing = 7,     // the io_uring of batched purges (src/os/purge_batch.cpp; leaf)
};

}  // namespace hakmem
