#include "numa/hwloc_calls.h"

#include <dlfcn.h>

namespace hakmem::numa {

namespace {

template <typename Fn>
bool look_up(void* library, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

}  // namespace

bool open_hwloc(HwlocCalls* out) {
  // RTLD_LOCAL: hwloc's symbols stay out of the program's namespace, where
  // a program linking another hwloc would find them.
  void* library = dlopen("libhwloc.so.15", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) return false;
  HwlocCalls c{};
  const bool found = look_up(library, "hwloc_topology_init", &c.topology_init) &&
                     look_up(library, "hwloc_topology_load", &c.topology_load) &&
                     look_up(library, "hwloc_topology_destroy", &c.topology_destroy) &&
                     look_up(library, "hwloc_get_type_depth", &c.get_type_depth) &&
                     look_up(library, "hwloc_get_nbobjs_by_depth", &c.get_nbobjs_by_depth) &&
                     look_up(library, "hwloc_get_obj_by_depth", &c.get_obj_by_depth) &&
                     look_up(library, "hwloc_distances_get_by_type", &c.distances_get_by_type) &&
                     look_up(library, "hwloc_distances_release", &c.distances_release);
  if (!found) {
    dlclose(library);
    return false;
  }
  // The library stays open: the topology read from it is kept for good.
  *out = c;
  return true;
}

}  // namespace hakmem::numa
