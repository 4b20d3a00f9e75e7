// Writing the figures into the control block: the layout of this library's
// block (which sections, where), its constant parts (header, directory,
// field schema, knob descriptions), and the publication of the figures
// under Header::publish_seq.
//
// Layer: control. format_block runs once, by the thread that makes the
// block; publish_figures may run from any thread (the service thread, a
// command, hkm_report_json's caller): publications are serialised by a
// lock of their own, so one writer at a time holds the seqlock. Never
// allocates: the snapshot lives on the caller's stack.
#pragma once

#include <cstddef>
#include <cstdint>

#include "control/layout.h"

namespace hakmem::control {

// Per-thread slots: the heaps with the most bytes cached; the rest are
// folded into the summary's totals (layout.h, kThreads).
inline constexpr std::uint32_t kThreadSlots = 64;

// The file's size for this machine (node count read from the topology).
std::size_t block_bytes_needed();
// Writes the header, directory, schema and knobs into a zeroed mapping of
// block_bytes_needed() bytes.
void format_block(void* base, std::size_t bytes, bool group_readable);
// Publishes the figures into the process's block, if it has one.
void publish_figures();
// Sets kStateExiting (at exit) / kStateServiceRunning.
void mark_exiting();
void mark_service_running(bool running);
// Zeroes the peaks published (reset peaks).
void reset_peaks();

// Where a section lies in the process's block (null if absent).
template <typename T>
T* section(void* base, layout::SectionId id);
void* section_address(void* base, layout::SectionId id);

template <typename T>
T* section(void* base, layout::SectionId id) {
  return static_cast<T*>(section_address(base, id));
}

// The summary's figures now (the waterfall), whether or not there is a
// block: for hkm_ctl_get and hkm_report_json. Walks the heap registry.
void gather_summary(layout::Summary* out);

// The schema, for tests and hkm_report_json: every field of every section.
const layout::FieldDesc* field_schema(std::uint32_t* count);

}  // namespace hakmem::control
