#include "tiers/stats.h"

#include <new>

#include "base/counter.h"
#include "base/format.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "tiers/heap_registry.h"
#include "tiers/node_pool.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {

namespace {
// Indexed by size class: a fixed set, not a growing population.
constinit SharedCounter g_unattributed_remote_frees[kClassCount];
// Bytes of those, by the owner's node: node_count() entries (null if the
// metadata arena had no room, and then not counted).
constinit SharedCounter* g_unattributed_bytes_to_node = nullptr;
}  // namespace

bool init_stats() {
  if (g_unattributed_bytes_to_node != nullptr) return true;
  void* mem = os::meta_alloc(sizeof(SharedCounter) * numa::node_count(), alignof(SharedCounter));
  if (mem == nullptr) return false;
  g_unattributed_bytes_to_node = new (mem) SharedCounter[numa::node_count()];
  return true;
}

void count_unattributed_remote_free(SizeClass c, numa::NodeId owner_node) {
  g_unattributed_remote_frees[c].inc();
  if (g_unattributed_bytes_to_node != nullptr) g_unattributed_bytes_to_node[owner_node.value].add(block_size(c));
}

NodeStats node_stats(numa::NodeId node) {
  NodeStats s;
  std::uint64_t allocated = 0;  // by the node's heaps, less what they freed themselves
  std::uint64_t freed_remotely = 0;
  for_each_heap([&](const ThreadHeap& h) {
    if (h.node() == node) {
      for (unsigned c = 0; c < kClassCount; ++c) {
        const Bin& b = h.bins[c];
        const std::uint64_t bs = block_size(static_cast<SizeClass>(c));
        allocated += (b.allocs.read_racy() - b.frees.read_racy()) * bs;
        s.bytes_cached += h.cached_blocks(static_cast<SizeClass>(c)) * bs;
      }
    }
    if (h.remote_bytes_to_node() != nullptr) freed_remotely += h.remote_bytes_to_node()[node.value].get();
  });
  if (g_unattributed_bytes_to_node != nullptr) freed_remotely += g_unattributed_bytes_to_node[node.value].get();
  // Figures of running threads are not simultaneous: never below zero.
  s.bytes_in_use = allocated > freed_remotely ? allocated - freed_remotely : 0;
  if (node.value < node_pool_count()) {
    const NodePool::Stats p = node_pool(node).stats();
    s.bytes_mapped = (p.superslabs_live + p.superslabs_reserved) * kSuperSlabBytes;
  }
  const HugeNodeStats huge = huge_node_stats(node);
  s.bytes_mapped += huge.span_bytes;
  s.bytes_in_use += huge.live_bytes;
  s.bytes_cached += huge.free_bytes;
  return s;
}

std::uint64_t remote_frees_between(numa::NodeId from, numa::NodeId to) {
  std::uint64_t n = 0;
  for_each_heap([&](const ThreadHeap& h) {
    if (h.node() == from && h.remote_frees_to_node() != nullptr) n += h.remote_frees_to_node()[to.value].get();
  });
  return n;
}

void take_snapshot(Snapshot* out) {
  Snapshot& s = *out;
  s = Snapshot();
  for_each_heap([&](const ThreadHeap& h) {
    switch (h.state()) {
      case ThreadHeap::State::kActive: ++s.heaps_active; break;
      case ThreadHeap::State::kIdle: ++s.heaps_idle; break;
      case ThreadHeap::State::kDead: ++s.heaps_dead; break;
      case ThreadHeap::State::kUnattached:
      case ThreadHeap::State::kShared: break;
    }
    s.remote_received += h.remote_received.get();
    s.mosaics_made_ever += h.mosaics_made.get();
    s.mosaics_released_ever += h.mosaics_released.get();
    s.dirty_units_purged_ever += h.dirty_units_purged.get();
    for (unsigned c = 0; c < kClassCount; ++c) {
      const Bin& b = h.bins[c];
      const ClassState& cs = h.class_state(static_cast<SizeClass>(c));
      ClassStats& out_class = s.classes[c];
      const std::uint64_t remote = cs.remote_frees.get();
      out_class.allocations += b.allocs.read_racy();
      out_class.frees += b.frees.read_racy() + remote;
      // Other heaps' blocks kept in this heap's bin were counted in b.frees.
      out_class.remote_frees += remote + cs.foreign_kept.get();
      out_class.cached_blocks += h.cached_blocks(static_cast<SizeClass>(c));
      out_class.refills += cs.refills.get();
      out_class.flushes += cs.flushes.get();
      out_class.slabs_carved += cs.slabs_carved.get();
      out_class.slabs_released += cs.slabs_released.get();
    }
  });
  for (unsigned c = 0; c < kClassCount; ++c) {
    ClassStats& cls = s.classes[c];
    const std::uint64_t unattributed = g_unattributed_remote_frees[c].get();
    cls.frees += unattributed;
    cls.remote_frees += unattributed;
    TierStats& t = s.tiers[static_cast<unsigned>(tier_of(static_cast<SizeClass>(c)))];
    const std::uint64_t bs = block_size(static_cast<SizeClass>(c));
    t.allocations += cls.allocations;
    t.frees += cls.frees;
    t.remote_frees += cls.remote_frees;
    t.live_blocks += cls.live_blocks();
    t.bytes_in_use += cls.live_blocks() * bs;
    t.bytes_cached += cls.cached_blocks * bs;
  }
  s.huge = huge_stats();
  TierStats& huge = s.tiers[static_cast<unsigned>(Tier::kHuge)];
  huge.allocations = s.huge.allocations;
  huge.frees = s.huge.frees;
  huge.live_blocks = s.huge.live_blocks;
  huge.bytes_in_use = s.huge.live_bytes;
  huge.bytes_cached = s.huge.cached_bytes;

  for (std::uint32_t i = 0; i < node_pool_count(); ++i) {
    const NodePool::Stats p = node_pool(numa::NodeId{i}).stats();
    s.superslabs_live += p.superslabs_live;
    s.superslabs_in_pools += p.superslabs_dirty + p.superslabs_clean;
    s.superslabs_reserved += p.superslabs_reserved;
    s.superslabs_mapped_ever += p.superslabs_mapped;
    s.superslabs_purged_ever += p.superslabs_purged;
    s.superslabs_released_ever += p.superslabs_released;
  }
  s.mosaics_live = s.mosaics_made_ever - s.mosaics_released_ever;
  const os::OsStats& os = os::os_stats();
  s.mapped_bytes = os.mapped_bytes.get();
  s.mmap_calls = os.map_calls.get();
  s.munmap_calls = os.unmap_calls.get();
  s.madvise_calls = os.madvise_calls.get();
  s.mremap_calls = os.remap_calls.get();
  s.purged_bytes = os.purged_bytes.get();
  s.hugetlb_maps = os.hugetlb_maps.get();
  s.thp_maps = os.thp_maps.get();
  s.plain_maps = os.plain_maps.get();
  s.hugetlb_fallbacks = os.hugetlb_fallbacks.get();
  s.thp_fallbacks = os.thp_fallbacks.get();
  s.thp_collapses = os.thp_collapses.get();
  s.thp_collapse_failures = os.thp_collapse_failures.get();
  s.map_failures = os.map_failures.get();
  s.metadata_bytes = os::meta_mapped_bytes();
}

void print_snapshot(const Snapshot& s, int fd) {
  Formatter f;
  auto line = [&]() {
    f.ch('\n');
    f.write_to(fd);
    f.clear();
  };
  f.str("hakmem stats ------------------------------------------------------------------");
  line();
  f.str("tier    allocations        frees  remote frees   live blocks      in use      cached");
  line();
  for (unsigned t = 0; t < kTierCount; ++t) {
    const TierStats& ts = s.tiers[t];
    f.str(tier_name(static_cast<Tier>(t)));
    for (std::size_t pad = std::string_view(tier_name(static_cast<Tier>(t))).size(); pad < 5; ++pad) f.ch(' ');
    f.dec_padded(ts.allocations, 14).dec_padded(ts.frees, 13).dec_padded(ts.remote_frees, 14);
    f.dec_padded(ts.live_blocks, 14).str("  ").bytes(ts.bytes_in_use).str("  ").bytes(ts.bytes_cached);
    line();
  }
  TierStats total;
  for (const TierStats& ts : s.tiers) {
    total.allocations += ts.allocations;
    total.frees += ts.frees;
    total.live_blocks += ts.live_blocks;
  }
  f.str("total").dec_padded(total.allocations, 14).dec_padded(total.frees, 13).str("              ");
  f.dec_padded(total.live_blocks, 14);
  line();
  f.str("heaps: ").dec(s.heaps_active).str(" active, ").dec(s.heaps_idle).str(" idle, ");
  f.dec(s.heaps_dead).str(" dead; remote frees taken back by owners: ").dec(s.remote_received);
  line();
  f.str("superslabs: ").dec(s.superslabs_live).str(" mapped (").dec(s.superslabs_in_pools);
  f.str(" free in node pools), ").dec(s.superslabs_reserved).str(" reserved; ever mapped ").dec(s.superslabs_mapped_ever).str(", purged ");
  f.dec(s.superslabs_purged_ever).str(", released ").dec(s.superslabs_released_ever);
  f.str("; free units purged after the purge delay ").bytes(s.dirty_units_purged_ever * kSlabUnitBytes);
  line();
  f.str("mosaic slabs: ").dec(s.mosaics_live).str(" live; ever made ").dec(s.mosaics_made_ever);
  f.str(", released ").dec(s.mosaics_released_ever);
  line();
  f.str("huge: ").dec(s.huge.live_blocks).str(" live (").bytes(s.huge.live_bytes).str(") in ");
  f.dec(s.huge.spans).str(" spans (").bytes(s.huge.span_bytes).str("), ");
  f.dec(s.huge.cached_blocks).str(" free ranges (").bytes(s.huge.cached_bytes).str("); cut from a span ");
  f.dec(s.huge.cache_hits).str(", new spans ").dec(s.huge.cache_misses).str(", moved by mremap ");
  f.dec(s.huge.moved_by_remap);
  line();
  for (std::uint32_t n = 0; n < numa::node_count(); ++n) {
    const NodeStats ns = node_stats(numa::NodeId{n});
    if (ns.bytes_mapped == 0) continue;
    f.str("node ").dec(n).str(": mapped ").bytes(ns.bytes_mapped).str(", in use ").bytes(ns.bytes_in_use);
    f.str(", cached ").bytes(ns.bytes_cached).str("; remote frees to node");
    for (std::uint32_t to = 0; to < numa::node_count(); ++to) {
      f.str(to == 0 ? " " : ", ").dec(to).str(": ").dec(remote_frees_between(numa::NodeId{n}, numa::NodeId{to}));
    }
    line();
  }
  f.str("os: mapped ").bytes(s.mapped_bytes).str(" (metadata ").bytes(s.metadata_bytes).str("); calls: mmap ");
  f.dec(s.mmap_calls).str(", munmap ").dec(s.munmap_calls).str(", madvise ").dec(s.madvise_calls);
  f.str(", mremap ").dec(s.mremap_calls).str("; purged ").bytes(s.purged_bytes);
  line();
  f.str("os: maps by backing: hugetlb ").dec(s.hugetlb_maps).str(", thp ").dec(s.thp_maps).str(", plain ");
  f.dec(s.plain_maps).str("; fallbacks: hugetlb ").dec(s.hugetlb_fallbacks).str(", thp ");
  f.dec(s.thp_fallbacks).str("; failures ").dec(s.map_failures);
  f.str("; full SuperSlabs made huge pages ").dec(s.thp_collapses).str(" (refused ").dec(s.thp_collapse_failures).str(")");
  line();
  f.str("size classes in use (class, block size, allocations, frees, live, cached):");
  line();
  for (unsigned c = 0; c < kClassCount; ++c) {
    const ClassStats& cs = s.classes[c];
    if (cs.allocations == 0 && cs.frees == 0) continue;
    f.str("  ").dec_padded(c, 2).dec_padded(block_size(static_cast<SizeClass>(c)), 9).str(" B");
    f.dec_padded(cs.allocations, 14).dec_padded(cs.frees, 13).dec_padded(cs.live_blocks(), 12);
    f.dec_padded(cs.cached_blocks, 9);
    line();
  }
}

}  // namespace hakmem::tiers
