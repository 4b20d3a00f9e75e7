// Shared helpers of the stress programs: a seeded generator, the data pattern
// written into every block and verified before it is freed, a size
// distribution over all four tiers, failure reporting with the seed, RSS, and
// hakmem's statistics found through dlsym.
//
// The stress programs are plain executables that do not link hakmem: ctest
// runs them with LD_PRELOAD=libhakmem.so, and they run as well on the C
// library's malloc (useful to tell a bug in a test from a bug in hakmem).
// When STRESS_EXPECT_HAKMEM=1 is set (ctest sets it), a run without hakmem
// loaded fails, so a broken preload cannot pass silently.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hakmem.h"

namespace stress {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * 1024;

// The seed of the run, printed with every failure.
inline std::uint64_t g_seed = 0;
inline const char* g_program = "stress";

// Prints "<program>: FAIL (seed S): message" and exits with status 1.
[[noreturn]] inline void fail(const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fflush(stdout);
  std::fprintf(stderr, "%s: FAIL (seed %" PRIu64 "): %s\n", g_program, g_seed, msg);
  std::fflush(stderr);
  std::_Exit(1);
}

#define STRESS_CHECK(cond, ...)      \
  do {                               \
    if (!(cond)) ::stress::fail(__VA_ARGS__); \
  } while (0)

inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256** seeded through splitmix64: deterministic per (seed, stream).
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed * 0x100000001b3ull ^ (stream + 1) * 0x9e3779b97f4a7c15ull;
    for (auto& w : s_) w = x = mix64(x);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n), n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability percent / 100.
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// The pattern of a block: word i holds base + i * kStep, where base is a
// hash of (address, size, seed). It depends on the address, so two live
// blocks that overlap, a block handed out twice, or a realloc that copies
// from the wrong place all show up as mismatches.
inline constexpr std::uint64_t kStep = 0x2545f4914f6cdd1dull;

inline std::uint64_t pattern_base(const void* p, std::size_t size, std::uint64_t seed) {
  return mix64(reinterpret_cast<std::uintptr_t>(p) ^ mix64(size ^ (seed << 1)));
}

// Writes the pattern of (p, size, seed) into the first size bytes of p.
inline void fill(void* p, std::size_t size, std::uint64_t seed) {
  const std::uint64_t base = pattern_base(p, size, seed);
  auto* bytes = static_cast<unsigned char*>(p);
  const std::size_t words = size / 8;
  std::uint64_t v = base;
  for (std::size_t i = 0; i < words; ++i, v += kStep) std::memcpy(bytes + i * 8, &v, 8);
  if (size % 8 != 0) std::memcpy(bytes + words * 8, &v, size % 8);
}

// Checks the first n bytes at p against the pattern whose first word is
// base (pattern_base of where and how the block was filled; a realloc that
// moved the block keeps the pattern of the old address). Returns the offset
// of the first bad byte, or SIZE_MAX if all match.
inline std::size_t find_mismatch(const void* p, std::size_t n, std::uint64_t base) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  const std::size_t words = n / 8;
  std::uint64_t v = base;
  for (std::size_t i = 0; i < words; ++i, v += kStep) {
    std::uint64_t got;
    std::memcpy(&got, bytes + i * 8, 8);
    if (got != v) {
      for (std::size_t b = 0; b < 8; ++b)
        if (bytes[i * 8 + b] != reinterpret_cast<const unsigned char*>(&v)[b]) return i * 8 + b;
    }
  }
  for (std::size_t b = 0; b < n % 8; ++b)
    if (bytes[words * 8 + b] != reinterpret_cast<const unsigned char*>(&v)[b]) return words * 8 + b;
  return SIZE_MAX;
}

// Fails the run unless the first n bytes at p hold the pattern starting at
// base. size is the block's size, for the message; what names the check.
inline void verify_base(const void* p, std::size_t n, std::uint64_t base, std::size_t size, const char* what) {
  const std::size_t bad = find_mismatch(p, n, base);
  if (bad != SIZE_MAX) {
    fail("%s: block %p (size %zu) differs from its pattern at offset %zu of %zu checked", what, p, size, bad, n);
  }
}

// Fails the run unless the block (p, size) holds the pattern fill wrote.
inline void verify(const void* p, std::size_t size, std::uint64_t seed, const char* what) {
  verify_base(p, size, pattern_base(p, size, seed), size, what);
}

// Sizes over all four tiers: mostly tiny, some mid, some large, a few huge.
//   76%  1 B .. 1 KiB     (log-uniform, so 1..16 B is as common as 512..1024 B)
//   18%  1 KiB .. 32 KiB
//   5.5% 32 KiB .. 1 MiB
//   0.5% 1 MiB .. 4 MiB   (huge blocks, own mappings)
inline std::size_t log_uniform(Rng& r, std::size_t lo, std::size_t hi) {
  // Pick a power of two in [lo, hi], then a size uniformly within it.
  unsigned lo_bit = 0, hi_bit = 0;
  while ((std::size_t{2} << lo_bit) <= lo) ++lo_bit;
  while ((std::size_t{2} << hi_bit) <= hi) ++hi_bit;
  const unsigned bit = static_cast<unsigned>(r.between(lo_bit, hi_bit));
  std::size_t a = std::size_t{1} << bit, b = (std::size_t{2} << bit) - 1;
  if (a < lo) a = lo;
  if (b > hi) b = hi;
  return r.between(a, b);
}

inline std::size_t random_size(Rng& r) {
  const std::uint64_t x = r.below(1000);
  if (x < 760) return log_uniform(r, 1, 1 * kKiB);
  if (x < 940) return log_uniform(r, 1 * kKiB + 1, 32 * kKiB);
  if (x < 995) return log_uniform(r, 32 * kKiB + 1, 1 * kMiB);
  return r.between(1 * kMiB + 1, 4 * kMiB);
}

// Resident set size of this process in bytes, from /proc/self/statm.
inline std::size_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) fail("cannot open /proc/self/statm");
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) fail("cannot parse /proc/self/statm");
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// hakmem's statistics, when hakmem is the allocator of this process.
using StatsFn = int (*)(hkm_stats*, std::size_t);

inline StatsFn stats_function() {
  return reinterpret_cast<StatsFn>(dlsym(RTLD_DEFAULT, "hkm_stats_get"));
}

// Returns false when hakmem is not loaded.
inline bool get_stats(hkm_stats* out) {
  StatsFn fn = stats_function();
  if (fn == nullptr) return false;
  std::memset(out, 0, sizeof *out);
  if (fn(out, sizeof *out) != 0) fail("hkm_stats_get failed");
  return true;
}

// Sets the program name and seed, and fails if STRESS_EXPECT_HAKMEM=1 and
// hakmem is not the allocator. Returns whether hakmem is loaded.
inline bool start(const char* program, std::uint64_t seed) {
  g_program = program;
  g_seed = seed;
  const bool loaded = stats_function() != nullptr;
  const char* expect = std::getenv("STRESS_EXPECT_HAKMEM");
  if (expect != nullptr && std::strcmp(expect, "1") == 0 && !loaded) {
    fail("STRESS_EXPECT_HAKMEM=1 but hkm_stats_get is not found: libhakmem.so is not preloaded");
  }
  return loaded;
}

// Parses argv[i] as an unsigned number, or returns fallback when absent.
inline std::uint64_t arg_or(int argc, char** argv, int i, std::uint64_t fallback) {
  if (argc <= i) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(argv[i], &end, 0);
  if (end == argv[i] || *end != '\0') {
    std::fprintf(stderr, "%s: argument %d ('%s') is not a number\n", argv[0], i, argv[i]);
    std::exit(2);
  }
  return v;
}

}  // namespace stress
