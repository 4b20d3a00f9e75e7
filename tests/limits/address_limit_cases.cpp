// Allocation under a small address-space limit (RLIMIT_AS, `ulimit -v`), one
// case per run: `address_limit_cases NAME` allocates until the allocator
// says no and prints "RESULT value=N" (blocks, bytes or MiB, by case).
// `--list` prints the names. The program links no allocator of its own, so
// the caller chooses it with LD_PRELOAD; address_limit_test.cpp sets the
// limit and compares glibc's figures with hakmem's.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cstddef>

#include "case_program.h"

namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

// Through a volatile, so that no allocation is folded away.
void* volatile g_sink;

// 1 if a 10 MB block can be had and written.
std::size_t one_10m() {
  void* p = malloc(10 * 1000 * 1000);
  if (p == nullptr) return 0;
  memset(p, 1, 10 * 1000 * 1000);
  g_sink = p;
  return 1;
}

// Blocks of `bytes` (aligned to `alignment` when not 0) until one is refused.
std::size_t count_blocks(std::size_t bytes, std::size_t alignment) {
  std::size_t n = 0;
  for (; n < 1000000; ++n) {
    void* p = alignment != 0 ? memalign(alignment, bytes) : malloc(bytes);
    if (p == nullptr) break;
    static_cast<char*>(p)[0] = 1;
    g_sink = p;
  }
  return n;
}

// MiB of 64-byte blocks until one is refused.
std::size_t small_blocks_mib() { return count_blocks(64, 0) * 64 / kMiB; }

// The largest size, in KiB, one block reaches by realloc in 64 KiB steps.
std::size_t realloc_growth_kib() {
  std::size_t size = 64 * kKiB;
  void* p = malloc(size);
  if (p == nullptr) return 0;
  while (size < 1024 * kMiB) {
    void* q = realloc(p, size + 64 * kKiB);
    if (q == nullptr) break;
    p = q;
    size += 64 * kKiB;
  }
  g_sink = p;
  return size / kKiB;
}

struct Case {
  const char* name;
  std::size_t (*run)();
};

const Case kCases[] = {
    {"one_10m", one_10m},
    {"count_300k", [] { return count_blocks(300 * 1000, 0); }},
    {"count_memalign_100k", [] { return count_blocks(100 * 1000, 4096); }},
    {"small_64_mib", small_blocks_mib},
    {"realloc_growth_kib", realloc_growth_kib},
};

}  // namespace

int main(int argc, char** argv) {
  return hakmem::test_cases::case_program_main(argc, argv, kCases,
                                               [](const Case& c) { printf("RESULT value=%zu\n", c.run()); });
}
