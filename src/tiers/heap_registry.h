// The registry of thread heaps: which heap each thread uses, the pool of idle
// heaps left by exited threads, and the global init of the tiers.
//
// Layer: tiers. attach/detach run on slow paths (a thread's first
// allocation, thread exit) and take the registry lock (rank kHeapRegistry).
//
// Heaps are never freed. When a thread exits, its heap goes idle as it is,
// its thread cache included; the next new thread adopts it warm, along with
// whatever other threads freed to it meanwhile. Idle heaps beyond the number
// of running threads plus a few give their free memory back (cached blocks,
// empty slabs and SuperSlabs), keeping only slabs that hold live blocks. The
// number of heaps is thus the peak number of threads alive at once, not the
// number ever started.
#pragma once

#include "base/attributes.h"
#include "tiers/thread_heap.h"

namespace hakmem::tiers {

// A heap that owns nothing and whose bins are empty: every thread starts
// pointing at it, so "not initialised" looks exactly like "cache empty" to
// the fast path, which then falls into the slow path that attaches a heap.
extern constinit ThreadHeap g_unattached_heap;
extern constinit HAKMEM_TLS ThreadHeap* t_heap;

// Runs the allocator's one-time init (options, topology, node pools, the
// thread-exit hook) if it has not run. Safe to call from any thread at any
// time; returns false only if the OS refused the first metadata pages.
bool ensure_initialized();

// True while the calling thread runs the allocator's init: an allocation it
// makes then (re-entrantly) is served by the bootstrap arena.
bool current_thread_is_initialising();

// Gives the calling thread a heap: an idle one of its node, or a new one.
// Returns null (and the thread stays unattached) when memory is exhausted.
HAKMEM_SLOW_PATH ThreadHeap* attach_current_thread();

// Detaches the calling thread's heap at thread exit. Allocations the thread
// still makes afterwards (in later pthread key destructors) go through the
// shared exit heap (with_exit_heap), never through a heap of its own: glibc
// may run no further destructor round to detach it again.
void detach_current_thread();

// Pins the calling thread's heap to `node` (hkm_thread_set_node): its heap
// becomes one of that node, now and after any later re-attach. false if the
// node may not be used (numa/placement.h) or the thread is exiting.
bool pin_current_thread(numa::NodeId node);
// The calling thread has an attached heap: if the thread now runs on
// another node (and is not pinned), its heap goes idle, warm, for threads of
// its node, and the thread takes one of its new node, so new memory comes
// from there. Returns the thread's heap, null if no new one could be had.
ThreadHeap* follow_thread_to_its_node();
// The node whose memory the calling thread's allocations come from.
numa::NodeId current_thread_node();

// True once the calling thread's exit hook has run.
bool current_thread_is_exiting();

// Runs f(ThreadHeap&) on the shared exit heap under its lock: the heap for
// allocations of threads that are past their exit hook. Returns f's result.
template <typename F>
auto with_exit_heap(F&& f);

// Calls f(const ThreadHeap&) for every heap ever created, under the lock.
template <typename F>
void for_each_heap(F&& f);

// Drains the inboxes of idle heaps and releases what they no longer need
// (trim, thread exit). With `purge`, their free units are purged as well.
std::size_t collect_idle_heaps(bool purge);

// Fork handlers: prepare takes every allocator lock in rank order; the parent
// releases them; the child resets them and marks every other thread's heap
// dead (those threads do not exist in the child; their heaps may have been
// mid-update, so they are left alone, not reused).
void prepare_fork();
void after_fork_parent();
void after_fork_child();

// --- implementation details ---------------------------------------------------
ThreadHeap* lock_exit_heap();
void unlock_exit_heap();

template <typename F>
auto with_exit_heap(F&& f) {
  struct Unlock {
    ~Unlock() { unlock_exit_heap(); }
  } unlock;
  return f(lock_exit_heap());
}

void lock_registry();
void unlock_registry();
ThreadHeap* first_heap();
ThreadHeap* next_heap(ThreadHeap* h);

template <typename F>
void for_each_heap(F&& f) {
  lock_registry();
  for (ThreadHeap* h = first_heap(); h != nullptr; h = next_heap(h)) f(static_cast<const ThreadHeap&>(*h));
  unlock_registry();
}

}  // namespace hakmem::tiers
