// thread_churn: thousands of short-lived threads, with blocks that outlive
// the thread that allocated them.
//
// What it exercises:
//   - thread exit and heap reuse: 5000 threads in waves of 16 concurrent;
//     each allocates a mix of sizes (tiny to huge), verifies and frees most
//     of them, and exits; a heap left by an exited thread must be reused by
//     a later one, not leaked;
//   - allocation at thread exit: each thread's thread_local object and
//     pthread key have destructors that verify and free blocks the thread
//     kept until its exit, and allocate, verify and free new ones (now and
//     then a huge one), after or before hakmem's own exit hook has run;
//   - surviving objects: each thread leaves a few blocks in a hand-off array
//     that a thread of the next wave verifies and frees (frees to heaps whose
//     threads have exited, or that another thread has taken over since);
//   - bounded memory: RSS after the first 200 threads, after half of them and
//     after all 5000 (the figures are printed); the final one must not exceed
//     the half-way one by more than 48 MiB (a leak per thread) nor the first
//     by more than 160 MiB (warm-up; see kRssLeakSlack and kRssWarmupSlack);
//   - optionally (trim = 1), a thread calling malloc_trim(0) over and over,
//     so that trimming the idle heaps of exited threads races with new
//     threads taking them over; the RSS figures then follow a trim by the
//     main thread;
//   - with hakmem loaded (found through dlsym, so the program also runs on
//     the C library's malloc): threads_active + threads_idle stays near the
//     peak concurrency, not the number of threads ever started.
//
// Usage: thread_churn [seed [threads [trim]]]
#include <malloc.h>
#include <pthread.h>

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
constexpr unsigned kKeptUntilExit = 6;  // freed by the thread's destructors

// RSS bounds, with the figures taken after the first 200 threads (first),
// after half of them (mid) and after all (last).
//
// last <= mid + kRssLeakSlack: by the half-way point the process is in its
// steady state (at most 16 heaps in use at once, exited threads' heaps
// reused, so the same heaps, slabs and SuperSlabs serve every later wave;
// with hakmem, RSS levels off after 1,000 to 3,000 threads and then stays
// flat over 20,000). What still varies from wave to wave is which slabs hold
// the 64 hand-off blocks (under 1 MiB each, 4 MiB when huge), the huge
// cache, dirty pages awaiting their purge delay, and the C library's cache
// of thread stacks (up to 40 MiB of stacks, of which only a few touched
// pages each count): measured, hakmem's RSS moves by up to 25 MiB between
// two figures of the steady state. 48 MiB covers that, while a leak of one
// 20 KiB block per thread adds 49 MiB over the second half (2,500 threads)
// and one 2 MiB SuperSlab per 100 threads adds 50 MiB.
//
// last <= first + kRssWarmupSlack: after only 200 threads, hakmem's heaps are
// not yet warm: each reused heap still comes to hold, for more of its size
// classes, a partial slab (64 KiB to 1 MiB) and a bin of free blocks (up to
// 64 KiB per class), and more SuperSlabs wait dirty for their purge delay.
// Measured, RSS settles 10 to 90 MiB above its figure at 200 threads (100 to
// 180 MiB, then 145 to 250 MiB). 160 MiB bounds that warm-up; a leak of a
// thread's whole working set (120 blocks, about 3 MiB) on every thread
// exceeds it many times over.
constexpr std::size_t kRssLeakSlack = 48 * stress::kMiB;
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

std::atomic<unsigned> g_tls_destructors{0}, g_key_destructors{0};

// Allocates, fills, verifies and frees count blocks of random sizes, and
// one time in eight a huge one.
void allocate_at_exit(Rng& r, unsigned count, const char* what) {
  const bool huge = r.below(8) == 0;
  for (unsigned i = 0; i < count + (huge ? 1 : 0); ++i) {
    const std::size_t size = i == count ? 2 * stress::kMiB + r.below(4096) : stress::random_size(r);
    void* p = std::malloc(size);
    STRESS_CHECK(p != nullptr, "%s: malloc(%zu) returned null", what, size);
    stress::fill(p, size, stress::g_seed);
    stress::verify(p, size, stress::g_seed, what);
    std::free(p);
  }
}

// A thread_local object: its destructor runs at thread exit.
struct ExitWork {
  bool armed = false;
  std::uint64_t index = 0;
  Block kept[kKeptUntilExit] = {};
  ~ExitWork() {
    if (!armed) return;
    for (Block& b : kept) {
      stress::verify(b.p, b.size, stress::g_seed, "free in a thread_local destructor");
      std::free(b.p);
    }
    Rng r(stress::g_seed, (std::uint64_t{1} << 40) + index);
    allocate_at_exit(r, 8, "allocation in a thread_local destructor");
    g_tls_destructors.fetch_add(1);
  }
};
thread_local ExitWork t_exit_work;

// The value of the pthread key: one block, freed by the key's destructor.
pthread_key_t g_key;

void key_destructor(void* value) {
  auto* b = static_cast<Block*>(value);
  stress::verify(b->p, b->size, stress::g_seed, "free in a pthread key destructor");
  std::free(b->p);
  Rng r(stress::g_seed, (std::uint64_t{2} << 40) + b->size);
  std::free(b);
  allocate_at_exit(r, 8, "allocation in a pthread key destructor");
  g_key_destructors.fetch_add(1);
}

void run_thread(unsigned index, unsigned slot, HandOff* take, HandOff* give) {
  Rng r(stress::g_seed, index);
  // Blocks for this thread's exit-time destructors.
  t_exit_work.index = index;
  for (Block& b : t_exit_work.kept) {
    b.size = stress::random_size(r);
    b.p = std::malloc(b.size);
    STRESS_CHECK(b.p != nullptr, "thread %u: malloc(%zu) returned null", index, b.size);
    stress::fill(b.p, b.size, stress::g_seed);
  }
  t_exit_work.armed = true;
  auto* keyed = static_cast<Block*>(std::malloc(sizeof(Block)));
  STRESS_CHECK(keyed != nullptr, "thread %u: malloc returned null", index);
  keyed->size = stress::random_size(r);
  keyed->p = std::malloc(keyed->size);
  STRESS_CHECK(keyed->p != nullptr, "thread %u: malloc(%zu) returned null", index, keyed->size);
  stress::fill(keyed->p, keyed->size, stress::g_seed);
  pthread_setspecific(g_key, keyed);

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
  STRESS_CHECK(pthread_key_create(&g_key, key_destructor) == 0, "pthread_key_create failed");

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
  // With the trimming thread, each figure follows a trim of the main
  // thread's own: what the process holds then depends on how far the
  // racing trims had got (figures of 13 to 124 MiB at one point of one
  // run), and a leak is what no trim gives back.
  const auto measured_rss = [trim] {
    if (trim) malloc_trim(0);
    return stress::rss_bytes();
  };
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
      rss_first = measured_rss();
      first = s;
    }
    if (rss_mid == 0 && started >= mid_point) rss_mid = measured_rss();
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
  const std::size_t rss_last = measured_rss();

  std::printf("thread_churn: seed %" PRIu64 ", %u threads in waves of %u, %" PRIu64 " malloc_trim calls\n", seed,
              total, kWave, trims);
  STRESS_CHECK(g_tls_destructors.load() == total && g_key_destructors.load() == total,
               "%u thread_local and %u pthread key destructors ran, for %u threads", g_tls_destructors.load(),
               g_key_destructors.load(), total);
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
