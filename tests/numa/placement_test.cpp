// The placement policy on synthetic machines: which nodes memory may go to,
// how regions are bound, where a thread's heap lives and where SuperSlabs go.
#include "numa/placement.h"

#include <gtest/gtest.h>

#include <vector>

namespace hakmem::numa {
namespace {

NodeMask nodes(const char* list) {
  NodeMask m;
  EXPECT_TRUE(m.parse_list(list)) << list;
  return m;
}

PlacementRequest request(const char* text) {
  PlacementRequest r;
  EXPECT_TRUE(parse_placement(text, &r)) << text;
  return r;
}

Placement resolve(const PlacementRequest* req, const char* usable, bool inherited = false,
                  std::uint32_t* bad = nullptr) {
  std::uint32_t ignored = 0;
  return resolve_placement(PlacementInputs{req, nodes(usable), inherited}, bad != nullptr ? bad : &ignored);
}

TEST(Placement, ParsesEveryPolicyAndRejectsTheRest) {
  PlacementRequest r;
  ASSERT_TRUE(parse_placement("local", &r));
  EXPECT_EQ(r.kind, PlacementKind::kLocal);
  ASSERT_TRUE(parse_placement("interleave", &r));
  EXPECT_EQ(r.kind, PlacementKind::kInterleave);
  ASSERT_TRUE(parse_placement("off", &r));
  EXPECT_EQ(r.kind, PlacementKind::kOff);
  ASSERT_TRUE(parse_placement("bind:0,2", &r));
  EXPECT_EQ(r.kind, PlacementKind::kBind);
  EXPECT_EQ(r.nodes, nodes("0,2"));
  for (const char* bad : {"", "Local", "bind", "bind:", "bind:x", "bind:1,", "interleave:0", "on"}) {
    EXPECT_FALSE(parse_placement(bad, &r)) << bad;
  }
  ASSERT_TRUE(parse_node("3", &r));
  EXPECT_EQ(r.kind, PlacementKind::kBind);
  EXPECT_EQ(r.nodes, nodes("3"));
  for (const char* bad : {"", "-1", "1-2", "0,1", "x", "1024"}) EXPECT_FALSE(parse_node(bad, &r)) << bad;
}

TEST(Placement, OneNodeMachinesBindNothing) {
  for (const char* text : {"local", "interleave"}) {
    const PlacementRequest r = request(text);
    const Placement p = resolve(&r, "0");
    EXPECT_EQ(p.bind, BindMode::kNone) << text;
    EXPECT_EQ(home_node(p, NodeId{0}), NodeId{0});
  }
  EXPECT_EQ(resolve(nullptr, "0").bind, BindMode::kNone);
}

TEST(Placement, LocalKeepsEachThreadOnItsNode) {
  for (const char* usable : {"0-1", "0-3", "0-7"}) {
    const Placement p = resolve(nullptr, usable);
    EXPECT_EQ(p.kind, PlacementKind::kLocal);
    EXPECT_EQ(p.bind, BindMode::kPreferred);
    for (std::uint32_t n = p.nodes.first(); n < NodeMask::kMaxNodes; n = p.nodes.next(n + 1)) {
      EXPECT_EQ(home_node(p, NodeId{n}), NodeId{n});
      EXPECT_EQ(superslab_node(p, NodeId{n}), NodeId{n});
    }
  }
}

TEST(Placement, ANodeWithoutMemoryOrOutsideTheCpusetSendsItsThreadsElsewhere) {
  // Node 1 has CPUs but no memory (or the cpuset leaves it out): usable
  // nodes are 0, 2 and 3, and a thread running on node 1 is homed on 0.
  const Placement p = resolve(nullptr, "0,2-3");
  EXPECT_EQ(home_node(p, NodeId{1}), NodeId{0});
  EXPECT_EQ(home_node(p, NodeId{2}), NodeId{2});
  const Placement restricted = resolve(nullptr, "2-3");
  EXPECT_EQ(home_node(restricted, NodeId{0}), NodeId{2});
}

TEST(Placement, BindKeepsMemoryOnTheListedNodesStrictly) {
  const PlacementRequest r = request("bind:1,3");
  std::uint32_t bad = 0;
  const Placement p = resolve(&r, "0-3", false, &bad);
  EXPECT_EQ(bad, NodeMask::kMaxNodes);
  EXPECT_EQ(p.bind, BindMode::kStrict);
  EXPECT_EQ(home_node(p, NodeId{0}), NodeId{1}) << "a thread on node 0 gets memory from node 1";
  EXPECT_EQ(home_node(p, NodeId{3}), NodeId{3});
  EXPECT_EQ(superslab_node(p, NodeId{3}), NodeId{3});
}

TEST(Placement, BindToANodeThatCannotBeUsedFallsBackToTheDefault) {
  const PlacementRequest r = request("bind:0,5");
  std::uint32_t bad = 0;
  const Placement p = resolve(&r, "0-3", false, &bad);
  EXPECT_EQ(bad, 5u);
  EXPECT_EQ(p.kind, PlacementKind::kLocal);
  EXPECT_EQ(p.bind, BindMode::kPreferred);
  EXPECT_EQ(p.nodes, nodes("0-3"));
}

TEST(Placement, InterleaveSpreadsSuperSlabsEvenlyOverTheUsableNodes) {
  const PlacementRequest r = request("interleave");
  const Placement p = resolve(&r, "0,2,4-5");
  std::vector<int> per_node(8, 0);
  for (int i = 0; i < 400; ++i) ++per_node[superslab_node(p, NodeId{0}).value];
  EXPECT_EQ(per_node[0], 100);
  EXPECT_EQ(per_node[2], 100);
  EXPECT_EQ(per_node[4], 100);
  EXPECT_EQ(per_node[5], 100);
  EXPECT_EQ(per_node[1] + per_node[3] + per_node[6] + per_node[7], 0);
}

TEST(Placement, AnInheritedPolicyIsLeftToTheKernelUnlessTheUserAsks) {
  const Placement kept = resolve(nullptr, "0-1", true);
  EXPECT_TRUE(kept.inherited);
  EXPECT_EQ(kept.bind, BindMode::kNone);
  const PlacementRequest r = request("local");
  const Placement asked = resolve(&r, "0-1", true);
  EXPECT_FALSE(asked.inherited);
  EXPECT_EQ(asked.bind, BindMode::kPreferred);
}

TEST(Placement, OffBindsNothingAnywhere) {
  const PlacementRequest r = request("off");
  const Placement p = resolve(&r, "0-7");
  EXPECT_EQ(p.bind, BindMode::kNone);
  EXPECT_EQ(home_node(p, NodeId{6}), NodeId{6});
}

}  // namespace
}  // namespace hakmem::numa

namespace hakmem::numa {
namespace {

// On the machine the tests run on: node 0 is usable everywhere.
TEST(Placement, VerboseLineNamesThePlacementInForce) {
  const PlacementRequest r = request("bind:0");
  init_placement(&r, "HAKMEM_NUMA", "bind:0");
  testing::internal::CaptureStderr();
  print_placement();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "hakmem: NUMA placement: bind on nodes 0, MPOL_BIND\n");
  const PlacementRequest off = request("off");
  init_placement(&off, "HAKMEM_NUMA", "off");
  testing::internal::CaptureStderr();
  print_placement();
  EXPECT_EQ(testing::internal::GetCapturedStderr().rfind("hakmem: NUMA placement: off on nodes 0", 0), 0u);
  init_placement(nullptr, "HAKMEM_NUMA", nullptr);  // back to the default for the other tests
}

}  // namespace
}  // namespace hakmem::numa
