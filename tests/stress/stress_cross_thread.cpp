// stress_cross_thread: many threads allocating, handing blocks to each other
// and freeing what others allocated, with thread churn and surviving objects.
//
// What it exercises:
//   - cross-thread frees: a block is often freed (or reallocated) by another
//     thread than the one that allocated it, through a shared array of slots
//     that threads swap blocks in and out of;
//   - thread churn with surviving objects: the threads run in rounds; a
//     round's threads exit while blocks they allocated live on in the shared
//     slots, to be verified and freed by the next round's threads (frees to
//     the heaps of exited threads), and the last ones by the main thread;
//   - every tier: sizes from 1 B to 4 MiB, mostly small (see random_size);
//   - realloc, growing and shrinking, across tiers and of blocks another
//     thread allocated: the kept prefix must still hold the old pattern;
//   - calloc (the block must read as zeros) and posix_memalign (alignment);
//   - optionally (trim = 1), a thread that calls malloc_trim(0) over and over
//     while the others run, so that trimming (thread caches, idle heaps of
//     exited threads, empty SuperSlabs, the huge cache) races with
//     allocation, frees and threads starting and exiting;
//   - data integrity: every block is filled with a pattern derived from
//     (address, size, seed) and verified before it is freed, so overlapping
//     blocks, double hand-outs and corrupted free lists are caught.
// More threads (default 8) than cores, so threads are preempted in the
// middle of allocator operations.
//
// Usage: stress_cross_thread [seed [threads [rounds [ops_per_thread [trim]]]]]
// The seed is printed on failure; rerun with it to reproduce the sequence of
// operations of each thread (the interleaving differs from run to run).
// Exit status 0 when every check passed, 1 with a message otherwise.
#include <malloc.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

using stress::Rng;

// A live block: its address and size. Descriptors are malloc'd too (small
// blocks that also travel between threads).
struct Block {
  void* p;
  std::size_t size;
};

constexpr std::size_t kSharedSlots = 1024;
constexpr std::size_t kLocalSlots = 128;

std::atomic<Block*> g_shared[kSharedSlots];
std::atomic<std::uint64_t> g_ops{0}, g_remote_taken{0}, g_reallocs{0};

// Allocates a block of the given size by one of malloc, calloc or
// posix_memalign, checks what each promises, and fills it.
Block* make_block(Rng& r, std::size_t size) {
  void* p = nullptr;
  const std::uint64_t how = r.below(100);
  if (how < 6) {
    p = std::calloc(1, size);
    STRESS_CHECK(p != nullptr, "calloc(1, %zu) returned null", size);
    const auto* bytes = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < size; ++i)
      STRESS_CHECK(bytes[i] == 0, "calloc(1, %zu) = %p: byte %zu is %u, not 0", size, p, i, bytes[i]);
  } else if (how < 10) {
    const std::size_t align = std::size_t{16} << r.below(9);  // 16 B .. 4 KiB
    const int rc = posix_memalign(&p, align, size);
    STRESS_CHECK(rc == 0 && p != nullptr, "posix_memalign(%zu, %zu) failed: %d", align, size, rc);
    STRESS_CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0, "posix_memalign(%zu, %zu) = %p: misaligned",
                 align, size, p);
  } else {
    p = std::malloc(size);
    STRESS_CHECK(p != nullptr, "malloc(%zu) returned null", size);
  }
  STRESS_CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0 || size < 16, "block %p of %zu bytes is not 16-aligned",
               p, size);
  STRESS_CHECK(malloc_usable_size(p) >= size, "malloc_usable_size(%p) = %zu < %zu", p, malloc_usable_size(p), size);
  stress::fill(p, size, stress::g_seed);
  auto* b = static_cast<Block*>(std::malloc(sizeof(Block)));
  STRESS_CHECK(b != nullptr, "malloc(%zu) returned null", sizeof(Block));
  b->p = p;
  b->size = size;
  return b;
}

void destroy_block(Block* b, const char* what) {
  stress::verify(b->p, b->size, stress::g_seed, what);
  std::free(b->p);
  std::free(b);
}

// Reallocates b to a new size: the kept prefix must hold the old pattern;
// then the whole block is refilled with the pattern of its new place.
void realloc_block(Rng& r, Block* b) {
  stress::verify(b->p, b->size, stress::g_seed, "before realloc");
  std::size_t n;
  switch (r.below(4)) {
    case 0: n = b->size / 2 + 1; break;                      // shrink
    case 1: n = b->size + 1 + r.below(b->size / 4 + 16); break;  // grow a little
    case 2: n = b->size * 2 + r.below(64); break;             // grow into another class or tier
    default: n = stress::random_size(r); break;               // anywhere
  }
  if (n > 6 * stress::kMiB) n = 6 * stress::kMiB;
  // The kept prefix keeps the pattern of the old address.
  const std::uint64_t old_base = stress::pattern_base(b->p, b->size, stress::g_seed);
  void* q = std::realloc(b->p, n);
  STRESS_CHECK(q != nullptr, "realloc(%zu bytes, %zu) returned null", b->size, n);
  const std::size_t kept = n < b->size ? n : b->size;
  stress::verify_base(q, kept, old_base, n, "after realloc (kept prefix)");
  STRESS_CHECK(malloc_usable_size(q) >= n, "malloc_usable_size(%p) = %zu < %zu after realloc", q,
               malloc_usable_size(q), n);
  b->p = q;
  b->size = n;
  stress::fill(q, n, stress::g_seed);
  g_reallocs.fetch_add(1, std::memory_order_relaxed);
}

void worker(unsigned round, unsigned id, std::uint64_t ops) {
  Rng r(stress::g_seed, std::uint64_t{round} << 32 | id);
  Block* local[kLocalSlots] = {};
  std::uint64_t taken = 0;
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t x = r.below(100);
    Block*& mine = local[r.below(kLocalSlots)];
    if (x < 45) {
      // Allocate into a local slot, freeing what was there.
      if (mine != nullptr) destroy_block(mine, "local free");
      mine = make_block(r, stress::random_size(r));
    } else if (x < 55) {
      if (mine != nullptr) realloc_block(r, mine);
    } else if (x < 90) {
      // Swap with a shared slot: give ours (maybe none), take another
      // thread's (maybe none); free it now or keep it for later.
      Block* got = g_shared[r.below(kSharedSlots)].exchange(mine, std::memory_order_acq_rel);
      mine = nullptr;
      if (got != nullptr) {
        ++taken;
        if (r.chance(50)) {
          destroy_block(got, "free of a block taken from a shared slot");
        } else {
          stress::verify(got->p, got->size, stress::g_seed, "block taken from a shared slot");
          mine = got;
        }
      }
    } else {
      if (mine != nullptr) destroy_block(mine, "local free");
      mine = nullptr;
    }
  }
  // Exit: half of the blocks survive in the shared slots, the rest are freed.
  for (Block*& b : local) {
    if (b == nullptr) continue;
    if (r.chance(50)) {
      Block* got = g_shared[r.below(kSharedSlots)].exchange(b, std::memory_order_acq_rel);
      if (got != nullptr) destroy_block(got, "free at thread exit of a block from a shared slot");
    } else {
      destroy_block(b, "free at thread exit");
    }
    b = nullptr;
  }
  g_ops.fetch_add(ops, std::memory_order_relaxed);
  g_remote_taken.fetch_add(taken, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = stress::arg_or(argc, argv, 1, 1);
  const unsigned threads = static_cast<unsigned>(stress::arg_or(argc, argv, 2, 8));
  const unsigned rounds = static_cast<unsigned>(stress::arg_or(argc, argv, 3, 5));
  const std::uint64_t ops = stress::arg_or(argc, argv, 4, 12000);
  const bool trim = stress::arg_or(argc, argv, 5, 0) != 0;
  const bool hakmem = stress::start("stress_cross_thread", seed);

  hkm_stats before{};
  if (hakmem) stress::get_stats(&before);

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
  for (unsigned round = 0; round < rounds; ++round) {
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) ts.emplace_back(worker, round, t, ops);
    for (auto& t : ts) t.join();
  }
  if (trim) {
    stop_trimming.store(true);
    trimmer.join();
  }
  std::size_t survivors = 0;
  for (auto& slot : g_shared) {
    Block* b = slot.exchange(nullptr);
    if (b == nullptr) continue;
    ++survivors;
    destroy_block(b, "final free by the main thread");
  }

  std::printf("stress_cross_thread: seed %" PRIu64 ", %u threads x %u rounds, %" PRIu64
              " operations, %" PRIu64 " blocks taken from other threads, %" PRIu64
              " reallocs, %zu freed at the end, %" PRIu64 " malloc_trim calls: OK\n",
              seed, threads, rounds, g_ops.load(), g_remote_taken.load(), g_reallocs.load(), survivors, trims);
  if (hakmem) {
    hkm_stats after{};
    stress::get_stats(&after);
    // Everything the test allocated is freed: what stays live is the C and
    // C++ runtimes' own blocks (stdio buffers, thread bookkeeping), a few
    // hundred at most.
    STRESS_CHECK(after.live_blocks < before.live_blocks + 1000,
                 "hkm_stats: %" PRIu64 " live blocks after everything was freed (%" PRIu64 " before the test)",
                 after.live_blocks, before.live_blocks);
    STRESS_CHECK(after.remote_frees > before.remote_frees, "hkm_stats counted no remote frees");
    std::printf("hkm_stats: %" PRIu64 " allocations, %" PRIu64 " frees (%" PRIu64 " remote), %" PRIu64
                " live blocks, %" PRIu64 " MiB mapped\n",
                after.allocations, after.frees, after.remote_frees, after.live_blocks, after.bytes_mapped >> 20);
  }
  return 0;
}
