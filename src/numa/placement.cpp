#include "numa/placement.h"

#include <numaif.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "base/format.h"
#include "numa/distances.h"
#include "os/small_file.h"

namespace hakmem::numa {

namespace {

constinit Placement g_placement;
constinit std::atomic<std::uint32_t> g_interleave_next{0};

bool read_node_list(const char* path, NodeMask* out) {
  char buf[4096];
  const long n = os::read_small_file(path, buf, sizeof(buf));
  return n > 0 && out->parse_list(std::string_view(buf, static_cast<std::size_t>(n)));
}

// Mems_allowed from /proc/self/status: the cpuset's memory nodes. The
// fallback of read_mems_allowed (the kernel formats the whole status file,
// some 50 lines, for this one).
bool read_mems_allowed_from_status(NodeMask* out) {
  char buf[8192];
  const long n = os::read_small_file("/proc/self/status", buf, sizeof(buf));
  if (n <= 0) return false;
  const std::string_view text(buf, static_cast<std::size_t>(n));
  constexpr std::string_view kKey = "\nMems_allowed:";
  const std::size_t at = text.find(kKey);
  if (at == std::string_view::npos) return false;
  // remove_prefix/remove_suffix, not substr: substr may throw, and the
  // library links no C++ runtime (CMakeLists.txt).
  std::string_view rest = text;
  rest.remove_prefix(at + kKey.size());
  while (!rest.empty() && (rest.front() == '\t' || rest.front() == ' ')) rest.remove_prefix(1);
  const std::size_t end = rest.find('\n');
  if (end != std::string_view::npos) rest.remove_suffix(rest.size() - end);
  return out->parse_hex_groups(rest);
}

// The cpuset's memory nodes, from get_mempolicy(MPOL_F_MEMS_ALLOWED): one
// system call, the same set /proc/self/status shows as Mems_allowed.
bool read_mems_allowed(NodeMask* out) {
  const int saved = errno;
  NodeMask mask;
  const long r = syscall(SYS_get_mempolicy, nullptr, mask.words(), static_cast<unsigned long>(NodeMask::kMaxNodes),
                         nullptr, MPOL_F_MEMS_ALLOWED);
  errno = saved;
  if (r == 0 && !mask.empty()) {
    *out = mask;
    return true;
  }
  return read_mems_allowed_from_status(out);
}

bool process_has_memory_policy() {
  int mode = MPOL_DEFAULT;
  const int saved = errno;
  const long r = syscall(SYS_get_mempolicy, &mode, nullptr, 0, nullptr, 0);
  errno = saved;
  return r == 0 && mode != MPOL_DEFAULT;
}

}  // namespace

const char* placement_name(PlacementKind kind) {
  switch (kind) {
    case PlacementKind::kLocal: return "local";
    case PlacementKind::kInterleave: return "interleave";
    case PlacementKind::kBind: return "bind";
    case PlacementKind::kOff: return "off";
  }
  return "?";
}

bool parse_placement(std::string_view text, PlacementRequest* out) {
  PlacementRequest r;
  if (text == "local") {
    r.kind = PlacementKind::kLocal;
  } else if (text == "interleave") {
    r.kind = PlacementKind::kInterleave;
  } else if (text == "off") {
    r.kind = PlacementKind::kOff;
  } else if (text.starts_with("bind:")) {
    r.kind = PlacementKind::kBind;
    std::string_view list = text;
    list.remove_prefix(5);
    if (!r.nodes.parse_list(list)) return false;
  } else {
    return false;
  }
  *out = r;
  return true;
}

bool parse_node(std::string_view text, PlacementRequest* out) {
  PlacementRequest r;
  r.kind = PlacementKind::kBind;
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return false;
  if (!r.nodes.parse_list(text)) return false;
  *out = r;
  return true;
}

namespace {

// What applies when the user asks for nothing: an inherited policy stays in
// charge; otherwise each thread's memory goes to its own node.
Placement default_placement(const PlacementInputs& in) {
  Placement p;
  p.kind = PlacementKind::kLocal;
  p.nodes = in.usable;
  p.inherited = in.process_has_policy;
  p.bind = p.inherited || in.usable.count() <= 1 ? BindMode::kNone : BindMode::kPreferred;
  return p;
}

}  // namespace

Placement resolve_placement(const PlacementInputs& in, std::uint32_t* bad_node) {
  *bad_node = NodeMask::kMaxNodes;
  if (in.requested == nullptr) return default_placement(in);
  const PlacementRequest& req = *in.requested;
  Placement p;
  p.kind = req.kind;
  p.nodes = in.usable;
  switch (req.kind) {
    case PlacementKind::kOff:
      p.bind = BindMode::kNone;
      break;
    case PlacementKind::kLocal:
    case PlacementKind::kInterleave:
      // One node: nothing to choose, so no mbind calls at all.
      p.bind = in.usable.count() <= 1 ? BindMode::kNone : BindMode::kPreferred;
      break;
    case PlacementKind::kBind:
      for (std::uint32_t n = req.nodes.first(); n < NodeMask::kMaxNodes; n = req.nodes.next(n + 1)) {
        if (!in.usable.contains(n)) {
          *bad_node = n;
          return default_placement(in);
        }
      }
      p.nodes = req.nodes;
      p.bind = BindMode::kStrict;
      break;
  }
  return p;
}

void init_placement(const PlacementRequest* requested, const char* variable, const char* raw) {
  PlacementInputs in;
  in.requested = requested;
  const std::uint32_t count = node_count();
  NodeMask usable = NodeMask::first_n(count);
  // One possible node (most machines): it is online, has memory and is the
  // cpuset's, or the process could not run. Nothing to read: every process
  // pays for this start-up, short ones most.
  if (count > 1) {
    NodeMask listed;
    if (read_node_list("/sys/devices/system/node/online", &listed)) usable = usable & listed;
    if (read_node_list("/sys/devices/system/node/has_memory", &listed)) usable = usable & listed;
    if (read_mems_allowed(&listed)) usable = usable & listed;
  }
  if (usable.empty()) usable.add(0);  // a machine that says nothing is one node
  in.usable = usable;
  in.process_has_policy = count > 1 && process_has_memory_policy();
  std::uint32_t bad_node = NodeMask::kMaxNodes;
  g_placement = resolve_placement(in, &bad_node);
  init_nearest_nodes(g_placement.nodes);
  if (bad_node != NodeMask::kMaxNodes) {
    Formatter f;
    f.str("hakmem: ").str(variable).str("='").str(raw).str("' names node ").dec(bad_node);
    f.str(", which does not exist, has no memory or is not allowed here (usable nodes: ");
    usable.format(f);
    f.str("); using local\n");
    f.write_to(2);
  }
}

const Placement& placement() { return g_placement; }

void print_placement() {
  const Placement& p = g_placement;
  Formatter f;
  f.str("hakmem: NUMA placement: ").str(placement_name(p.kind)).str(" on nodes ");
  p.nodes.format(f);
  f.str(p.inherited ? " (the process's own policy is kept)" : "");
  f.str(p.bind == BindMode::kNone ? ", nothing bound" : p.bind == BindMode::kStrict ? ", MPOL_BIND" : ", MPOL_PREFERRED");
  f.ch('\n').write_to(2);
}

NodeId home_node(const Placement& p, NodeId current) {
  if (p.nodes.contains(current.value)) return current;
  return nearest_allowed_node(current, p.nodes);
}

NodeId superslab_node(const Placement& p, NodeId home) {
  if (p.kind != PlacementKind::kInterleave) return home;
  const std::uint32_t count = p.nodes.count();
  if (count <= 1) return home;
  const std::uint32_t turn = g_interleave_next.fetch_add(1, std::memory_order_relaxed) % count;
  return NodeId{p.nodes.nth(turn)};
}

}  // namespace hakmem::numa
