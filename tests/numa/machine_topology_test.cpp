// The topology reader and the placement logic on machines hwloc makes up:
// synthetic ones (1 to 8 nodes), an XML one with a node without memory and
// a node without CPUs, unequal distances, and a restricted cpuset.
#include "numa/machine_topology.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "numa/distances.h"
#include "numa/placement.h"

namespace hakmem::numa {
namespace {

HwlocCalls linked_hwloc() {
  return HwlocCalls{hwloc_topology_init,     hwloc_topology_load,     hwloc_topology_destroy,
                    hwloc_get_type_depth,    hwloc_get_nbobjs_by_depth, hwloc_get_obj_by_depth,
                    hwloc_distances_get_by_type, hwloc_distances_release};
}

// A made-up machine, loaded; destroyed with the object.
class FakeMachine {
 public:
  static FakeMachine synthetic(const char* description) {
    FakeMachine m;
    EXPECT_EQ(hwloc_topology_set_synthetic(m.topology_, description), 0) << description;
    EXPECT_EQ(hwloc_topology_load(m.topology_), 0);
    return m;
  }
  static FakeMachine xml(const std::string& file) {
    FakeMachine m;
    const std::string path = std::string(HAKMEM_TOPOLOGIES_DIR) + "/" + file;
    EXPECT_EQ(hwloc_topology_set_xml(m.topology_, path.c_str()), 0) << path;
    EXPECT_EQ(hwloc_topology_load(m.topology_), 0) << path;
    return m;
  }
  FakeMachine(FakeMachine&& other) noexcept : topology_(other.topology_) { other.topology_ = nullptr; }
  FakeMachine& operator=(FakeMachine&&) = delete;
  ~FakeMachine() {
    if (topology_ != nullptr) hwloc_topology_destroy(topology_);
  }

  // Installs a latency matrix between the NUMA nodes (row-major, by os id).
  void set_distances(const std::vector<hwloc_uint64_t>& values) {
    const int depth = hwloc_get_type_depth(topology_, HWLOC_OBJ_NUMANODE);
    std::vector<hwloc_obj_t> objs(hwloc_get_nbobjs_by_depth(topology_, depth));
    for (unsigned i = 0; i < objs.size(); ++i) {
      hwloc_obj_t o = hwloc_get_obj_by_depth(topology_, depth, i);
      objs[o->os_index] = o;
    }
    ASSERT_EQ(values.size(), objs.size() * objs.size());
    hwloc_distances_add_handle_t h = hwloc_distances_add_create(
        topology_, "NUMALatency", HWLOC_DISTANCES_KIND_FROM_USER | HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0);
    ASSERT_NE(h, nullptr);
    ASSERT_EQ(hwloc_distances_add_values(topology_, h, static_cast<unsigned>(objs.size()), objs.data(),
                                         const_cast<hwloc_uint64_t*>(values.data()), 0),
              0);
    ASSERT_EQ(hwloc_distances_add_commit(topology_, h, 0), 0);
  }

  // Keeps only the CPUs of the given packages, as a cpuset would, and the
  // nodes left with CPUs.
  void restrict_to_packages(std::initializer_list<unsigned> packages) {
    hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
    for (unsigned p : packages) {
      hwloc_bitmap_or(cpus, cpus, hwloc_get_obj_by_type(topology_, HWLOC_OBJ_PACKAGE, p)->cpuset);
    }
    EXPECT_EQ(hwloc_topology_restrict(topology_, cpus, HWLOC_RESTRICT_FLAG_REMOVE_CPULESS), 0);
    hwloc_bitmap_free(cpus);
  }

  MachineTopology read() const {
    MachineTopology t;
    EXPECT_TRUE(t.read(topology_, linked_hwloc()));
    return t;
  }

 private:
  FakeMachine() { hwloc_topology_init(&topology_); }
  hwloc_topology_t topology_ = nullptr;
};

// Releases the tables at the end of a test.
struct Read {
  explicit Read(const FakeMachine& m) : t(m.read()) {}
  ~Read() { t.release(); }
  MachineTopology t;
};

std::string list(const NodeMask& m) {
  std::string s;
  for (std::uint32_t n = m.first(); n < NodeMask::kMaxNodes; n = m.next(n + 1)) s += (s.empty() ? "" : ",") + std::to_string(n);
  return s;
}

// What a thread running on `node` gets under the placement resolved for
// `request` on this machine: the same steps init_placement takes, with the
// machine's usable nodes and distance rows.
std::uint32_t home_of(const MachineTopology& t, std::uint32_t node, const PlacementRequest* request) {
  PlacementInputs in;
  in.requested = request;
  in.usable = t.nodes_with_memory();
  std::uint32_t bad = NodeMask::kMaxNodes;
  const Placement p = resolve_placement(in, &bad);
  if (p.nodes.contains(node)) return node;
  return nearest_node(t.distance_row(node), t.node_ids(), p.nodes);
}

TEST(MachineTopology, OneNode) {
  Read r(FakeMachine::synthetic("pack:1 numa:1(memory=1073741824) core:4 pu:1"));
  EXPECT_EQ(r.t.node_ids(), 1u);
  EXPECT_EQ(list(r.t.present_nodes()), "0");
  EXPECT_EQ(r.t.memory_bytes(0), 1073741824u);
  EXPECT_EQ(r.t.cpu_count(0), 4u);
  for (std::uint32_t cpu = 0; cpu < 4; ++cpu) EXPECT_TRUE(r.t.has_cpu(0, cpu));
  EXPECT_FALSE(r.t.has_cpu(0, 4));
  EXPECT_EQ(r.t.distance(0, 0), 10u) << "one node: hwloc keeps no matrix, the firmware's is [10]";
  EXPECT_EQ(home_of(r.t, 0, nullptr), 0u);
}

TEST(MachineTopology, TwoFourAndEightNodes) {
  for (unsigned nodes : {2u, 4u, 8u}) {
    const std::string description = "pack:" + std::to_string(nodes) + " numa:1(memory=536870912) core:2 pu:1";
    Read r(FakeMachine::synthetic(description.c_str()));
    SCOPED_TRACE(description);
    EXPECT_EQ(r.t.node_ids(), nodes);
    EXPECT_EQ(r.t.present_nodes().count(), nodes);
    EXPECT_EQ(r.t.nodes_with_memory().count(), nodes);
    for (std::uint32_t n = 0; n < nodes; ++n) {
      EXPECT_EQ(r.t.memory_bytes(n), 536870912u);
      EXPECT_EQ(r.t.cpu_count(n), 2u);
      EXPECT_TRUE(r.t.has_cpu(n, 2 * n));
      EXPECT_TRUE(r.t.has_cpu(n, 2 * n + 1));
      EXPECT_FALSE(r.t.has_cpu(n, (2 * n + 2) % (2 * nodes)));
      // Local policy: every node keeps its own threads' memory.
      EXPECT_EQ(home_of(r.t, n, nullptr), n);
    }
    EXPECT_FALSE(r.t.present(nodes));
    EXPECT_EQ(r.t.distance_row(nodes), nullptr);
  }
}

TEST(MachineTopology, UnequalDistancesPickTheNearestAllowedNode) {
  // Four sockets in a ring: each one's neighbours at 20, the opposite at 32.
  FakeMachine m = FakeMachine::synthetic("pack:4 numa:1(memory=536870912) core:1 pu:1");
  m.set_distances({10, 20, 32, 20,  //
                   20, 10, 20, 32,  //
                   32, 20, 10, 20,  //
                   20, 32, 20, 10});
  Read r(m);
  EXPECT_EQ(r.t.distance(0, 0), 10u);
  EXPECT_EQ(r.t.distance(0, 2), 32u);
  EXPECT_EQ(r.t.distance(3, 0), 20u);
  PlacementRequest bind;
  ASSERT_TRUE(parse_placement("bind:1,2", &bind));
  EXPECT_EQ(home_of(r.t, 0, &bind), 1u) << "1 is at 20, 2 at 32";
  EXPECT_EQ(home_of(r.t, 3, &bind), 2u) << "2 is at 20, 1 at 32";
  EXPECT_EQ(home_of(r.t, 2, &bind), 2u);
  ASSERT_TRUE(parse_placement("bind:0,2", &bind));
  EXPECT_EQ(home_of(r.t, 1, &bind), 0u) << "a tie goes to the lower id";
  EXPECT_EQ(home_of(r.t, 3, &bind), 0u);
}

TEST(MachineTopology, NodesWithoutMemoryOrWithoutCpus) {
  // Node 0: two CPUs and memory. Node 1: two CPUs, no memory. Node 2:
  // memory only, attached to the machine (no CPU of its own). Distances:
  // 0-1 20, 0-2 30, 1-2 25.
  Read r(FakeMachine::xml("three_nodes_uneven.xml"));
  EXPECT_EQ(r.t.node_ids(), 3u);
  EXPECT_EQ(list(r.t.present_nodes()), "0,1,2");
  EXPECT_EQ(list(r.t.nodes_with_memory()), "0,2");
  EXPECT_EQ(r.t.memory_bytes(1), 0u);
  EXPECT_EQ(r.t.memory_bytes(2), 8000000000u);
  EXPECT_EQ(r.t.cpu_count(0), 2u);
  EXPECT_EQ(r.t.cpu_count(1), 2u);
  EXPECT_EQ(r.t.cpu_count(2), 0u);
  EXPECT_FALSE(r.t.has_cpu(2, 0));
  EXPECT_TRUE(r.t.has_cpu(1, 3));
  EXPECT_EQ(r.t.distance(1, 2), 25u);
  // A thread on the memoryless node 1 gets memory from node 0 (20), not
  // from node 2 (25), and not from "the lowest node" by accident: bind the
  // other way round to tell the two apart.
  EXPECT_EQ(home_of(r.t, 1, nullptr), 0u);
  PlacementRequest bind;
  ASSERT_TRUE(parse_placement("bind:2", &bind));
  EXPECT_EQ(home_of(r.t, 0, &bind), 2u);
  EXPECT_EQ(home_of(r.t, 1, &bind), 2u);
  // bind:LIST naming the memoryless node is refused: the default applies.
  ASSERT_TRUE(parse_placement("bind:1", &bind));
  PlacementInputs in;
  in.requested = &bind;
  in.usable = r.t.nodes_with_memory();
  std::uint32_t bad = NodeMask::kMaxNodes;
  const Placement p = resolve_placement(in, &bad);
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(p.kind, PlacementKind::kLocal);
}

TEST(MachineTopology, ARestrictedCpusetHidesTheOtherNodes) {
  FakeMachine m = FakeMachine::synthetic("pack:4 numa:1(memory=536870912) core:2 pu:1");
  m.restrict_to_packages({0, 2});
  Read r(m);
  EXPECT_EQ(list(r.t.present_nodes()), "0,2");
  EXPECT_EQ(r.t.cpu_count(1), 0u);
  EXPECT_TRUE(r.t.has_cpu(2, 4));
  EXPECT_FALSE(r.t.has_cpu(1, 2));
  // interleave spreads over the nodes left, and bind:1 is refused.
  PlacementRequest interleave;
  ASSERT_TRUE(parse_placement("interleave", &interleave));
  PlacementInputs in;
  in.requested = &interleave;
  in.usable = r.t.nodes_with_memory();
  std::uint32_t bad = NodeMask::kMaxNodes;
  EXPECT_EQ(list(resolve_placement(in, &bad).nodes), "0,2");
  PlacementRequest bind;
  ASSERT_TRUE(parse_placement("bind:1", &bind));
  in.requested = &bind;
  resolve_placement(in, &bad);
  EXPECT_EQ(bad, 1u);
}

TEST(MachineTopology, SingleNodeFallback) {
  MachineTopology t;
  ASSERT_TRUE(t.read_single_node(1u << 30, 130));
  EXPECT_EQ(t.node_ids(), 1u);
  EXPECT_EQ(t.cpu_count(0), 130u);
  EXPECT_TRUE(t.has_cpu(0, 129));
  EXPECT_FALSE(t.has_cpu(0, 130));
  EXPECT_EQ(t.distance(0, 0), 10u);
  t.release();
  EXPECT_EQ(t.node_ids(), 0u);
  EXPECT_FALSE(t.present(0));
}

TEST(MachineTopology, ThisMachineThroughTheInstalledHwloc) {
  HwlocCalls calls{};
  ASSERT_TRUE(open_hwloc(&calls)) << "libhwloc.so.15 is a dependency of the project";
  hwloc_topology_t topology = nullptr;
  ASSERT_EQ(calls.topology_init(&topology), 0);
  ASSERT_EQ(calls.topology_load(topology), 0);
  MachineTopology t;
  ASSERT_TRUE(t.read(topology, calls));
  calls.topology_destroy(topology);
  EXPECT_GE(t.present_nodes().count(), 1u);
  std::uint32_t cpus = 0;
  for (std::uint32_t n = 0; n < t.node_ids(); ++n) cpus += t.cpu_count(n);
  EXPECT_EQ(cpus, static_cast<std::uint32_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  t.release();
}

}  // namespace
}  // namespace hakmem::numa
