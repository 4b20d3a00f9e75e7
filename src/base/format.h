// A formatter into a fixed stack buffer, for messages from code that must not
// allocate (the allocator itself, before and during init, at exit).
//
// Layer: base. Any thread. Never allocates; output longer than the buffer is
// cut and ends with "...". Not printf: only the few conversions we need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hakmem {

class Formatter {
 public:
  static constexpr std::size_t kCapacity = 1024;

  Formatter& str(std::string_view s);
  Formatter& ch(char c);
  Formatter& dec(std::uint64_t v);
  Formatter& sdec(std::int64_t v);
  Formatter& hex(std::uint64_t v);  // with 0x prefix
  Formatter& ptr(const void* p) { return hex(reinterpret_cast<std::uintptr_t>(p)); }
  // Pads `v` on the left with spaces to `width` characters.
  Formatter& dec_padded(std::uint64_t v, unsigned width);
  // Bytes with a binary unit: "512 B", "12.5 KiB", "3.0 MiB".
  Formatter& bytes(std::uint64_t v);

  std::string_view view() const { return {buf_, len_}; }
  std::size_t size() const { return len_; }
  void clear() { len_ = 0; truncated_ = false; }

  // Writes the text to a file descriptor, retrying on EINTR and short writes.
  // Errors are ignored: there is nowhere left to report them.
  void write_to(int fd) const;

 private:
  char buf_[kCapacity];
  std::size_t len_ = 0;
  bool truncated_ = false;
};

// Writes `text` to stderr without allocating.
void write_stderr(std::string_view text);

}  // namespace hakmem
