// The knob table: every setting hkmctl and hkm_ctl_get/hkm_ctl_set know by
// name, with its environment variable, type, unit, range and default. One
// table for the environment's names (config/options.h parses them), the
// block's kKnobs section and the in-process calls.
//
// Layer: control. Any thread. Runtime knobs are the relaxed atomics of
// config::Options, read by the allocator on slow paths only; start-up knobs
// are refused by set, naming the variable to use instead.
#pragma once

#include <cstdint>

#include "control/layout.h"

namespace hakmem::control {

// The table is fixed at compile time; callers may size a stack copy by this.
inline constexpr std::uint32_t kMaxKnobs = 16;
std::uint32_t knob_count();

enum class KnobResult : std::uint8_t { kOk, kUnknown, kStartupOnly, kOutOfRange };

// Reads a knob's current value by name.
KnobResult knob_get(const char* name, std::uint64_t* value);
// Sets a runtime knob. On kStartupOnly, *variable (if given) is the
// environment variable that sets it.
KnobResult knob_set(const char* name, std::uint64_t value, const char** variable);

// Fills the block's kKnobs section (knob_count() elements) with the table
// and the current values.
void write_knobs(layout::Knob* out);

}  // namespace hakmem::control
