// Deterministic hostile input: thousands of mutations of a valid block
// through the parser. Each must parse or throw BlockError; whatever parses
// must keep every schema field inside the image. The fuzzer
// (tools/hkmctl/fuzz_block_reader.cpp) does the same without a seed.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "block_image.h"
#include "block_reader.h"
#include "text.h"

namespace hakmem::hkmctl {
namespace {

void parse_checked(const std::vector<unsigned char>& b, int* parsed) {
  try {
    Block blk = parse_block(b.data(), b.size());
    ++*parsed;
    for (const auto& f : blk.schema) {
      const auto* s = blk.section(f.section);
      ASSERT_NE(s, nullptr);
      ASSERT_LE(s->offset + std::uint64_t{s->element_count} * s->element_size, blk.bytes.size());
      for (std::uint32_t i = 0; i < s->element_count; ++i) (void)blk.field(f, i);
    }
    for (const auto& k : blk.knobs) ASSERT_NE(std::memchr(k.name, 0, sizeof k.name), nullptr);
    ASSERT_NE(std::memchr(blk.header.command, 0, sizeof blk.header.command), nullptr);
  } catch (const BlockError&) {
  }
}

TEST(HostileBlock, MutatedBlocksNeverCrashTheParser) {
  const std::uint32_t seed = 20261203;
  std::mt19937_64 rng(seed);
  auto img = testing::make_image({});
  // Most mutations aim at the header and directory, where offsets live.
  const std::size_t hot = layout::kHeaderBytes + 8 * sizeof(layout::SectionEntry);
  int parsed = 0;
  for (int round = 0; round < 5000; ++round) {
    auto b = img.bytes;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % 3 != 0 ? rng() % hot : rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = static_cast<unsigned char>(rng()); break;
        case 1: b[at] ^= static_cast<unsigned char>(1u << (rng() % 8)); break;
        case 2: {
          std::uint32_t v = static_cast<std::uint32_t>(rng() % 2 ? ~0u : rng());
          if (at + 4 <= b.size()) std::memcpy(b.data() + at, &v, 4);
          break;
        }
        default: b.resize(rng() % b.size()); break;
      }
      if (b.empty()) break;
    }
    parse_checked(b, &parsed);
    if (::testing::Test::HasFatalFailure()) FAIL() << "seed " << seed << " round " << round;
  }
  // Some mutations leave a valid block (padding, figures): the parser must
  // not refuse everything.
  EXPECT_GT(parsed, 0);
}

TEST(HostileBlock, RandomBytesAreNotABlock) {
  std::mt19937_64 rng(7);
  int parsed = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<unsigned char> b(rng() % 8192);
    for (auto& c : b) c = static_cast<unsigned char>(rng());
    parse_checked(b, &parsed);
  }
  EXPECT_EQ(parsed, 0);
}

TEST(Escape, ControlCharactersBecomeVisible) {
  EXPECT_EQ(escape("plain name"), "plain name");
  EXPECT_EQ(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(escape("\x07\n\x7f\xff"), "\\x07\\x0a\\x7f\\xff");
  EXPECT_EQ(escape("back\\slash"), "back\\\\slash");
}

TEST(Units, SizesAndDurationsParse) {
  EXPECT_EQ(parse_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_size("8MiB", "x"), 8u << 20);
  EXPECT_EQ(parse_size("8 MiB", "x"), 8u << 20);
  EXPECT_EQ(parse_size("1.5G", "x"), 3ull << 29);
  EXPECT_EQ(parse_size("64k", "x"), 65536u);
  EXPECT_EQ(parse_duration_ns("200ms", "x"), 200'000'000u);
  EXPECT_EQ(parse_duration_ns("5s", "x"), 5'000'000'000u);
  EXPECT_EQ(parse_duration_ns("2", "x"), 2'000'000'000u);
  for (const char* bad : {"", "MiB", "8XB", "-1", "1e99", "1..2"}) {
    EXPECT_THROW(parse_size(bad, "x"), CtlError) << bad;
  }
  EXPECT_THROW(parse_duration_ns("5 parsecs", "x"), CtlError);
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(3ull << 20), "3.00 MiB");
  EXPECT_EQ(format_bytes(48ull << 20), "48.0 MiB");
}

}  // namespace
}  // namespace hakmem::hkmctl
