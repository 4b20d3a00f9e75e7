// The knob table (knobs.h). Layer: control. No allocation.
#include "control/knobs.h"

#include <cstring>

#include "config/options.h"

namespace hakmem::control {

namespace L = layout;

namespace {

struct KnobSpec {
  const char* name;
  const char* variable;
  L::KnobType type;
  L::FieldUnit unit;
  bool runtime;
  std::uint64_t min;
  std::uint64_t max;
  std::uint64_t default_value;
  const char* choices;  // kEnum: value names in order, '|'-separated
  std::uint64_t (*get)();
  void (*set)(std::uint64_t);  // runtime knobs only
};

config::Options& opts() { return config::mutable_options(); }

constexpr std::uint64_t kHour = 3600u * 1000u;

const KnobSpec kKnobs[] = {
    {"purge_delay", "HAKMEM_PURGE_DELAY_MS", L::KnobType::kUnsigned, L::FieldUnit::kMilliseconds, true, 0, kHour,
     1000, "", [] { return opts().purge_delay_ms.load(std::memory_order_relaxed); },
     [](std::uint64_t v) { opts().purge_delay_ms.store(v, std::memory_order_relaxed); }},
    {"service_interval", "HAKMEM_SERVICE_INTERVAL_MS", L::KnobType::kUnsigned, L::FieldUnit::kMilliseconds, true,
     10, kHour, 1000, "", [] { return opts().service_interval_ms.load(std::memory_order_relaxed); },
     [](std::uint64_t v) { opts().service_interval_ms.store(v, std::memory_order_relaxed); }},
    {"huge_pages", "HAKMEM_HUGEPAGES", L::KnobType::kEnum, L::FieldUnit::kNone, false, 0, 3, 0,
     "auto|hugetlb|thp|off", [] { return static_cast<std::uint64_t>(opts().huge_pages); }, nullptr},
    {"control", "HAKMEM_CONTROL", L::KnobType::kEnum, L::FieldUnit::kNone, false, 0, 2, 1, "off|on|group",
     [] { return static_cast<std::uint64_t>(opts().control); }, nullptr},
    {"control_delay", "HAKMEM_CONTROL_DELAY_MS", L::KnobType::kUnsigned, L::FieldUnit::kMilliseconds, false, 0,
     kHour, 1000, "", [] { return opts().control_delay_ms; }, nullptr},
    {"service", "HAKMEM_SERVICE", L::KnobType::kEnum, L::FieldUnit::kNone, false, 0, 2, 2, "off|on|auto",
     [] { return static_cast<std::uint64_t>(opts().service); }, nullptr},
};
constexpr std::uint32_t kKnobCount = sizeof(kKnobs) / sizeof(kKnobs[0]);
static_assert(kKnobCount <= kMaxKnobs);

const KnobSpec* find(const char* name) {
  if (name == nullptr) return nullptr;
  for (const KnobSpec& k : kKnobs) {
    if (std::strcmp(k.name, name) == 0) return &k;
  }
  return nullptr;
}

}  // namespace

std::uint32_t knob_count() { return kKnobCount; }

KnobResult knob_get(const char* name, std::uint64_t* value) {
  const KnobSpec* k = find(name);
  if (k == nullptr) return KnobResult::kUnknown;
  *value = k->get();
  return KnobResult::kOk;
}

KnobResult knob_set(const char* name, std::uint64_t value, const char** variable) {
  const KnobSpec* k = find(name);
  if (k == nullptr) return KnobResult::kUnknown;
  if (!k->runtime) {
    if (variable != nullptr) *variable = k->variable;
    return KnobResult::kStartupOnly;
  }
  if (value < k->min || value > k->max) return KnobResult::kOutOfRange;
  k->set(value);
  return KnobResult::kOk;
}

void write_knobs(L::Knob* out) {
  for (std::uint32_t i = 0; i < kKnobCount; ++i) {
    const KnobSpec& k = kKnobs[i];
    L::Knob& o = out[i];
    std::strncpy(o.name, k.name, sizeof(o.name) - 1);
    std::strncpy(o.variable, k.variable, sizeof(o.variable) - 1);
    std::strncpy(o.choices, k.choices, sizeof(o.choices) - 1);
    o.type = static_cast<std::uint32_t>(k.type);
    o.unit = static_cast<std::uint32_t>(k.unit);
    o.flags = k.runtime ? L::kKnobRuntime : 0;
    o.min = k.min;
    o.max = k.max;
    o.default_value = k.default_value;
    o.value = k.get();
  }
}

}  // namespace hakmem::control
