// A small mutex on a futex word: no allocation, no pthread state, safe to take
// in fork handlers and to reset in the child.
//
// Layer: base. Any thread. Slow paths only: the fast path takes no lock.
// Debug builds check lock ranks (lock_rank.h): a thread that takes a lock
// whose rank is not above every lock it holds aborts with both ranks named.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/attributes.h"
#include "base/build_config.h"
#include "base/lock_rank.h"

namespace hakmem {

namespace detail {
// The calling thread's id in lock words: its kernel thread id (at most
// 2^22, so shifted left by one it fits a futex word, and never 0), read
// once per thread. A fork child's thread has a new one: forget_thread_id()
// makes the next lock read it again.
inline constinit HAKMEM_TLS std::uint32_t t_lock_thread_id = 0;
std::uint32_t read_thread_id();
inline std::uint32_t this_thread_lock_id() {
  std::uint32_t id = t_lock_thread_id;
  if (HAKMEM_UNLIKELY(id == 0)) t_lock_thread_id = id = read_thread_id();
  return id;
}
inline void forget_thread_id() { t_lock_thread_id = 0; }
}  // namespace detail

// The lock word names its holder: 0 when free, else the holder's id shifted
// left by one, with the low bit set once another thread may be waiting. A
// single atomic operation takes the lock and names the holder, and a single
// one frees it, so that a signal handler that interrupts its thread
// anywhere reads the truth about who holds it (lock_for_fork).
class HAKMEM_CAPABILITY("mutex") FutexLock {
 public:
  explicit constexpr FutexLock(LockRank rank) : rank_(rank) {}
  FutexLock(const FutexLock&) = delete;
  FutexLock& operator=(const FutexLock&) = delete;

  void lock() HAKMEM_ACQUIRE() {
    check_rank_on_acquire();
    lock_ignoring_rank();
  }

  // Takes the lock only if it is free, never waiting: for work that has a
  // way round a busy lock.
  bool try_lock() HAKMEM_TRY_ACQUIRE(true) {
    std::uint32_t expected = kUnlocked;
    if (!state_.compare_exchange_strong(expected, my_word(), std::memory_order_acquire, std::memory_order_relaxed)) {
      return false;
    }
    check_rank_on_acquire();
    return true;
  }

  // For fork handlers, which hold every lock at once, several of one rank.
  void lock_ignoring_rank() HAKMEM_ACQUIRE() {
    const std::uint32_t mine = my_word();
    std::uint32_t expected = kUnlocked;
    if (!state_.compare_exchange_strong(expected, mine, std::memory_order_acquire, std::memory_order_relaxed)) {
      lock_contended(mine);
    }
  }

  void unlock() HAKMEM_RELEASE() {
    note_release();
    if ((state_.exchange(kUnlocked, std::memory_order_release) & kWaitersBit) != 0) wake_one();
  }

  // The fork handlers' pair. A fork() from a signal handler that interrupted
  // this very thread inside the allocator finds a lock the thread holds
  // already: waiting for it would be for ever, so it is left as it is (its
  // holder is the forking thread: nobody else can change what it guards),
  // and the parent's unlock leaves it to the interrupted code.
  void lock_for_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
    if ((state_.load(std::memory_order_relaxed) & ~kWaitersBit) == my_word()) {
      held_at_fork_ = true;
      return;
    }
    lock_ignoring_rank();
  }
  void unlock_after_fork_parent() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
    if (held_at_fork_) {
      held_at_fork_ = false;
      return;
    }
    unlock();
  }

  // For the child after fork(): the lock's holder, if any, is gone.
  void reset_after_fork() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
    state_.store(kUnlocked, std::memory_order_relaxed);
    held_at_fork_ = false;
    note_release();
  }

  LockRank rank() const { return rank_; }

 private:
  static constexpr std::uint32_t kUnlocked = 0;
  static constexpr std::uint32_t kWaitersBit = 1;

  static std::uint32_t my_word() { return detail::this_thread_lock_id() << 1; }
  HAKMEM_SLOW_PATH void lock_contended(std::uint32_t mine);
  void wake_one();
  // Lock-order checks: debug builds only, and inline so that release builds
  // pay no call for them.
  void check_rank_on_acquire() {
    if constexpr (kDebug) record_acquire();
  }
  void note_release() {
    if constexpr (kDebug) record_release();
  }
  void record_acquire();
  void record_release();

  std::atomic<std::uint32_t> state_{kUnlocked};
  bool held_at_fork_ = false;  // lock_for_fork found it held by the forking thread
  const LockRank rank_;
};

class HAKMEM_SCOPED_CAPABILITY LockGuard {
 public:
  explicit LockGuard(FutexLock& lock) HAKMEM_ACQUIRE(lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() HAKMEM_RELEASE() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  FutexLock& lock_;
};

}  // namespace hakmem
