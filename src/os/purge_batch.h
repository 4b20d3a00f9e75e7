// Batched purges: many ranges given back with MADV_DONTNEED in one
// io_uring_enter (IORING_OP_MADVISE, through liburing), or with one plain
// madvise per range where io_uring is unavailable (kernel.io_uring_disabled,
// a seccomp filter, a kernel without IORING_OP_MADVISE) or turned off.
//
// Layer: os. For every purge of many ranges: timed purges, trims, a
// thread's own purge looks. One process-wide ring, used by one thread at a
// time under its own lock (rank kPurgeRing); a thread that finds it busy
// uses madvise instead of waiting. Never allocates: the ring is set up by
// io_uring_queue_init, which in liburing 2.x only calls io_uring_setup and
// mmap; the batch lives on the caller's stack. Ranges must be page-aligned.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::os {

struct PurgeBatchStats {
  std::uint64_t uring_ranges = 0;    // ranges purged through io_uring
  std::uint64_t uring_submits = 0;   // io_uring_enter calls for them
  std::uint64_t madvise_ranges = 0;  // ranges purged by plain madvise (the fallback)
};
PurgeBatchStats purge_batch_stats();

// Whether batches may use io_uring (HAKMEM_URING); before the first submit.
void set_purge_uring_allowed(bool allowed);
// Whether the ring is up (sets it up on first call if allowed).
bool purge_uring_ready();

// The ring after fork, in the child: the parent's ring is shared with it and
// must not be touched; the child drops its copy and sets up its own on its
// first batch. Single-threaded, like every after-fork handler.
void purge_ring_reset_after_fork_child();

// Ranges to purge together. The ranges must stay unused by anyone until
// submit() returns: a caller that puts purged memory back on a shared list
// does so only after submit().
class PurgeBatch {
 public:
  static constexpr unsigned kMaxRanges = 64;
  // Fewer ranges go through plain madvise: a ring saves next to nothing.
  static constexpr unsigned kMinRingRanges = 4;

  // Adds a range; false when the batch is full (submit, then add again).
  bool add(void* begin, std::size_t bytes) {
    if (count_ == kMaxRanges) return false;
    ranges_[count_++] = Range{begin, bytes};
    return true;
  }
  unsigned size() const { return count_; }
  bool full() const { return count_ == kMaxRanges; }
  // Purges every range added and empties the batch. Returns the bytes
  // purged (ranges the kernel refused are not counted).
  std::size_t submit();
  // Whether range `i` (in the order added) was purged by the last submit().
  bool purged(unsigned i) const { return ((purged_mask_ >> i) & 1u) != 0; }

 private:
  static_assert(kMaxRanges <= 64, "purged_mask_ has a bit per range");
  struct Range {
    void* begin;
    std::size_t bytes;
  };
  Range ranges_[kMaxRanges];
  unsigned count_ = 0;
  std::uint64_t purged_mask_ = 0;
};

}  // namespace hakmem::os
