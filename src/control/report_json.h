// The in-process twin of hkmctl: knobs and figures by the names the block's
// schema gives them, and the report as JSON (hkm_ctl_get, hkm_ctl_set,
// hkm_report_json in include/hakmem.h).
//
// Layer: control. Any thread. No allocation: the JSON is written straight
// into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::control {

// 0, or ENOENT (no such name), EINVAL (null argument).
int ctl_get(const char* name, std::uint64_t* value);
// 0, or ENOENT, EPERM (start-up only: set the environment variable),
// ERANGE (outside the knob's range), EINVAL.
int ctl_set(const char* name, std::uint64_t value);
// Writes {"summary":{...},"knobs":{...}} with stable snake_case keys and
// raw integers, cut to size - 1 bytes and NUL-terminated when size > 0.
// Returns the length of the whole report, as snprintf does.
std::size_t report_json(char* buf, std::size_t size);

}  // namespace hakmem::control
