// A server's memory, three ways. What counts is the peak resident set: how
// much the allocator holds beyond what the program keeps live.
//
//   server_sim --mode=handoff|working-set|big --threads=N --slots=N --ops=N (per thread)
//              --round-ops=N --size=MIN-MAX --seed=N
//
// handoff (sizes 8-1000 B): N threads and N arrays of --slots blocks. Each op
//   frees the block in a random slot of the thread's array and allocates a
//   new one there. Every --round-ops ops the threads meet and each passes its
//   array to the next thread, so the blocks a thread frees were mostly
//   allocated by others: sessions served by one worker and then another.
//   An allocator that keeps remotely freed memory with the thread that freed
//   it, or does not reuse it for the owner, grows here.
// working-set (sizes 4 B-32 KiB): each thread its own --slots blocks (1024),
//   replaced at random; every free local. Sizes under 8 B are allocated as 8
//   (the stamp's size; no allocator has a smaller class).
// big (sizes 5-25 MiB): each thread up to --slots live blocks. Each op frees
//   the block in a random slot, if any, and, three times in four, allocates
//   a new one there and writes one byte in every 4 KiB page of it, as a
//   program that fills its buffers. Give 20 / threads slots for 20 live
//   blocks in all.
//
// One op = one malloc and the free of what it replaces. Prints ops/sec,
// peak_rss_kb and rss_after_free_kb (resident once everything is freed).
#include <atomic>
#include <barrier>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: server_sim [--mode=handoff|working-set|big] [--threads=1] [--slots=N] [--ops=N (per thread)]\n"
    "                  [--round-ops=10000 (handoff)] [--size=MIN-MAX] [--seed=12345]\n"
    "defaults: handoff 10000 slots of 8-1000 B; working-set 1024 slots of 4-32768 B;\n"
    "          big 20 slots of 5-25 MiB";

enum class Mode { kHandoff, kWorkingSet, kBig };

struct Config {
  Mode mode;
  uint64_t threads, slots, ops, round_ops;
  bench::SizeRange range;
};

// Every thread stamps with the same salt: in handoff mode a block is checked
// and freed by a thread that did not allocate it.
constexpr uint64_t kSalt = 0x3c;
constexpr uint64_t kPageBytes = 4096;

bench::StartLine g_start;

void* fresh_block(bench::Rng& rng, const Config& c) {
  uint64_t size = rng.between(c.range.min, c.range.max);
  auto* p = static_cast<unsigned char*>(std::malloc(size));
  if (p == nullptr) std::abort();
  if (c.mode == Mode::kBig) {
    for (uint64_t off = 0; off < size; off += kPageBytes) p[off] = static_cast<unsigned char>(off >> 12);
  }
  bench::stamp_block(p, size, kSalt);
  return p;
}

void free_checked(void* p) {
  if (p == nullptr) return;
  if (!bench::check_block(p, kSalt)) bench::corrupted("server_sim", p);
  std::free(p);
}

void wait_for_go() {
  g_start.arrive_and_wait();
}

// handoff: thread t works on array (t + round) % threads; the barrier ends
// each round, so an array has one user at a time.
void run_handoff(const Config& c, uint64_t t, std::vector<std::vector<void*>>* arrays, std::barrier<>* sync,
                 uint64_t seed) {
  bench::Rng rng(seed);
  for (void*& s : (*arrays)[t]) s = fresh_block(rng, c);
  wait_for_go();
  uint64_t round = 0;
  for (uint64_t done = 0; done < c.ops; ++round) {
    std::vector<void*>& slots = (*arrays)[(t + round) % c.threads];
    uint64_t n = c.ops - done < c.round_ops ? c.ops - done : c.round_ops;
    for (uint64_t i = 0; i < n; ++i) {
      void*& s = slots[rng.below(c.slots)];
      free_checked(s);
      s = fresh_block(rng, c);
    }
    done += n;
    sync->arrive_and_wait();
  }
  for (void* s : (*arrays)[(t + round) % c.threads]) free_checked(s);
}

// working-set and big: the thread's own slots.
void run_own(const Config& c, uint64_t seed) {
  bench::Rng rng(seed);
  std::vector<void*> slots(c.slots, nullptr);
  if (c.mode == Mode::kWorkingSet) {
    for (void*& s : slots) s = fresh_block(rng, c);
  }
  wait_for_go();
  for (uint64_t i = 0; i < c.ops; ++i) {
    void*& s = slots[rng.below(c.slots)];
    free_checked(s);
    s = nullptr;
    if (c.mode == Mode::kWorkingSet || rng.below(4) != 0) s = fresh_block(rng, c);
  }
  for (void* s : slots) free_checked(s);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"mode", "threads", "slots", "ops", "round-ops", "size", "seed"});
  std::string mode_name = args.str("mode", "handoff");
  Config c{};
  uint64_t default_slots;
  std::string default_size;
  if (mode_name == "handoff") {
    c.mode = Mode::kHandoff;
    default_slots = 10000;
    default_size = "8-1000";
  } else if (mode_name == "working-set") {
    c.mode = Mode::kWorkingSet;
    default_slots = 1024;
    default_size = "4-32768";
  } else if (mode_name == "big") {
    c.mode = Mode::kBig;
    default_slots = 20;
    default_size = std::to_string(5 << 20) + "-" + std::to_string(25 << 20);
  } else {
    args.fail("bad --mode", mode_name.c_str());
  }
  c.threads = args.u64("threads", 1);
  c.slots = args.u64("slots", default_slots);
  c.ops = args.u64("ops", 1'000'000);
  c.round_ops = args.u64("round-ops", 10000);
  std::string size_name = args.str("size", default_size.c_str());
  if (!bench::parse_size_range(size_name, &c.range)) args.fail("bad --size", size_name.c_str());
  if (c.range.min < 8) c.range.min = 8;  // every block carries an 8-byte stamp
  if (c.range.max < c.range.min) c.range.max = c.range.min;
  uint64_t seed = args.u64("seed", 12345);
  if (c.threads == 0 || c.slots == 0 || c.round_ops == 0) {
    args.fail("need --threads, --slots and --round-ops >= 1", "0");
  }

  std::vector<std::vector<void*>> arrays;
  std::unique_ptr<std::barrier<>> sync;
  if (c.mode == Mode::kHandoff) {
    arrays.assign(c.threads, std::vector<void*>(c.slots, nullptr));
    sync = std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(c.threads));
  }
  std::vector<std::thread> pool;
  for (uint64_t t = 0; t < c.threads; ++t) {
    if (c.mode == Mode::kHandoff) {
      pool.emplace_back(run_handoff, std::cref(c), t, &arrays, sync.get(), seed + t);
    } else {
      pool.emplace_back(run_own, std::cref(c), seed + t);
    }
  }
  const bench::Timing timing = g_start.release_and_join(pool, c.threads);
  const double elapsed = timing.elapsed_s;
  const double cpu = timing.cpu_s;
  long after_free = bench::status_kb("VmRSS");

  bench::ResultLine("server_sim")
      .add("mode", mode_name)
      .add("threads", c.threads)
      .add("slots", c.slots)
      .add("min", c.range.min)
      .add("max", c.range.max)
      .add("seed", seed)
      .add("rss_after_free_kb", after_free)
      .add_throughput(c.ops * c.threads, elapsed, cpu)
      .print();
  return 0;
}
