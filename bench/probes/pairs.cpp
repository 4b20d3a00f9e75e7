// Warm malloc+free pairs of one size, for counting instructions under
// callgrind (bench/callgrind.py). After --warmup pairs (the allocator is
// initialised and its caches hold the size), runs --iters pairs in a tight
// loop. callgrind.py runs it for two values of --iters and divides the
// difference in the program's total instruction count by the difference in
// --iters, which cancels start-up, the warm-up and exit: what is left is one
// malloc, one free, their calls through the PLT and a few instructions of
// loop (a store to keep the pointer alive, the counter, the branch).
//
//   pairs --size=16 --iters=1000000 --warmup=1000
//
// A plain executable, like the workloads: the allocator comes from
// LD_PRELOAD. Built with -fno-builtin-malloc and -fno-builtin-free so the
// compiler cannot delete the pair.
#include <cstdint>
#include <cstdlib>

#include "bench_util.h"

namespace {

constexpr const char* kUsage = "usage: pairs [--size=16] [--iters=1000000] [--warmup=1000]";

// Written after each malloc so that the block counts as used.
void* volatile g_sink;

__attribute__((noinline)) void run_pairs(size_t size, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    void* p = std::malloc(size);
    g_sink = p;
    std::free(p);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"size", "iters", "warmup"});
  size_t size = args.u64("size", 16);
  uint64_t iters = args.u64("iters", 1'000'000);
  uint64_t warmup = args.u64("warmup", 1000);
  run_pairs(size, warmup);
  run_pairs(size, iters);
  // No RESULT line on purpose: printing allocates in some C libraries, and a
  // line whose length depends on --iters would not cancel out.
  return g_sink == nullptr ? 1 : 0;
}
