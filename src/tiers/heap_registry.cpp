#include "tiers/heap_registry.h"

#include <sched.h>

#include <atomic>
#include <new>

#include "base/futex_lock.h"
#include "config/options.h"
#include "numa/machine_topology.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "os/meta_arena.h"
#include "os/purge_batch.h"
#include "os/thread_exit.h"
#include "tiers/chunk_map.h"
#include "tiers/huge.h"
#include "tiers/node_pool.h"
#include "tiers/stats.h"

namespace hakmem::tiers {

constinit ThreadHeap g_unattached_heap;
constinit HAKMEM_TLS ThreadHeap* t_heap = &g_unattached_heap;

namespace {
// hkm_thread_set_node's node for the calling thread, or kNotPinned.
constexpr std::uint32_t kNotPinned = ~std::uint32_t{0};
constinit HAKMEM_TLS numa::NodeId t_pinned_node{kNotPinned};
}  // namespace

namespace {

using HeapList = IntrusiveList<ThreadHeap, &ThreadHeap::registry_links>;
using IdleList = IntrusiveList<ThreadHeap, &ThreadHeap::idle_links>;

constinit FutexLock g_lock{LockRank::kHeapRegistry};
constinit HeapList g_all HAKMEM_GUARDED_BY(g_lock);
constinit IdleList g_idle HAKMEM_GUARDED_BY(g_lock);
constinit std::size_t g_active HAKMEM_GUARDED_BY(g_lock) = 0;

// Idle heaps kept warm beyond the number of running threads.
constexpr std::size_t kWarmIdleHeaps = 4;

HAKMEM_TLS bool t_initialising = false;
HAKMEM_TLS bool t_exiting = false;

// The heap of threads past their exit hook (see detach_current_thread).
constinit FutexLock g_exit_heap_lock{LockRank::kExitHeap};
constinit ThreadHeap g_exit_heap;

enum InitState : int { kUninitialised = 0, kInitialising = 1, kReady = 2, kFailed = 3 };
std::atomic<int> g_init_state{kUninitialised};

void on_thread_exit(void*) { detach_current_thread(); }

// Returns a heap the caller now owns.
ThreadHeap* take_heap(numa::NodeId node) {
  {
    LockGuard guard(g_lock);
    // Prefer an idle heap of the same node: its slabs are local memory.
    for (ThreadHeap* h = g_idle.front(); h != nullptr; h = IdleList::next(h)) {
      if (h->node() == node) {
        g_idle.remove(h);
        h->set_state(ThreadHeap::State::kActive);
        h->set_collected(false);
        ++g_active;
        return h;
      }
    }
  }
  void* mem = os::meta_alloc(sizeof(ThreadHeap), alignof(ThreadHeap));
  if (mem == nullptr) {
    // Out of memory for a new heap: adopt any idle one rather than fail.
    LockGuard guard(g_lock);
    ThreadHeap* h = g_idle.pop_front();
    if (h != nullptr) {
      h->set_state(ThreadHeap::State::kActive);
      h->set_collected(false);
      ++g_active;
    }
    return h;
  }
  auto* h = new (mem) ThreadHeap();
  h->init(node);
  h->set_state(ThreadHeap::State::kActive);
  LockGuard guard(g_lock);
  g_all.push_back(h);
  ++g_active;
  return h;
}

}  // namespace

bool ensure_initialized() {
  int state = g_init_state.load(std::memory_order_acquire);
  if (state == kReady) return true;
  if (state == kUninitialised &&
      g_init_state.compare_exchange_strong(state, kInitialising, std::memory_order_acq_rel)) {
    t_initialising = true;
    config::init_options(nullptr);
    numa::init_topology();
    const config::Options& o = config::options();
    numa::init_placement(o.numa_given ? &o.numa : nullptr, o.numa_variable, o.numa_raw);
    const bool ok = init_node_pools() && init_stats() && os::init_thread_exit_hook(on_thread_exit);
    t_initialising = false;
    g_init_state.store(ok ? kReady : kFailed, std::memory_order_release);
    if (ok && config::options().verbose) {
      config::print_options();
      numa::print_placement();
    }
    return ok;
  }
  // Another thread is initialising: it makes no allocation of its own and
  // finishes in microseconds.
  while ((state = g_init_state.load(std::memory_order_acquire)) == kInitialising) sched_yield();
  return state == kReady;
}

bool current_thread_is_initialising() { return t_initialising; }

ThreadHeap* attach_current_thread() {
  if (!ensure_initialized()) return nullptr;
  const numa::NodeId node = t_pinned_node.value != kNotPinned ? t_pinned_node
                                                              : numa::home_node(numa::placement(), numa::current_node());
  ThreadHeap* h = take_heap(node);
  if (h == nullptr) return nullptr;
  // Installed before arming the exit hook: if arming allocates, that
  // allocation finds the heap in place instead of recursing.
  t_heap = h;
  os::arm_thread_exit_hook(h);
  return h;
}

// Gives an idle heap's free memory back: cached blocks to their slabs,
// empty slabs and SuperSlabs to the node pool, the pages of its free units
// (no purge look comes round in a heap without a thread), and with `purge`
// the rest release_free_memory purges. Requires the registry lock (which
// makes its holder the owner of every idle heap).
std::size_t collect_idle_heap(ThreadHeap* h, bool purge) HAKMEM_REQUIRES(g_lock) {
  h->flush_remote_batches();
  h->drain_inbox();
  h->flush_all();
  return h->release_free_memory(purge);
}

bool current_thread_is_exiting() { return t_exiting; }

ThreadHeap* lock_exit_heap() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
  g_exit_heap_lock.lock();
  if (g_exit_heap.state() == ThreadHeap::State::kUnattached) {
    g_exit_heap.init(numa::NodeId{0});
    g_exit_heap.set_state(ThreadHeap::State::kShared);
    LockGuard guard(g_lock);
    g_all.push_back(&g_exit_heap);
  }
  return &g_exit_heap;
}

void unlock_exit_heap() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_exit_heap_lock.unlock(); }

namespace {

// The calling thread gives up heap h (no longer its t_heap).
void retire_heap(ThreadHeap* h) {
  h->flush_remote_batches();
  // The heap goes idle as it is, cache and all: the next thread to start
  // adopts it warm (programs that start a thread per task do this all the
  // time). Idle heaps beyond the number of running threads (plus a few) are
  // unlikely to be adopted soon; the oldest of them gives its memory back.
  LockGuard guard(g_lock);
  h->set_state(ThreadHeap::State::kIdle);
  g_idle.push_front(h);
  --g_active;
  std::size_t excess = g_idle.size() > g_active + kWarmIdleHeaps ? g_idle.size() - g_active - kWarmIdleHeaps : 0;
  for (ThreadHeap* old = g_idle.back(); excess > 0 && old != nullptr; old = old->idle_links.prev, --excess) {
    if (old->collected()) continue;
    collect_idle_heap(old, false);
    old->set_collected(true);
  }
}

// The calling thread's heap goes idle, warm, for a thread of its node; the
// thread attaches one of its own node now (pinned or home), re-arming its
// exit hook with it. Returns the new heap, null if none could be had.
ThreadHeap* take_heap_of_current_node() {
  ThreadHeap* h = t_heap;
  t_heap = &g_unattached_heap;
  retire_heap(h);
  return attach_current_thread();
}

}  // namespace

void detach_current_thread() {
  t_exiting = true;
  ThreadHeap* h = t_heap;
  if (h == &g_unattached_heap) return;
  // From here on this thread allocates (if it still does, in later
  // destructors) through the exit heap.
  t_heap = &g_unattached_heap;
  retire_heap(h);
}

bool pin_current_thread(numa::NodeId node) {
  if (!ensure_initialized() || t_exiting) return false;
  if (!numa::placement().nodes.contains(node.value)) return false;
  t_pinned_node = node;
  ThreadHeap* h = t_heap;
  if (h == &g_unattached_heap || h->node() == node) return true;
  return take_heap_of_current_node() != nullptr;
}

ThreadHeap* follow_thread_to_its_node() {
  ThreadHeap* h = t_heap;
  if (t_pinned_node.value != kNotPinned || numa::node_count() <= 1) return h;
  const numa::NodeId home = numa::home_node(numa::placement(), numa::current_node());
  if (home == h->node()) return h;
  return take_heap_of_current_node();
}

numa::NodeId current_thread_node() {
  if (t_heap != &g_unattached_heap) return t_heap->node();
  if (t_pinned_node.value != kNotPinned) return t_pinned_node;
  return numa::home_node(numa::placement(), numa::current_node());
}

std::size_t collect_idle_heaps(bool purge) {
  std::size_t purged = 0;
  LockGuard guard(g_lock);
  for (ThreadHeap* h = g_idle.front(); h != nullptr; h = IdleList::next(h)) purged += collect_idle_heap(h, purge);
  return purged;
}

void lock_registry() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.lock(); }
void unlock_registry() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { g_lock.unlock(); }
ThreadHeap* first_heap() HAKMEM_NO_THREAD_SAFETY_ANALYSIS { return g_all.front(); }
ThreadHeap* next_heap(ThreadHeap* h) { return HeapList::next(h); }

void prepare_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
  g_exit_heap_lock.lock_for_fork();
  g_lock.lock_for_fork();
  for (std::uint32_t i = 0; i < node_pool_count(); ++i) node_pool(numa::NodeId{i}).lock_for_fork();
  huge_lock_for_fork();
  chunk_map().lock_for_fork();
  os::meta_arena_lock_for_fork();
}

void after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
  os::meta_arena_unlock_after_fork_parent();
  chunk_map().unlock_after_fork_parent();
  huge_unlock_after_fork_parent();
  for (std::uint32_t i = 0; i < node_pool_count(); ++i) node_pool(numa::NodeId{i}).unlock_after_fork_parent();
  g_lock.unlock_after_fork_parent();
  g_exit_heap_lock.unlock_after_fork_parent();
}

void after_fork_child() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
  // The child's thread has a thread id of its own: its locks must name it.
  hakmem::detail::forget_thread_id();
  os::meta_arena_reset_after_fork_child();
  os::purge_ring_reset_after_fork_child();
  numa::machine_topology_reset_after_fork_child();
  chunk_map().reset_after_fork_child();
  huge_reset_after_fork_child();
  for (std::uint32_t i = 0; i < node_pool_count(); ++i) node_pool(numa::NodeId{i}).reset_after_fork_child();
  g_exit_heap_lock.reset_after_fork();
  for (ThreadHeap* h = g_all.front(); h != nullptr; h = HeapList::next(h)) {
    if (h != t_heap && h->state() == ThreadHeap::State::kActive) {
      h->set_state(ThreadHeap::State::kDead);
      --g_active;
    }
  }
  g_lock.reset_after_fork();
}

}  // namespace hakmem::tiers
