// Statistics counters.
//
// Layer: base. A LocalCounter has one writer (the thread that owns it) and any
// number of readers (the stats summation). The writer's increment is a plain
// load + add + store (no lock prefix: it costs what `++x` costs), and readers
// see a value that is at most a few increments old. Relaxed atomics make the
// concurrent read well defined (and TSan-clean) without any fence.
//
// A SharedCounter is written by many threads (node pools, the OS layer) and is
// updated with a relaxed fetch_add; only slow paths use it.
#pragma once

#include <atomic>
#include <cstdint>

namespace hakmem {

class LocalCounter {
 public:
  void add(std::uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void inc() { add(1); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class SharedCounter {
 public:
  void add(std::uint64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::uint64_t n) { value_.fetch_sub(n, std::memory_order_relaxed); }
  void inc() { add(1); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace hakmem
