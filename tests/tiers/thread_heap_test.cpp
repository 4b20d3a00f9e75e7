// The thread cache and the heap behind it, driven through the tiers' entry
// points in this process (the test binary keeps glibc's malloc for itself).
#include "tiers/thread_heap.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "tiers/slow_path_hook.h"

namespace hakmem::tiers {
namespace {

// t_heap read by value: gtest's macros bind their arguments to references,
// and GCC 12 with -fsanitize=undefined at -O2 computes a null address for a
// reference bound to this initial-exec TLS variable (the variable itself is
// fine, as every by-value read shows).
ThreadHeap* this_threads_heap() { return t_heap; }

ThreadHeap& my_heap() {
  if (t_heap == &g_unattached_heap) attach_current_thread();
  return *t_heap;
}

TEST(ThreadHeap, UnattachedThreadFallsIntoTheSlowPathAndGetsAHeap) {
  std::thread([] {
    EXPECT_EQ(this_threads_heap(), &g_unattached_heap);
    void* p = allocate(24);
    ASSERT_NE(p, nullptr);
    EXPECT_NE(this_threads_heap(), &g_unattached_heap);
    EXPECT_EQ(SuperSlab::unit_slab(p).owner, this_threads_heap());
    deallocate(p);
  }).join();
}

TEST(ThreadHeap, EveryClassAllocatesDistinctWritableBlocksAndKeepsInvariants) {
  ThreadHeap& h = my_heap();
  std::vector<std::pair<unsigned char*, std::size_t>> blocks;
  for (unsigned c = 0; c < kClassCount; ++c) {
    const std::size_t n = block_size(static_cast<SizeClass>(c));
    const int count = n <= 4096 ? 300 : 3;
    for (int i = 0; i < count; ++i) {
      auto* p = static_cast<unsigned char*>(allocate(n));
      ASSERT_NE(p, nullptr);
      std::memset(p, static_cast<int>(c), n);
      blocks.emplace_back(p, n);
    }
  }
  ASSERT_TRUE(h.check_invariants());
  for (auto& [p, n] : blocks) {
    ASSERT_EQ(p[0], p[n - 1]);
    ASSERT_EQ(p[0], static_cast<unsigned char>(class_of(n)));
  }
  for (auto& [p, n] : blocks) deallocate(p);
  EXPECT_TRUE(h.check_invariants());
}

TEST(ThreadHeap, RemoteFreesGoBackToTheOwnerAndAreReused) {
  ThreadHeap& owner = my_heap();
  const SizeClass c = class_of(48);
  std::vector<void*> blocks;
  for (int i = 0; i < 5000; ++i) blocks.push_back(allocate(48));
  const std::uint64_t received = owner.remote_received.get();
  std::thread([&] {
    for (void* p : blocks) deallocate(p);
    // A thread that only frees gets a heap to batch its remote frees in,
    // and counts them there: the blocks its bin keeps and those it sent.
    ASSERT_NE(this_threads_heap(), &g_unattached_heap);
    const ClassState& cs = t_heap->class_state(c);
    EXPECT_EQ(cs.remote_frees.get() + cs.foreign_kept.get(), 5000u);
    EXPECT_LE(t_heap->cached_blocks(c), cs.capacity);
    // A flush sends the bin's foreign blocks home too.
    t_heap->flush_all();
    EXPECT_EQ(t_heap->cached_blocks(c), 0u);
  }).join();
  EXPECT_FALSE(owner.inbox_empty());
  // Drain by refilling: exhaust the bin so the next allocation refills.
  std::vector<void*> again;
  for (int i = 0; i < 6000; ++i) again.push_back(allocate(48));
  EXPECT_TRUE(owner.inbox_empty());
  EXPECT_EQ(owner.remote_received.get() - received, 5000u);
  EXPECT_TRUE(owner.check_invariants());
  for (void* p : again) deallocate(p);
}

TEST(ThreadHeap, AnotherHeapsBlockOnTheSameNodeServesTheThreadThatFreedIt) {
  ThreadHeap& owner = my_heap();
  void* p = allocate(200);
  const std::uint64_t sent_before = owner.remote_received.get();
  std::thread([&] {
    deallocate(p);
    ThreadHeap& h = *t_heap;
    const SizeClass c = class_of(200);
    EXPECT_EQ(h.class_state(c).foreign_kept.get(), 1u);
    EXPECT_EQ(h.cached_blocks(c), 1u);
    EXPECT_TRUE(owner.inbox_empty());
    EXPECT_TRUE(h.check_invariants());
    // The next allocation of the class takes it, still the owner's block.
    void* q = allocate(200);
    EXPECT_EQ(q, p);
    EXPECT_EQ(SuperSlab::unit_slab(q).owner, &owner);
    deallocate(q);
    h.flush_all();
  }).join();
  owner.drain_inbox();
  EXPECT_EQ(owner.remote_received.get() - sent_before, 1u);
  EXPECT_TRUE(owner.check_invariants());
}

TEST(ThreadHeap, CapacityGrowsWhenHotAndShrinksWhenIdle) {
  std::thread([] {
    ThreadHeap& h = my_heap();
    const SizeClass hot = class_of(64);
    const std::uint32_t initial = h.class_state(hot).capacity;
    std::vector<void*> v;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 2000; ++i) v.push_back(allocate(64));
      for (void* p : v) deallocate(p);
      v.clear();
    }
    const std::uint32_t grown = h.class_state(hot).capacity;
    EXPECT_GT(grown, initial);
    EXPECT_LE(grown, h.class_state(hot).max_capacity);
    EXPECT_GT(h.cached_blocks(hot), 0u);
    // Now the 64-byte class idles while another class churns through many
    // slow-path events: the idle class is flushed and its capacity halved.
    const SizeClass other = class_of(100000);
    for (int round = 0; round < 600; ++round) {
      for (int i = 0; i < 40; ++i) v.push_back(allocate(100000));
      for (void* p : v) deallocate(p);
      v.clear();
    }
    EXPECT_EQ(h.cached_blocks(hot), 0u);
    EXPECT_LT(h.class_state(hot).capacity, grown);
    EXPECT_GT(h.class_state(other).refills.get(), ThreadHeap::kGcEvents);
    EXPECT_TRUE(h.check_invariants());
  }).join();
}

TEST(ThreadHeap, AFlushEpochIsAnsweredOnTheNextSlowEventByFlushingTheWholeCache) {
  std::thread([] {
    ThreadHeap& h = my_heap();
    const SizeClass cached = class_of(64);
    std::vector<void*> v;
    for (int i = 0; i < 500; ++i) v.push_back(allocate(64));
    for (void* p : v) deallocate(p);
    v.clear();
    ASSERT_GT(h.cached_blocks(cached), 0u);
    const std::uint64_t epoch = g_flush_epoch.fetch_add(1) + 1;
    EXPECT_NE(h.flush_epoch_answered(), epoch);
    // Another class's refill is the next slow event.
    void* p = allocate(3000);
    EXPECT_EQ(h.flush_epoch_answered(), epoch);
    EXPECT_EQ(h.cached_blocks(cached), 0u);
    deallocate(p);
    EXPECT_TRUE(h.check_invariants());
  }).join();
}

TEST(ThreadHeap, HotClassesDoubleWithinTheirMaximumAndTheHeapRoom) {
  const std::size_t plenty = std::size_t{1} << 30;
  EXPECT_EQ(ThreadHeap::grown_capacity(16, 256, 1024, plenty), 32u);
  EXPECT_EQ(ThreadHeap::grown_capacity(200, 256, 1024, plenty), 256u) << "capped at the class maximum";
  EXPECT_EQ(ThreadHeap::grown_capacity(256, 256, 1024, plenty), 256u);
  EXPECT_EQ(ThreadHeap::grown_capacity(16, 256, 1024, 10 * 1024), 26u) << "only as much as the room allows";
  EXPECT_EQ(ThreadHeap::grown_capacity(16, 256, 1024, 1000), 16u) << "no room for one more block";
  EXPECT_EQ(ThreadHeap::grown_capacity(0, 4, 65536, plenty), 1u);
}

TEST(ThreadHeap, CapacitiesTogetherStayWithinTheHeapBudget) {
  std::thread([] {
    ThreadHeap& h = my_heap();
    // Every class from 1 KiB to 256 KiB runs hot: each alone could grow to
    // kBinBudgetBytes, all together only by their group's kHeapBudgetBytes.
    std::vector<void*> v;
    for (int round = 0; round < 12; ++round) {
      for (std::size_t size = 1024; size <= 256 * 1024; size += size / 4) {
        for (int i = 0; i < 300; ++i) v.push_back(allocate(size));
        for (void* p : v) deallocate(p);
        v.clear();
      }
    }
    std::size_t capacity_bytes[ThreadHeap::kBudgetGroups] = {};
    for (unsigned i = 0; i < kClassCount; ++i) {
      const auto c = static_cast<SizeClass>(i);
      capacity_bytes[ThreadHeap::budget_group(c)] += h.class_state(c).capacity * block_size(c);
    }
    for (unsigned i = 0; i < ThreadHeap::kBudgetGroups; ++i) {
      const auto g = static_cast<ThreadHeap::BudgetGroup>(i);
      EXPECT_EQ(capacity_bytes[g], h.capacity_bytes(g));
      EXPECT_LE(h.capacity_bytes(g), h.capacity_limit_bytes(g));
    }
    EXPECT_TRUE(h.check_invariants());
  }).join();
}

TEST(ThreadHeap, BinOverCapacityFlushesToTheSlabs) {
  ThreadHeap& h = my_heap();
  const SizeClass c = class_of(256);
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) v.push_back(allocate(256));
  const std::uint64_t flushes = h.class_state(c).flushes.get();
  for (void* p : v) deallocate(p);
  EXPECT_GT(h.class_state(c).flushes.get(), flushes);
  EXPECT_LE(h.cached_blocks(c), h.class_state(c).capacity);
  EXPECT_TRUE(h.check_invariants());
}

TEST(ThreadHeap, ExitedThreadsHeapsAreReusedNotMultiplied) {
  auto count_heaps = [] {
    std::size_t n = 0;
    for_each_heap([&](const ThreadHeap&) { ++n; });
    return n;
  };
  std::thread([] { deallocate(allocate(10)); }).join();
  const std::size_t before = count_heaps();
  for (int i = 0; i < 300; ++i) {
    std::thread([] {
      void* p = allocate(100);
      std::memset(p, 1, 100);
      deallocate(p);
    }).join();
  }
  EXPECT_LE(count_heaps(), before + 1);
}

TEST(ThreadHeap, RemoteFreesTravelInBatchesUntilHandedOver) {
  ThreadHeap& owner = my_heap();
  const SizeClass c = class_of(32);
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(allocate(32));
  const std::uint64_t received = owner.remote_received.get();
  std::thread([&] {
    for (void* p : blocks) deallocate(p);
    // The bin overflowed and sent its oldest foreign blocks towards their
    // owner, but fewer than a batch: the owner has seen nothing yet.
    ThreadHeap& h = *t_heap;
    EXPECT_LT(h.cached_blocks(c), 40u);
    EXPECT_TRUE(owner.inbox_empty());
    h.flush_remote_batches();
    EXPECT_FALSE(owner.inbox_empty());
    h.flush_all();
  }).join();
  owner.drain_inbox();
  EXPECT_EQ(owner.remote_received.get() - received, 40u);
  EXPECT_TRUE(owner.check_invariants());
}

TEST(ThreadHeap, ALiveBlockOfAnExitedThreadCanBeFreedAnywhere) {
  void* survivor = nullptr;
  std::thread([&] {
    survivor = allocate(777);
    std::memset(survivor, 7, 777);
  }).join();
  ASSERT_NE(survivor, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(survivor)[776], 7);
  deallocate(survivor);  // to the idle heap's inbox
  const std::size_t purged = trim();  // drains idle heaps
  (void)purged;
  std::size_t pending = 0;
  for_each_heap([&](const ThreadHeap& h) {
    if (h.state() == ThreadHeap::State::kIdle && !h.inbox_empty()) ++pending;
  });
  EXPECT_EQ(pending, 0u);
}

TEST(ThreadHeap, FreeingEverythingReturnsSuperSlabsAndTrimPurges) {
  std::thread([] {
    ThreadHeap& h = my_heap();
    std::vector<void*> v;
    for (int i = 0; i < 200000; ++i) v.push_back(allocate(100));  // ~20 MiB
    const std::uint64_t acquired = h.superslabs_acquired.get();
    EXPECT_GE(acquired, 10u);
    for (void* p : v) deallocate(p);
    h.flush_all();
    h.release_free_memory(false);
    EXPECT_GE(h.superslabs_returned.get(), acquired - 1);
    EXPECT_TRUE(h.check_invariants());
  }).join();
  EXPECT_GT(trim(), 0u);
}

}  // namespace
}  // namespace hakmem::tiers
