// Shifting size mix, one thread, the way a logic minimiser allocates: its
// sets and covers are sized by the problem's current width, which changes
// from phase to phase, and each phase drops half of what it built.
//
//   shifting_mix --slots=20000 --rounds=400 --phase-ops=20000 --arrays=64
//                --array-max=262144 --seed=N
//
// Phase r (one round) has the base size 16 << (r % 8), 16 B to 2 KiB. Each
// op picks a random slot of --slots, frees the block there, if any, and
// allocates a new one of base to 2 x base bytes, or, one time in 50, of 4 to
// 64 KiB. One op in 8 also grows one of --arrays arrays with realloc, by half
// its size plus the base; an array past --array-max bytes is freed and
// starts again from nothing. At the end of each phase a random half of the
// live blocks is freed, so the next phase, at another base size, allocates
// among the holes the last one left.
//
// One op = one malloc or realloc (the frees ride along). Prints ops/sec.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: shifting_mix [--slots=20000] [--rounds=400] [--phase-ops=20000] [--arrays=64]\n"
    "                    [--array-max=262144] [--seed=12345]";

constexpr uint64_t kSalt = 0x5f;

// A growing array: its first 8 bytes hold its index and the salt, which
// every realloc must carry over; its last byte is written after each growth.
struct Array {
  void* data = nullptr;
  uint64_t bytes = 0;
};

void check_array(const Array& a, uint64_t index) {
  uint64_t word;
  std::memcpy(&word, a.data, sizeof word);
  if (word != (index << 16 | kSalt)) bench::corrupted("shifting_mix", a.data);
}

void grow(Array& a, uint64_t index, uint64_t base, uint64_t max_bytes, uint64_t* ops) {
  if (a.data != nullptr) check_array(a, index);
  if (a.bytes > max_bytes) {
    std::free(a.data);
    a = Array{};
  }
  uint64_t bytes = a.bytes + a.bytes / 2 + base;
  void* p = std::realloc(a.data, bytes);
  if (p == nullptr) std::abort();
  if (a.data == nullptr) {
    uint64_t word = index << 16 | kSalt;
    std::memcpy(p, &word, sizeof word);
  }
  static_cast<unsigned char*>(p)[bytes - 1] = static_cast<unsigned char>(bytes);
  a = {p, bytes};
  ++*ops;
}

void free_checked(void* p) {
  if (!bench::check_block(p, kSalt)) bench::corrupted("shifting_mix", p);
  std::free(p);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"slots", "rounds", "phase-ops", "arrays", "array-max", "seed"});
  uint64_t n_slots = args.u64("slots", 20000);
  uint64_t rounds = args.u64("rounds", 400);
  uint64_t phase_ops = args.u64("phase-ops", 20000);
  uint64_t n_arrays = args.u64("arrays", 64);
  uint64_t array_max = args.u64("array-max", 256 * 1024);
  uint64_t seed = args.u64("seed", 12345);
  if (n_slots == 0 || n_arrays == 0) args.fail("need --slots and --arrays >= 1", "0");

  bench::Rng rng(seed);
  // Allocated before the clock starts and never resized.
  std::vector<void*> slots(n_slots, nullptr);
  std::vector<Array> arrays(n_arrays);

  double start = bench::now_s();
  double start_cpu = bench::cpu_s();
  uint64_t ops = 0;
  for (uint64_t r = 0; r < rounds; ++r) {
    uint64_t base = uint64_t{16} << (r % 8);
    for (uint64_t i = 0; i < phase_ops; ++i) {
      uint64_t k = rng.below(n_slots);
      if (slots[k] != nullptr) free_checked(slots[k]);
      uint64_t size = rng.below(50) == 0 ? rng.between(4096, 65536) : rng.between(base, 2 * base - 1);
      void* p = std::malloc(size);
      if (p == nullptr) std::abort();
      bench::stamp_block(p, size, kSalt);
      slots[k] = p;
      ++ops;
      if (rng.below(8) == 0) {
        uint64_t j = rng.below(n_arrays);
        grow(arrays[j], j, base, array_max, &ops);
      }
    }
    for (void*& s : slots) {
      if (s != nullptr && rng.below(2) == 0) {
        free_checked(s);
        s = nullptr;
      }
    }
  }
  // The teardown is timed too, as the end of the last phase.
  for (void* s : slots) {
    if (s != nullptr) free_checked(s);
  }
  for (uint64_t j = 0; j < n_arrays; ++j) {
    if (arrays[j].data != nullptr) check_array(arrays[j], j);
    std::free(arrays[j].data);
  }
  double elapsed = bench::now_s() - start;
  double cpu = bench::cpu_s() - start_cpu;

  bench::ResultLine("shifting_mix")
      .add("slots", n_slots)
      .add("rounds", rounds)
      .add("phase_ops", phase_ops)
      .add("arrays", n_arrays)
      .add("seed", seed)
      .add_throughput(ops, elapsed, cpu)
      .print();
  return 0;
}
