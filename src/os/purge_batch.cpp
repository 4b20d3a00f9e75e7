// Batched purges through io_uring, with plain madvise as the fallback
// (purge_batch.h). Layer: os.
#include "os/purge_batch.h"

#include <liburing.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>

#include "base/futex_lock.h"
#include "os/fault_injection.h"
#include "os/pages.h"
#include "os/small_file.h"

namespace hakmem::os {

namespace {

enum RingState : std::uint8_t { kUntried, kReady, kUnavailable };

constinit FutexLock g_ring_lock{LockRank::kPurgeRing};
constinit io_uring g_ring HAKMEM_GUARDED_BY(g_ring_lock) = {};
constinit RingState g_state HAKMEM_GUARDED_BY(g_ring_lock) = kUntried;
constinit std::atomic<bool> g_allowed{true};
constinit std::atomic<std::uint64_t> g_uring_ranges{0};
constinit std::atomic<std::uint64_t> g_uring_submits{0};
constinit std::atomic<std::uint64_t> g_madvise_ranges{0};

// kernel.io_uring_disabled (Linux 6.6+): 0 allowed, 1 only for the
// io_uring_group, 2 never. Setup then fails with EPERM anyway; reading it
// first spares the failed call.
bool sysctl_allows_uring() {
  char buf[16];
  if (read_small_file("/proc/sys/kernel/io_uring_disabled", buf, sizeof(buf)) <= 0) return true;
  return buf[0] == '0';
}

bool ring_ready_locked() HAKMEM_REQUIRES(g_ring_lock) {
  if (g_state == kUntried) {
    const int saved = errno;
    // EPERM (disabled, seccomp), ENOSYS (no io_uring), ENOMEM (locked
    // memory limit on old kernels): all mean "use madvise".
    const bool ok = g_allowed.load(std::memory_order_relaxed) && sysctl_allows_uring() &&
                    !fault_due(Fault::kUringSetup) && io_uring_queue_init(PurgeBatch::kMaxRanges, &g_ring, 0) == 0;
    g_state = ok ? kReady : kUnavailable;
    errno = saved;
  }
  return g_state == kReady;
}

// The fallback, counted with every other purge (os::purge).
bool madvise_range(void* p, std::size_t n) {
  g_madvise_ranges.fetch_add(1, std::memory_order_relaxed);
  return purge(p, n);
}

// Submits the `count` prepared ranges and waits for every one submitted:
// nothing may stay queued or in flight once the batch returns, since its
// ranges then go back to their lists, and a MADV_DONTNEED that ran late
// would wipe a block handed out meanwhile. A signal can end a wait early
// (io_uring_enter then returns what it submitted, or -EINTR): the loops
// carry on. Returns the ranges the ring purged, a bit each; the rest go
// through madvise. A ring that fails otherwise is given up for good, after
// its pending work is discarded.
std::uint64_t submit_and_reap(unsigned count) HAKMEM_REQUIRES(g_ring_lock) {
  const int saved = errno;
  std::uint64_t done = 0;
  unsigned queued = count;
  unsigned in_flight = 0;
  bool broken = false;
  while (queued > 0) {
    const int r = io_uring_submit(&g_ring);
    if (r > 0) {
      queued -= static_cast<unsigned>(r) < queued ? static_cast<unsigned>(r) : queued;
      in_flight += static_cast<unsigned>(r);
    } else if (r != -EINTR && r != -EAGAIN) {
      broken = true;
      break;
    }
  }
  g_uring_submits.fetch_add(1, std::memory_order_relaxed);
  while (in_flight > 0) {
    io_uring_cqe* cqe = nullptr;
    const int r = io_uring_wait_cqe(&g_ring, &cqe);
    if (r == -EINTR || r == -EAGAIN) continue;
    if (r < 0 || cqe == nullptr) {
      broken = true;
      break;
    }
    const auto i = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
    // -EINVAL: a kernel without IORING_OP_MADVISE (before 5.6); the range
    // goes through madvise.
    if (i < count && cqe->res == 0) done |= std::uint64_t{1} << i;
    io_uring_cqe_seen(&g_ring, cqe);
    --in_flight;
  }
  if (broken) {
    // Closing the ring drops what was never submitted; what was, the
    // kernel finishes or cancels before the ring's memory goes.
    io_uring_queue_exit(&g_ring);
    g_ring = {};
    g_state = kUnavailable;
    done = 0;
  }
  errno = saved;
  return done;
}

}  // namespace

PurgeBatchStats purge_batch_stats() {
  PurgeBatchStats s;
  s.uring_ranges = g_uring_ranges.load(std::memory_order_relaxed);
  s.uring_submits = g_uring_submits.load(std::memory_order_relaxed);
  s.madvise_ranges = g_madvise_ranges.load(std::memory_order_relaxed);
  return s;
}

void set_purge_uring_allowed(bool allowed) { g_allowed.store(allowed, std::memory_order_relaxed); }

bool purge_uring_ready() {
  g_ring_lock.lock();
  const bool ready = ring_ready_locked();
  g_ring_lock.unlock();
  return ready;
}

void purge_ring_reset_after_fork_child() HAKMEM_NO_THREAD_SAFETY_ANALYSIS {
  g_ring_lock.reset_after_fork();
  // Unmapping and closing act on the child's copies only; the parent's ring
  // goes on as it was.
  if (g_state == kReady) io_uring_queue_exit(&g_ring);
  g_ring = {};
  if (g_state == kReady) g_state = kUntried;
}

std::size_t PurgeBatch::submit() {
  std::uint64_t done = 0;
  // A thread that finds the ring busy (the service thread's trim, another
  // thread's batch) purges with madvise rather than wait for it.
  if (count_ >= kMinRingRanges && g_ring_lock.try_lock()) {
    if (ring_ready_locked()) {
      for (unsigned i = 0; i < count_; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&g_ring);
        io_uring_prep_madvise(sqe, ranges_[i].begin, static_cast<off_t>(ranges_[i].bytes), MADV_DONTNEED);
        io_uring_sqe_set_data64(sqe, i);
      }
      done = submit_and_reap(count_);
    }
    g_ring_lock.unlock();
  }
  std::size_t purged = 0;
  OsStats& os = os_stats();
  for (unsigned i = 0; i < count_; ++i) {
    if ((done >> i) & 1u) {
      g_uring_ranges.fetch_add(1, std::memory_order_relaxed);
      os.purge_calls.inc();
      os.purged_bytes.add(ranges_[i].bytes);
    } else if (madvise_range(ranges_[i].begin, ranges_[i].bytes)) {
      done |= std::uint64_t{1} << i;
    } else {
      continue;
    }
    purged += ranges_[i].bytes;
  }
  purged_mask_ = done;
  count_ = 0;
  return purged;
}

}  // namespace hakmem::os
