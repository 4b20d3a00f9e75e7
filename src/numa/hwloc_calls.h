// The few hwloc functions the topology reader calls, as a table of pointers.
// The library fills it with dlopen/dlsym the first time the full topology is
// asked for: linking libhwloc would load it, and libudev and libm behind it,
// into every process at start-up, for a topology that most never ask for.
// Tests and tools that link hwloc fill it with the functions themselves.
//
// Layer: numa.
#pragma once

#include <hwloc.h>
#include <hwloc/distances.h>

namespace hakmem::numa {

struct HwlocCalls {
  int (*topology_init)(hwloc_topology_t*);
  int (*topology_load)(hwloc_topology_t);
  void (*topology_destroy)(hwloc_topology_t);
  int (*get_type_depth)(hwloc_topology_t, hwloc_obj_type_t);
  unsigned (*get_nbobjs_by_depth)(hwloc_topology_t, int);
  hwloc_obj_t (*get_obj_by_depth)(hwloc_topology_t, int, unsigned);
  int (*distances_get_by_type)(hwloc_topology_t, hwloc_obj_type_t, unsigned*, hwloc_distances_s**, unsigned long,
                               unsigned long);
  void (*distances_release)(hwloc_topology_t, hwloc_distances_s*);
};

// Opens the installed libhwloc (the ABI of hwloc 2, libhwloc.so.15) and
// looks the functions up. false, quietly, where it is not installed.
bool open_hwloc(HwlocCalls* out);

}  // namespace hakmem::numa
