#include "config/options.h"

#include <cstdlib>
#include <cstring>

#include "base/format.h"

namespace hakmem::config {

namespace {

constinit Options g_options;

// Every option hakmem reads, in one place: name, accepted values, default.
struct OptionInfo {
  const char* name;
  const char* accepted;  // shown in the warning
  const char* default_text;
  Source source = Source::kDefault;
  const char* raw = nullptr;  // the environment's text, if any
};

enum OptionId {
  kHugePages,
  kStats,
  kVerbose,
  kPurgeDelay,
  kNuma,
  kNode,
  kControl,
  kControlDir,
  kControlDelay,
  kService,
  kServiceInterval,
  kUring,
  kOptionCount
};

constinit OptionInfo g_info[kOptionCount] = {
    {"HAKMEM_HUGEPAGES", "auto|hugetlb|thp|off", "auto"},
    {"HAKMEM_STATS", "0|1", "0"},
    {"HAKMEM_VERBOSE", "0|1", "0"},
    {"HAKMEM_PURGE_DELAY_MS", "an integer from 0 to 3600000", "1000"},
    {"HAKMEM_NUMA", "local|interleave|bind:LIST|off, LIST like 0,2-3", "local"},
    {"HAKMEM_NODE", "a node number", "none"},
    {"HAKMEM_CONTROL", "off|on|group", "on"},
    {"HAKMEM_CONTROL_DIR", "an absolute directory path", "/dev/shm"},
    {"HAKMEM_CONTROL_DELAY_MS", "an integer from 0 to 3600000", "1000"},
    {"HAKMEM_SERVICE", "off|on|auto", "auto"},
    {"HAKMEM_SERVICE_INTERVAL_MS", "an integer from 10 to 3600000", "1000"},
    {"HAKMEM_URING", "0|1", "1"},
};

constexpr std::uint64_t kMaxPurgeDelayMs = 3600u * 1000u;
constexpr std::uint64_t kMaxControlDelayMs = 3600u * 1000u;
constexpr std::uint64_t kMinServiceIntervalMs = 10;
constexpr std::uint64_t kMaxServiceIntervalMs = 3600u * 1000u;
// A path that, with "/hakmem.<uid>.<pid>", still fits a fixed buffer.
constexpr std::size_t kMaxControlDirBytes = 200;

void warn_invalid(const OptionInfo& info, const char* value) {
  Formatter f;
  f.str("hakmem: ").str(info.name).str("='").str(value).str("' is not valid (expected ");
  f.str(info.accepted).str("); using ").str(info.default_text).ch('\n');
  f.write_to(2);
}

std::string_view trimmed(const char* s) {
  std::string_view v(s);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n')) v.remove_suffix(1);
  return v;
}

// Applies one variable: unset leaves the default; a bad value warns.
template <typename Parse>
void apply(EnvLookup lookup, OptionId id, Parse parse) {
  OptionInfo& info = g_info[id];
  const char* value = lookup(info.name);
  info.raw = value;
  if (value == nullptr) {
    info.source = Source::kDefault;
    return;
  }
  if (parse(trimmed(value))) {
    info.source = Source::kEnvironment;
  } else {
    info.source = Source::kInvalid;
    warn_invalid(info, value);
  }
}

}  // namespace

const Options& options() { return g_options; }
Options& mutable_options() { return g_options; }

bool parse_bool(std::string_view text, bool* out) {
  if (text == "1" || text == "on" || text == "yes" || text == "true") { *out = true; return true; }
  if (text == "0" || text == "off" || text == "no" || text == "false") { *out = false; return true; }
  return false;
}

bool parse_uint(std::string_view text, std::uint64_t max, std::uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (v > (max - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

bool parse_huge_pages(std::string_view text, os::HugePagePolicy* out) {
  if (text == "auto") { *out = os::HugePagePolicy::kAuto; return true; }
  if (text == "hugetlb") { *out = os::HugePagePolicy::kHugetlb; return true; }
  if (text == "thp") { *out = os::HugePagePolicy::kThp; return true; }
  if (text == "off") { *out = os::HugePagePolicy::kOff; return true; }
  return false;
}

bool parse_control(std::string_view text, ControlMode* out) {
  if (text == "off" || text == "0") { *out = ControlMode::kOff; return true; }
  if (text == "on" || text == "1") { *out = ControlMode::kOn; return true; }
  if (text == "group") { *out = ControlMode::kGroup; return true; }
  return false;
}

bool parse_service(std::string_view text, ServiceMode* out) {
  if (text == "off" || text == "0") { *out = ServiceMode::kOff; return true; }
  if (text == "on" || text == "1") { *out = ServiceMode::kOn; return true; }
  if (text == "auto") { *out = ServiceMode::kAuto; return true; }
  return false;
}

void init_options(EnvLookup lookup) {
  if (lookup == nullptr) lookup = [](const char* name) -> const char* { return std::getenv(name); };
  Options& o = g_options;
  o.huge_pages = os::HugePagePolicy::kAuto;
  o.print_stats_at_exit = false;
  o.verbose = false;
  o.purge_delay_ms.store(1000, std::memory_order_relaxed);
  o.control = ControlMode::kOn;
  o.control_dir = "/dev/shm";
  o.control_delay_ms = 1000;
  o.service = ServiceMode::kAuto;
  o.service_interval_ms.store(1000, std::memory_order_relaxed);
  o.uring = true;

  apply(lookup, kHugePages, [&](std::string_view v) { return parse_huge_pages(v, &o.huge_pages); });
  apply(lookup, kStats, [&](std::string_view v) { return parse_bool(v, &o.print_stats_at_exit); });
  apply(lookup, kVerbose, [&](std::string_view v) { return parse_bool(v, &o.verbose); });
  apply(lookup, kPurgeDelay, [&](std::string_view v) {
    std::uint64_t ms = 0;
    if (!parse_uint(v, kMaxPurgeDelayMs, &ms)) return false;
    o.purge_delay_ms.store(ms, std::memory_order_relaxed);
    return true;
  });
  apply(lookup, kControl, [&](std::string_view v) { return parse_control(v, &o.control); });
  apply(lookup, kControlDir, [&](std::string_view v) {
    // The raw value (environ's own, NUL-terminated): trimmed text must be it.
    if (v.empty() || v.front() != '/' || v.size() > kMaxControlDirBytes || v.size() != std::strlen(g_info[kControlDir].raw)) {
      return false;
    }
    o.control_dir = g_info[kControlDir].raw;
    return true;
  });
  apply(lookup, kControlDelay, [&](std::string_view v) { return parse_uint(v, kMaxControlDelayMs, &o.control_delay_ms); });
  apply(lookup, kService, [&](std::string_view v) { return parse_service(v, &o.service); });
  apply(lookup, kServiceInterval, [&](std::string_view v) {
    std::uint64_t ms = 0;
    if (!parse_uint(v, kMaxServiceIntervalMs, &ms) || ms < kMinServiceIntervalMs) return false;
    o.service_interval_ms.store(ms, std::memory_order_relaxed);
    return true;
  });
  apply(lookup, kUring, [&](std::string_view v) { return parse_bool(v, &o.uring); });
  // HAKMEM_NODE=N is bind:N and wins over HAKMEM_NUMA. Whether the nodes
  // exist and may be used is for the numa layer to say (numa/placement.h).
  o.numa_given = false;
  o.numa_variable = g_info[kNuma].name;
  o.numa_raw = nullptr;
  apply(lookup, kNuma, [&](std::string_view v) {
    if (!numa::parse_placement(v, &o.numa)) return false;
    o.numa_given = true;
    o.numa_raw = g_info[kNuma].raw;
    return true;
  });
  apply(lookup, kNode, [&](std::string_view v) {
    if (!numa::parse_node(v, &o.numa)) return false;
    o.numa_given = true;
    o.numa_variable = g_info[kNode].name;
    o.numa_raw = g_info[kNode].raw;
    return true;
  });
}

void print_options() {
  for (const OptionInfo& info : g_info) {
    Formatter f;
    f.str("hakmem: ").str(info.name).str(" = ");
    switch (info.source) {
      case Source::kDefault: f.str(info.default_text).str(" (default)"); break;
      case Source::kEnvironment: f.str(info.raw).str(" (environment)"); break;
      case Source::kInvalid: f.str(info.default_text).str(" (default; the environment's value was invalid)"); break;
    }
    f.ch('\n').write_to(2);
  }
}

}  // namespace hakmem::config
