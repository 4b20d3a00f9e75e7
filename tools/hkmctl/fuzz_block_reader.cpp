// libFuzzer target: parse_block() on arbitrary bytes must return a Block or
// throw BlockError, never crash, hang or read outside its input.
// Build with Clang and -DHAKMEM_BUILD_FUZZERS=ON; see README.md.
#include <cstddef>
#include <cstdint>

#include "block_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    hakmem::hkmctl::Block b = hakmem::hkmctl::parse_block(data, size);
    // Reading every field the schema lists must stay inside the image.
    for (const auto& f : b.schema) {
      const auto* s = b.section(f.section);
      for (std::uint32_t i = 0; s != nullptr && i < s->element_count; ++i) (void)b.field(f, i);
    }
  } catch (const hakmem::hkmctl::BlockError&) {
  }
  return 0;
}
