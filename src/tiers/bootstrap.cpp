#include "tiers/bootstrap.h"

#include <atomic>
#include <cstdint>

#include "base/bits.h"
#include "base/constants.h"
#include "os/pages.h"
#include "tiers/chunk_map.h"

namespace hakmem::tiers {

namespace {

struct Header {
  std::size_t bytes;
  std::size_t padding;
};

// [cursor, end) of the current chunk, packed so one CAS claims space.
std::atomic<std::uintptr_t> g_cursor{0};
std::atomic<std::uintptr_t> g_end{0};

bool new_chunk(std::size_t at_least) {
  const std::size_t bytes = align_up(at_least + kSuperSlabBytes, kSuperSlabBytes);
  void* p = os::map_plain(bytes, kSuperSlabBytes);
  if (p == nullptr) return false;
  os::os_stats().mapped_bytes.add(bytes);
  if (!chunk_map().set(p, bytes, ChunkKind::kBootstrap)) return false;
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  g_end.store(start + bytes, std::memory_order_relaxed);
  g_cursor.store(start, std::memory_order_release);
  return true;
}

}  // namespace

void* bootstrap_allocate(std::size_t bytes, std::size_t alignment) {
  if (alignment < kMinAlignment) alignment = kMinAlignment;
  if (bytes > (std::size_t{1} << 40) || alignment > kSuperSlabBytes) return nullptr;
  for (;;) {
    std::uintptr_t cur = g_cursor.load(std::memory_order_acquire);
    const std::uintptr_t end = g_end.load(std::memory_order_relaxed);
    const std::uintptr_t block = align_up(cur + sizeof(Header), alignment);
    const std::uintptr_t next = align_up(block + bytes, kMinAlignment);
    if (cur == 0 || next > end) {
      if (!new_chunk(bytes + alignment)) return nullptr;
      continue;
    }
    if (g_cursor.compare_exchange_weak(cur, next, std::memory_order_acq_rel)) {
      reinterpret_cast<Header*>(block)[-1].bytes = bytes;
      return reinterpret_cast<void*>(block);
    }
  }
}

std::size_t bootstrap_usable_size(const void* p) {
  return reinterpret_cast<const Header*>(p)[-1].bytes;
}

}  // namespace hakmem::tiers
