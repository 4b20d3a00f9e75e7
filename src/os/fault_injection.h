// Faults on purpose: a switch for tests that makes the allocator's system
// calls fail the ways the kernel can make them fail (mmap refused, madvise
// refused, mbind refused, a collapse refused, the hugetlb pool empty,
// io_uring unavailable), so that a test can check each is survived: the
// allocation that cannot be served returns null with ENOMEM, nothing
// already allocated is lost, and service resumes when the fault stops.
//
// Layer: os. Any thread. Reachable from the tests only (libhakmem.so does
// not export it); when nothing is armed, each call site pays one relaxed
// load, on paths that make a system call anyway.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/attributes.h"

namespace hakmem::os {

enum class Fault : unsigned {
  kMmap,        // every anonymous mmap of the allocator: ENOMEM
  kMadvise,     // MADV_DONTNEED, MADV_HUGEPAGE, MADV_POPULATE_WRITE: EAGAIN
  kCollapse,    // MADV_COLLAPSE: EAGAIN
  kMbind,       // mbind: EPERM
  kHugetlb,     // MAP_HUGETLB: ENOMEM (the pool is empty)
  kUringSetup,  // io_uring_queue_init: ENOSYS
};
inline constexpr unsigned kFaultKinds = 6;

// From now on the calls of kind f fail `count` times in every `period`
// (count 1, period 1: each one; count 1, period 3: every third one), until
// clear_faults(). A period of 0 disarms f.
void inject_fault(Fault f, std::uint32_t count, std::uint32_t period);
void clear_faults();
// Calls of kind f made to fail since the process started.
std::uint64_t faults_injected(Fault f);

namespace detail {
extern std::atomic<bool> g_any_fault_armed;
bool fault_due_slow(Fault f);
}  // namespace detail

// At each call site, before the system call: true if this call must fail
// (the caller then fails it as the kernel would, errno included).
HAKMEM_FAST_PATH bool fault_due(Fault f) {
  return HAKMEM_UNLIKELY(detail::g_any_fault_armed.load(std::memory_order_relaxed)) && detail::fault_due_slow(f);
}

}  // namespace hakmem::os
