// The bootstrap arena: memory for allocations made re-entrantly while the
// allocator initialises itself on the same thread (should anything under
// init call malloc). Blocks carry a 16-byte header with their size; freeing
// one does nothing (they are few and live for the whole run).
//
// Layer: tiers. Used by the initialising thread only (others wait for init
// to finish); bump allocation over 2 MiB chunks marked ChunkKind::kBootstrap
// in the chunk map, so free() recognises the blocks.
#pragma once

#include <cstddef>

namespace hakmem::tiers {

void* bootstrap_allocate(std::size_t bytes, std::size_t alignment);
std::size_t bootstrap_usable_size(const void* p);

}  // namespace hakmem::tiers
