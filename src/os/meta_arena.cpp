#include "os/meta_arena.h"

#include <cstdint>

#include "base/bits.h"
#include "base/constants.h"
#include "base/futex_lock.h"
#include "os/pages.h"

namespace hakmem::os {

namespace {

constexpr std::size_t kChunkBytes = 256 * 1024;

constinit FutexLock g_lock{LockRank::kMetaArena};
// The current chunk: [g_cursor, g_end). Guarded by g_lock.
constinit std::uintptr_t g_cursor HAKMEM_GUARDED_BY(g_lock) = 0;
constinit std::uintptr_t g_end HAKMEM_GUARDED_BY(g_lock) = 0;
constinit std::size_t g_mapped HAKMEM_GUARDED_BY(g_lock) = 0;

}  // namespace

void* meta_alloc(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) bytes = 1;
  LockGuard guard(g_lock);
  std::uintptr_t start = align_up(g_cursor, alignment);
  if (g_cursor == 0 || start + bytes > g_end) {
    // A request bigger than a chunk gets a chunk of its own size; the rest
    // of the old chunk is abandoned (at most a few KiB per chunk).
    const std::size_t chunk = bytes + alignment > kChunkBytes ? align_up(bytes + alignment, kOsPageBytes)
                                                              : kChunkBytes;
    void* p = map_plain(chunk, kOsPageBytes);
    if (p == nullptr) return nullptr;
    os_stats().mapped_bytes.add(chunk);
    g_mapped += chunk;
    g_cursor = reinterpret_cast<std::uintptr_t>(p);
    g_end = g_cursor + chunk;
    start = align_up(g_cursor, alignment);
  }
  g_cursor = start + bytes;
  return reinterpret_cast<void*>(start);
}

void* map_table(std::size_t bytes, std::size_t alignment) {
  void* p = map_plain(align_up(bytes, kOsPageBytes), alignment);
  if (p != nullptr) os_stats().mapped_bytes.add(align_up(bytes, kOsPageBytes));
  return p;
}

void unmap_table(void* p, std::size_t bytes) {
  if (p != nullptr) release(p, align_up(bytes, kOsPageBytes));
}

std::size_t meta_mapped_bytes() {
  LockGuard guard(g_lock);
  return g_mapped;
}

void meta_arena_lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.lock_for_fork(); }
void meta_arena_unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.unlock_after_fork_parent(); }
void meta_arena_reset_after_fork_child() { g_lock.reset_after_fork(); }

}  // namespace hakmem::os
