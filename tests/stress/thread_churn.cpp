// thread_churn: thousands of short-lived threads, with blocks that outlive
// the thread that allocated them.
//
// What it exercises:
//   - thread exit and heap reuse: 5000 threads in waves of 16 concurrent;
//     each allocates a mix of sizes (tiny to huge), verifies and frees most
//     of them, and exits; a heap left by an exited thread must be reused by
//     a later one, not leaked;
//   - surviving objects: each thread leaves a few blocks in a hand-off array
//     that a thread of the next wave verifies and frees (frees to heaps whose
//     threads have exited, or that another thread has taken over since);
//   - bounded memory: RSS after the first 200 threads, after half of them and
//     after all 5000 (the figures are printed); the final one must not exceed
//     the half-way one by more than 32 MiB (a leak per thread) nor the first
//     by more than 160 MiB (warm-up; see kRssLeakSlack and kRssWarmupSlack);
//   - optionally (trim = 1), a thread calling malloc_trim(0) over and over,
//     so that trimming the idle heaps of exited threads races with new
//     threads taking them over;
//   - with hakmem loaded (found through dlsym, so the program also runs on
//     the C library's malloc): threads_active + threads_idle stays near the
//     peak concurrency, not the number of threads ever started.
//
// Usage: thread_churn [seed [threads [trim]]]
#include <malloc.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

using stress::Rng;

constexpr unsigned kWave = 16;            // threads alive at once
constexpr unsigned kFirstMeasure = 200;   // threads before the first RSS figure
constexpr unsigned kBlocksPerThread = 120;
constexpr unsigned kHandOffPerThread = 4;

// RSS bounds, with the figures taken after the first 200 threads (first),
// after half of them (mid) and after all (last).
//
// last <= mid + kRssLeakSlack: by the half-way point the process is in its
// steady state (at most 16 heaps in use at once, exited threads' heaps
// reused, so the same heaps, slabs and SuperSlabs serve every later wave;
// with hakmem, RSS levels off after about 1,200 threads). What may still
// vary is which slabs hold the 64 hand-off blocks (under 1 MiB each, 4 MiB
// when huge), the huge cache, dirty pages awaiting their purge delay, and
// the C library's cache of thread stacks (up to 40 MiB of stacks, of which
// only a few touched pages each count). 32 MiB covers that (hakmem varies by
// under 10 MiB there), while a leak of one 16 KiB block per thread adds
// 39 MiB over the second half (2,500 threads) and one 2 MiB SuperSlab per
// 100 threads adds 50 MiB.
//
// last <= first + kRssWarmupSlack: after only 200 threads, hakmem's heaps are
// not yet warm: each reused heap still comes to hold, for more of the 61 size
// classes, a partial slab (64 KiB to 1 MiB) and a bin of free blocks (up to
// 64 KiB per class), and more SuperSlabs wait dirty for their purge delay.
// Measured, RSS settles 30 to 90 MiB above its figure at 200 threads (100 to
// 180 MiB, then 145 to 220 MiB). 160 MiB bounds that warm-up; a leak of a
// thread's whole working set (120 blocks, about 3 MiB) on every thread
// exceeds it many times over.
constexpr std::size_t kRssLeakSlack = 32 * stress::kMiB;
constexpr std::size_t kRssWarmupSlack = 160 * stress::kMiB;

// Heaps in use or idle may exceed the wave: a wave's threads can start before
// the previous wave's heaps are marked idle, and the main thread and the
// trimming thread have one each.
constexpr std::uint64_t kMaxHeaps = 4 * kWave;

struct Block {
  void* p;
  std::size_t size;
};

// Blocks handed from wave w to wave w + 1: slot [thread][i].
struct HandOff {
  Block blocks[kWave][kHandOffPerThread];
};

void run_thread(unsigned index, unsigned slot, HandOff* take, HandOff* give) {
  Rng r(stress::g_seed, index);
  // Free what the previous wave's thread in this slot left.
  if (take != nullptr) {
    for (Block& b : take->blocks[slot]) {
      if (b.p == nullptr) continue;
      stress::verify(b.p, b.size, stress::g_seed, "free of a block left by a thread of the previous wave");
      std::free(b.p);
      b.p = nullptr;
    }
  }
  Block mine[kBlocksPerThread];
  for (Block& b : mine) {
    b.size = stress::random_size(r);
    b.p = std::malloc(b.size);
    STRESS_CHECK(b.p != nullptr, "thread %u: malloc(%zu) returned null", index, b.size);
    stress::fill(b.p, b.size, stress::g_seed);
  }
  // A few blocks outlive this thread; the rest are verified and freed.
  for (unsigned i = 0; i < kBlocksPerThread; ++i) {
    if (i < kHandOffPerThread) {
      give->blocks[slot][i] = mine[i];
      continue;
    }
    stress::verify(mine[i].p, mine[i].size, stress::g_seed, "free by the allocating thread");
    std::free(mine[i].p);
  }
}

std::uint64_t heaps(const hkm_stats& s) { return s.threads_active + s.threads_idle; }

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = stress::arg_or(argc, argv, 1, 1);
  const unsigned total = static_cast<unsigned>(stress::arg_or(argc, argv, 2, 5000));
  const bool trim = stress::arg_or(argc, argv, 3, 0) != 0;
  const bool hakmem = stress::start("thread_churn", seed);

  std::atomic<bool> stop_trimming{false};
  std::uint64_t trims = 0;
  std::thread trimmer;
  if (trim) {
    trimmer = std::thread([&] {
      while (!stop_trimming.load(std::memory_order_relaxed)) {
        malloc_trim(0);
        ++trims;
        std::this_thread::yield();
      }
    });
  }

  // Two hand-off areas, alternating between waves.
  std::vector<HandOff> handoff(2);
  for (HandOff& h : handoff)
    for (auto& row : h.blocks)
      for (Block& b : row) b = Block{nullptr, 0};

  std::size_t rss_first = 0, rss_mid = 0;
  const unsigned mid_point = total / 2;
  hkm_stats first{};
  std::uint64_t max_heaps = 0;
  unsigned started = 0;
  for (unsigned wave = 0; started < total; ++wave) {
    HandOff* give = &handoff[wave % 2];
    HandOff* take = wave == 0 ? nullptr : &handoff[(wave + 1) % 2];
    std::vector<std::thread> ts;
    const unsigned n = total - started < kWave ? total - started : kWave;
    for (unsigned i = 0; i < n; ++i) ts.emplace_back(run_thread, started + i, i, take, give);
    // Slots this wave does not fill (a short last wave) still hold the
    // previous wave's blocks: free them here.
    for (unsigned i = n; i < kWave && take != nullptr; ++i) {
      for (Block& b : take->blocks[i]) {
        if (b.p == nullptr) continue;
        stress::verify(b.p, b.size, stress::g_seed, "free by the main thread of a block left by a thread");
        std::free(b.p);
        b.p = nullptr;
      }
    }
    for (auto& t : ts) t.join();
    started += n;
    hkm_stats s{};
    if (hakmem) {
      stress::get_stats(&s);
      if (heaps(s) > max_heaps) max_heaps = heaps(s);
    }
    if (rss_first == 0 && started >= kFirstMeasure) {
      rss_first = stress::rss_bytes();
      first = s;
    }
    if (rss_mid == 0 && started >= mid_point) rss_mid = stress::rss_bytes();
  }
  // The last wave's blocks.
  for (HandOff& h : handoff)
    for (auto& row : h.blocks)
      for (Block& b : row) {
        if (b.p == nullptr) continue;
        stress::verify(b.p, b.size, stress::g_seed, "final free by the main thread");
        std::free(b.p);
        b.p = nullptr;
      }
  if (trim) {
    stop_trimming.store(true);
    trimmer.join();
  }
  const std::size_t rss_last = stress::rss_bytes();

  std::printf("thread_churn: seed %" PRIu64 ", %u threads in waves of %u, %" PRIu64 " malloc_trim calls\n", seed,
              total, kWave, trims);
  std::printf("thread_churn: RSS after %u threads: %.1f MiB; after %u: %.1f MiB; after %u: %.1f MiB "
              "(bounds: half-way + %zu MiB, first + %zu MiB)\n",
              kFirstMeasure, rss_first / 1048576.0, mid_point, rss_mid / 1048576.0, total, rss_last / 1048576.0,
              kRssLeakSlack >> 20, kRssWarmupSlack >> 20);
  if (hakmem) {
    hkm_stats last{};
    stress::get_stats(&last);
    std::printf("thread_churn: hakmem heaps (active + idle): %" PRIu64 " after %u threads, %" PRIu64
                " at the end, at most %" PRIu64 " after any wave; %" PRIu64 " MiB mapped at the end\n",
                heaps(first), kFirstMeasure, heaps(last), max_heaps, last.bytes_mapped >> 20);
    STRESS_CHECK(max_heaps <= kMaxHeaps,
                 "%" PRIu64 " heaps (active + idle) after a wave, for at most %u threads alive at once: exited "
                 "threads' heaps are not reused",
                 max_heaps, kWave);
  }
  STRESS_CHECK(rss_last <= rss_mid + kRssLeakSlack,
               "RSS grew from %.1f MiB after %u threads to %.1f MiB after %u, more than %zu MiB: memory leaks "
               "with each thread",
               rss_mid / 1048576.0, mid_point, rss_last / 1048576.0, total, kRssLeakSlack >> 20);
  STRESS_CHECK(rss_last <= rss_first + kRssWarmupSlack,
               "RSS grew from %.1f MiB after %u threads to %.1f MiB after %u, more than %zu MiB",
               rss_first / 1048576.0, kFirstMeasure, rss_last / 1048576.0, total, kRssWarmupSlack >> 20);
  std::printf("thread_churn: OK\n");
  return 0;
}
