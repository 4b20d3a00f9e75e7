// Hand-off of random sizes: every thread keeps a working set of blocks of
// random sizes (8 B to 16 KiB); each op takes the block out of a random
// slot, allocates a new one there, and either frees the old block itself or
// (one time in --share) hands it to the next thread, which frees it. So most
// frees are local and a steady share are remote, as in a server whose
// workers pass requests along: the owner must get that memory back while it
// keeps allocating.
//
//   handoff_random --threads=N --slots=4096 --ops=N (per thread) --share=4
//                  --min=8 --max=16384 --seed=N
//
// Thread t hands blocks to thread t+1 (mod N) through a single-producer
// single-consumer ring and drains the ring from thread t-1 every 16 ops; when
// its outgoing ring is full it frees the block itself, so no thread ever
// waits for another. With one thread the ring leads back to the thread
// itself: the same delayed frees, all of them local, as the baseline of the
// threaded rows. One op = one malloc and the free of the block it replaces
// (each block is freed exactly once, by its owner or by the next thread).
// Prints ops/sec and ops per CPU-second summed over threads.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "spsc_ring.h"

namespace {

constexpr const char* kUsage =
    "usage: handoff_random [--threads=2] [--slots=4096] [--ops=5000000 (per thread)] [--share=4]\n"
    "                      [--min=8] [--max=16384] [--seed=12345]";

struct Worker {
  explicit Worker(size_t ring_slots) : inbox(ring_slots) {}
  bench::SpscRing inbox;  // blocks from the previous thread, freed here
  uint64_t seed = 0;
  uint64_t handed = 0;  // blocks this thread gave to the next one
};

struct Config {
  uint64_t threads, slots, ops, share, min, max;
};

bench::StartLine g_start;
std::atomic<uint64_t> g_finished{0};

// Every thread stamps with the same salt, so the receiver can check a block
// it did not allocate.
constexpr uint64_t kSalt = 0x6d;

void free_checked(void* p) {
  if (!bench::check_block(p, kSalt)) bench::corrupted("handoff_random", p);
  std::free(p);
}

void* fresh_block(bench::Rng& rng, const Config& c) {
  uint64_t size = rng.between(c.min, c.max);
  void* p = std::malloc(size);
  if (p == nullptr) std::abort();
  bench::stamp_block(p, size, kSalt);
  return p;
}

void drain(bench::SpscRing& inbox) {
  void* p;
  while (inbox.try_pop(&p)) free_checked(p);
}

void run(std::vector<std::unique_ptr<Worker>>* workers, uint64_t t, const Config& c) {
  Worker& me = *(*workers)[t];
  bench::SpscRing& outbox = (*workers)[(t + 1) % c.threads]->inbox;
  bench::Rng rng(me.seed);
  std::vector<void*> slots(c.slots);
  for (void*& s : slots) s = fresh_block(rng, c);
  g_start.arrive_and_wait();

  for (uint64_t i = 0; i < c.ops; ++i) {
    uint64_t k = rng.below(c.slots);
    void* old = slots[k];
    slots[k] = fresh_block(rng, c);
    if (rng.below(c.share) == 0 && outbox.try_push(old)) {
      ++me.handed;
    } else {
      free_checked(old);
    }
    if ((i & 15) == 0) drain(me.inbox);
  }
  for (void* s : slots) free_checked(s);
  // The previous thread may still be handing blocks over: keep draining
  // until every thread is past its loop, then take what is left.
  g_finished.fetch_add(1, std::memory_order_acq_rel);
  while (g_finished.load(std::memory_order_acquire) != c.threads) {
    drain(me.inbox);
    std::this_thread::yield();
  }
  drain(me.inbox);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"threads", "slots", "ops", "share", "min", "max", "seed"});
  Config c{args.u64("threads", 2), args.u64("slots", 4096), args.u64("ops", 5'000'000),
           args.u64("share", 4), args.u64("min", 8), args.u64("max", 16384)};
  uint64_t seed = args.u64("seed", 12345);
  if (c.threads == 0 || c.slots == 0 || c.share == 0) args.fail("need --threads, --slots and --share >= 1", "0");
  if (c.min < 8 || c.max < c.min) args.fail("need 8 <= --min <= --max", "min/max");

  std::vector<std::unique_ptr<Worker>> workers;
  for (uint64_t t = 0; t < c.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(4096));
    workers.back()->seed = seed + t;
  }
  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < c.threads; ++t) pool.emplace_back(run, &workers, t, std::cref(c));
  const bench::Timing timing = g_start.release_and_join(pool, c.threads);
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;

  uint64_t handed = 0;
  for (const auto& w : workers) handed += w->handed;
  uint64_t total = c.ops * c.threads;
  bench::ResultLine("handoff_random")
      .add("threads", c.threads)
      .add("slots", c.slots)
      .add("share", c.share)
      .add("min", c.min)
      .add("max", c.max)
      .add("handed", handed)
      .add_throughput(total, elapsed, cpu)
      .print();
  return 0;
}
