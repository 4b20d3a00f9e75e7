// The process's resident set as the kernel counts it, for the block's
// figures and the commands' before/after. Layer: control. Any thread; one
// read of /proc/self/statm, no allocation.
#pragma once

#include <unistd.h>

#include <cstdint>

#include "os/small_file.h"

namespace hakmem::control {

// Bytes resident (statm's second field x the page size); 0 if unreadable.
inline std::uint64_t rss_bytes() {
  char buf[128];
  if (os::read_small_file("/proc/self/statm", buf, sizeof(buf)) <= 0) return 0;
  const char* p = buf;
  while (*p != '\0' && *p != ' ') ++p;
  if (*p == ' ') ++p;
  std::uint64_t pages = 0;
  for (; *p >= '0' && *p <= '9'; ++p) pages = pages * 10 + static_cast<std::uint64_t>(*p - '0');
  return pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace hakmem::control
