// Batches of one size: allocate N blocks of one small size, then free all of
// them, newest first (LIFO) or oldest first (FIFO), and start again, as a
// parser builds a tree of nodes and drops it, or a queue drains. N cycles
// through 100, 1000 and 10000, the size through 16, 32 and 64 bytes, the
// order through LIFO and FIFO. A batch of 10000 outgrows a thread cache, so
// the tier behind it fills and empties once per batch.
//
//   batch_same_size --threads=N --pairs=N (in all, split over the threads) --seed=N
//
// Each thread runs its own batches (--pairs / --threads pairs, rounded up to
// whole batches); every free is local. One op = one malloc and its free.
// Prints ops/sec summed over threads.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage = "usage: batch_same_size [--threads=1] [--pairs=20000000 (in all)] [--seed=12345]";

constexpr uint64_t kCounts[] = {100, 1000, 10000};
constexpr uint64_t kSizes[] = {16, 32, 64};

bench::StartLine g_start;

// Runs batches until at least `pairs` malloc+free pairs are done; returns
// how many it did (whole batches only).
uint64_t run(uint64_t pairs, uint64_t salt) {
  std::vector<void*> blocks(10000);
  g_start.arrive_and_wait();

  uint64_t done = 0;
  for (uint64_t batch = 0; done < pairs; ++batch) {
    uint64_t n = kCounts[batch % 3];
    uint64_t size = kSizes[(batch / 3) % 3];
    bool lifo = (batch / 9) % 2 == 0;
    for (uint64_t i = 0; i < n; ++i) {
      void* p = std::malloc(size);
      if (p == nullptr) std::abort();
      bench::stamp_block(p, size, salt + i);
      blocks[i] = p;
    }
    for (uint64_t j = 0; j < n; ++j) {
      uint64_t i = lifo ? n - 1 - j : j;
      if (!bench::check_block(blocks[i], salt + i)) bench::corrupted("batch_same_size", blocks[i]);
      std::free(blocks[i]);
    }
    done += n;
  }
  return done;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"threads", "pairs", "seed"});
  uint64_t threads = args.u64("threads", 1);
  uint64_t pairs = args.u64("pairs", 20'000'000);
  uint64_t seed = args.u64("seed", 12345);
  if (threads == 0) args.fail("need --threads >= 1", "0");

  std::vector<uint64_t> done(threads);
  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&done, t, per = pairs / threads, salt = seed + (t << 40)] { done[t] = run(per, salt); });
  }
  const bench::Timing timing = g_start.release_and_join(pool, threads);
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;

  uint64_t total = 0;
  for (uint64_t d : done) total += d;
  bench::ResultLine("batch_same_size")
      .add("threads", threads)
      .add("seed", seed)
      .add_throughput(total, elapsed, cpu)
      .print();
  return 0;
}
