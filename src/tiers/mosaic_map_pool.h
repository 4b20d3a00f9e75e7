// MosaicMapPool: a heap's mosaic maps (mosaic_map.h, 1 KiB each), cut from
// 64 KiB chunks of their own.
//
// A map a page took every mosaic a page and an mmap call of its own (2000
// calls in the fragmentation benchmark). A chunk holds 63 maps after its
// 1 KiB header; maps are handed out lowest slot first, from the chunk at
// the front, so those in use crowd into few pages. A chunk whose maps are
// all back is unmapped, except one kept for the next mosaic; trim purges
// the pages that hold no map in use.
//
// Layer: tiers. Owner-only: the heap's thread alone takes and gives back
// (mosaics are made and released by their heap).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/intrusive_list.h"
#include "tiers/mosaic_map.h"

namespace hakmem::tiers {

class MosaicMapPool {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr unsigned kSlotsPerChunk = kChunkBytes / sizeof(MosaicMap);  // slot 0: the header

  MosaicMapPool() = default;
  MosaicMapPool(const MosaicMapPool&) = delete;
  MosaicMapPool& operator=(const MosaicMapPool&) = delete;

  // A map with every cell free, or null when the OS gives no memory.
  MosaicMap* take();
  // Takes back a map whose cells are all free again.
  void give(MosaicMap* map);
  // Purges the pages of the chunks that hold no map in use; returns bytes.
  std::size_t purge_free_pages();

  std::size_t maps_in_use() const { return in_use_; }
  std::size_t chunk_count() const { return chunks_.size(); }

 private:
  struct Chunk {
    ListLinks<Chunk> links;
    std::uint64_t free_slots;     // bit s: slot s holds no map in use (never bit 0)
    std::uint16_t purged_pages;   // bit p: page p of the chunk was purged since its maps left
  };
  using ChunkList = IntrusiveList<Chunk, &Chunk::links>;
  static constexpr std::uint64_t kAllSlots = ~std::uint64_t{1};
  static constexpr unsigned kSlotsPerPage = kOsPageBytes / sizeof(MosaicMap);
  static_assert(sizeof(Chunk) <= sizeof(MosaicMap), "the header fits slot 0");
  static_assert(kSlotsPerChunk == 64, "free_slots is one 64-bit mask");

  static Chunk* chunk_of(const MosaicMap* map);
  Chunk* new_chunk();

  ChunkList chunks_;  // chunks with a free slot first, full ones after
  Chunk* spare_ = nullptr;  // the one chunk kept with every slot free, if any
  std::size_t in_use_ = 0;
};

}  // namespace hakmem::tiers
