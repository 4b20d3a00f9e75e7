// A set of NUMA node ids, as the kernel's node masks hold them: ids below
// kMaxNodes, the kernel's own limit (MAX_NUMNODES is at most 1 << 10). The
// bound is the id space, not a population that grows with the program.
//
// Layer: numa. A value type; no allocation, usable before any heap exists.
#pragma once

#include <cstdint>
#include <string_view>

#include "numa/topology.h"

namespace hakmem {
class Formatter;
}

namespace hakmem::numa {

class NodeMask {
 public:
  static constexpr std::uint32_t kMaxNodes = 1024;
  static constexpr std::uint32_t kWords = kMaxNodes / 64;

  constexpr NodeMask() = default;
  static NodeMask first_n(std::uint32_t count);  // nodes 0 .. count-1

  void add(std::uint32_t node) {
    if (node < kMaxNodes) words_[node / 64] |= std::uint64_t{1} << (node % 64);
  }
  bool contains(std::uint32_t node) const {
    return node < kMaxNodes && (words_[node / 64] >> (node % 64) & 1u) != 0;
  }
  bool empty() const;
  std::uint32_t count() const;
  // The lowest node in the mask at or after `from`, or kMaxNodes if none.
  std::uint32_t next(std::uint32_t from) const;
  std::uint32_t first() const { return next(0); }
  // The nth node (0-based) of the mask, counting from its lowest; kMaxNodes
  // if it holds n or fewer.
  std::uint32_t nth(std::uint32_t n) const;
  NodeMask operator&(const NodeMask& other) const;
  friend bool operator==(const NodeMask&, const NodeMask&) = default;

  // The kernel's words, for mbind and get_mempolicy.
  const unsigned long* words() const { return reinterpret_cast<const unsigned long*>(words_); }
  unsigned long* words() { return reinterpret_cast<unsigned long*>(words_); }

  // A node list as sysfs, numactl and cpusets write it: "0", "0-3",
  // "0,2-5". false (and the mask unchanged) if the text is not one, or
  // names a node at or above kMaxNodes.
  bool parse_list(std::string_view text);
  // A hex mask as /proc/self/status writes Mems_allowed: 32-bit groups,
  // most significant first, separated by commas ("00000000,00000003").
  bool parse_hex_groups(std::string_view text);
  // Writes the mask as a node list ("0-1,3").
  void format(Formatter& f) const;

 private:
  std::uint64_t words_[kWords] = {};
};
static_assert(sizeof(unsigned long) == sizeof(std::uint64_t));

}  // namespace hakmem::numa
