// hakmem's own C API (include/hakmem.h): one-line forwards, plus the stats
// snapshot in its public, versioned-by-size form.
//
// Layer: preload.
#include "hakmem.h"

#include <cerrno>
#include <cstring>

#include "base/attributes.h"
#include "base/build_config.h"
#include "control/report_json.h"
#include "numa/machine_topology.h"
#include "numa/placement.h"
#include "preload/c_api.h"
#include "tiers/allocator.h"
#include "tiers/heap_registry.h"
#include "tiers/stats.h"

using namespace hakmem;

extern "C" {

HAKMEM_EXPORT const char* hkm_version(void) { return kVersion; }
HAKMEM_EXPORT void* hkm_malloc(size_t size) { return tiers::allocate(size); }
HAKMEM_EXPORT void hkm_free(void* ptr) { tiers::deallocate(ptr); }
HAKMEM_EXPORT void* hkm_calloc(size_t count, size_t size) { return tiers::allocate_zeroed(count, size); }
HAKMEM_EXPORT void* hkm_realloc(void* ptr, size_t size) { return tiers::reallocate(ptr, size); }
HAKMEM_EXPORT void* hkm_aligned_alloc(size_t alignment, size_t size) {
  return preload::aligned_alloc_impl(alignment, size);
}
HAKMEM_EXPORT size_t hkm_usable_size(const void* ptr) { return tiers::usable_size(ptr); }
HAKMEM_EXPORT size_t hkm_trim(void) { return tiers::trim(); }

HAKMEM_EXPORT int hkm_thread_set_node(int node) {
  if (node < 0 || !tiers::pin_current_thread(numa::NodeId{static_cast<std::uint32_t>(node)})) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

HAKMEM_EXPORT int hkm_thread_node(void) { return static_cast<int>(tiers::current_thread_node().value); }

HAKMEM_EXPORT int hkm_node_count(void) {
  tiers::ensure_initialized();
  return static_cast<int>(numa::node_count());
}

HAKMEM_EXPORT int hkm_node_stats_get(int node, struct hkm_node_stats* out, size_t size) {
  if (out == nullptr || size != sizeof(hkm_node_stats) || node < 0 || node >= hkm_node_count()) {
    errno = EINVAL;
    return -1;
  }
  const tiers::NodeStats s = tiers::node_stats(numa::NodeId{static_cast<std::uint32_t>(node)});
  out->bytes_mapped = s.bytes_mapped;
  out->bytes_in_use = s.bytes_in_use;
  out->bytes_cached = s.bytes_cached;
  return 0;
}

HAKMEM_EXPORT uint64_t hkm_remote_frees(int from, int to) {
  const int count = hkm_node_count();
  if (from < 0 || to < 0 || from >= count || to >= count) return 0;
  return tiers::remote_frees_between(numa::NodeId{static_cast<std::uint32_t>(from)},
                                     numa::NodeId{static_cast<std::uint32_t>(to)});
}

namespace {

// The machine's topology, loaded on the first call; null (errno EINVAL) for
// a node it does not have.
const numa::MachineTopology* topology_with(int node) {
  tiers::ensure_initialized();
  const numa::MachineTopology& m = numa::machine_topology();
  if (node < 0 || !m.present(static_cast<std::uint32_t>(node))) {
    errno = EINVAL;
    return nullptr;
  }
  return &m;
}

}  // namespace

HAKMEM_EXPORT int hkm_node_info_get(int node, struct hkm_node_info* out, size_t size) {
  const numa::MachineTopology* m = topology_with(node);
  if (m == nullptr) return -1;
  if (out == nullptr || size != sizeof(hkm_node_info)) {
    errno = EINVAL;
    return -1;
  }
  const numa::NodeId id{static_cast<std::uint32_t>(node)};
  out->memory_bytes = m->memory_bytes(id.value);
  out->cpu_count = m->cpu_count(id.value);
  out->nearest = static_cast<std::int32_t>(numa::home_node(numa::placement(), id).value);
  return 0;
}

HAKMEM_EXPORT int hkm_node_distance(int from, int to) {
  const numa::MachineTopology* m = topology_with(from);
  if (m == nullptr || topology_with(to) == nullptr) return -1;
  return static_cast<int>(m->distance(static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to)));
}

HAKMEM_EXPORT int hkm_node_has_cpu(int node, int cpu) {
  const numa::MachineTopology* m = topology_with(node);
  if (m == nullptr) return -1;
  return cpu >= 0 && m->has_cpu(static_cast<std::uint32_t>(node), static_cast<std::uint32_t>(cpu)) ? 1 : 0;
}

HAKMEM_EXPORT int hkm_stats_get(struct hkm_stats* out, size_t out_size) {
  if (out == nullptr || out_size < sizeof(uint64_t)) {
    errno = EINVAL;
    return -1;
  }
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  hkm_stats full = {};
  for (const tiers::TierStats& t : s.tiers) {
    full.allocations += t.allocations;
    full.frees += t.frees;
    full.remote_frees += t.remote_frees;
    full.live_blocks += t.live_blocks;
    full.bytes_in_use += t.bytes_in_use;
    full.bytes_cached += t.bytes_cached;
  }
  full.bytes_mapped = s.mapped_bytes;
  full.superslabs_mapped = s.superslabs_live;
  full.huge_live_blocks = s.huge.live_blocks;
  full.huge_live_bytes = s.huge.live_bytes;
  full.threads_active = s.heaps_active;
  full.threads_idle = s.heaps_idle;
  full.os_map_calls = s.mmap_calls;
  full.os_unmap_calls = s.munmap_calls;
  full.os_madvise_calls = s.madvise_calls;
  full.hugetlb_fallbacks = s.hugetlb_fallbacks;
  full.thp_fallbacks = s.thp_fallbacks;
  full.map_failures = s.map_failures;
  full.thp_collapses = s.thp_collapses;
  full.thp_collapse_refusals = s.thp_collapse_failures;
  std::memcpy(out, &full, out_size < sizeof(full) ? out_size : sizeof(full));
  return 0;
}

HAKMEM_EXPORT void hkm_stats_print(int fd) {
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  tiers::print_snapshot(s, fd);
}

HAKMEM_EXPORT int hkm_ctl_get(const char* name, uint64_t* value) {
  tiers::ensure_initialized();
  return control::ctl_get(name, value);
}

HAKMEM_EXPORT int hkm_ctl_set(const char* name, uint64_t value) {
  tiers::ensure_initialized();
  return control::ctl_set(name, value);
}

HAKMEM_EXPORT size_t hkm_report_json(char* buf, size_t size) {
  tiers::ensure_initialized();
  return control::report_json(buf, size);
}

}  // extern "C"
