#include "base/format.h"

#include <gtest/gtest.h>

#include <string>

namespace hakmem {
namespace {

TEST(Formatter, FormatsNumbersAndText) {
  Formatter f;
  f.str("a=").dec(0).str(" b=").dec(18446744073709551615ull).str(" c=").sdec(-42).str(" d=").hex(0xbeef);
  EXPECT_EQ(std::string(f.view()), "a=0 b=18446744073709551615 c=-42 d=0xbeef");
}

TEST(Formatter, MostNegativeNumber) {
  Formatter f;
  f.sdec(INT64_MIN);
  EXPECT_EQ(std::string(f.view()), "-9223372036854775808");
}

TEST(Formatter, BytesWithBinaryUnits) {
  Formatter f;
  f.bytes(512).ch('|').bytes(1536).ch('|').bytes(3ull << 20).ch('|').bytes(5ull << 30);
  EXPECT_EQ(std::string(f.view()), "512 B|1.5 KiB|3.0 MiB|5.0 GiB");
}

TEST(Formatter, PadsToWidth) {
  Formatter f;
  f.dec_padded(42, 6).ch('|').dec_padded(1234567, 3);
  EXPECT_EQ(std::string(f.view()), "    42|1234567");
}

TEST(Formatter, TruncatesLongOutputWithEllipsis) {
  Formatter f;
  for (int i = 0; i < 2000; ++i) f.ch('x');
  EXPECT_LE(f.size(), Formatter::kCapacity);
  const std::string s(f.view());
  EXPECT_EQ(s.substr(s.size() - 3), "...");
}

}  // namespace
}  // namespace hakmem
