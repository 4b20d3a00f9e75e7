// Micro-benchmarks of single allocator entry points (google-benchmark). A
// plain executable: the runner preloads the allocator under test, so the
// same binary measures hakmem and each peer.
//
// - BM_malloc_free/<size>: one malloc and its free, the fast path's round trip.
// - BM_batch_1000/<size>: 1000 mallocs, then their 1000 frees: the thread
//   cache empties and refills, so refill and flush paths show.
// - BM_aligned/<alignment>: aligned_alloc(alignment, alignment) and free.
// - BM_remote_free/<size>: this thread allocates; a second thread frees each
//   block (handed over through a ring), so every free is remote and the
//   allocating thread must get its memory back.
//
// Built with -fno-builtin-malloc and friends so the compiler cannot pair up
// and delete a malloc with its free.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "spsc_ring.h"

namespace {

void BM_malloc_free(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = std::malloc(size);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}
BENCHMARK(BM_malloc_free)->Arg(16)->Arg(64)->Arg(128)->Arg(1024)->Arg(4096)->Arg(32768);

constexpr int kBatch = 1000;

void BM_batch_1000(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  std::vector<void*> blocks(kBatch);
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = std::malloc(size);
      benchmark::DoNotOptimize(p);
    }
    for (void* p : blocks) std::free(p);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_batch_1000)->Arg(16)->Arg(128)->Arg(1024);

void BM_aligned(benchmark::State& state) {
  const size_t align = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = std::aligned_alloc(align, align);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}
BENCHMARK(BM_aligned)->Arg(64)->Arg(4096);

// The freeing side of BM_remote_free: a thread that frees whatever arrives
// on the ring until it receives null.
void free_all_from(bench::SpscRing* ring) {
  while (void* p = ring->pop()) std::free(p);
}

void BM_remote_free(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  bench::SpscRing ring(4096);
  std::thread freer(free_all_from, &ring);
  for (auto _ : state) {
    void* p = std::malloc(size);
    benchmark::DoNotOptimize(p);
    // Touch the block, so the freeing thread reads a line this one wrote,
    // as a real message would.
    *static_cast<volatile char*>(p) = 1;
    ring.push(p);
  }
  ring.push(nullptr);
  freer.join();
}
BENCHMARK(BM_remote_free)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
