// Text helpers (see text.h).
#include "text.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "error.h"

namespace hakmem::hkmctl {

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string field_string(const char* data, std::size_t capacity) {
  return escape(std::string_view(data, strnlen(data, capacity)));
}

std::string format_bytes(std::uint64_t v) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (v < 1024) return std::to_string(v) + " B";
  double x = static_cast<double>(v);
  int u = 0;
  while (x >= 1024 && u < 6) {
    x /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, x < 10 ? "%.2f %s" : x < 100 ? "%.1f %s" : "%.0f %s", x, kUnits[u]);
  return buf;
}

std::string format_duration_ns(std::uint64_t ns) {
  char buf[32];
  if (ns < 1000) {
    std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(ns));
  } else if (ns < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  } else if (ns < 120'000'000'000ull) {
    std::snprintf(buf, sizeof buf, "%.1f s", ns / 1e9);
  } else {
    std::uint64_t s = ns / 1'000'000'000;
    if (s < 7200) {
      std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                    static_cast<unsigned long long>(s % 60));
    } else {
      std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                    static_cast<unsigned long long>(s / 60 % 60));
    }
  }
  return buf;
}

namespace {

// Splits "1.5GiB" into 1.5 and "GiB"; false if there is no number.
bool split_number(std::string_view text, double* number, std::string* suffix) {
  std::size_t i = 0;
  bool digits = false;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
    digits |= text[i] != '.';
    ++i;
  }
  if (!digits) return false;
  std::string num(text.substr(0, i));
  char* end = nullptr;
  *number = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size()) return false;
  while (i < text.size() && text[i] == ' ') ++i;
  suffix->assign(text.substr(i));
  return true;
}

[[noreturn]] void bad(std::string_view what, std::string_view text, std::string_view expected) {
  usage_error("bad " + std::string(what) + " '" + escape(text) + "': expected " + std::string(expected));
}

std::uint64_t scaled(double number, double scale, std::string_view what, std::string_view text,
                     std::string_view expected) {
  double v = std::round(number * scale);
  if (!(v >= 0) || v >= 18446744073709551615.0) bad(what, text, expected);
  return static_cast<std::uint64_t>(v);
}

}  // namespace

std::uint64_t parse_unsigned(std::string_view text, std::string_view what) {
  if (text.empty() || text.size() > 20) bad(what, text, "a number");
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') bad(what, text, "a number");
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) bad(what, text, "a number below 2^64");
    v = v * 10 + d;
  }
  return v;
}

std::uint64_t parse_size(std::string_view text, std::string_view what) {
  static constexpr std::string_view kExpected = "a size such as 4096, 64KiB, 8MiB or 1.5GiB";
  double number = 0;
  std::string suffix;
  if (!split_number(text, &number, &suffix)) bad(what, text, kExpected);
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr struct { const char* name; int shift; } kSuffixes[] = {
      {"", 0},    {"b", 0},    {"k", 10},   {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
      {"mib", 20}, {"g", 30},  {"gb", 30},  {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
  };
  for (const auto& s : kSuffixes) {
    if (suffix == s.name) return scaled(number, std::ldexp(1.0, s.shift), what, text, kExpected);
  }
  bad(what, text, kExpected);
}

std::uint64_t parse_duration_ns(std::string_view text, std::string_view what, std::uint64_t bare_unit_ns) {
  static constexpr std::string_view kExpected = "a duration such as 200ms, 5s or 2m";
  double number = 0;
  std::string suffix;
  if (!split_number(text, &number, &suffix)) bad(what, text, kExpected);
  static constexpr struct { const char* name; double ns; } kSuffixes[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9},
  };
  if (suffix.empty()) return scaled(number, static_cast<double>(bare_unit_ns), what, text, kExpected);
  for (const auto& s : kSuffixes) {
    if (suffix == s.name) return scaled(number, s.ns, what, text, kExpected);
  }
  bad(what, text, kExpected);
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace hakmem::hkmctl
