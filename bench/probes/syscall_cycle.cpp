// A steady cyclic workload for counting the memory system calls an
// allocator makes once it is warm (bench/syscalls.py runs it under strace).
// Each thread keeps --slots blocks. One cycle frees the blocks of slots drawn at
// random (half as many draws as slots, about 39% of the blocks), then
// refills the empty slots with fresh sizes; every fourth cycle replaces all of them,
// as a request that builds and drops its whole state. Sizes: 90% in
// 16-1024 B, 9% in 1-32 KiB, 1% in 32 KiB-1 MiB, so the mapped-block paths
// and the return of memory to the kernel are exercised as well as the caches.
//
//   syscall_cycle --threads=1 --slots=4000 --cycles=200 --warmup=20 --seed=1
//
// The measured phase is fenced by two getppid() calls, a system call the
// allocators never make: after every thread has run its --warmup cycles the
// main thread calls getppid(), the threads run --cycles cycles, and after
// they have joined it calls getppid() again. syscalls.py counts the calls
// between the two. One op is one malloc and its free.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: syscall_cycle [--threads=1] [--slots=4000] [--cycles=200] [--warmup=20] [--seed=1]";

std::atomic<uint64_t> g_warm{0};
std::atomic<bool> g_go{false};

uint64_t draw_size(bench::Rng& rng) {
  uint64_t r = rng.below(100);
  if (r < 90) return rng.between(16, 1024);
  if (r < 99) return rng.between(1024, 32 * 1024);
  return rng.between(32 * 1024, 1024 * 1024);
}

void* fresh(bench::Rng& rng, uint64_t salt) {
  uint64_t size = draw_size(rng);
  void* p = std::malloc(size);
  if (p == nullptr) std::abort();
  std::memset(p, 0x5a, size < 256 ? size : 256);
  bench::stamp_block(p, size, salt);
  return p;
}

struct Worker {
  uint64_t seed, salt, slots, cycles, warmup;
  uint64_t ops = 0;  // measured cycles only
};

uint64_t cycle(bench::Rng& rng, std::vector<void*>& slots, uint64_t c, uint64_t salt) {
  uint64_t n = slots.size();
  bool all = c % 4 == 3;
  uint64_t freed = 0;
  for (uint64_t i = 0; i < (all ? n : n / 2); ++i) {
    uint64_t k = all ? i : rng.below(n);
    if (slots[k] == nullptr) continue;  // drawn twice
    if (!bench::check_block(slots[k], salt)) bench::corrupted("syscall_cycle", slots[k]);
    std::free(slots[k]);
    slots[k] = nullptr;
    ++freed;
  }
  for (void*& s : slots) {
    if (s == nullptr) s = fresh(rng, salt);
  }
  return freed;
}

void run(Worker* w) {
  bench::Rng rng(w->seed);
  std::vector<void*> slots(w->slots);
  for (void*& s : slots) s = fresh(rng, w->salt);
  for (uint64_t c = 0; c < w->warmup; ++c) cycle(rng, slots, c, w->salt);
  g_warm.fetch_add(1);
  while (!g_go.load(std::memory_order_acquire)) std::this_thread::yield();
  for (uint64_t c = 0; c < w->cycles; ++c) w->ops += cycle(rng, slots, c, w->salt);
  // The teardown runs after the end marker, with the other threads' frees
  // possibly still going: the main thread waits for all of them first.
  g_warm.fetch_sub(1);
  while (g_go.load(std::memory_order_acquire)) std::this_thread::yield();
  for (void* s : slots) std::free(s);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"threads", "slots", "cycles", "warmup", "seed"});
  uint64_t threads = args.u64("threads", 1);
  uint64_t slots = args.u64("slots", 4000);
  uint64_t cycles = args.u64("cycles", 200);
  uint64_t warmup = args.u64("warmup", 20);
  uint64_t seed = args.u64("seed", 1);
  if (threads == 0 || slots == 0) args.fail("need --threads and --slots >= 1", "0");

  std::vector<Worker> workers(threads);
  for (uint64_t t = 0; t < threads; ++t) workers[t] = {seed + t, t + 1, slots, cycles, warmup};
  std::vector<std::thread> pool;
  for (Worker& w : workers) pool.emplace_back(run, &w);
  while (g_warm.load() != threads) std::this_thread::yield();
  getppid();  // start marker
  double start = bench::now_s();
  g_go.store(true, std::memory_order_release);
  while (g_warm.load() != 0) std::this_thread::yield();
  double elapsed = bench::now_s() - start;
  getppid();  // end marker
  g_go.store(false, std::memory_order_release);
  for (std::thread& t : pool) t.join();

  uint64_t ops = 0;
  for (const Worker& w : workers) ops += w.ops;
  bench::ResultLine("syscall_cycle")
      .add("threads", threads)
      .add("slots", slots)
      .add("cycles", cycles)
      .add("ops", ops)
      .add("elapsed_s", elapsed)
      .add("ops_per_sec", static_cast<double>(ops) / elapsed)
      .add("peak_rss_kb", bench::peak_rss_kb())
      .print();
  return 0;
}
