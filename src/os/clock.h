// Monotonic time for purge delays. Layer: os. Any thread; slow paths only.
// CLOCK_MONOTONIC_COARSE is served by the vDSO without a syscall and is
// precise to a few milliseconds, which is all a purge delay needs.
#pragma once

#include <cstdint>
#include <ctime>

namespace hakmem::os {

inline std::uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace hakmem::os
