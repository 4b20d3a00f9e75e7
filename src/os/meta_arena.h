// The internal metadata arena: memory for hakmem's own structures (thread
// heaps, node pools, leaves of the address-space map, registry tables), taken
// straight from the OS, never from malloc.
//
// Layer: os. Any thread; takes the kMetaArena lock (a leaf lock). Memory
// handed out is zeroed and is never returned: owners recycle their objects
// (thread heaps go to a pool, not back here). Large requests (tables that
// grow) should use map_table/unmap_table instead, which do return memory.
#pragma once

#include <cstddef>

#include "base/constants.h"

namespace hakmem::os {

// Returns `bytes` of zeroed memory aligned to `alignment` (a power of two,
// at most 4096), or null when the OS refuses memory.
void* meta_alloc(std::size_t bytes, std::size_t alignment);

// Whole pages for growing tables; contents zeroed, aligned to `alignment`
// (a power of two, at least a page). null on failure.
void* map_table(std::size_t bytes, std::size_t alignment = kOsPageBytes);
void unmap_table(void* p, std::size_t bytes);

// Bytes the arena has taken from the OS (for stats).
std::size_t meta_mapped_bytes();

// For the child after fork(): the arena lock's holder is gone.
void meta_arena_lock_for_fork();
void meta_arena_unlock_after_fork_parent();
void meta_arena_reset_after_fork_child();

}  // namespace hakmem::os
