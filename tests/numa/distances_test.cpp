#include "numa/distances.h"

#include <gtest/gtest.h>

namespace hakmem::numa {
namespace {

NodeMask nodes(std::string_view list) {
  NodeMask m;
  EXPECT_TRUE(m.parse_list(list)) << list;
  return m;
}

TEST(DistanceRow, ParsesWhatSysfsWrites) {
  std::uint32_t row[4] = {9, 9, 9, 9};
  EXPECT_EQ(parse_distance_row("10 21 31 21\n", row, 4), 4u);
  EXPECT_EQ(row[0], 10u);
  EXPECT_EQ(row[1], 21u);
  EXPECT_EQ(row[2], 31u);
  EXPECT_EQ(row[3], 21u);
}

TEST(DistanceRow, AShortRowLeavesTheRestUnknown) {
  std::uint32_t row[3] = {9, 9, 9};
  EXPECT_EQ(parse_distance_row("10 20", row, 3), 2u);
  EXPECT_EQ(row[2], 0u);
}

TEST(DistanceRow, ALongerRowIsCountedButNotWrittenPastTheEnd) {
  std::uint32_t row[3] = {};  // row[2] is past the count given
  EXPECT_EQ(parse_distance_row("10 20 30 40 50", row, 2), 5u);
  EXPECT_EQ(row[1], 20u);
  EXPECT_EQ(row[2], 0u);
}

TEST(DistanceRow, RejectsWhatIsNotARow) {
  std::uint32_t row[2] = {};
  EXPECT_EQ(parse_distance_row("", row, 2), 0u);
  EXPECT_EQ(parse_distance_row("10,20", row, 2), 0u);
  EXPECT_EQ(parse_distance_row("10 x", row, 2), 0u);
  EXPECT_EQ(parse_distance_row("99999999", row, 2), 0u);
}

TEST(NearestNode, PicksTheSmallestDistance) {
  // Four sockets in a ring: neighbours at 20, the opposite one at 30.
  const std::uint32_t from0[] = {10, 20, 30, 20};
  EXPECT_EQ(nearest_node(from0, 4, nodes("2-3")), 3u);
  EXPECT_EQ(nearest_node(from0, 4, nodes("1-2")), 1u);
  EXPECT_EQ(nearest_node(from0, 4, nodes("2")), 2u);
  EXPECT_EQ(nearest_node(from0, 4, nodes("0-3")), 0u);
}

TEST(NearestNode, TiesGoToTheLowerId) {
  const std::uint32_t from1[] = {20, 10, 20, 30};
  EXPECT_EQ(nearest_node(from1, 4, nodes("0,2,3")), 0u);
  EXPECT_EQ(nearest_node(from1, 4, nodes("2-3")), 2u);
}

TEST(NearestNode, UnknownDistancesLoseToKnownOnes) {
  const std::uint32_t row[] = {0, 10, 0, 40};
  EXPECT_EQ(nearest_node(row, 4, nodes("0,2-3")), 3u);
  // Nothing known: the lowest allowed node.
  const std::uint32_t none[] = {0, 0, 0, 0};
  EXPECT_EQ(nearest_node(none, 4, nodes("2-3")), 2u);
  // Nodes past the row are unknown too.
  EXPECT_EQ(nearest_node(row, 2, nodes("3,5")), 3u);
}

TEST(NearestNode, NoAllowedNodeIsNone) {
  const std::uint32_t row[] = {10, 20};
  EXPECT_EQ(nearest_node(row, 2, NodeMask{}), NodeMask::kMaxNodes);
}

TEST(NearestAllowedNode, WithoutATableIsTheLowestAllowedNode) {
  // This machine's table is empty for node ids it never filled.
  EXPECT_EQ(nearest_allowed_node(NodeId{900}, nodes("3,5")).value, 3u);
  EXPECT_EQ(nearest_allowed_node(NodeId{900}, NodeMask{}).value, 0u);
}

}  // namespace
}  // namespace hakmem::numa
