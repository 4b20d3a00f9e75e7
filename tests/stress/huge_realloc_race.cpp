// huge_realloc_race: realloc of huge blocks that must move, while other
// threads map new SuperSlabs.
//
// What it exercises:
//   - huge realloc that cannot grow in place (a second huge block is mapped
//     next to it) and moves: the old range is given up and may be mapped
//     again at once by any other thread;
//   - meanwhile, other threads allocate 300 KiB blocks (new slabs and new
//     SuperSlabs), check that malloc_usable_size recognises every one of
//     them, and free them; malloc_trim(0) between batches returns the
//     SuperSlabs so that new ones keep being mapped, often in the ranges the
//     moving reallocs just left;
//   - the address-space map (chunk_map) stays right for every live block: a
//     block hakmem no longer recognises would be answered 0 by
//     malloc_usable_size and handed to the C library's free or realloc,
//     which aborts ("free(): invalid pointer").
// Every block is filled and verified as in the other stress programs. A
// block that is not recognised is reported and leaked (freeing it would
// abort); an abort anyway (the map changed between the check and the free)
// is reported by the SIGABRT handler.
//
// Usage: huge_realloc_race [seed [moves_per_thread [movers [mappers]]]]
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_moves{0}, g_checked{0}, g_unrecognised{0};

void on_abort(int) {
  static const char msg[] =
      "huge_realloc_race: FAIL: aborted, most likely by the C library's free or realloc given a block of "
      "hakmem's that the chunk map no longer recognises\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(1);
}

void unrecognised(const void* p, std::size_t size, const char* what) {
  if (g_unrecognised.fetch_add(1) < 5) {
    std::fprintf(stderr, "huge_realloc_race: %s: malloc_usable_size(%p) = %zu for a live block of %zu bytes\n",
                 what, p, malloc_usable_size(const_cast<void*>(p)), size);
  }
}

// Returns whether hakmem still recognises the live block (p, size).
bool recognised(void* p, std::size_t size, const char* what) {
  g_checked.fetch_add(1, std::memory_order_relaxed);
  if (malloc_usable_size(p) >= size) return true;
  unrecognised(p, size, what);
  return false;
}

void mover(unsigned id, std::uint64_t moves) {
  stress::Rng r(stress::g_seed, id);
  std::uint64_t done = 0;
  for (std::uint64_t i = 0; done < moves && i < moves * 50 && g_unrecognised.load() == 0; ++i) {
    const std::size_t size = stress::kMiB * (2 + r.below(3)) + r.below(4096);
    void* p = std::malloc(size);
    void* fence = std::malloc(size);  // often mapped right next to p
    STRESS_CHECK(p != nullptr && fence != nullptr, "malloc(%zu) returned null", size);
    stress::fill(p, size, stress::g_seed);
    const std::size_t grown = size * 3;
    const std::uint64_t base = stress::pattern_base(p, size, stress::g_seed);
    const auto old = reinterpret_cast<std::uintptr_t>(p);
    void* q = std::realloc(p, grown);
    STRESS_CHECK(q != nullptr, "realloc(%zu bytes, %zu) returned null", size, grown);
    if (reinterpret_cast<std::uintptr_t>(q) != old) ++done;
    stress::verify_base(q, size, base, grown, "after a huge realloc");
    bool ok = recognised(q, grown, "the block a huge realloc returned");
    ok = recognised(fence, size, "a huge block") && ok;
    if (!ok) return;  // leak them: freeing would abort
    std::free(q);
    std::free(fence);
  }
  g_moves.fetch_add(done);
}

void mapper(unsigned id) {
  stress::Rng r(stress::g_seed, 100 + id);
  std::vector<std::pair<void*, std::size_t>> live;
  while (!g_stop.load(std::memory_order_relaxed) && g_unrecognised.load() == 0) {
    for (int k = 0; k < 400; ++k) {
      const std::size_t size = 300 * stress::kKiB + r.below(4096);
      void* p = std::malloc(size);
      STRESS_CHECK(p != nullptr, "malloc(%zu) returned null", size);
      stress::fill(p, std::min<std::size_t>(size, 4096), stress::g_seed);
      if (!recognised(p, size, "a new 300 KiB block")) return;
      live.emplace_back(p, size);
    }
    for (auto [p, size] : live) {
      stress::verify(p, std::min<std::size_t>(size, 4096), stress::g_seed, "a 300 KiB block");
      if (!recognised(p, size, "a 300 KiB block before its free")) return;
      std::free(p);
    }
    live.clear();
    malloc_trim(0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = stress::arg_or(argc, argv, 1, 1);
  const std::uint64_t moves = stress::arg_or(argc, argv, 2, 2000);
  const unsigned movers = static_cast<unsigned>(stress::arg_or(argc, argv, 3, 3));
  const unsigned mappers = static_cast<unsigned>(stress::arg_or(argc, argv, 4, 3));
  stress::start("huge_realloc_race", seed);
  std::signal(SIGABRT, on_abort);

  std::vector<std::thread> map_threads, move_threads;
  for (unsigned i = 0; i < mappers; ++i) map_threads.emplace_back(mapper, i);
  for (unsigned i = 0; i < movers; ++i) move_threads.emplace_back(mover, i, moves);
  for (auto& t : move_threads) t.join();
  g_stop.store(true);
  for (auto& t : map_threads) t.join();

  std::printf("huge_realloc_race: seed %" PRIu64 ", %" PRIu64 " huge reallocs that moved, %" PRIu64
              " blocks checked, %" PRIu64 " not recognised\n",
              seed, g_moves.load(), g_checked.load(), g_unrecognised.load());
  STRESS_CHECK(g_unrecognised.load() == 0,
               "%" PRIu64 " live blocks were not recognised by malloc_usable_size (their chunk-map entries were "
               "cleared while they were live)",
               g_unrecognised.load());
  std::printf("huge_realloc_race: OK\n");
  return 0;
}
