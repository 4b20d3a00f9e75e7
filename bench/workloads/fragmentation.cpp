// Fragmentation: phases that each allocate many blocks of one size band,
// write them, then free most of them (--free-pct, 90 by default) in random
// order and keep the rest alive. The next phase allocates a different band,
// so the holes the earlier phases left can serve it only if the allocator
// reuses memory across sizes or gives it back to the kernel. A long-running
// server whose request mix drifts sees the same pattern.
//
//   fragmentation --phases=6 --phase-mib=64 --free-pct=90 --seed=12345
//
// Bands, in phase order (then again from the top): 16-128, 128-1024,
// 1024-8192, 8192-65536, 24-512, 65536-262144 bytes. Each phase allocates
// blocks until their sizes add up to --phase-mib MiB; every block is written
// in full and stamped, and checked before it is freed.
//
// Prints the peak RSS (VmHWM), the final RSS with the survivors still live,
// the RSS after malloc_trim(0) (looked up with dlsym(RTLD_DEFAULT), so the
// preloaded allocator's own when it exports one: glibc's and hakmem's do
// work, for the others the call reaches glibc's, which has nothing to trim),
// the bytes the survivors hold (live_kb) and final RSS over live bytes.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: fragmentation [--phases=6] [--phase-mib=64] [--free-pct=90] [--seed=12345]";

constexpr bench::SizeRange kBands[] = {
    {16, 128}, {128, 1024}, {1024, 8192}, {8192, 65536}, {24, 512}, {65536, 262144},
};

struct Block {
  void* p;
  uint64_t size;
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"phases", "phase-mib", "free-pct", "seed"});
  uint64_t phases = args.u64("phases", 6);
  uint64_t phase_bytes = args.u64("phase-mib", 64) << 20;
  uint64_t free_pct = args.u64("free-pct", 90);
  uint64_t seed = args.u64("seed", 12345);
  if (free_pct > 100) args.fail("--free-pct is a percentage", "free-pct");

  using TrimFn = int (*)(size_t);
  auto trim = reinterpret_cast<TrimFn>(dlsym(RTLD_DEFAULT, "malloc_trim"));

  bench::Rng rng(seed);
  const uint64_t salt = 0x5eed;
  std::vector<Block> survivors;
  // Reserved once, at the most blocks a phase can hold (all of the smallest
  // size), so the arrays never regrow: only the pages a phase fills become
  // resident, and every allocator pays for them alike.
  std::vector<Block> phase;
  phase.reserve(phase_bytes / 16 + 1);
  survivors.reserve((phase_bytes / 16 + 1) * phases * (100 - free_pct) / 100 + phases);
  uint64_t live_bytes = 0;
  uint64_t allocs = 0;
  long baseline_kb = bench::status_kb("VmRSS");
  double start = bench::now_s();
  for (uint64_t ph = 0; ph < phases; ++ph) {
    const bench::SizeRange& band = kBands[ph % (sizeof kBands / sizeof kBands[0])];
    phase.clear();
    for (uint64_t bytes = 0; bytes < phase_bytes;) {
      uint64_t size = rng.between(band.min, band.max);
      void* p = std::malloc(size);
      if (p == nullptr) args.fail("malloc returned null", "");
      std::memset(p, 0x5a, size);
      bench::stamp_block(p, size, salt);
      phase.push_back({p, size});
      bytes += size;
      ++allocs;
    }
    // Fisher-Yates, then free the first free_pct percent: a random subset,
    // freed in random order.
    for (uint64_t i = phase.size(); i > 1; --i) std::swap(phase[i - 1], phase[rng.below(i)]);
    uint64_t nfree = phase.size() * free_pct / 100;
    for (uint64_t i = 0; i < phase.size(); ++i) {
      if (!bench::check_block(phase[i].p, salt)) bench::corrupted("fragmentation", phase[i].p);
      if (i < nfree) {
        std::free(phase[i].p);
      } else {
        survivors.push_back(phase[i]);
        live_bytes += phase[i].size;
      }
    }
  }
  double elapsed = bench::now_s() - start;
  long final_kb = bench::status_kb("VmRSS");
  long peak_kb = bench::peak_rss_kb();
  if (trim != nullptr) trim(0);
  long trim_kb = bench::status_kb("VmRSS");

  for (const Block& b : survivors) {
    if (!bench::check_block(b.p, salt)) bench::corrupted("fragmentation", b.p);
    std::free(b.p);
  }
  long live_kb = static_cast<long>(live_bytes >> 10);
  bench::ResultLine("fragmentation")
      .add("threads", 1)
      .add("phases", phases)
      .add("phase_mib", phase_bytes >> 20)
      .add("free_pct", free_pct)
      .add("allocs", allocs)
      .add("survivors", static_cast<uint64_t>(survivors.size()))
      .add("baseline_rss_kb", baseline_kb)
      .add("live_kb", live_kb)
      .add("peak_rss_kb", peak_kb)
      .add("final_rss_kb", final_kb)
      .add("rss_after_trim_kb", trim_kb)
      .add("final_rss_over_live", live_kb > 0 ? static_cast<double>(final_kb - baseline_kb) / live_kb : 0.0)
      .add("trim_found", trim != nullptr ? 1 : 0)
      .add("elapsed_s", elapsed)
      .print();
  return 0;
}
