#include "config/options.h"

#include <cstdlib>

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

enum OptionId { kHugePages, kStats, kVerbose, kPurgeDelay, kNuma, kNode, kOptionCount };

constinit OptionInfo g_info[kOptionCount] = {
    {"HAKMEM_HUGEPAGES", "auto|hugetlb|thp|off", "auto"},
    {"HAKMEM_STATS", "0|1", "0"},
    {"HAKMEM_VERBOSE", "0|1", "0"},
    {"HAKMEM_PURGE_DELAY_MS", "an integer from 0 to 3600000", "1000"},
    {"HAKMEM_NUMA", "local|interleave|bind:LIST|off, LIST like 0,2-3", "local"},
    {"HAKMEM_NODE", "a node number", "none"},
};

constexpr std::uint64_t kMaxPurgeDelayMs = 3600u * 1000u;

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

void init_options(EnvLookup lookup) {
  if (lookup == nullptr) lookup = [](const char* name) -> const char* { return std::getenv(name); };
  Options& o = g_options;
  o.huge_pages = os::HugePagePolicy::kAuto;
  o.print_stats_at_exit = false;
  o.verbose = false;
  o.purge_delay_ms.store(1000, std::memory_order_relaxed);

  apply(lookup, kHugePages, [&](std::string_view v) { return parse_huge_pages(v, &o.huge_pages); });
  apply(lookup, kStats, [&](std::string_view v) { return parse_bool(v, &o.print_stats_at_exit); });
  apply(lookup, kVerbose, [&](std::string_view v) { return parse_bool(v, &o.verbose); });
  apply(lookup, kPurgeDelay, [&](std::string_view v) {
    std::uint64_t ms = 0;
    if (!parse_uint(v, kMaxPurgeDelayMs, &ms)) return false;
    o.purge_delay_ms.store(ms, std::memory_order_relaxed);
    return true;
  });
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
