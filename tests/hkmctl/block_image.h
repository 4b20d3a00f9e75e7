// A valid control block image per src/control/layout.h, for the fake process
// and the parser tests: header, directory, schema, summary, nodes, tiers,
// classes, threads, knobs and mailbox, with known figures.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "control/layout.h"

namespace hakmem::hkmctl::testing {

namespace layout = ::hakmem::control::layout;

struct ImageSpec {
  pid_t pid = 1;
  uid_t uid = 0;
  std::uint64_t start_ticks = 0;
  std::uint32_t nodes = 2;
  std::uint32_t threads = 3;
  std::uint32_t classes = 4;
  std::string command = "fake_process";
  bool service = true;
};

struct Image {
  std::vector<unsigned char> bytes;
  std::uint64_t summary_offset = 0;
  std::uint64_t nodes_offset = 0;
  std::uint64_t knobs_offset = 0;
  std::uint64_t mailbox_offset = 0;
  std::uint32_t knob_count = 0;
};

// The figures every image carries, so that tests can look for them.
inline constexpr std::uint64_t kInUse = 48ull << 20;
inline constexpr std::uint64_t kThreadCached = 3ull << 20;
inline constexpr std::uint64_t kFreeInSlabs = 5ull << 20;
inline constexpr std::uint64_t kFreeInPools = 8ull << 20;
inline constexpr std::uint64_t kFreeHuge = 16ull << 20;
inline constexpr std::uint64_t kMetadata = 1ull << 20;

Image make_image(const ImageSpec& spec);

// Field 22 of /proc/self/stat.
std::uint64_t own_start_ticks();

}  // namespace hakmem::hkmctl::testing
