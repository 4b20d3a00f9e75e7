#include "numa/topology.h"

#include <gtest/gtest.h>

#include <cstring>

#include "numa/binding.h"

namespace hakmem::numa {
namespace {

std::uint32_t count_of(const char* s) { return node_count_from_list(s, static_cast<std::uint32_t>(std::strlen(s))); }

TEST(Topology, ParsesSysfsNodeLists) {
  EXPECT_EQ(count_of("0\n"), 1u);
  EXPECT_EQ(count_of("0-3\n"), 4u);
  EXPECT_EQ(count_of("0,2-5"), 6u);
  EXPECT_EQ(count_of("0-1,7"), 8u);
  EXPECT_EQ(count_of(""), 0u);
  EXPECT_EQ(count_of("zero"), 0u);
}

TEST(Topology, MachineHasAtLeastOneNodeAndThreadsAreOnOne) {
  init_topology();
  EXPECT_GE(node_count(), 1u);
  EXPECT_LT(current_node().value, node_count());
}

TEST(Binding, BindingToTheCurrentNodeSucceeds) {
  init_topology();
  alignas(4096) static char page[4096];
  EXPECT_TRUE(bind_region(page, sizeof(page), current_node()));
}

}  // namespace
}  // namespace hakmem::numa
