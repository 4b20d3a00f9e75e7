#include "numa/topology.h"

#include <sched.h>

#include <cerrno>

#include "os/small_file.h"

namespace hakmem::numa {

namespace {
constinit std::uint32_t g_node_count = 1;
}  // namespace

std::uint32_t node_count_from_list(const char* text, std::uint32_t length) {
  std::uint32_t max_id = 0;
  bool any = false;
  std::uint32_t current = 0;
  bool in_number = false;
  for (std::uint32_t i = 0; i <= length; ++i) {
    const char c = i < length ? text[i] : '\0';
    if (c >= '0' && c <= '9') {
      current = current * 10 + static_cast<std::uint32_t>(c - '0');
      if (current > 1u << 20) return 0;  // no machine has a million nodes
      in_number = true;
      continue;
    }
    if (in_number) {
      if (current > max_id || !any) max_id = current > max_id ? current : max_id;
      any = true;
      current = 0;
      in_number = false;
    }
    if (c == ',' || c == '-' || c == '\n' || c == '\0' || c == ' ') continue;
    return 0;
  }
  return any ? max_id + 1 : 0;
}

void init_topology() {
  std::uint32_t count = 1;
  char buf[256];
  const long n = os::read_small_file("/sys/devices/system/node/possible", buf, sizeof(buf));
  if (n > 0) {
    const std::uint32_t parsed = node_count_from_list(buf, static_cast<std::uint32_t>(n));
    if (parsed > 0) count = parsed;
  }
  g_node_count = count;
}

std::uint32_t node_count() { return g_node_count; }

NodeId current_node() {
  if (g_node_count == 1) return NodeId{0};
  unsigned cpu = 0;
  unsigned node = 0;
  const int saved = errno;
  if (::getcpu(&cpu, &node) != 0 || node >= g_node_count) node = 0;
  errno = saved;
  return NodeId{node};
}

}  // namespace hakmem::numa
