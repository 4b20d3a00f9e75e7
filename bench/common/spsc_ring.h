// A bounded single-producer, single-consumer ring of pointers, used to hand
// blocks from the thread that allocates them to the thread that frees them
// (bench/workloads/producer_consumer.cpp, the remote-free micro-benchmark).
//
// The ring itself never allocates after construction, and each side keeps a
// cached copy of the other side's index, so the cost per block is a few plain
// stores: the measurement stays on the allocator's remote-free path rather
// than on the queue.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <vector>

namespace bench {

class SpscRing {
 public:
  // capacity: a power of two.
  explicit SpscRing(size_t capacity) : slots_(capacity), mask_(capacity - 1) {}

  // Producer only. False when full.
  bool try_push(void* p) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == slots_.size()) {
      head_cache_ = head_.load(std::memory_order_acquire);  // pairs with the release in try_pop
      if (tail - head_cache_ == slots_.size()) return false;
    }
    slots_[tail & mask_] = p;
    tail_.store(tail + 1, std::memory_order_release);  // pairs with the acquire in try_pop
    return true;
  }

  // Consumer only. False when empty.
  bool try_pop(void** out) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);  // pairs with the release in try_push
      if (head == tail_cache_) return false;
    }
    *out = slots_[head & mask_];
    head_.store(head + 1, std::memory_order_release);  // pairs with the acquire in try_push
    return true;
  }

  void push(void* p) {
    for (unsigned spins = 0; !try_push(p); ++spins) backoff(spins);
  }
  void* pop() {
    void* p;
    for (unsigned spins = 0; !try_pop(&p); ++spins) backoff(spins);
    return p;
  }

 private:
  // Spin briefly, then yield: the benchmarks may run more threads than CPUs,
  // and a spinning side must not starve the side it waits for.
  static void backoff(unsigned spins) {
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield");
#endif
    } else {
      sched_yield();
    }
  }

  std::vector<void*> slots_;
  size_t mask_;
  alignas(64) std::atomic<size_t> head_{0};  // written by the consumer
  size_t tail_cache_ = 0;                    // consumer's copy of tail_
  alignas(64) std::atomic<size_t> tail_{0};  // written by the producer
  size_t head_cache_ = 0;                    // producer's copy of head_
};

}  // namespace bench
