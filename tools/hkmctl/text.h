// Text helpers: escaping untrusted strings, binary units, and parsing the
// sizes and durations operators type ("8MiB", "200ms").
//
// Layer: tools/hkmctl. Pure functions; parse_* throw CtlError(kExitUsage).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hakmem::hkmctl {

// Every byte outside printable ASCII becomes \xNN (backslash becomes \\), so
// a string from a block can never move an administrator's cursor or set a
// terminal's title.
std::string escape(std::string_view s);

// A fixed-size field from the block, up to its first NUL (callers have
// checked that a NUL is there), escaped.
std::string field_string(const char* data, std::size_t capacity);

// "512 B", "12.5 KiB", "3.0 GiB".
std::string format_bytes(std::uint64_t v);
// "850 ns", "1.25 ms", "3.0 s", "2h05m".
std::string format_duration_ns(std::uint64_t ns);

// "4096", "8MiB", "8 MiB", "1.5G", "64k" (binary multiples). `what` names the
// argument in the error message.
std::uint64_t parse_size(std::string_view text, std::string_view what);
// "200ms", "5s", "1.5s", "100us", "2m"; a bare number is in `bare_unit_ns`.
std::uint64_t parse_duration_ns(std::string_view text, std::string_view what,
                                std::uint64_t bare_unit_ns = 1'000'000'000);
// A plain unsigned decimal number.
std::uint64_t parse_unsigned(std::string_view text, std::string_view what);

// JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace hakmem::hkmctl
