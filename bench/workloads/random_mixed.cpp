// Random mixed sizes: each thread keeps a working set of <slots> live blocks;
// each op frees the block in a random slot and allocates a new one there, of
// a size drawn uniformly from the range, then writes its first bytes (and its
// last one). Every free is local: this measures the thread-local fast paths
// of one size range, plus the tier behind them once the working set outgrows
// the thread cache.
//
//   random_mixed --size=tiny|mid|large|huge|MIN-MAX --threads=N --slots=N
//                --ops=N (per thread) --seed=N --touch=0|BYTES|all
//
// --touch writes that many leading bytes of each new block (all: the whole
// block), as a program that fills what it allocates. The default, 0, writes
// only the stamp (first 8 bytes and the last byte), which leaves page-fault
// cost out for large blocks and so measures the allocator's own work.
//
// Size classes (bytes): tiny 8-1024, mid 1024-32768, large 32768-1048576,
// huge 1048576-16777216. Prints ops/sec summed over threads.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: random_mixed [--size=tiny|mid|large|huge|MIN-MAX] [--threads=1] [--slots=4096]\n"
    "                    [--ops=10000000 (per thread)] [--seed=12345] [--touch=0|BYTES|all]";

struct Worker {
  uint64_t seed;
  uint64_t salt;
  bench::SizeRange range;
  uint64_t slots;
  uint64_t ops;
  uint64_t touch_bytes;
};

// A new block: written as --touch asks, then stamped.
void* fresh_block(bench::Rng& rng, const Worker* w) {
  uint64_t size = rng.between(w->range.min, w->range.max);
  void* p = std::malloc(size);
  if (p == nullptr) std::abort();
  if (w->touch_bytes != 0) std::memset(p, 0x5a, size < w->touch_bytes ? size : w->touch_bytes);
  bench::stamp_block(p, size, w->salt);
  return p;
}

bench::StartLine g_start;

void run(const Worker* w) {
  bench::Rng rng(w->seed);
  // The slot array is allocated before the timed loop, from the allocator
  // under test like everything else, and never resized.
  std::vector<void*> slots(w->slots);
  for (void*& s : slots) s = fresh_block(rng, w);
  // All threads start the timed loop together.
  g_start.arrive_and_wait();

  for (uint64_t i = 0; i < w->ops; ++i) {
    uint64_t k = rng.below(w->slots);
    if (!bench::check_block(slots[k], w->salt)) bench::corrupted("random_mixed", slots[k]);
    std::free(slots[k]);
    slots[k] = fresh_block(rng, w);
  }

  for (void* s : slots) {
    if (!bench::check_block(s, w->salt)) bench::corrupted("random_mixed", s);
    std::free(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"size", "threads", "slots", "ops", "seed", "touch"});
  std::string size_name = args.str("size", "tiny");
  bench::SizeRange range;
  if (!bench::parse_size_range(size_name, &range)) args.fail("bad --size", size_name.c_str());
  if (range.min < 8) range.min = 8;  // every block carries an 8-byte stamp
  if (range.max < range.min) range.max = range.min;
  uint64_t threads = args.u64("threads", 1);
  uint64_t slots = args.u64("slots", 4096);
  uint64_t ops = args.u64("ops", 10'000'000);
  uint64_t seed = args.u64("seed", 12345);
  if (threads == 0 || slots == 0) args.fail("need --threads and --slots >= 1", "0");
  std::string touch = args.str("touch", "0");
  uint64_t touch_bytes = touch == "all" ? UINT64_MAX : args.u64("touch", 0);

  std::vector<Worker> workers(threads);
  for (uint64_t t = 0; t < threads; ++t) workers[t] = {seed + t, t + 1, range, slots, ops, touch_bytes};
  std::vector<std::thread> pool;
  for (const Worker& w : workers) pool.emplace_back(run, &w);
  // The clock starts once every working set is filled, and stops after the
  // final frees: the timed figure covers ops plus one teardown per thread.
  const bench::Timing timing = g_start.release_and_join(pool, threads);
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;

  uint64_t total = ops * threads;
  bench::ResultLine("random_mixed")
      .add("threads", threads)
      .add("size", size_name)
      .add("min", range.min)
      .add("max", range.max)
      .add("slots", slots)
      .add("touch", touch)
      .add("seed", seed)
      .add_throughput(total, elapsed, cpu)
      .print();
  return 0;
}
