#include "base/format.h"

#include <cerrno>
#include <unistd.h>

namespace hakmem {

namespace {
constexpr std::string_view kEllipsis = "...";

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
}  // namespace

Formatter& Formatter::ch(char c) {
  if (len_ + kEllipsis.size() < kCapacity) {
    buf_[len_++] = c;
  } else if (!truncated_) {
    for (char e : kEllipsis) buf_[len_++] = e;
    truncated_ = true;
  }
  return *this;
}

Formatter& Formatter::str(std::string_view s) {
  for (char c : s) ch(c);
  return *this;
}

Formatter& Formatter::dec(std::uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) ch(digits[--n]);
  return *this;
}

Formatter& Formatter::sdec(std::int64_t v) {
  if (v < 0) {
    ch('-');
    return dec(static_cast<std::uint64_t>(-(v + 1)) + 1);
  }
  return dec(static_cast<std::uint64_t>(v));
}

Formatter& Formatter::hex(std::uint64_t v) {
  str("0x");
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  while (n > 0) ch(digits[--n]);
  return *this;
}

Formatter& Formatter::dec_padded(std::uint64_t v, unsigned width) {
  unsigned digits = 1;
  for (std::uint64_t t = v; t >= 10; t /= 10) ++digits;
  for (unsigned i = digits; i < width; ++i) ch(' ');
  return dec(v);
}

Formatter& Formatter::bytes(std::uint64_t v) {
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned unit = 0;
  std::uint64_t scaled10 = v * 10;  // one decimal digit of precision
  while (v >= 1024 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    scaled10 = v * 10 / 1024;
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return dec(v).ch(' ').str(kUnits[0]);
  dec(scaled10 / 10).ch('.').dec(scaled10 % 10);
  return ch(' ').str(kUnits[unit]);
}

void Formatter::write_to(int fd) const { write_all(fd, buf_, len_); }

void write_stderr(std::string_view text) { write_all(STDERR_FILENO, text.data(), text.size()); }

}  // namespace hakmem
