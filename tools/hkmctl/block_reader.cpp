// Reading a control block as hostile input (see block_reader.h).
#include "block_reader.h"

#include "text.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace hakmem::hkmctl {
namespace {

[[noreturn]] void corrupt(const std::string& what) { throw BlockError(BlockProblem::kCorrupt, what); }

bool has_nul(const char* s, std::size_t capacity) { return std::memchr(s, '\0', capacity) != nullptr; }

// Overflow-safe end of `count` elements of `size` bytes at `offset`.
bool span_end(std::uint64_t offset, std::uint64_t count, std::uint64_t size, std::uint64_t* end) {
  std::uint64_t bytes = 0;
  return !__builtin_mul_overflow(count, size, &bytes) && !__builtin_add_overflow(offset, bytes, end);
}

// Section caps: what a real process could need, times a wide margin.
std::uint32_t max_count(std::uint32_t id) {
  switch (id) {
    case layout::kSummary:
    case layout::kMailbox: return 1;
    case layout::kTiers: return 64;
    case layout::kKnobs: return 1024;
    default: return kMaxElements;
  }
}

std::uint32_t needed_size(std::uint32_t id) {
  switch (id) {
    case layout::kFieldSchema: return sizeof(layout::FieldDesc);
    case layout::kSummary: return 8;  // a newer or older summary: read what is there
    case layout::kNodes: return sizeof(std::uint64_t);
    case layout::kTiers: return sizeof(std::uint64_t);
    case layout::kClasses: return sizeof(std::uint64_t);
    case layout::kThreads: return sizeof(std::uint64_t);
    case layout::kKnobs: return sizeof(layout::Knob);  // strings must be whole
    case layout::kMailbox: return sizeof(layout::Mailbox);
    default: return 1;
  }
}

// Reads each element's leading min(element_size, sizeof(T)) bytes; the rest
// of T stays zero (an older writer that did not have those fields).
template <typename T>
std::vector<T> elements(const unsigned char* data, const layout::SectionEntry& e) {
  std::vector<T> out(e.element_count);
  std::size_t n = e.element_size < sizeof(T) ? e.element_size : sizeof(T);
  for (std::uint32_t i = 0; i < e.element_count; ++i) {
    std::memcpy(&out[i], data + e.offset + std::uint64_t{i} * e.element_size, n);
  }
  return out;
}

void check_header(const layout::Header& h, std::size_t size) {
  if (h.abi_major != layout::kAbiMajor) {
    throw BlockError(BlockProblem::kIncompatible,
                     "block has ABI " + std::to_string(h.abi_major) + "." + std::to_string(h.abi_minor) +
                         ", this hkmctl reads ABI " + std::to_string(layout::kAbiMajor) +
                         ": use the hkmctl that came with the process's libhakmem");
  }
  if (h.header_bytes < layout::kHeaderBytes || h.header_bytes > h.total_bytes) {
    corrupt("header size " + std::to_string(h.header_bytes) + " is impossible");
  }
  if (h.total_bytes > kMaxBlockBytes) corrupt("block claims " + std::to_string(h.total_bytes) + " bytes");
  if (h.total_bytes > size) {
    throw BlockError(BlockProblem::kTruncated, "block is truncated: " + std::to_string(size) + " of " +
                                                   std::to_string(h.total_bytes) + " bytes");
  }
  if (!has_nul(h.command, sizeof h.command)) corrupt("command name has no terminating NUL");
  if (!has_nul(h.library_version, sizeof h.library_version)) corrupt("library version has no terminating NUL");
  if (h.section_count > kMaxSections) corrupt("section count " + std::to_string(h.section_count) + " over the cap");
  std::uint64_t dir_end = 0;
  if (h.directory_offset < h.header_bytes || h.directory_offset % 8 != 0 ||
      !span_end(h.directory_offset, h.section_count, sizeof(layout::SectionEntry), &dir_end) ||
      dir_end > h.total_bytes) {
    corrupt("section directory lies outside the block");
  }
  if (h.node_count > kMaxElements) corrupt("node count " + std::to_string(h.node_count) + " over the cap");
}

void check_section(const layout::SectionEntry& e, const layout::Header& h) {
  std::string name = section_name(e.id);
  std::uint64_t end = 0;
  if (e.element_count > e.capacity) corrupt(name + " section holds more elements than its capacity");
  if (e.capacity > kMaxElements || e.element_count > max_count(e.id)) corrupt(name + " section count over the cap");
  if (e.element_size < needed_size(e.id) || e.element_size > kMaxElementBytes) {
    corrupt(name + " section has elements of " + std::to_string(e.element_size) + " bytes");
  }
  if (e.offset < h.header_bytes || e.offset % 8 != 0 || !span_end(e.offset, e.capacity, e.element_size, &end) ||
      end > h.total_bytes) {
    corrupt(name + " section lies outside the block");
  }
}

void check_schema(const Block& b) {
  for (const layout::FieldDesc& f : b.schema) {
    if (!has_nul(f.name, sizeof f.name) || f.name[0] == '\0') corrupt("schema field without a NUL-terminated name");
    std::string name = escape(std::string_view(f.name));
    const layout::SectionEntry* s = b.section(f.section);
    if (s == nullptr || f.section == layout::kFieldSchema || f.section == layout::kMailbox) {
      corrupt("schema field " + name + " names section " + std::to_string(f.section));
    }
    bool wide = f.type == layout::FieldType::kU64 || f.type == layout::FieldType::kI64;
    bool narrow = f.type == layout::FieldType::kU32 || f.type == layout::FieldType::kI32;
    if (!(wide && f.size == 8) && !(narrow && f.size == 4)) corrupt("schema field " + name + " has a bad type or size");
    if (std::uint64_t{f.offset} + f.size > s->element_size) corrupt("schema field " + name + " lies outside its element");
  }
}

void check_knobs(const Block& b) {
  for (const layout::Knob& k : b.knobs) {
    if (!has_nul(k.name, sizeof k.name) || !has_nul(k.variable, sizeof k.variable) ||
        !has_nul(k.choices, sizeof k.choices) || k.name[0] == '\0') {
      corrupt("knob without NUL-terminated strings");
    }
    if (k.type < 1 || k.type > 3 || k.min > k.max) corrupt("knob " + escape(k.name) + " has a bad type or range");
  }
}

std::uint64_t now_monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool pread_all(int fd, void* buf, std::size_t n, off_t at, std::size_t* got) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, static_cast<char*>(buf) + done, n - done, at + static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  *got = done;
  return true;
}

}  // namespace

std::string section_name(std::uint32_t id) {
  switch (id) {
    case layout::kFieldSchema: return "schema";
    case layout::kSummary: return "summary";
    case layout::kNodes: return "nodes";
    case layout::kTiers: return "tiers";
    case layout::kClasses: return "classes";
    case layout::kThreads: return "threads";
    case layout::kKnobs: return "knobs";
    case layout::kMailbox: return "mailbox";
    default: return "section " + std::to_string(id);
  }
}

const layout::SectionEntry* Block::section(std::uint32_t id) const {
  for (const auto& e : sections) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

std::uint64_t Block::field(const layout::FieldDesc& f, std::uint32_t index) const {
  const layout::SectionEntry* s = section(f.section);
  if (s == nullptr || index >= s->element_count) return 0;
  const unsigned char* p = bytes.data() + s->offset + std::uint64_t{index} * s->element_size + f.offset;
  if (f.size == 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::int64_t Block::signed_field(const layout::FieldDesc& f, std::uint32_t index) const {
  std::uint64_t v = field(f, index);
  if (f.type == layout::FieldType::kI32) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

const layout::Knob* Block::knob(const std::string& name) const {
  for (const auto& k : knobs) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

Block parse_block(const unsigned char* data, std::size_t size) {
  Block b;
  if (size < sizeof(layout::Header)) {
    throw BlockError(BlockProblem::kTruncated, "block is truncated: " + std::to_string(size) + " bytes, no whole header");
  }
  std::memcpy(&b.header, data, sizeof b.header);
  if (std::memcmp(b.header.magic, layout::kMagic, sizeof layout::kMagic) != 0) {
    throw BlockError(BlockProblem::kBadMagic, "not a hakmem control block (bad magic)");
  }
  check_header(b.header, size);
  b.bytes.assign(data, data + b.header.total_bytes);
  const unsigned char* img = b.bytes.data();

  b.sections.resize(b.header.section_count);
  std::memcpy(b.sections.data(), img + b.header.directory_offset,
              std::size_t{b.header.section_count} * sizeof(layout::SectionEntry));
  for (std::size_t i = 0; i < b.sections.size(); ++i) {
    check_section(b.sections[i], b.header);
    for (std::size_t j = 0; j < i; ++j) {
      if (b.sections[j].id == b.sections[i].id) corrupt("section " + section_name(b.sections[i].id) + " listed twice");
    }
  }
  for (const auto& e : b.sections) {
    switch (e.id) {
      case layout::kFieldSchema: b.schema = elements<layout::FieldDesc>(img, e); break;
      case layout::kSummary:
        if (e.element_count == 1) {
          b.summary = elements<layout::Summary>(img, e)[0];
          b.has_summary = true;
        }
        break;
      case layout::kNodes: b.nodes = elements<layout::NodeFigures>(img, e); break;
      case layout::kTiers: b.tiers = elements<layout::TierFigures>(img, e); break;
      case layout::kClasses: b.classes = elements<layout::ClassFigures>(img, e); break;
      case layout::kThreads: b.threads = elements<layout::ThreadFigures>(img, e); break;
      case layout::kKnobs: b.knobs = elements<layout::Knob>(img, e); break;
      case layout::kMailbox:
        b.has_mailbox = e.element_count == 1;
        b.mailbox_offset = e.offset;
        break;
      default: break;  // a section from a newer minor version
    }
  }
  if (!b.has_summary) corrupt("block has no summary");
  check_schema(b);
  check_knobs(b);
  return b;
}

Block read_block(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    throw BlockError(BlockProblem::kUnreadable, std::string("cannot stat the block: ") + std::strerror(errno));
  }
  std::size_t want = static_cast<std::uint64_t>(st.st_size) > kMaxBlockBytes ? kMaxBlockBytes
                                                                              : static_cast<std::size_t>(st.st_size);
  std::vector<unsigned char> buf(want);
  constexpr off_t kSeqAt = offsetof(layout::Header, publish_seq);
  for (int attempt = 0; attempt < kSeqlockAttempts; ++attempt) {
    // A writer mid-publication finishes in microseconds; after a few quick
    // retries, back off so that a bounded number of tries spans ~0.1 s.
    if (attempt >= 8) std::this_thread::sleep_for(std::chrono::microseconds(500));
    std::uint64_t before = 0, after = 0;
    std::size_t got = 0, got_seq = 0;
    if (!pread_all(fd, buf.data(), buf.size(), 0, &got)) break;
    if (got < kSeqAt + sizeof before) return parse_block(buf.data(), got);  // reports the truncation
    std::memcpy(&before, buf.data() + kSeqAt, sizeof before);
    if (before % 2 != 0) continue;
    if (!pread_all(fd, &after, sizeof after, kSeqAt, &got_seq)) break;
    if (got_seq != sizeof after || after != before) continue;
    return parse_block(buf.data(), got);
  }
  if (errno == EIO || errno == EBADF) {
    throw BlockError(BlockProblem::kUnreadable, std::string("cannot read the block: ") + std::strerror(errno));
  }
  throw BlockError(BlockProblem::kTorn, "figures torn: the publication sequence stayed odd or kept changing for " +
                                            std::to_string(kSeqlockAttempts) + " reads; retry, or the writer is stuck");
}

std::uint64_t published_age_ns(const Block& block) {
  std::uint64_t now = now_monotonic_ns();
  return block.header.published_ns > now ? 0 : now - block.header.published_ns;
}

}  // namespace hakmem::hkmctl
