// libFuzzer target: the HAKMEM_* value parsers on any text: each accepts
// or refuses without crashing, gives the same answer twice, and keeps
// what it accepts within its range.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/options.h"

using namespace hakmem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bool b1 = false, b2 = false;
  if (config::parse_bool(text, &b1) != config::parse_bool(text, &b2) || b1 != b2) __builtin_trap();
  std::uint64_t u1 = 0, u2 = 0;
  const bool ok = config::parse_uint(text, 1000000, &u1);
  if (ok != config::parse_uint(text, 1000000, &u2) || (ok && (u1 != u2 || u1 > 1000000))) __builtin_trap();
  config::ControlMode m;
  config::parse_control(text, &m);
  config::ServiceMode s;
  config::parse_service(text, &s);
  hakmem::os::HugePagePolicy h1, h2;
  if (config::parse_huge_pages(text, &h1) && (!config::parse_huge_pages(text, &h2) || h1 != h2)) __builtin_trap();
  return 0;
}
