// libFuzzer target: the allocation interface driven by the input as a
// sequence of calls (malloc, calloc, realloc, aligned, free, usable size,
// trim) against a model of what must hold: every block keeps what was
// written into it, is as aligned as asked, has at least the bytes asked
// for, and overlaps no other live block. Calls the allocator core
// directly; the process's own malloc stays the sanitizers'.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "tiers/allocator.h"
#include "tiers/heap_registry.h"

namespace {

using namespace hakmem::tiers;

struct Live {
  unsigned char* p;
  std::size_t n;
  unsigned char seed;
};

// Reads the input a byte at a time; zeros once it runs out.
struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  std::uint8_t byte() { return at < size ? data[at++] : 0; }
  bool more() const { return at < size; }
  // Sizes from 0 to 8 MiB, most of them small.
  std::size_t block_size() {
    const unsigned shift = byte() % 24;
    const std::size_t base = std::size_t{1} << shift;
    return (base - 1) & (std::size_t{byte()} << 8 | byte()) * (base / 65536 + 1);
  }
};

void fill(const Live& b) {
  for (std::size_t i = 0; i < b.n; i += 512) b.p[i] = static_cast<unsigned char>(b.seed ^ (i >> 9));
  if (b.n != 0) b.p[b.n - 1] = b.seed;
}

void check(const Live& b) {
  for (std::size_t i = 0; i + 1 < b.n; i += 512) {
    if (b.p[i] != static_cast<unsigned char>(b.seed ^ (i >> 9))) __builtin_trap();
  }
  if (b.n != 0 && b.p[b.n - 1] != b.seed) __builtin_trap();
  if (usable_size(b.p) < b.n) __builtin_trap();
}

// Live blocks by address: a new one must not overlap its neighbours.
std::map<std::uintptr_t, std::size_t> g_ranges;

void add_range(const Live& b) {
  const auto a = reinterpret_cast<std::uintptr_t>(b.p);
  const std::size_t n = b.n == 0 ? 1 : b.n;
  auto next = g_ranges.lower_bound(a);
  if (next != g_ranges.end() && next->first < a + n) __builtin_trap();
  if (next != g_ranges.begin() && std::prev(next)->first + std::prev(next)->second > a) __builtin_trap();
  g_ranges[a] = n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ensure_initialized();
  Input in{data, size};
  std::vector<Live> live;
  unsigned char seed = 1;
  while (in.more()) {
    const std::uint8_t op = in.byte() % 8;
    if (op <= 2 || live.empty()) {
      const std::size_t n = in.block_size();
      void* p = nullptr;
      if (op == 1) {
        p = allocate_zeroed(1, n);
        if (p != nullptr) {
          for (std::size_t i = 0; i < n; ++i) {
            if (static_cast<unsigned char*>(p)[i] != 0) __builtin_trap();
          }
        }
      } else if (op == 2) {
        const std::size_t alignment = std::size_t{1} << (in.byte() % 22);
        p = allocate_aligned(alignment, n);
        if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % alignment != 0) __builtin_trap();
      } else {
        p = allocate(n);
      }
      if (p == nullptr) continue;  // refused (an impossible size): nothing to track
      Live b{static_cast<unsigned char*>(p), n, seed++};
      add_range(b);
      fill(b);
      live.push_back(b);
    } else if (op <= 4) {
      const std::size_t i = in.byte() % live.size();
      check(live[i]);
      g_ranges.erase(reinterpret_cast<std::uintptr_t>(live[i].p));
      deallocate(live[i].p);
      live[i] = live.back();
      live.pop_back();
    } else if (op <= 6) {
      Live& b = live[in.byte() % live.size()];
      check(b);
      const std::size_t n = in.block_size() + 1;
      g_ranges.erase(reinterpret_cast<std::uintptr_t>(b.p));
      void* q = reallocate(b.p, n);
      if (q == nullptr) {
        add_range(b);
        continue;
      }
      // What both sizes cover must have moved with the block.
      const std::size_t kept = b.n < n ? b.n : n;
      Live old = b;
      b.p = static_cast<unsigned char*>(q);
      for (std::size_t i = 0; i + 1 < kept; i += 512) {
        if (b.p[i] != static_cast<unsigned char>(old.seed ^ (i >> 9))) __builtin_trap();
      }
      b.n = n;
      b.seed = seed++;
      add_range(b);
      fill(b);
    } else {
      trim();
    }
  }
  for (const Live& b : live) {
    check(b);
    g_ranges.erase(reinterpret_cast<std::uintptr_t>(b.p));
    deallocate(b.p);
  }
  return 0;
}
