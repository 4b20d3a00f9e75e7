#include "numa/node_mask.h"

#include <gtest/gtest.h>

#include <string>

#include "base/format.h"

namespace hakmem::numa {
namespace {

std::string text_of(const NodeMask& m) {
  Formatter f;
  m.format(f);
  return std::string(f.view());
}

TEST(NodeMask, ParsesTheListsSysfsAndNumactlWrite) {
  NodeMask m;
  ASSERT_TRUE(m.parse_list("0"));
  EXPECT_EQ(text_of(m), "0");
  ASSERT_TRUE(m.parse_list("0-3\n"));
  EXPECT_EQ(m.count(), 4u);
  ASSERT_TRUE(m.parse_list("0,2-5,7"));
  EXPECT_EQ(text_of(m), "0,2-5,7");
  EXPECT_FALSE(m.contains(1));
  EXPECT_TRUE(m.contains(7));
  ASSERT_TRUE(m.parse_list("1023"));
  EXPECT_TRUE(m.contains(1023));
}

TEST(NodeMask, RejectsWhatIsNotAList) {
  NodeMask m;
  m.add(9);
  for (const char* bad : {"", ",", "0,", "-1", "3-1", "a", "0 1", "1024", "0-1024", "99999999999"}) {
    EXPECT_FALSE(m.parse_list(bad)) << bad;
  }
  EXPECT_EQ(text_of(m), "9") << "a failed parse leaves the mask as it was";
}

TEST(NodeMask, ParsesMemsAllowedHexGroups) {
  NodeMask m;
  ASSERT_TRUE(m.parse_hex_groups("00000000,00000003\n"));
  EXPECT_EQ(text_of(m), "0-1");
  ASSERT_TRUE(m.parse_hex_groups("00000001,00000000"));
  EXPECT_EQ(text_of(m), "32");
  ASSERT_TRUE(m.parse_hex_groups("a"));
  EXPECT_EQ(text_of(m), "1,3");
  EXPECT_FALSE(m.parse_hex_groups("xyz"));
}

TEST(NodeMask, WalksItsNodesInOrder) {
  NodeMask m;
  m.add(2);
  m.add(64);
  m.add(700);
  EXPECT_EQ(m.first(), 2u);
  EXPECT_EQ(m.next(3), 64u);
  EXPECT_EQ(m.next(65), 700u);
  EXPECT_EQ(m.next(701), NodeMask::kMaxNodes);
  EXPECT_EQ(m.nth(0), 2u);
  EXPECT_EQ(m.nth(2), 700u);
  EXPECT_EQ(m.nth(3), NodeMask::kMaxNodes);
  EXPECT_EQ(text_of(NodeMask()), "none");
  EXPECT_EQ(text_of(NodeMask::first_n(8) & m), "2");
}

}  // namespace
}  // namespace hakmem::numa
