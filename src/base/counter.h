// Statistics counters.
//
// Layer: base. A LocalCounter has one writer (the thread that owns it) and any
// number of readers (the stats summation). The writer's increment is a plain
// load + add + store (no lock prefix: it costs what `++x` costs), and readers
// see a value that is at most a few increments old. Relaxed atomics make the
// concurrent read well defined (and TSan-clean) without any fence.
//
// A FastCounter is the fast path's counter: a plain integer, so that its
// increment is one `add` to memory that the compiler may merge with nearby
// code (an atomic store cannot be). Its owner reads it with get(); any other
// thread reads it with read_racy(), a relaxed atomic load of a value its owner
// keeps writing: the value is at most a few increments old, and an aligned
// 64-bit load cannot tear on the targets we build for. read_racy() is not
// instrumented by ThreadSanitizer, as this one race is deliberate.
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

class FastCounter {
 public:
  void inc() { ++value_; }
  std::uint64_t get() const { return value_; }
  __attribute__((no_sanitize("thread"))) std::uint64_t read_racy() const {
    return __atomic_load_n(&value_, __ATOMIC_RELAXED);
  }

 private:
  std::uint64_t value_ = 0;
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
