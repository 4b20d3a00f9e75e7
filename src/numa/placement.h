// Where memory goes: the user's placement policy (HAKMEM_NUMA, HAKMEM_NODE,
// or a policy the process inherited from numactl), resolved against the
// nodes this process may use.
//
//   local       (default) each thread's heap lives on the thread's node
//   interleave  SuperSlabs spread round-robin over the usable nodes
//   bind:LIST   memory only on the listed nodes (HAKMEM_NODE=N: bind:N)
//   off         no binding at all: the kernel's default placement
//
// A process started under numactl --membind/--interleave/--preferred keeps
// that policy unless HAKMEM_NUMA or HAKMEM_NODE is given: hakmem then binds
// nothing itself, and the kernel applies the inherited policy to its pages.
//
// Layer: numa. init_placement() runs once during global init (no allocation:
// sysfs and /proc are read with plain read(2)); afterwards placement() is
// read-only and its queries are lock-free. They are for slow paths.
#pragma once

#include <cstdint>
#include <string_view>

#include "numa/node_mask.h"
#include "numa/topology.h"

namespace hakmem::numa {

enum class PlacementKind : std::uint8_t { kLocal, kInterleave, kBind, kOff };
// How a region is bound: not at all, MPOL_PREFERRED (advisory: a full node
// spills over), or MPOL_BIND (strict: only the given nodes).
enum class BindMode : std::uint8_t { kNone, kPreferred, kStrict };

const char* placement_name(PlacementKind kind);

struct PlacementRequest {
  PlacementKind kind = PlacementKind::kLocal;
  NodeMask nodes;  // kBind: the listed nodes
};

// HAKMEM_NUMA's syntax: local | interleave | bind:LIST | off.
bool parse_placement(std::string_view text, PlacementRequest* out);
// HAKMEM_NODE's: one node id, the same as bind:N.
bool parse_node(std::string_view text, PlacementRequest* out);

struct Placement {
  PlacementKind kind = PlacementKind::kLocal;
  NodeMask nodes;              // where memory may go
  BindMode bind = BindMode::kNone;
  bool inherited = false;      // the process came with a policy and keeps it
};

// What the machine and the process allow, gathered by init_placement().
struct PlacementInputs {
  const PlacementRequest* requested = nullptr;  // null: the user gave none
  NodeMask usable;            // online, with memory, and in Mems_allowed
  bool process_has_policy = false;  // get_mempolicy: not MPOL_DEFAULT
};

// The effective placement. A request naming a node that is not usable
// yields the default and sets *bad_node to that node (else kMaxNodes).
Placement resolve_placement(const PlacementInputs& in, std::uint32_t* bad_node);

// Reads the machine, resolves `requested` (null if the user gave none;
// `variable` and `raw` name it for the warning) and installs the result.
void init_placement(const PlacementRequest* requested, const char* variable, const char* raw);
const Placement& placement();
// One line on stderr: the placement in force (for HAKMEM_VERBOSE).
void print_placement();

// The node a thread running on `current` keeps its heap on: `current` when
// memory may go there, otherwise the nearest node it may use (distances.h).
NodeId home_node(const Placement& p, NodeId current);
// The node of the next SuperSlab for a heap of node `home`: `home`, except
// under interleave, where successive calls go round the usable nodes.
NodeId superslab_node(const Placement& p, NodeId home);

}  // namespace hakmem::numa
