// The first allocator call of a brand-new thread, for every entry point. A
// thread starts with no heap; whichever call comes first must attach one
// (or, for free, hand the block back to its owner without one). Several
// threads start at once behind a barrier, so that some adopt idle heaps
// and some need new ones, concurrently.
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

constexpr unsigned kThreads = 6;

// What each thread does as its very first allocator call; returns true if
// the result was right (aligned, writable, usable size covering the request).
using FirstCall = bool (*)(unsigned index, void* shared);

struct Launch {
  FirstCall call;
  void* shared;
  pthread_barrier_t* barrier;
  unsigned index;
  bool ok;
};

bool check_and_free(void* p, std::size_t size, std::size_t alignment, unsigned seed) {
  if (p == nullptr || !is_aligned(p, alignment) || malloc_usable_size(p) < size) return false;
  fill_pattern(p, size, seed);
  const bool intact = first_pattern_mismatch(p, size, seed) == size;
  free(p);
  return intact;
}

// Starts kThreads threads that each make `call` their first allocator call
// and returns how many reported success. The launch records live on the
// caller's stack, and the barrier is initialised before any thread starts,
// so no thread allocates before its call. The creation and join of each
// thread add one block and free it again (TestThread), so the live-block
// count across the call changes only by what the threads do.
unsigned run_first_calls(FirstCall call, void* shared = nullptr) {
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, nullptr, kThreads);
  Launch launches[kThreads];
  TestThread threads[kThreads];
  for (unsigned i = 0; i < kThreads; ++i) {
    launches[i] = Launch{call, shared, &barrier, i, false};
    if (!threads[i].start(
            [](void* arg) -> void* {
              auto* l = static_cast<Launch*>(arg);
              pthread_barrier_wait(l->barrier);
              l->ok = l->call(l->index, l->shared);
              return nullptr;
            },
            &launches[i])) {
      // The threads already started wait at the barrier for ever.
      ADD_FAILURE() << "pthread_create failed";
      abort();
    }
  }
  unsigned ok = 0;
  for (unsigned i = 0; i < kThreads; ++i) {
    threads[i].join();
    ok += launches[i].ok ? 1 : 0;
  }
  pthread_barrier_destroy(&barrier);
  return ok;
}

// Sizes of every tier, chosen by thread index.
std::size_t size_for(unsigned index) {
  constexpr std::size_t kSizes[] = {1, 100, 1500, 40000, 2 * 1024 * 1024 + 3, 0};
  return kSizes[index % (sizeof(kSizes) / sizeof(kSizes[0]))];
}

TEST(FirstCall, MallocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t n = size_for(i);
              return check_and_free(malloc(n), n, n >= 16 ? 16 : 8, i);
            }),
            kThreads);
}

TEST(FirstCall, CallocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t n = size_for(i);
              void* p = calloc(n, 1);
              if (p == nullptr || first_byte_not(p, n, 0) != n) return false;
              return check_and_free(p, n, n >= 16 ? 16 : 8, i);
            }),
            kThreads);
}

TEST(FirstCall, ReallocOfNullOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t n = size_for(i) + 1;
              return check_and_free(realloc(nullptr, n), n, 8, i);
            }),
            kThreads);
}

// The thread's first call reallocates a block another thread made.
TEST(FirstCall, ReallocOfAnotherThreadsBlockOnANewThread) {
  void* blocks[kThreads];
  for (unsigned i = 0; i < kThreads; ++i) {
    blocks[i] = malloc(size_for(i) + 10);
    ASSERT_NE(blocks[i], nullptr);
    fill_pattern(blocks[i], size_for(i) + 10, i);
  }
  EXPECT_EQ(run_first_calls(
                [](unsigned i, void* shared) {
                  void** b = static_cast<void**>(shared);
                  const std::size_t old_size = size_for(i) + 10;
                  void* p = realloc(b[i], 2 * old_size + 4096);
                  if (p == nullptr || first_pattern_mismatch(p, old_size, i) != old_size) return false;
                  return check_and_free(p, 2 * old_size + 4096, 16, i);
                },
                blocks),
            kThreads);
}

TEST(FirstCall, PosixMemalignOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t alignment = std::size_t{8} << (3 * i);  // 8 B .. 256 KiB
              void* p = nullptr;
              if (posix_memalign(&p, alignment, size_for(i)) != 0) return false;
              return check_and_free(p, size_for(i), alignment, i);
            }),
            kThreads);
}

TEST(FirstCall, AlignedAllocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t alignment = std::size_t{16} << (3 * i);  // 16 B .. 512 KiB
              return check_and_free(aligned_alloc(alignment, size_for(i)), size_for(i), alignment, i);
            }),
            kThreads);
}

TEST(FirstCall, MemalignOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t alignment = std::size_t{32} << (3 * i);  // 32 B .. 1 MiB
              return check_and_free(memalign(alignment, size_for(i)), size_for(i), alignment, i);
            }),
            kThreads);
}

TEST(FirstCall, VallocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              return check_and_free(valloc(size_for(i)), size_for(i), 4096, i);
            }),
            kThreads);
}

TEST(FirstCall, PvallocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t pages = (size_for(i) + 4095) / 4096 * 4096;
              return check_and_free(pvalloc(size_for(i)), pages == 0 ? 4096 : pages, 4096, i);
            }),
            kThreads);
}

TEST(FirstCall, OperatorNewOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t n = size_for(i);
              void* p = ::operator new(n);
              if (malloc_usable_size(p) < n) return false;
              fill_pattern(p, n, i);
              const bool intact = first_pattern_mismatch(p, n, i) == n;
              ::operator delete(p, n);
              void* q = ::operator new[](n, std::align_val_t{256});
              const bool aligned = is_aligned(q, 256);
              ::operator delete[](q, std::align_val_t{256});
              return intact && aligned;
            }),
            kThreads);
}

TEST(FirstCall, HkmMallocOnANewThread) {
  EXPECT_EQ(run_first_calls([](unsigned i, void*) {
              const std::size_t n = size_for(i);
              void* p = hkm_malloc(n);
              if (p == nullptr || hkm_usable_size(p) < n) return false;
              fill_pattern(p, n, i);
              const bool intact = first_pattern_mismatch(p, n, i) == n;
              hkm_free(p);
              return intact;
            }),
            kThreads);
}

// The thread's first and only call frees a block the main thread made. The
// block goes back to its owner (counted as a remote free), and the owner
// can use the memory again.
TEST(FirstCall, FreeOfAnotherThreadsBlockOnANewThread) {
  void* blocks[kThreads];
  for (unsigned i = 0; i < kThreads; ++i) {
    blocks[i] = malloc(size_for(i) + 1);
    ASSERT_NE(blocks[i], nullptr);
  }
  const hkm_stats before = stats_now();
  EXPECT_EQ(run_first_calls(
                [](unsigned i, void* shared) {
                  free(static_cast<void**>(shared)[i]);
                  return true;
                },
                blocks),
            kThreads);
  const hkm_stats after = stats_now();
  EXPECT_EQ(before.live_blocks - after.live_blocks, kThreads);
  // Sizes at or below 1 MiB were slab blocks, freed remotely; the rest huge.
  unsigned slab_blocks = 0;
  for (unsigned i = 0; i < kThreads; ++i) slab_blocks += size_for(i) + 1 <= kMiB ? 1 : 0;
  EXPECT_EQ(after.remote_frees - before.remote_frees, slab_blocks);
  EXPECT_EQ(before.huge_live_blocks - after.huge_live_blocks, kThreads - slab_blocks);
  for (unsigned i = 0; i < 60; ++i) {
    void* p = malloc(size_for(i) + 1);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, size_for(i) + 1, i);
    ASSERT_EQ(first_pattern_mismatch(p, size_for(i) + 1, i), size_for(i) + 1);
    free(p);
  }
}

}  // namespace
}  // namespace hakmem::preload_test
