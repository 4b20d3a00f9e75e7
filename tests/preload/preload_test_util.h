// Helpers shared by the preload tests: position-dependent byte patterns, an
// alignment predicate, the hkm_stats snapshot, and threads whose creation
// and join make a known, balanced pair of allocations.
//
// Layer: tests/preload. Each test binary links libhakmem.so (or
// libhakmem_checked.so), so every allocation here, gtest's included, goes to
// hakmem.
#pragma once

#include <errno.h>
#include <hakmem.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace hakmem::preload_test {

inline constexpr std::size_t kKiB = std::size_t{1} << 10;
inline constexpr std::size_t kMiB = std::size_t{1} << 20;

// The pattern of a block filled with `seed`: the 8-byte word at offset 8k
// is a mix of k and the seed, so every byte depends on its offset and the
// seed, and a shifted, truncated or partly overwritten copy is caught.
// Handled a word at a time (through memcpy: blocks need only be 8-aligned,
// sizes need not be multiples of 8).
inline std::uint64_t pattern_word(std::size_t word_index, unsigned seed) {
  std::uint64_t w = (word_index + (std::uint64_t{seed} << 40)) * 0x9e3779b97f4a7c15ull;
  return w ^ (w >> 29);
}

inline unsigned char pattern_byte(std::size_t i, unsigned seed) {
  const std::uint64_t w = pattern_word(i / 8, seed);
  unsigned char bytes[8];
  std::memcpy(bytes, &w, 8);
  return bytes[i % 8];
}

// Writes the pattern over offsets [begin, end) of the block at p.
inline void fill_pattern_range(void* p, std::size_t begin, std::size_t end, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  std::size_t i = begin;
  for (; i < end && i % 8 != 0; ++i) b[i] = pattern_byte(i, seed);
  for (; i + 8 <= end; i += 8) {
    const std::uint64_t w = pattern_word(i / 8, seed);
    std::memcpy(b + i, &w, 8);
  }
  for (; i < end; ++i) b[i] = pattern_byte(i, seed);
}

inline void fill_pattern(void* p, std::size_t bytes, unsigned seed) { fill_pattern_range(p, 0, bytes, seed); }

// The offset of the first byte that does not match the pattern, or `bytes`.
inline std::size_t first_pattern_mismatch(const void* p, std::size_t bytes, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    const std::uint64_t want = pattern_word(i / 8, seed);
    std::uint64_t got;
    std::memcpy(&got, b + i, 8);
    if (got != want) break;
  }
  for (; i < bytes; ++i) {
    if (b[i] != pattern_byte(i, seed)) return i;
  }
  return bytes;
}

// The offset of the first byte that is not `value`, or `bytes`.
inline std::size_t first_byte_not(const void* p, std::size_t bytes, unsigned char value) {
  const auto* b = static_cast<const unsigned char*>(p);
  const std::uint64_t want = value * 0x0101010101010101ull;
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t got;
    std::memcpy(&got, b + i, 8);
    if (got != want) break;
  }
  for (; i < bytes; ++i) {
    if (b[i] != value) return i;
  }
  return bytes;
}

// n, through a volatile: the compiler can reason neither about the size of
// an impossible request nor about an invalid alignment (which it would
// otherwise take as an alloc_align promise about the result).
inline std::size_t opaque(std::size_t n) {
  volatile std::size_t v = n;
  return v;
}

// Makes the compiler assume p is read and written: an allocation whose
// result goes here is never elided or folded.
inline void escape(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

// The address goes through an empty asm first: aligned_alloc, memalign and
// the aligned operator new are declared with alloc_align, and the compiler
// would otherwise fold the test to true from the declaration alone.
inline bool is_aligned(const void* p, std::size_t alignment) {
  auto address = reinterpret_cast<std::uintptr_t>(p);
  asm volatile("" : "+r"(address));
  return (address & (alignment - 1)) == 0;
}

inline hkm_stats stats_now() {
  hkm_stats s;
  std::memset(&s, 0, sizeof(s));
  EXPECT_EQ(hkm_stats_get(&s, sizeof(s)), 0);
  return s;
}

// A pthread on a stack from mmap rather than glibc's stack cache. glibc
// then allocates the thread's TLS vector (one calloc) in pthread_create and
// frees it in pthread_join, both in the creating thread, and nothing else:
// statistics taken around a create-join pair see only the body's blocks.
// pthread_create makes no allocator call in the new thread, so the body's
// first allocation is the thread's first.
class TestThread {
 public:
  static constexpr std::size_t kStackBytes = std::size_t{2} << 20;

  bool start(void* (*fn)(void*), void* arg) {
    stack_ = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack_ == MAP_FAILED) {
      stack_ = nullptr;
      return false;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack_, kStackBytes);
    started_ = pthread_create(&id_, &attr, fn, arg) == 0;
    pthread_attr_destroy(&attr);
    return started_;
  }

  bool join() {
    const bool ok = started_ && pthread_join(id_, nullptr) == 0;
    started_ = false;
    if (stack_ != nullptr) munmap(stack_, kStackBytes);
    stack_ = nullptr;
    return ok;
  }

 private:
  pthread_t id_{};
  void* stack_ = nullptr;
  bool started_ = false;
};

// Runs fn(arg) on a fresh TestThread and joins it. Returns false if the
// thread could not be created.
inline bool run_on_new_thread(void* (*fn)(void*), void* arg) {
  TestThread t;
  if (!t.start(fn, arg)) {
    t.join();
    return false;
  }
  return t.join();
}

}  // namespace hakmem::preload_test
