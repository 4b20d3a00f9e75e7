#include "numa/machine_topology.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>

#include "os/meta_arena.h"

namespace hakmem::numa {

namespace {

constexpr std::uint32_t kCpuBits = 64;

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

}  // namespace

bool MachineTopology::allocate(std::uint32_t node_ids, std::uint32_t cpu_ids) {
  const std::uint32_t words = (cpu_ids + kCpuBits - 1) / kCpuBits;
  const std::size_t facts_bytes = round_up(sizeof(NodeFacts) * node_ids, 8);
  const std::size_t distance_bytes = round_up(sizeof(std::uint32_t) * node_ids * node_ids, 8);
  const std::size_t cpu_bytes = sizeof(std::uint64_t) * node_ids * words;
  const std::size_t bytes = round_up(facts_bytes + distance_bytes + cpu_bytes, 4096);
  void* tables = os::map_table(bytes);
  if (tables == nullptr) return false;
  auto* base = static_cast<char*>(tables);
  tables_ = tables;
  table_bytes_ = bytes;
  node_ids_ = node_ids;
  cpu_ids_ = cpu_ids;
  cpu_words_per_node_ = words;
  facts_ = reinterpret_cast<NodeFacts*>(base);
  distances_ = reinterpret_cast<std::uint32_t*>(base + facts_bytes);
  cpus_ = reinterpret_cast<std::uint64_t*>(base + facts_bytes + distance_bytes);
  return true;
}

void MachineTopology::release() {
  if (tables_ != nullptr) os::unmap_table(tables_, table_bytes_);
  *this = MachineTopology{};
}

bool MachineTopology::read(hwloc_topology_t topology, const HwlocCalls& calls) {
  release();
  const int node_depth = calls.get_type_depth(topology, HWLOC_OBJ_NUMANODE);
  const int pu_depth = calls.get_type_depth(topology, HWLOC_OBJ_PU);
  const unsigned nodes = calls.get_nbobjs_by_depth(topology, node_depth);
  const unsigned pus = pu_depth < 0 ? 0 : calls.get_nbobjs_by_depth(topology, pu_depth);
  std::uint32_t node_ids = 0;
  for (unsigned i = 0; i < nodes; ++i) {
    const unsigned id = calls.get_obj_by_depth(topology, node_depth, i)->os_index;
    if (id < NodeMask::kMaxNodes && id + 1 > node_ids) node_ids = id + 1;
  }
  std::uint32_t cpu_ids = 0;
  for (unsigned i = 0; i < pus; ++i) {
    const unsigned id = calls.get_obj_by_depth(topology, pu_depth, i)->os_index;
    if (id + 1 > cpu_ids) cpu_ids = id + 1;
  }
  if (node_ids == 0 || !allocate(node_ids, cpu_ids)) return false;

  for (unsigned i = 0; i < nodes; ++i) {
    const hwloc_obj_t node = calls.get_obj_by_depth(topology, node_depth, i);
    if (node->os_index >= node_ids) continue;
    present_.add(node->os_index);
    facts_[node->os_index].memory_bytes = node->attr != nullptr ? node->attr->numanode.local_memory : 0;
  }
  // A CPU belongs to the nodes attached to its nearest ancestor that has
  // memory (its package, say), as sysfs's node cpulists count them. A node
  // attached higher up, to the whole machine (memory on an expander), is
  // that way no CPU's own.
  for (unsigned i = 0; i < pus; ++i) {
    const hwloc_obj_t pu = calls.get_obj_by_depth(topology, pu_depth, i);
    hwloc_obj_t holder = pu->parent;
    while (holder != nullptr && holder->memory_arity == 0) holder = holder->parent;
    if (holder != nullptr) add_cpu_to_nodes(holder->memory_first_child, pu->os_index);
  }
  // The latency matrix (SLIT on Linux). Several may exist; the first that
  // covers NUMA nodes is the one the kernel reports in sysfs.
  unsigned count = 1;
  hwloc_distances_s* matrix = nullptr;
  if (calls.distances_get_by_type(topology, HWLOC_OBJ_NUMANODE, &count, &matrix, HWLOC_DISTANCES_KIND_MEANS_LATENCY,
                                  0) == 0 &&
      count >= 1 && matrix != nullptr) {
    for (unsigned a = 0; a < matrix->nbobjs; ++a) {
      for (unsigned b = 0; b < matrix->nbobjs; ++b) {
        const unsigned from = matrix->objs[a]->os_index;
        const unsigned to = matrix->objs[b]->os_index;
        if (from >= node_ids || to >= node_ids) continue;
        const hwloc_uint64_t v = matrix->values[a * matrix->nbobjs + b];
        distances_[std::size_t{from} * node_ids + to] = v > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(v);
      }
    }
    calls.distances_release(topology, matrix);
  } else if (present_.count() == 1) {
    // hwloc keeps no matrix for one node; the firmware's is [10].
    distances_[std::size_t{present_.first()} * node_ids + present_.first()] = 10;
  }
  return true;
}

void MachineTopology::add_cpu_to_nodes(hwloc_obj_t memory_child, std::uint32_t cpu) {
  // Memory children are NUMA nodes, or memory-side caches above them.
  for (hwloc_obj_t m = memory_child; m != nullptr; m = m->next_sibling) {
    if (m->type != HWLOC_OBJ_NUMANODE) {
      add_cpu_to_nodes(m->memory_first_child, cpu);
      continue;
    }
    if (!present(m->os_index)) continue;
    cpu_words(m->os_index)[cpu / kCpuBits] |= std::uint64_t{1} << (cpu % kCpuBits);
    ++facts_[m->os_index].cpu_count;
  }
}

bool MachineTopology::read_single_node(std::uint64_t memory_bytes, std::uint32_t cpus) {
  release();
  if (!allocate(1, cpus)) return false;
  present_.add(0);
  facts_[0].memory_bytes = memory_bytes;
  facts_[0].cpu_count = cpus;
  for (std::uint32_t c = 0; c < cpus; ++c) cpus_[c / kCpuBits] |= std::uint64_t{1} << (c % kCpuBits);
  distances_[0] = 10;
  return true;
}

NodeMask MachineTopology::nodes_with_memory() const {
  NodeMask m;
  for (std::uint32_t n = present_.first(); n < NodeMask::kMaxNodes; n = present_.next(n + 1)) {
    if (facts_[n].memory_bytes != 0) m.add(n);
  }
  return m;
}

std::uint64_t MachineTopology::memory_bytes(std::uint32_t node) const {
  return present(node) ? facts_[node].memory_bytes : 0;
}

std::uint32_t MachineTopology::cpu_count(std::uint32_t node) const { return present(node) ? facts_[node].cpu_count : 0; }

bool MachineTopology::has_cpu(std::uint32_t node, std::uint32_t cpu) const {
  return present(node) && cpu < cpu_ids_ && (cpu_words(node)[cpu / kCpuBits] >> (cpu % kCpuBits) & 1u) != 0;
}

std::uint32_t MachineTopology::distance(std::uint32_t from, std::uint32_t to) const {
  return present(from) && present(to) ? distances_[std::size_t{from} * node_ids_ + to] : 0;
}

const std::uint32_t* MachineTopology::distance_row(std::uint32_t from) const {
  return present(from) ? distances_ + std::size_t{from} * node_ids_ : nullptr;
}

namespace {

enum LoadState : int { kNotLoaded, kLoading, kLoaded };
constinit std::atomic<int> g_state{kNotLoaded};
constinit MachineTopology g_machine;

void load_machine() {
  HwlocCalls calls{};
  hwloc_topology_t topology = nullptr;
  bool ok = false;
  if (open_hwloc(&calls) && calls.topology_init(&topology) == 0) {
    ok = calls.topology_load(topology) == 0 && g_machine.read(topology, calls);
    calls.topology_destroy(topology);
  }
  if (!ok) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    const long cpus = sysconf(_SC_NPROCESSORS_CONF);
    g_machine.read_single_node(pages > 0 && page_size > 0 ? std::uint64_t(pages) * std::uint64_t(page_size) : 0,
                               cpus > 0 ? static_cast<std::uint32_t>(cpus) : 1);
  }
}

}  // namespace

const MachineTopology& machine_topology() {
  int state = g_state.load(std::memory_order_acquire);
  if (state == kLoaded) return g_machine;
  if (state == kNotLoaded && g_state.compare_exchange_strong(state, kLoading, std::memory_order_acquire)) {
    load_machine();
    g_state.store(kLoaded, std::memory_order_release);
    return g_machine;
  }
  // Another thread is loading (milliseconds): no lock, so that a fork in
  // the middle leaves nothing held.
  while (g_state.load(std::memory_order_acquire) != kLoaded) sched_yield();
  return g_machine;
}

void machine_topology_reset_after_fork_child() {
  // The loading thread does not exist in the child; its half-read tables
  // are dropped and the next caller loads again.
  if (g_state.load(std::memory_order_relaxed) == kLoading) {
    g_machine = MachineTopology{};
    g_state.store(kNotLoaded, std::memory_order_relaxed);
  }
}

}  // namespace hakmem::numa
