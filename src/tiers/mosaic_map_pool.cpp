#include "tiers/mosaic_map_pool.h"

#include <bit>
#include <new>

#include "base/bits.h"
#include "base/check.h"
#include "os/meta_arena.h"
#include "os/pages.h"

namespace hakmem::tiers {

MosaicMapPool::Chunk* MosaicMapPool::chunk_of(const MosaicMap* map) {
  return reinterpret_cast<Chunk*>(align_down(reinterpret_cast<std::uintptr_t>(map), kChunkBytes));
}

MosaicMapPool::Chunk* MosaicMapPool::new_chunk() {
  void* p = os::map_table(kChunkBytes, kChunkBytes);
  if (p == nullptr) return nullptr;
  auto* chunk = new (p) Chunk{};
  chunk->free_slots = kAllSlots;
  chunk->purged_pages = 0;
  chunks_.push_front(chunk);
  return chunk;
}

MosaicMap* MosaicMapPool::take() {
  Chunk* chunk = chunks_.front();
  if (chunk == nullptr || chunk->free_slots == 0) chunk = new_chunk();
  if (chunk == nullptr) return nullptr;
  if (chunk == spare_) spare_ = nullptr;
  const auto slot = static_cast<unsigned>(std::countr_zero(chunk->free_slots));
  chunk->free_slots &= ~(std::uint64_t{1} << slot);
  // A purged page reads as zeroes again, which is a map with every cell free.
  chunk->purged_pages = static_cast<std::uint16_t>(chunk->purged_pages & ~(1u << (slot / kSlotsPerPage)));
  if (chunk->free_slots == 0) {
    chunks_.remove(chunk);
    chunks_.push_back(chunk);
  }
  ++in_use_;
  auto* map = reinterpret_cast<MosaicMap*>(reinterpret_cast<char*>(chunk) + std::size_t{slot} * sizeof(MosaicMap));
  HAKMEM_ASSERT(map->all_free());
  return map;
}

void MosaicMapPool::give(MosaicMap* map) {
  HAKMEM_ASSERT(map != nullptr && map->all_free() && in_use_ > 0);
  Chunk* chunk = chunk_of(map);
  const auto slot = static_cast<unsigned>((reinterpret_cast<char*>(map) - reinterpret_cast<char*>(chunk)) /
                                          sizeof(MosaicMap));
  HAKMEM_ASSERT(slot != 0 && (chunk->free_slots >> slot & 1u) == 0);
  const bool was_full = chunk->free_slots == 0;
  chunk->free_slots |= std::uint64_t{1} << slot;
  --in_use_;
  if (was_full) {
    chunks_.remove(chunk);
    chunks_.push_front(chunk);
  }
  if (chunk->free_slots != kAllSlots) return;
  // Every map of the chunk is back: keep it as the spare, or let it go
  // where there is one already.
  if (spare_ == nullptr) {
    spare_ = chunk;
    return;
  }
  chunks_.remove(chunk);
  os::unmap_table(chunk, kChunkBytes);
}

std::size_t MosaicMapPool::purge_free_pages() {
  std::size_t purged = 0;
  for (Chunk* chunk = chunks_.front(); chunk != nullptr; chunk = ChunkList::next(chunk)) {
    // Page 0 holds the header.
    for (unsigned page = 1; page < kChunkBytes / kOsPageBytes; ++page) {
      const std::uint64_t slots = ((std::uint64_t{1} << kSlotsPerPage) - 1) << (page * kSlotsPerPage);
      if ((chunk->free_slots & slots) != slots || (chunk->purged_pages >> page & 1u) != 0) continue;
      if (os::purge(reinterpret_cast<char*>(chunk) + std::size_t{page} * kOsPageBytes, kOsPageBytes)) {
        purged += kOsPageBytes;
      }
      chunk->purged_pages = static_cast<std::uint16_t>(chunk->purged_pages | (1u << page));
    }
  }
  return purged;
}

}  // namespace hakmem::tiers
