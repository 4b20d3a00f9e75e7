// The freed mark: how a second free of a small block is caught for the cost
// of a compare and two stores.
//
// Layer: tiers. Any thread that frees or allocates the block.
//
// A free block of a slab holds the free list's link in its first word and,
// in its second, the address of the heap that owns its slab. Every free
// sets the mark (the fast path, the remote and slow paths, a purge's
// unparking); every allocation that hands a block out clears it. A free
// that finds the mark already there frees a block that is free: a double
// free, or a free of a block no allocation handed out. A live block holds
// the mark only if the program wrote there the address of one of the
// allocator's own records, which it has no way to learn.
//
// What the mark cannot see: a block whose page a purge gave back (the mark
// went with the page; checked builds still catch it through the slab's
// record of purged pages), and a block whose slab changed owner between
// the two frees. Neither corrupts more than the mark misses.
#pragma once

#include <cstdint>

#include "base/attributes.h"

namespace hakmem::tiers {

class ThreadHeap;

HAKMEM_FAST_PATH bool has_freed_mark(const void* block, const ThreadHeap* owner) {
  return static_cast<const std::uintptr_t*>(block)[1] == reinterpret_cast<std::uintptr_t>(owner);
}
HAKMEM_FAST_PATH void set_freed_mark(void* block, const ThreadHeap* owner) {
  static_cast<std::uintptr_t*>(block)[1] = reinterpret_cast<std::uintptr_t>(owner);
}
HAKMEM_FAST_PATH void clear_freed_mark(void* block) { static_cast<std::uintptr_t*>(block)[1] = 0; }

}  // namespace hakmem::tiers
