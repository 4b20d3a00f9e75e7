// The two-bit mosaic map against a plain array of cells, a reader racing
// the owner's carves and frees beside a live block, and the pool of maps.
#include "tiers/mosaic_map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "tiers/mosaic_map_pool.h"

namespace hakmem::tiers {
namespace {

// The map's answers, worked out from a plain array.
struct PlainCells {
  std::vector<Cell> cells = std::vector<Cell>(kCellsPerUnit, Cell::kFree);

  void mark(unsigned g, unsigned n) {
    cells[g] = Cell::kStart;
    for (unsigned i = 1; i < n; ++i) cells[g + i] = Cell::kInside;
  }
  void clear(unsigned g, unsigned n) {
    for (unsigned i = 0; i < n; ++i) cells[g + i] = Cell::kFree;
  }
  unsigned first_used(unsigned g, unsigned end) const {
    while (g < end && cells[g] == Cell::kFree) ++g;
    return g;
  }
  unsigned first_free(unsigned g, unsigned end) const {
    while (g < end && cells[g] != Cell::kFree) ++g;
    return g;
  }
  unsigned block_end(unsigned g, unsigned end) const {
    ++g;
    while (g < end && cells[g] == Cell::kInside) ++g;
    return g;
  }
  unsigned free_run_begin(unsigned g) const {
    while (g > 0 && cells[g - 1] == Cell::kFree) --g;
    return g;
  }
};

// Zeroed like the pool's maps.
struct ZeroedMap {
  alignas(64) std::uint64_t words[MosaicMap::kWords] = {};
  MosaicMap& map() { return *reinterpret_cast<MosaicMap*>(words); }
};

TEST(MosaicMap, AgreesWithAPlainArrayOfCells) {
  std::mt19937 rng(11);
  ZeroedMap storage;
  MosaicMap& map = storage.map();
  PlainCells plain;
  std::vector<std::pair<unsigned, unsigned>> blocks;  // start, granules
  const unsigned sizes[] = {1, 2, 3, 7, 31, 32, 33, 64, 100, 2048};
  for (int step = 0; step < 4000; ++step) {
    if (!blocks.empty() && rng() % 3 == 0) {
      const std::size_t i = rng() % blocks.size();
      map.clear_block(blocks[i].first, blocks[i].second);
      plain.clear(blocks[i].first, blocks[i].second);
      blocks[i] = blocks.back();
      blocks.pop_back();
    } else {
      const unsigned n = sizes[rng() % (sizeof sizes / sizeof sizes[0])];
      const unsigned g = rng() % (kCellsPerUnit - n + 1);
      if (plain.first_used(g, g + n) != g + n) continue;  // not free: try another
      map.mark_block(g, n);
      plain.mark(g, n);
      blocks.emplace_back(g, n);
    }
    for (int q = 0; q < 8; ++q) {
      const unsigned g = rng() % kCellsPerUnit;
      const unsigned end = g + rng() % (kCellsPerUnit - g + 1);
      ASSERT_EQ(map.cell(g), plain.cells[g]) << "cell " << g;
      ASSERT_EQ(map.first_used(g, end), plain.first_used(g, end)) << g << ".." << end;
      ASSERT_EQ(map.first_free(g, end), plain.first_free(g, end)) << g << ".." << end;
      ASSERT_EQ(map.free_run_begin(g), plain.free_run_begin(g)) << g;
      if (plain.cells[g] == Cell::kStart) ASSERT_EQ(map.block_end(g, kCellsPerUnit), plain.block_end(g, kCellsPerUnit));
    }
    for (const auto& [g, n] : blocks) ASSERT_EQ(map.block_end(g, kCellsPerUnit), g + n) << "block at " << g;
  }
  for (const auto& [g, n] : blocks) map.clear_block(g, n);
  EXPECT_TRUE(map.all_free());
}

TEST(MosaicMap, AReaderOfALiveBlockSeesItsEndWhileTheOwnerCarvesAndFreesBesideIt) {
  // A live block of 5 granules ends inside a word; the owner keeps carving
  // and freeing a block right after it (and one right before), as a mosaic
  // does while another thread frees the live one and reads its size.
  ZeroedMap storage;
  MosaicMap& map = storage.map();
  constexpr unsigned kLive = 27;
  constexpr unsigned kLiveGranules = 5;
  map.mark_block(kLive, kLiveGranules);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> wrong{0};
  std::atomic<std::uint64_t> reads{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (map.cell(kLive) != Cell::kStart || map.block_end(kLive, kCellsPerUnit) != kLive + kLiveGranules) {
        wrong.fetch_add(1, std::memory_order_relaxed);
      }
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  const unsigned after = kLive + kLiveGranules;
  for (int i = 0; i < 200000 || reads.load() < 1000; ++i) {
    const unsigned n = 1 + static_cast<unsigned>(i % 40);  // up to the next word
    map.mark_block(after, n);
    map.mark_block(kLive - 3, 3);
    map.clear_block(after, n);
    map.clear_block(kLive - 3, 3);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(wrong.load(), 0u) << "of " << reads.load() << " reads";
}

TEST(MosaicMapPool, MapsComeFromFewChunksAndTheLastFreeChunkStays) {
  MosaicMapPool pool;
  std::vector<MosaicMap*> maps;
  std::set<MosaicMap*> distinct;
  for (int i = 0; i < 200; ++i) {
    MosaicMap* m = pool.take();
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(m->all_free());
    m->mark_block(static_cast<unsigned>(i % 64), 9);  // stays put while in use
    maps.push_back(m);
    distinct.insert(m);
  }
  EXPECT_EQ(distinct.size(), maps.size());
  const std::size_t per_chunk = MosaicMapPool::kSlotsPerChunk - 1;
  EXPECT_EQ(pool.chunk_count(), (maps.size() + per_chunk - 1) / per_chunk);
  EXPECT_EQ(pool.maps_in_use(), maps.size());
  for (std::size_t i = 0; i < maps.size(); ++i) {
    EXPECT_EQ(maps[i]->block_end(static_cast<unsigned>(i % 64), kCellsPerUnit), i % 64 + 9) << "map " << i;
    maps[i]->clear_block(static_cast<unsigned>(i % 64), 9);
    pool.give(maps[i]);
  }
  EXPECT_EQ(pool.maps_in_use(), 0u);
  EXPECT_EQ(pool.chunk_count(), 1u) << "empty chunks go but one";
  // The kept chunk serves again, from its lowest slot.
  MosaicMap* again = pool.take();
  EXPECT_EQ(pool.chunk_count(), 1u);
  pool.give(again);
}

TEST(MosaicMapPool, TrimPurgesThePagesOfFreeMapsAndKeepsThoseInUse) {
  MosaicMapPool pool;
  std::vector<MosaicMap*> maps;
  for (unsigned i = 0; i < MosaicMapPool::kSlotsPerChunk - 1; ++i) maps.push_back(pool.take());
  // Keep the first map in use, marked; give the rest back.
  maps[0]->mark_block(100, 17);
  for (std::size_t i = 1; i < maps.size(); ++i) pool.give(maps[i]);
  // Pages 1..15 of the chunk hold only free maps (slot 0 and the first map
  // share page 0 with the header).
  EXPECT_EQ(pool.purge_free_pages(), 15 * kOsPageBytes);
  EXPECT_EQ(pool.purge_free_pages(), 0u) << "purged pages are not purged again";
  EXPECT_EQ(maps[0]->block_end(100, kCellsPerUnit), 117u);
  // A map from a purged page reads as free, and its page counts again.
  MosaicMap* m = pool.take();
  EXPECT_TRUE(m->all_free());
  m->mark_block(0, 4);
  m->clear_block(0, 4);
  pool.give(m);
  EXPECT_EQ(pool.purge_free_pages(), 0u) << "the page of the first map still holds it";
  maps[0]->clear_block(100, 17);
  pool.give(maps[0]);
}

}  // namespace
}  // namespace hakmem::tiers
