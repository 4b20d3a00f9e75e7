#include "tiers/node_pool.h"

#include <atomic>
#include <new>

#include "config/options.h"
#include "numa/binding.h"
#include "os/clock.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "tiers/address_space.h"
#include "os/purge_batch.h"
#include "tiers/chunk_map.h"
#include "tiers/deferred_collapse.h"

namespace hakmem::tiers {

namespace {

constinit NodePool* g_pools = nullptr;
constinit std::uint32_t g_pool_count = 0;

bool bind_before_touch(void* base, std::size_t bytes, void* context) {
  // Advisory: a refused binding leaves the pages where the kernel puts them,
  // which is still correct memory (counted by the numa layer in a later step).
  numa::bind_region(base, bytes, *static_cast<numa::NodeId*>(context));
  return true;
}

}  // namespace

bool init_node_pools() {
  if (g_pools != nullptr) return true;
  const std::uint32_t count = numa::node_count();
  auto* pools = static_cast<NodePool*>(os::meta_alloc(sizeof(NodePool) * count, alignof(NodePool)));
  if (pools == nullptr) return false;
  for (std::uint32_t i = 0; i < count; ++i) new (&pools[i]) NodePool();
  for (std::uint32_t i = 0; i < count; ++i) pools[i].init(numa::NodeId{i});
  g_pool_count = count;
  g_pools = pools;
  return true;
}

NodePool& node_pool(numa::NodeId node) { return g_pools[node.value < g_pool_count ? node.value : 0]; }
std::uint32_t node_pool_count() { return g_pool_count; }

// Under HAKMEM_HUGEPAGES=auto, SuperSlabs get THP advice only once the
// process holds this much (mapped, the untouched reserves not counted), and
// only for tiny blocks: a transparent huge page is faulted in whole, so for
// a small heap (most processes: shells, build tools) huge pages would
// mostly add RSS, where a big heap of tiny blocks fills them and gains TLB
// reach. Blocks of 1 KiB and more each span pages of their own, and
// programs often touch only their first bytes (a header, a key): a heap of
// them on huge pages held twice the RSS of one on small pages (random mid
// blocks, working sets of 4 B-32 KiB, blocks handed between threads) for
// no speed it kept. Reserved hugetlb pages are the user's explicit choice
// and are used from the first SuperSlab.
constexpr std::uint64_t kThpFromMappedBytes = std::uint64_t{32} << 20;
// The units of mid slabs a full SuperSlab may hold and still be made huge
// pages (collapse_if_dense).
constexpr unsigned kMaxMidUnitsToCollapse = kUnitsPerSuperSlab / 4;

namespace {

// The reserves of every pool, in bytes: mapped but never touched.
constinit std::atomic<std::uint64_t> g_reserved_bytes{0};

// Whether a tier's blocks fill the pages they lie on (see kThpFromMappedBytes).
bool is_dense(Tier tier) { return tier == Tier::kTiny; }

}  // namespace

bool wants_thp_at(os::HugePagePolicy policy, Tier tier, std::uint64_t mapped, std::uint64_t reserved) {
  if (policy == os::HugePagePolicy::kThp || policy == os::HugePagePolicy::kHugetlb) return true;
  if (policy != os::HugePagePolicy::kAuto || !is_dense(tier)) return false;
  // The two counters move one after the other: never trust a difference
  // that would be negative.
  return mapped > reserved && mapped - reserved >= kThpFromMappedBytes;
}

namespace {

// Whether a SuperSlab for slabs of `tier` gets THP advice now.
bool wants_thp(os::HugePagePolicy policy, Tier tier) {
  return wants_thp_at(policy, tier, os::os_stats().mapped_bytes.get(), g_reserved_bytes.load(std::memory_order_relaxed));
}

}  // namespace

void collapse_if_dense(SuperSlab& ss) {
  if (ss.has_free_unit() || ss.collapse_tried() || ss.backing() != os::Backing::kPlain) return;
  if (config::options().huge_pages == os::HugePagePolicy::kOff) return;
  // A heap carves any class where it has room, so a SuperSlab of tiny
  // slabs often holds a mid slab or two (a program's own arrays): those
  // few cost little if made resident, a SuperSlab mostly of them would.
  unsigned mid_units = 0;
  for (unsigned u = 0; u < kUnitsPerSuperSlab; u += ss.slab(u).unit_count) {
    const Slab& head = ss.slab(u);
    if (head.unit_count == 0) return;  // not a slab head: the walk cannot trust the layout
    // Mosaics pack tiny and mid blocks into their holes.
    if (head.size_class == kMosaicClass || is_dense(tier_of(head.size_class))) continue;
    if (tier_of(head.size_class) == Tier::kMid) {
      mid_units += head.unit_count;
      continue;
    }
    ss.note_collapse(false);  // a large slab: leave its pages as they are
    return;
  }
  if (mid_units > kMaxMidUnitsToCollapse) {
    ss.note_collapse(false);
    return;
  }
  // A thread of the process's own does it when there is one: the collapse
  // copies 2 MiB, off the allocating thread's path there.
  // Its backing then stays as mapped: nothing reads it but the statistics
  // of mappings, and the worker's collapses are counted in the OS stats.
  if (collapse_worker_present() && defer_collapse(&ss)) {
    ss.note_collapse(false);
    return;
  }
  ss.note_collapse(os::collapse_huge_pages(&ss, kSuperSlabBytes));
}

SuperSlab* NodePool::take_fresh(Tier tier) {
  if (SuperSlab* ss = take_fresh_in_batch_of(tier, kMaxBatch)) return ss;
  // Refused (an address-space limit, overcommit): one SuperSlab alone,
  // then once more after giving back what is mapped and not in use.
  if (SuperSlab* ss = take_fresh_in_batch_of(tier, 1)) return ss;
  if (!release_unused_address_space()) return nullptr;
  return take_fresh_in_batch_of(tier, 1);
}

SuperSlab* NodePool::take_fresh_in_batch_of(Tier tier, std::uint32_t max_batch) {
  const os::HugePagePolicy policy = config::options().huge_pages;
  char* base = nullptr;
  os::Backing backing = os::Backing::kPlain;
  {
    LockGuard guard(lock_);
    Reserve& reserve = reserves_[is_dense(tier) ? 1 : 0];
    if (reserve.left == 0) {
      // Batch size: as many as this reserve has handed out (its share of the
      // pool doubles), from 1 to max_batch. hugetlb pages are populated when
      // mapped: one at a time.
      std::uint64_t batch = reserve.handed_out;
      if (batch < 1 || policy == os::HugePagePolicy::kHugetlb) batch = 1;
      if (batch > max_batch) batch = max_batch;
      numa::NodeId node = node_;
      const std::size_t bytes = batch * kSuperSlabBytes;
      // The advice, when due, covers the whole batch: one call.
      const std::size_t advise = wants_thp(policy, tier) ? os::kAdviseAll : 0;
      const os::Region r = os::map_aligned(bytes, policy, bind_before_touch, &node, advise);
      if (r.base == nullptr) return nullptr;
      if (!chunk_map().set(r.base, bytes, ChunkKind::kSuperSlab)) {
        chunk_map().clear(r.base, bytes);
        os::release(r.base, bytes);
        return nullptr;
      }
      reserve.next = static_cast<char*>(r.base);
      reserve.left = static_cast<std::uint32_t>(batch);
      reserve.backing = r.backing;
      g_reserved_bytes.fetch_add(bytes, std::memory_order_relaxed);
    }
    base = reserve.next;
    backing = reserve.backing;
    reserve.next += kSuperSlabBytes;
    --reserve.left;
    ++reserve.handed_out;
    g_reserved_bytes.fetch_sub(kSuperSlabBytes, std::memory_order_relaxed);
    ++mapped_;
  }
  // A batch mapped before the pool was big enough for THP: advise this one.
  if (backing == os::Backing::kPlain && wants_thp(policy, tier) && os::advise_huge_pages(base, kSuperSlabBytes)) {
    backing = os::Backing::kThp;
  }
  return SuperSlab::format(base, node_, backing);
}

void NodePool::unmap(SuperSlab* ss) {
  chunk_map().clear(ss, kSuperSlabBytes);
  os::release(ss, kSuperSlabBytes);
}

SuperSlab* NodePool::acquire(ThreadHeap* owner, Tier tier) {
  SuperSlab* ss = nullptr;
  {
    LockGuard guard(lock_);
    ss = dirty_.pop_front();
    if (ss == nullptr) ss = clean_.pop_front();
  }
  if (ss == nullptr) {
    ss = take_fresh(tier);
    if (ss == nullptr) return nullptr;
  }
  ss->set_purged(false);
  ss->set_owner(owner);
  return ss;
}

void NodePool::release(SuperSlab* ss) {
  HAKMEM_ASSERT(ss->all_units_free());
  ss->set_owner(nullptr);
  ss->set_released_at_ms(os::monotonic_ms());
  {
    LockGuard guard(lock_);
    dirty_.push_front(ss);
  }
  decay(false);
}

void NodePool::decay(bool force) {
  const std::uint64_t now = os::monotonic_ms();
  const std::uint64_t delay = config::options().purge_delay_ms.load(std::memory_order_relaxed);
  // Oldest entries sit at the back. Take expired ones out under the lock, a
  // batch at a time, make the syscalls without it, put the survivors back.
  for (;;) {
    SuperSlab* taken[os::PurgeBatch::kMaxRanges];
    unsigned count = 0;
    {
      LockGuard guard(lock_);
      while (count < os::PurgeBatch::kMaxRanges) {
        SuperSlab* oldest = dirty_.back();
        if (oldest == nullptr || (!force && now - oldest->released_at_ms() < delay)) break;
        dirty_.remove(oldest);
        taken[count++] = oldest;
      }
    }
    if (count == 0) break;
    // Purging hugetlb pages would hand them back to the pool, and a later
    // refault could find none left; such SuperSlabs are released instead.
    // A forced decay (trim) releases at once: purging first is wasted work.
    os::PurgeBatch batch;
    unsigned unmapped = 0;
    for (unsigned i = 0; i < count; ++i) {
      SuperSlab* ss = taken[i];
      if (force || ss->backing() == os::Backing::kHugetlb) {
        unmap(ss);
        ++unmapped;
      } else {
        taken[batch.size()] = ss;  // the batch's order, for purged()
        batch.add(ss->purgeable_begin(0), kSuperSlabBytes - kSuperSlabHeaderBytes);
      }
    }
    const unsigned purging = batch.size();
    batch.submit();
    // Nothing is back on a list before its purge is done: a SuperSlab taken
    // from the clean list could be written before the purge landed.
    for (unsigned i = 0; i < purging; ++i) {
      SuperSlab* ss = taken[i];
      if (batch.purged(i)) {
        ss->set_purged(true);
        ss->set_released_at_ms(now);
      } else {
        unmap(ss);
        ++unmapped;
        taken[i] = nullptr;
      }
    }
    LockGuard guard(lock_);
    released_ += unmapped;
    for (unsigned i = 0; i < purging; ++i) {
      if (taken[i] == nullptr) continue;
      ++purged_;
      clean_.push_front(taken[i]);
    }
  }
  for (;;) {
    SuperSlab* ss = nullptr;
    {
      LockGuard guard(lock_);
      SuperSlab* oldest = clean_.back();
      if (oldest != nullptr && (force || now - oldest->released_at_ms() >= kReleaseAfterPurgedMs)) {
        clean_.remove(oldest);
        ss = oldest;
      }
    }
    if (ss == nullptr) break;
    unmap(ss);
    LockGuard guard(lock_);
    ++released_;
  }
  if (force) release_reserves();
}

void NodePool::release_reserves() {
  for (unsigned i = 0; i < 2; ++i) {
    char* base = nullptr;
    std::size_t bytes = 0;
    {
      LockGuard guard(lock_);
      base = reserves_[i].next;
      bytes = std::size_t{reserves_[i].left} * kSuperSlabBytes;
      reserves_[i].next = nullptr;
      reserves_[i].left = 0;
      g_reserved_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    }
    if (bytes == 0) continue;
    chunk_map().clear(base, bytes);
    os::release(base, bytes);
  }
}

NodePool::Stats NodePool::stats() const {
  LockGuard guard(lock_);
  Stats s;
  s.superslabs_mapped = mapped_;
  s.superslabs_released = released_;
  s.superslabs_purged = purged_;
  s.superslabs_live = mapped_ - released_;
  s.superslabs_dirty = dirty_.size();
  s.superslabs_clean = clean_.size();
  s.superslabs_reserved = reserves_[0].left + reserves_[1].left;
  return s;
}

}  // namespace hakmem::tiers
