// Sparse touches: each thread keeps --live blocks of random sizes, 1 to 32
// KiB by default, and writes one byte of each new block, at a random offset,
// as a program that allocates buffers it fills only in part. Each op frees
// the block in a random slot and allocates a new one there. Most pages of
// such blocks are never written, so what a page fault costs decides the
// time: with transparent huge pages, one byte may fault in (and zero) 2 MiB,
// or a huge page may be split or collapsed behind the program's back, and
// the time of one run can differ from the next. The runner reports the
// spread of the runs beside the median.
//
//   thp_sparse --threads=N --live=1024 --ops=N (per thread) --min=1024 --max=32768 --seed=N
//
// The written byte is checked before the block is freed. Every free is local.
// Prints ops/sec summed over threads.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: thp_sparse [--threads=1] [--live=1024] [--ops=2000000 (per thread)] [--min=1024] [--max=32768]\n"
    "                  [--seed=12345]";

struct Config {
  uint64_t live, ops, min, max;
};

// A live block and the one byte written into it.
struct Slot {
  unsigned char* p;
  uint64_t offset;
  unsigned char value;
};

bench::StartLine g_start;

Slot fresh_block(bench::Rng& rng, const Config& c) {
  uint64_t size = rng.between(c.min, c.max);
  auto* p = static_cast<unsigned char*>(std::malloc(size));
  if (p == nullptr) std::abort();
  Slot s{p, rng.below(size), static_cast<unsigned char>(rng.next() | 1)};
  p[s.offset] = s.value;
  return s;
}

void free_checked(const Slot& s) {
  if (s.p[s.offset] != s.value) bench::corrupted("thp_sparse", s.p);
  std::free(s.p);
}

void run(const Config& c, uint64_t seed) {
  bench::Rng rng(seed);
  std::vector<Slot> slots(c.live);
  for (Slot& s : slots) s = fresh_block(rng, c);
  g_start.arrive_and_wait();

  for (uint64_t i = 0; i < c.ops; ++i) {
    Slot& s = slots[rng.below(c.live)];
    free_checked(s);
    s = fresh_block(rng, c);
  }
  for (const Slot& s : slots) free_checked(s);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"threads", "live", "ops", "min", "max", "seed"});
  uint64_t threads = args.u64("threads", 1);
  Config c{args.u64("live", 1024), args.u64("ops", 2'000'000), args.u64("min", 1024), args.u64("max", 32768)};
  uint64_t seed = args.u64("seed", 12345);
  if (threads == 0 || c.live == 0) args.fail("need --threads and --live >= 1", "0");
  if (c.min == 0 || c.max < c.min) args.fail("need 1 <= --min <= --max", "min/max");

  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < threads; ++t) pool.emplace_back(run, std::cref(c), seed + t);
  const bench::Timing timing = g_start.release_and_join(pool, threads);
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;

  bench::ResultLine("thp_sparse")
      .add("threads", threads)
      .add("live", c.live)
      .add("min", c.min)
      .add("max", c.max)
      .add("seed", seed)
      .add_throughput(c.ops * threads, elapsed, cpu)
      .print();
  return 0;
}
