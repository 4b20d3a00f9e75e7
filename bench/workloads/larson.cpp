// Larson's server simulation (P. Larson and M. Krishnan, "Memory allocation
// for long-running server applications", ISMM 1998), with the original
// program's command line:
//
//   larson <seconds> <min> <max> <chunks> <rounds> <seed> <threads>
//
// e.g. `larson 10 8 128 1024 1 12345 4`. Each of <threads> lanes owns an array
// of <chunks> blocks. A worker thread runs <rounds> passes over its lane, each
// op freeing a random block and allocating one of random size in [min, max);
// then it exits and a fresh thread inherits the lane, as a server hands a
// connection's state to the next worker. So the blocks a thread frees were
// almost all allocated by a thread that has gone: the allocator must serve
// frees of foreign blocks and reuse the heaps of exited threads. The array is
// filled by the main thread before timing, as in the original.
//
// Prints ops/sec over the whole timed window (every worker generation).
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: larson <seconds> <min> <max> <chunks> <rounds> <seed> <threads>\n"
    "  e.g. larson 10 8 128 1024 1 12345 4 (sizes in bytes, seconds may be fractional)";

std::atomic<bool> g_stop{false};

struct Lane {
  std::vector<void*> blocks;
  uint64_t salt = 0;
  bench::Rng rng{1};
  uint64_t ops = 0;  // written only by the lane's current worker; read after join
};

struct Params {
  uint64_t min, max, chunks, rounds;
};

[[noreturn]] void usage_error(const char* what) {
  std::fprintf(stderr, "error: %s\n%s\n", what, kUsage);
  std::exit(2);
}

uint64_t block_size(bench::Rng& rng, const Params& p) {
  // [min, max) as in the original; [min, min] when min == max.
  return p.max > p.min ? p.min + rng.below(p.max - p.min) : p.min;
}

// One worker generation: <rounds> passes over the lane, stopping early when
// the timer runs out.
void work(Lane* lane, const Params* p) {
  Lane& l = *lane;
  for (uint64_t r = 0; r < p->rounds; ++r) {
    for (uint64_t i = 0; i < p->chunks; ++i) {
      if (g_stop.load(std::memory_order_relaxed)) return;
      uint64_t victim = l.rng.below(p->chunks);
      void* old = l.blocks[victim];
      if (!bench::check_block(old, l.salt)) bench::corrupted("larson", old);
      std::free(old);
      uint64_t size = block_size(l.rng, *p);
      void* fresh = std::malloc(size);
      if (fresh == nullptr) usage_error("malloc returned null");
      bench::stamp_block(fresh, size, l.salt);
      l.blocks[victim] = fresh;
      ++l.ops;
    }
  }
}

// Keeps one lane alive across worker generations: each worker runs, exits,
// and the next one (a new thread) inherits the lane's blocks.
void drive_lane(Lane* lane, const Params* p) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::thread worker(work, lane, p);
    worker.join();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) usage_error("expected 7 arguments");
  double seconds = std::strtod(argv[1], nullptr);
  Params p{std::strtoull(argv[2], nullptr, 0), std::strtoull(argv[3], nullptr, 0),
           std::strtoull(argv[4], nullptr, 0), std::strtoull(argv[5], nullptr, 0)};
  uint64_t seed = std::strtoull(argv[6], nullptr, 0);
  uint64_t threads = std::strtoull(argv[7], nullptr, 0);
  if (!(seconds > 0) || p.chunks == 0 || p.rounds == 0 || threads == 0 || p.max < p.min) {
    usage_error("need seconds > 0, chunks, rounds, threads >= 1 and min <= max");
  }
  // Every block carries an 8-byte stamp (bench_util.h).
  if (p.min < 8) p.min = 8;
  if (p.max < p.min) p.max = p.min;

  std::vector<Lane> lanes(threads);
  for (uint64_t t = 0; t < threads; ++t) {
    Lane& l = lanes[t];
    l.salt = t + 1;
    l.rng = bench::Rng(seed + t);
    l.blocks.resize(p.chunks);
    for (void*& b : l.blocks) {
      uint64_t size = block_size(l.rng, p);
      b = std::malloc(size);
      if (b == nullptr) usage_error("malloc returned null");
      bench::stamp_block(b, size, l.salt);
    }
  }

  double start = bench::now_s();
  double start_cpu = bench::cpu_s();
  std::vector<std::thread> drivers;
  for (Lane& l : lanes) drivers.emplace_back(drive_lane, &l, &p);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  g_stop.store(true, std::memory_order_relaxed);
  for (std::thread& d : drivers) d.join();
  double elapsed = bench::now_s() - start;
  double cpu = bench::cpu_s() - start_cpu;

  uint64_t ops = 0;
  for (Lane& l : lanes) {
    ops += l.ops;
    for (void* b : l.blocks) {
      if (!bench::check_block(b, l.salt)) bench::corrupted("larson", b);
      std::free(b);
    }
  }
  bench::ResultLine("larson")
      .add("threads", threads)
      .add("min", p.min)
      .add("max", p.max)
      .add("chunks", p.chunks)
      .add("rounds", p.rounds)
      .add("seed", seed)
      .add_throughput(ops, elapsed, cpu)
      .print();
  return 0;
}
