// The HAKMEM_* option table: every environment variable hakmem reads, parsed
// once at init, validated, with one warning line per bad value.
//
// Layer: config. init_options() runs during global init, before any heap
// exists, and never allocates. Afterwards options() is read-only, except the
// knobs marked "runtime", which are relaxed atomics a later hkmctl may change
// and which are read only on slow paths.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "numa/placement.h"
#include "os/pages.h"

namespace hakmem::config {

enum class ControlMode : std::uint8_t { kOff, kOn, kGroup };
enum class ServiceMode : std::uint8_t { kOff, kOn, kAuto };

enum class Source : std::uint8_t { kDefault, kEnvironment, kInvalid };

struct Options {
  os::HugePagePolicy huge_pages = os::HugePagePolicy::kAuto;  // HAKMEM_HUGEPAGES
  bool print_stats_at_exit = false;                            // HAKMEM_STATS
  bool verbose = false;                                        // HAKMEM_VERBOSE
  // runtime: how long an empty SuperSlab or a cached huge block keeps its
  // physical pages before they are purged (HAKMEM_PURGE_DELAY_MS). 0 purges
  // at once.
  std::atomic<std::uint64_t> purge_delay_ms{1000};
  // HAKMEM_NUMA / HAKMEM_NODE: the placement asked for, if any, and the
  // variable and text it came from (for the numa layer's warnings).
  bool numa_given = false;
  numa::PlacementRequest numa;
  const char* numa_variable = "HAKMEM_NUMA";
  const char* numa_raw = nullptr;
  // The control block (src/control/block.h): HAKMEM_CONTROL=off|on|group
  // (group: mode 0640, a monitoring group may read), the directory
  // (HAKMEM_CONTROL_DIR, default /dev/shm) and how long the process must
  // have lived before it gets one (HAKMEM_CONTROL_DELAY_MS). Start-up only.
  ControlMode control = ControlMode::kOn;
  const char* control_dir = "/dev/shm";
  std::uint64_t control_delay_ms = 1000;
  // The service thread (src/control/service.h): HAKMEM_SERVICE=on|off|auto
  // (auto: on once the block exists; start-up only) and its wake-up interval
  // (runtime, HAKMEM_SERVICE_INTERVAL_MS).
  ServiceMode service = ServiceMode::kAuto;
  std::atomic<std::uint64_t> service_interval_ms{1000};
  // HAKMEM_URING: whether batched purges may use io_uring (os/purge_batch.h).
  bool uring = true;
};

const Options& options();
Options& mutable_options();

// Reads the environment. `lookup` returns the value of a variable or null;
// tests pass their own. Bad values are reported on stderr (one line each)
// and replaced by the default.
using EnvLookup = const char* (*)(const char* name);
void init_options(EnvLookup lookup);

// Exposed for tests: each parses one value and returns false if it is invalid.
bool parse_bool(std::string_view text, bool* out);
bool parse_uint(std::string_view text, std::uint64_t max, std::uint64_t* out);
bool parse_huge_pages(std::string_view text, os::HugePagePolicy* out);
bool parse_control(std::string_view text, ControlMode* out);
bool parse_service(std::string_view text, ServiceMode* out);

// One line per variable: name, value, where it came from. For HAKMEM_VERBOSE.
void print_options();

}  // namespace hakmem::config
