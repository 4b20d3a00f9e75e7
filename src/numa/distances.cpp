#include "numa/distances.h"

#include "base/format.h"
#include "os/small_file.h"

namespace hakmem::numa {

namespace {

// The answer for each node id, +1 (0: not computed). The bound is the id
// space, as for NodeMask.
constinit std::uint16_t g_nearest_plus_one[NodeMask::kMaxNodes] = {};

constexpr std::uint32_t kUnknown = 0;

bool read_distance_row(std::uint32_t node, std::uint32_t* row, std::uint32_t count) {
  Formatter path;
  path.str("/sys/devices/system/node/node").dec(node).str("/distance").ch('\0');
  // Up to 4 characters a distance ("254 "): 4 KiB holds 1024 of them.
  char buf[4 * NodeMask::kMaxNodes + 1];
  const long n = os::read_small_file(path.view().data(), buf, sizeof(buf));
  return n > 0 && parse_distance_row(std::string_view(buf, static_cast<std::size_t>(n)), row, count) > 0;
}

}  // namespace

std::uint32_t parse_distance_row(std::string_view text, std::uint32_t* row, std::uint32_t count) {
  std::uint32_t filled = 0;
  std::uint32_t value = 0;
  bool in_number = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    if (c >= '0' && c <= '9') {
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
      if (value > 0xffff) return 0;  // SLIT distances are bytes
      in_number = true;
      continue;
    }
    if (c != ' ' && c != '\n' && c != '\t') return 0;
    if (!in_number) continue;
    if (filled < count) row[filled] = value;
    ++filled;
    value = 0;
    in_number = false;
  }
  for (std::uint32_t i = filled; i < count; ++i) row[i] = kUnknown;
  return filled;
}

std::uint32_t nearest_node(const std::uint32_t* row, std::uint32_t count, const NodeMask& allowed) {
  std::uint32_t best = NodeMask::kMaxNodes;
  std::uint32_t best_distance = 0;
  for (std::uint32_t node = allowed.first(); node < NodeMask::kMaxNodes; node = allowed.next(node + 1)) {
    const std::uint32_t d = node < count ? row[node] : kUnknown;
    if (best == NodeMask::kMaxNodes) {
      best = node;
      best_distance = d;
    } else if (d != kUnknown && (best_distance == kUnknown || d < best_distance)) {
      best = node;
      best_distance = d;
    }
  }
  return best;
}

void init_nearest_nodes(const NodeMask& allowed) {
  if (allowed.count() <= 1) return;
  const std::uint32_t count = node_count() < NodeMask::kMaxNodes ? node_count() : NodeMask::kMaxNodes;
  std::uint32_t row[NodeMask::kMaxNodes];
  for (std::uint32_t node = 0; node < count; ++node) {
    if (allowed.contains(node) || !read_distance_row(node, row, count)) continue;
    const std::uint32_t nearest = nearest_node(row, count, allowed);
    if (nearest < NodeMask::kMaxNodes) g_nearest_plus_one[node] = static_cast<std::uint16_t>(nearest + 1);
  }
}

NodeId nearest_allowed_node(NodeId from, const NodeMask& allowed) {
  if (from.value < NodeMask::kMaxNodes && g_nearest_plus_one[from.value] != 0) {
    const std::uint32_t nearest = g_nearest_plus_one[from.value] - 1u;
    if (allowed.contains(nearest)) return NodeId{nearest};
  }
  const std::uint32_t first = allowed.first();
  return NodeId{first < NodeMask::kMaxNodes ? first : 0};
}

}  // namespace hakmem::numa
