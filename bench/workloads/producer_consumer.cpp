// Producer/consumer: blocks allocated on producer threads and freed on
// consumer threads, as a pipeline hands messages between stages. Every free
// is a remote free, and the producer's heap must get its memory back from
// the consumer's frees or grow without bound.
//
//   producer_consumer --threads=2 --size=tiny|mid|...|MIN-MAX --blocks=N
//                     --queue=4096 --seed=N
//
// --threads counts both sides: threads/2 producer-consumer pairs (at least
// one), each joined by its own single-producer single-consumer ring of
// --queue slots. --blocks is per producer. Prints blocks/sec (one op = one
// malloc on the producer and its free on the consumer).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "spsc_ring.h"

namespace {

constexpr const char* kUsage =
    "usage: producer_consumer [--threads=2] [--size=tiny|mid|large|huge|MIN-MAX] [--blocks=2000000 (per producer)]\n"
    "                         [--queue=4096 (power of two)] [--seed=12345]";

struct Pair {
  explicit Pair(size_t queue) : ring(queue) {}
  bench::SpscRing ring;
  uint64_t seed = 0;
  uint64_t salt = 0;
};

bench::StartLine g_start;

void wait_for_go() {
  g_start.arrive_and_wait();
}

void produce(Pair* pair, bench::SizeRange range, uint64_t blocks) {
  bench::Rng rng(pair->seed);
  wait_for_go();
  for (uint64_t i = 0; i < blocks; ++i) {
    uint64_t size = rng.between(range.min, range.max);
    void* p = std::malloc(size);
    if (p == nullptr) std::abort();
    bench::stamp_block(p, size, pair->salt);
    pair->ring.push(p);
  }
}

void consume(Pair* pair, uint64_t blocks) {
  wait_for_go();
  for (uint64_t i = 0; i < blocks; ++i) {
    void* p = pair->ring.pop();
    if (!bench::check_block(p, pair->salt)) bench::corrupted("producer_consumer", p);
    std::free(p);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"threads", "size", "blocks", "queue", "seed"});
  uint64_t threads = args.u64("threads", 2);
  std::string size_name = args.str("size", "tiny");
  bench::SizeRange range;
  if (!bench::parse_size_range(size_name, &range)) args.fail("bad --size", size_name.c_str());
  if (range.min < 8) range.min = 8;  // every block carries an 8-byte stamp
  if (range.max < range.min) range.max = range.min;
  uint64_t blocks = args.u64("blocks", 2'000'000);
  uint64_t queue = args.u64("queue", 4096);
  uint64_t seed = args.u64("seed", 12345);
  if (queue == 0 || (queue & (queue - 1)) != 0) args.fail("--queue must be a power of two", "queue");
  uint64_t pairs = threads / 2 > 0 ? threads / 2 : 1;

  std::vector<std::unique_ptr<Pair>> ps;
  for (uint64_t i = 0; i < pairs; ++i) {
    ps.push_back(std::make_unique<Pair>(queue));
    ps.back()->seed = seed + i;
    ps.back()->salt = i + 1;
  }
  std::vector<std::thread> pool;
  for (auto& p : ps) {
    pool.emplace_back(produce, p.get(), range, blocks);
    pool.emplace_back(consume, p.get(), blocks);
  }
  // The CPU time includes the time either side spins on a full or empty
  // ring.
  const bench::Timing timing = g_start.release_and_join(pool, pool.size());
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;

  uint64_t total = blocks * pairs;
  bench::ResultLine("producer_consumer")
      .add("threads", pairs * 2)
      .add("size", size_name)
      .add("min", range.min)
      .add("max", range.max)
      .add("queue", queue)
      .add("seed", seed)
      .add_throughput(total, elapsed, cpu)
      .print();
  return 0;
}
