#include "tiers/node_pool.h"

#include <new>

#include "config/options.h"
#include "numa/binding.h"
#include "os/clock.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "tiers/chunk_map.h"

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
// process holds this much, and only for small blocks: a transparent huge page
// is faulted in whole, so for a small heap (most processes: shells, build
// tools), or for large blocks of which a program may touch only the first
// pages, huge pages would mostly add RSS; a big heap of small blocks fills
// them and gains TLB reach. Reserved hugetlb pages are the user's explicit
// choice and are used from the first SuperSlab.
constexpr std::uint64_t kThpFromMappedBytes = std::uint64_t{32} << 20;

SuperSlab* NodePool::take_fresh(bool dense) {
  const os::HugePagePolicy policy = config::options().huge_pages;
  char* base = nullptr;
  os::Backing backing = os::Backing::kPlain;
  {
    LockGuard guard(lock_);
    if (reserve_left_ == 0) {
      // Batch size: half what the pool has handed out, from 1 to kMaxBatch.
      // hugetlb pages are populated when mapped: one at a time.
      std::uint64_t batch = mapped_ / 2;
      if (batch < 1 || policy == os::HugePagePolicy::kHugetlb) batch = 1;
      if (batch > kMaxBatch) batch = kMaxBatch;
      numa::NodeId node = node_;
      const std::size_t bytes = batch * kSuperSlabBytes;
      // No THP advice at map time: whether a SuperSlab gets it depends on
      // its first use (below).
      const os::Region r = os::map_aligned(bytes, policy, bind_before_touch, &node, 0);
      if (r.base == nullptr) return nullptr;
      if (!chunk_map().set(r.base, bytes, ChunkKind::kSuperSlab)) {
        chunk_map().clear(r.base, bytes);
        os::release(r.base, bytes);
        return nullptr;
      }
      reserve_next_ = static_cast<char*>(r.base);
      reserve_left_ = static_cast<std::uint32_t>(batch);
      reserve_backing_ = r.backing;
    }
    base = reserve_next_;
    backing = reserve_backing_;
    reserve_next_ += kSuperSlabBytes;
    --reserve_left_;
    ++mapped_;
  }
  const bool advise_thp = backing == os::Backing::kPlain &&
                          (policy == os::HugePagePolicy::kThp ||
                           (policy == os::HugePagePolicy::kAuto && dense &&
                            os::os_stats().mapped_bytes.get() >= kThpFromMappedBytes));
  if (advise_thp && os::advise_huge_pages(base, kSuperSlabBytes)) backing = os::Backing::kThp;
  return SuperSlab::format(base, node_, backing);
}

void NodePool::unmap(SuperSlab* ss) {
  chunk_map().clear(ss, kSuperSlabBytes);
  os::release(ss, kSuperSlabBytes);
}

SuperSlab* NodePool::acquire(ThreadHeap* owner, bool dense) {
  SuperSlab* ss = nullptr;
  {
    LockGuard guard(lock_);
    ss = dirty_.pop_front();
    if (ss == nullptr) ss = clean_.pop_front();
  }
  if (ss == nullptr) {
    ss = take_fresh(dense);
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
  // Oldest entries sit at the back. Take expired ones out under the lock,
  // make the syscalls without it, put the survivors back.
  for (;;) {
    SuperSlab* ss = nullptr;
    {
      LockGuard guard(lock_);
      SuperSlab* oldest = dirty_.back();
      if (oldest != nullptr && (force || now - oldest->released_at_ms() >= delay)) {
        dirty_.remove(oldest);
        ss = oldest;
      }
    }
    if (ss == nullptr) break;
    // Purging hugetlb pages would hand them back to the pool, and a later
    // refault could find none left; such SuperSlabs are released instead.
    // A forced decay (trim) releases at once: purging first is wasted work.
    if (force || ss->backing() == os::Backing::kHugetlb) {
      unmap(ss);
      LockGuard guard(lock_);
      ++released_;
      continue;
    }
    os::purge(ss->purgeable_begin(0), kSuperSlabBytes - kSuperSlabHeaderBytes);
    ss->set_purged(true);
    ss->set_released_at_ms(now);
    LockGuard guard(lock_);
    ++purged_;
    clean_.push_front(ss);
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
  if (force) release_reserve();
}

void NodePool::release_reserve() {
  char* base = nullptr;
  std::size_t bytes = 0;
  {
    LockGuard guard(lock_);
    base = reserve_next_;
    bytes = std::size_t{reserve_left_} * kSuperSlabBytes;
    reserve_next_ = nullptr;
    reserve_left_ = 0;
  }
  if (bytes == 0) return;
  chunk_map().clear(base, bytes);
  os::release(base, bytes);
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
  s.superslabs_reserved = reserve_left_;
  return s;
}

}  // namespace hakmem::tiers
