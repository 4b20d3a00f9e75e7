#include "base/futex_lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/build_config.h"
#include "base/format.h"

namespace hakmem {

namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value) {
  // FUTEX_PRIVATE_FLAG: the word is never shared between processes. The call
  // may fail with EAGAIN or EINTR; callers loop. errno is preserved because
  // allocation entry points must not change it on success.
  int saved = errno;
  long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op | FUTEX_PRIVATE_FLAG,
                   value, nullptr, nullptr, 0);
  errno = saved;
  return r;
}

// Debug-only record of the ranks this thread holds, as a bit set (ranks are
// small and few, one bit each).
HAKMEM_TLS std::uint32_t t_held_ranks = 0;

}  // namespace

void FutexLock::lock_contended(std::uint32_t mine) {
  for (;;) {
    std::uint32_t word = state_.load(std::memory_order_relaxed);
    if (word == kUnlocked) {
      // Taken with the waiters bit: others may be waiting still (nothing
      // here can tell), and the unlock must wake one.
      if (state_.compare_exchange_weak(word, mine | kWaitersBit, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;
    }
    if ((word & kWaitersBit) == 0 &&
        !state_.compare_exchange_weak(word, word | kWaitersBit, std::memory_order_relaxed, std::memory_order_relaxed)) {
      continue;
    }
    futex(&state_, FUTEX_WAIT, word | kWaitersBit);
  }
}

void FutexLock::wake_one() { futex(&state_, FUTEX_WAKE, 1); }

namespace detail {
std::uint32_t read_thread_id() {
  const int saved = errno;
  const auto id = static_cast<std::uint32_t>(syscall(SYS_gettid));
  errno = saved;
  return id;
}
}  // namespace detail

void FutexLock::record_acquire() {
  const std::uint32_t bit = 1u << static_cast<unsigned>(rank_);
  if (t_held_ranks >= bit) {
    Formatter f;
    f.str("hakmem: lock order violation: taking rank ").dec(static_cast<unsigned>(rank_));
    f.str(" while holding ranks mask ").hex(t_held_ranks).ch('\n');
    f.write_to(2);
    __builtin_trap();
  }
  t_held_ranks |= bit;
}

void FutexLock::record_release() { t_held_ranks &= ~(1u << static_cast<unsigned>(rank_)); }

}  // namespace hakmem
