// A hook the allocator's slow paths call, for work of a higher layer that
// must happen "some time after start-up, from an allocator call" (the
// control block and its service thread, src/control/block.h) without the
// tiers including that layer.
//
// Layer: tiers. Called at the entry of allocate_slow and deallocate_slow,
// before they touch any state and with no allocator lock held, so the hook
// may itself allocate (it starts a thread). Never on the fast path.
#pragma once

#include <atomic>
#include <cstdint>

namespace hakmem::tiers {

using SlowPathHook = void (*)();

// Null until the preload layer installs one; reset to null by the hook
// itself once it has nothing left to do, so that later slow paths pay one
// relaxed load.
extern constinit std::atomic<SlowPathHook> g_slow_path_hook;

// Thread-cache flushes asked for from outside (hkmctl flush): each heap
// answers on its next slow event (ThreadHeap::note_slow_event) by flushing
// its whole cache, and records the epoch it answered. Incremented by the
// control service; read with one relaxed load per slow event.
extern constinit std::atomic<std::uint64_t> g_flush_epoch;

inline void run_slow_path_hook() {
  const SlowPathHook hook = g_slow_path_hook.load(std::memory_order_relaxed);
  if (hook != nullptr) hook();
}

}  // namespace hakmem::tiers
