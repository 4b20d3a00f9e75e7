// growth: proves that there is no fixed capacity anywhere in the allocator.
//
// What it exercises:
//   - 16 threads, each allocating blocks of every size class, from 8 B up to
//     1 MiB (8 B, 16 B steps to 128 B, then four classes per power of two:
//     160, 192, 224, 256, 320, ... 1 MiB; each request a random size within
//     its class), in a shuffled order so that classes interleave;
//   - 2,000,000 live blocks in total at the peak (125,000 per thread, most of
//     them small: the count per class is inversely proportional to its size,
//     so each class holds about the same bytes, with at least 4 blocks per
//     class per thread), about 640 MiB: far more blocks, slabs, SuperSlabs
//     and chunk-map entries than any initial capacity;
//   - every block filled with its pattern and verified before it is freed;
//   - two cycles: in the first each thread frees the blocks of another
//     thread (2 million cross-thread frees), in the second its own; the
//     second cycle must reuse what the first freed (with hakmem loaded, its
//     peak of mapped memory may not exceed the first's by more than half).
// With hakmem loaded, hkm_stats must count the 2 million live blocks at each
// peak and none of them after each cycle.
//
// Usage: growth [seed [threads [blocks_total]]]
#include <barrier>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

using stress::Rng;

// The request sizes of the classes, smallest first.
std::vector<std::size_t> class_sizes() {
  std::vector<std::size_t> v{8};
  for (std::size_t s = 16; s <= 128; s += 16) v.push_back(s);
  for (std::size_t p = 128; p < stress::kMiB; p *= 2)
    for (std::size_t q = 5; q <= 8; ++q) v.push_back(p * q / 4);
  return v;
}

// How many blocks of each class one thread allocates: proportional to
// 1 / size, at least 4, the smallest class taking the rounding so that
// the counts sum to exactly per_thread.
std::vector<std::size_t> class_counts(const std::vector<std::size_t>& sizes, std::size_t per_thread) {
  auto counts_for = [&](double a) {
    std::vector<std::size_t> c;
    for (std::size_t s : sizes) {
      const double n = a / static_cast<double>(s);
      c.push_back(n < 4 ? 4 : static_cast<std::size_t>(n));
    }
    return c;
  };
  auto sum = [](const std::vector<std::size_t>& c) {
    std::size_t t = 0;
    for (std::size_t x : c) t += x;
    return t;
  };
  double lo = 1, hi = 1e12;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (sum(counts_for(mid)) < per_thread ? lo : hi) = mid;
  }
  std::vector<std::size_t> c = counts_for(lo);
  const std::size_t t = sum(c);
  if (t > per_thread) stress::fail("class counts: %zu blocks per thread, more than %zu", t, per_thread);
  c[0] += per_thread - t;
  return c;
}

struct ThreadBlocks {
  std::vector<void*> p;
  std::vector<std::uint32_t> size;
};

void report_peak(const char* when, bool hakmem, std::uint64_t expected_live, std::uint64_t* mapped) {
  const double rss = stress::rss_bytes() / 1048576.0;
  if (!hakmem) {
    std::printf("growth: %s: RSS %.1f MiB\n", when, rss);
    return;
  }
  hkm_stats s{};
  stress::get_stats(&s);
  std::printf("growth: %s: RSS %.1f MiB; hkm_stats: %" PRIu64 " live blocks, %" PRIu64 " MiB in use, %" PRIu64
              " MiB mapped, %" PRIu64 " SuperSlabs\n",
              when, rss, s.live_blocks, s.bytes_in_use >> 20, s.bytes_mapped >> 20, s.superslabs_mapped);
  STRESS_CHECK(s.live_blocks >= expected_live, "%s: hkm_stats counts %" PRIu64 " live blocks, fewer than %" PRIu64,
               when, s.live_blocks, expected_live);
  if (mapped != nullptr) *mapped = s.bytes_mapped;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = stress::arg_or(argc, argv, 1, 1);
  const unsigned threads = static_cast<unsigned>(stress::arg_or(argc, argv, 2, 16));
  const std::size_t total = stress::arg_or(argc, argv, 3, 2000000);
  const bool hakmem = stress::start("growth", seed);
  const std::size_t per_thread = total / threads;

  const std::vector<std::size_t> sizes = class_sizes();
  const std::vector<std::size_t> counts = class_counts(sizes, per_thread);
  std::size_t bytes_per_thread = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) bytes_per_thread += sizes[i] * counts[i];
  std::printf("growth: seed %" PRIu64 ", %u threads x %zu blocks in %zu classes (8 B .. %zu KiB), up to %zu MiB live\n",
              seed, threads, per_thread, sizes.size(), sizes.back() >> 10, (bytes_per_thread * threads) >> 20);

  hkm_stats base{};
  if (hakmem) stress::get_stats(&base);

  std::vector<ThreadBlocks> all(threads);
  std::barrier sync(threads + 1);
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      ThreadBlocks& mine = all[t];
      for (unsigned cycle = 0; cycle < 2; ++cycle) {
        Rng r(seed, t * 2 + cycle);
        // The requests of this cycle, shuffled.
        mine.size.clear();
        for (std::size_t c = 0; c < sizes.size(); ++c) {
          const std::size_t lo = c == 0 ? 1 : sizes[c - 1] + 1;
          for (std::size_t i = 0; i < counts[c]; ++i)
            mine.size.push_back(static_cast<std::uint32_t>(r.between(lo, sizes[c])));
        }
        for (std::size_t i = mine.size.size(); i > 1; --i) std::swap(mine.size[i - 1], mine.size[r.below(i)]);
        mine.p.assign(mine.size.size(), nullptr);
        for (std::size_t i = 0; i < mine.size.size(); ++i) {
          void* p = std::malloc(mine.size[i]);
          STRESS_CHECK(p != nullptr, "thread %u: malloc(%u) returned null after %zu blocks", t, mine.size[i], i);
          stress::fill(p, mine.size[i], seed);
          mine.p[i] = p;
        }
        sync.arrive_and_wait();  // peak: every thread's blocks are live
        sync.arrive_and_wait();  // the main thread has read the figures
        // First cycle: free another thread's blocks; second: our own.
        ThreadBlocks& victim = all[cycle == 0 ? (t + 1) % threads : t];
        for (std::size_t i = 0; i < victim.p.size(); ++i) {
          stress::verify(victim.p[i], victim.size[i], seed, cycle == 0 ? "cross-thread free" : "free");
          std::free(victim.p[i]);
        }
        sync.arrive_and_wait();  // every block is freed
        sync.arrive_and_wait();  // the main thread has read the figures
      }
    });
  }
  const std::uint64_t expected = base.live_blocks + per_thread * threads;
  std::uint64_t mapped_first = 0, mapped_second = 0;
  for (unsigned cycle = 0; cycle < 2; ++cycle) {
    sync.arrive_and_wait();
    report_peak(cycle == 0 ? "peak of cycle 1" : "peak of cycle 2", hakmem, expected,
                cycle == 0 ? &mapped_first : &mapped_second);
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    if (hakmem) {
      hkm_stats s{};
      stress::get_stats(&s);
      std::printf("growth: after cycle %u: %" PRIu64 " live blocks, %" PRIu64 " MiB mapped\n", cycle + 1,
                  s.live_blocks, s.bytes_mapped >> 20);
      STRESS_CHECK(s.live_blocks < base.live_blocks + 1000,
                   "after cycle %u: hkm_stats counts %" PRIu64 " live blocks (%" PRIu64 " before the test)",
                   cycle + 1, s.live_blocks, base.live_blocks);
    }
    sync.arrive_and_wait();
  }
  for (auto& t : ts) t.join();
  if (hakmem) {
    STRESS_CHECK(mapped_second <= mapped_first + mapped_first / 2,
                 "the second cycle mapped %" PRIu64 " MiB at its peak, the first %" PRIu64
                 " MiB: freed memory is not reused",
                 mapped_second >> 20, mapped_first >> 20);
  }
  std::printf("growth: %zu blocks allocated, verified and freed twice: OK\n", per_thread * threads);
  return 0;
}
