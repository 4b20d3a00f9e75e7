// Memory overhead: N live blocks of one size (default 1,000,000 x 16 B), each
// written, and the resident memory that costs. A server that keeps millions
// of small objects pays this per object, so it is the figure to compare.
//
//   memory_overhead --blocks=1000000 --size=16 --free=1
//
// The blocks are chained through their own first word, so the program keeps
// no pointer array whose RSS would blur the allocator's. Reports the RSS
// before allocating (the process plus the allocator's start-up), the peak,
// the RSS per live block above the baseline, and with --free=1 the RSS after
// freeing everything and again after malloc_trim(0) (the preloaded
// allocator's when it exports one, glibc's otherwise, where it is a no-op
// for the others).
#include <malloc.h>

#include <cstdlib>

#include "bench_util.h"

namespace {

constexpr const char* kUsage = "usage: memory_overhead [--blocks=1000000] [--size=16 (>= 8)] [--free=1|0]";

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"blocks", "size", "free"});
  uint64_t blocks = args.u64("blocks", 1'000'000);
  uint64_t size = args.u64("size", 16);
  bool free_all = args.u64("free", 1) != 0;
  if (size < sizeof(void*)) args.fail("--size must hold a pointer (>= 8)", "size");

  long baseline_kb = bench::status_kb("VmRSS");
  double start = bench::now_s();
  void* head = nullptr;
  for (uint64_t i = 0; i < blocks; ++i) {
    void* p = std::malloc(size);
    if (p == nullptr) args.fail("malloc returned null", "");
    // Link and touch: the whole block is written, as a live object would be.
    std::memset(p, 0x5a, size);
    std::memcpy(p, &head, sizeof head);
    head = p;
  }
  double alloc_s = bench::now_s() - start;
  long live_kb = bench::status_kb("VmRSS");
  long peak_kb = bench::peak_rss_kb();

  bench::ResultLine line("memory_overhead");
  line.add("threads", 1)
      .add("blocks", blocks)
      .add("size", size)
      .add("baseline_rss_kb", baseline_kb)
      .add("live_rss_kb", live_kb)
      .add("peak_rss_kb", peak_kb)
      .add("rss_per_block_bytes", blocks ? static_cast<double>(live_kb - baseline_kb) * 1024.0 / blocks : 0.0)
      .add("alloc_s", alloc_s);

  if (free_all) {
    while (head != nullptr) {
      void* next;
      std::memcpy(&next, head, sizeof next);
      std::free(head);
      head = next;
    }
    line.add("rss_after_free_kb", bench::status_kb("VmRSS"));
    malloc_trim(0);
    line.add("rss_after_trim_kb", bench::status_kb("VmRSS"));
  }
  line.add("elapsed_s", bench::now_s() - start);
  line.print();
  return 0;
}
