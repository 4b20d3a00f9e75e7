// Reading a control block (src/control/layout.h) as hostile input.
//
// Layer: tools/hkmctl; depends on control/layout.h only. The block is read
// with pread into our own buffer, never mapped: its owner could truncate a
// mapped file and kill the reader with SIGBUS. parse_block() checks every
// offset, size and count with overflow-safe arithmetic, caps every count and
// requires a NUL inside every string before anything is copied out; a block
// that fails gets a BlockError naming what was wrong, never a crash. It is
// the function the fuzzer drives (fuzz_block_reader.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "control/layout.h"
#include "error.h"

namespace hakmem::hkmctl {

namespace layout = ::hakmem::control::layout;

// Caps on what we accept, far above any real block, so that a hostile count
// cannot make the reader allocate or loop without bound.
inline constexpr std::uint64_t kMaxBlockBytes = 64ull << 20;
inline constexpr std::uint32_t kMaxSections = 64;
inline constexpr std::uint32_t kMaxElements = 1u << 16;
inline constexpr std::uint32_t kMaxElementBytes = 1u << 16;
inline constexpr int kSeqlockAttempts = 200;

enum class BlockProblem { kTruncated, kBadMagic, kIncompatible, kCorrupt, kTorn, kUnreadable };

class BlockError : public CtlError {
 public:
  BlockError(BlockProblem problem, const std::string& what)
      : CtlError(problem == BlockProblem::kIncompatible ? kExitIncompatible : kExitError, what),
        problem_(problem) {}
  BlockProblem problem() const { return problem_; }

 private:
  BlockProblem problem_;
};

struct Block {
  layout::Header header{};
  std::vector<layout::SectionEntry> sections;  // as the directory lists them
  std::vector<layout::FieldDesc> schema;       // every entry validated against its section
  bool has_summary = false;
  layout::Summary summary{};
  std::vector<layout::NodeFigures> nodes;
  std::vector<layout::TierFigures> tiers;
  std::vector<layout::ClassFigures> classes;
  std::vector<layout::ThreadFigures> threads;
  std::vector<layout::Knob> knobs;              // every string NUL-terminated
  bool has_mailbox = false;
  std::uint64_t mailbox_offset = 0;             // of a whole layout::Mailbox inside total_bytes
  std::vector<unsigned char> bytes;             // the image parsed, for fields read by schema

  const layout::SectionEntry* section(std::uint32_t id) const;
  // The value of schema field `f` in element `index` of its section
  // (sign-extended for signed types); `index` must be below its count.
  std::int64_t signed_field(const layout::FieldDesc& f, std::uint32_t index) const;
  std::uint64_t field(const layout::FieldDesc& f, std::uint32_t index) const;
  const layout::Knob* knob(const std::string& name) const;
};

// Validates and decodes `size` bytes of a block image. Throws BlockError.
Block parse_block(const unsigned char* data, std::size_t size);

// Reads the block in `fd` under its seqlock: a copy is kept only when the
// sequence was even and unchanged around it; after kSeqlockAttempts tries
// (a bounded fraction of a second) it throws BlockError(kTorn).
Block read_block(int fd);

// Nanoseconds since the figures were published (CLOCK_MONOTONIC, the same
// clock across processes); 0 when the block claims a time in the future.
std::uint64_t published_age_ns(const Block& block);

std::string section_name(std::uint32_t id);

}  // namespace hakmem::hkmctl
