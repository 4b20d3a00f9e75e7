// The commands that act on a process through its mailbox (ping, trim,
// flush, set) and gc, which removes stale blocks.
//
// Layer: tools/hkmctl. A command's answer is checked (mailbox_client.cpp)
// before it is printed; an error status becomes exit code 7 with the
// process's own message, escaped.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "commands.h"
#include "mailbox_client.h"
#include "output.h"
#include "text.h"

namespace hakmem::hkmctl {
namespace {

CommandResult run(const Options& o, Attached& a, layout::Request req, const std::string& what) {
  CommandResult r = send_command(a.fd, a.block, req, o.timeout_ns);
  auto status = static_cast<layout::Status>(r.response.status);
  if (status == layout::Status::kOk || status == layout::Status::kPartial) return r;
  std::string msg = escape(r.response.message);
  std::string hint = status == layout::Status::kBusy ? "; retry in a moment" : "";
  throw CtlError(kExitRefused, "pid " + std::to_string(a.file.pid) + " refused " + what + ": " +
                                   status_name(r.response.status) + (msg.empty() ? "" : ": " + msg) + hint);
}

Json response_json(const Attached& a, const CommandResult& r) {
  Json j;
  j.snum("pid", a.file.pid)
      .str("status", status_name(r.response.status))
      .num("served_by_tid", r.response.served_by_tid)
      .num("duration_ns", r.response.duration_ns)
      .num("round_trip_ns", r.round_trip_ns)
      .str("message", escape(r.response.message));
  return j;
}

void one_pid(const std::string& command, const Flags& f) {
  if (f.positional.size() != 1) usage_error(command + ": give one PID (see hkmctl help " + command + ")");
}

// A command that takes a PID and no options, and sends a bare opcode.
CommandResult bare_command(const Options& o, const std::vector<std::string>& args, const std::string& name,
                           layout::Opcode op, Attached* a) {
  Flags f = parse_flags(name, args, {});
  one_pid(name, f);
  attach(o, f.positional[0], true, a);
  layout::Request req{};
  req.opcode = static_cast<std::uint32_t>(op);
  return run(o, *a, req, name);
}

}  // namespace

int cmd_ping(const Options& o, const std::vector<std::string>& args) {
  Attached a;
  CommandResult r = bare_command(o, args, "ping", layout::Opcode::kPing, &a);
  if (o.json) {
    std::cout << response_json(a, r).render() << "\n";
  } else {
    std::cout << "pid " << a.file.pid << " (" << field_string(a.block.header.command, sizeof a.block.header.command)
              << "): answered by thread " << r.response.served_by_tid << ", round trip "
              << format_duration_ns(r.round_trip_ns) << "\n";
  }
  return kExitOk;
}

int cmd_trim(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("trim", args, {{"--node", true}, {"--keep", true}});
  one_pid("trim", f);
  layout::Request req{};
  req.opcode = static_cast<std::uint32_t>(layout::Opcode::kTrim);
  if (f.has("--node")) {
    for (const std::string& list : f.values.at("--node")) {
      std::size_t start = 0;
      while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        std::string one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        std::uint64_t n = parse_unsigned(one, "--node");
        if (n >= 64) usage_error("trim: --node " + one + ": a command can name nodes 0 to 63");
        req.node_mask |= std::uint64_t{1} << n;
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  }
  if (f.has("--keep")) req.keep_bytes = parse_size(f.last("--keep"), "--keep");
  Attached a;
  attach(o, f.positional[0], true, &a);
  CommandResult r = run(o, a, req, "trim");
  const layout::Response& rs = r.response;
  if (o.json) {
    Json j = response_json(a, r);
    j.num("released_bytes", rs.released_bytes).num("not_released_bytes", rs.not_released_bytes)
        .num("rss_before_bytes", rs.rss_before).num("rss_after_bytes", rs.rss_after);
    std::vector<std::string> per_node;
    for (std::size_t n = 0; n < layout::kMaxResultNodes; ++n) {
      if (rs.released_per_node[n] != 0) {
        per_node.push_back(Json().num("node", n).num("released_bytes", rs.released_per_node[n]).render());
      }
    }
    j.raw("nodes", json_array(per_node));
    std::cout << j.render() << "\n";
    return kExitOk;
  }
  std::cout << "pid " << a.file.pid << ": gave back " << format_bytes(rs.released_bytes) << " in "
            << format_duration_ns(rs.duration_ns) << "; RSS " << format_bytes(rs.rss_before) << " -> "
            << format_bytes(rs.rss_after) << "\n";
  Table t({"NODE", "RELEASED"});
  bool any = false;
  for (std::size_t n = 0; n < layout::kMaxResultNodes; ++n) {
    if (rs.released_per_node[n] != 0) {
      t.row({std::to_string(n), format_bytes(rs.released_per_node[n])});
      any = true;
    }
  }
  if (any) std::cout << t.render();
  if (rs.not_released_bytes != 0 || rs.message[0] != '\0') {
    std::cout << "kept " << format_bytes(rs.not_released_bytes) << (rs.message[0] ? ": " + escape(rs.message) : "")
              << "\n";
  }
  return kExitOk;
}

int cmd_flush(const Options& o, const std::vector<std::string>& args) {
  Attached a;
  CommandResult r = bare_command(o, args, "flush", layout::Opcode::kFlush, &a);
  if (o.json) {
    std::cout << response_json(a, r).num("heaps_flushed", r.response.value).render() << "\n";
  } else {
    std::cout << "pid " << a.file.pid << ": flushed " << r.response.value << " thread caches in "
              << format_duration_ns(r.response.duration_ns) << "\n";
  }
  return kExitOk;
}

namespace {

// Parses VALUE by the knob's type and unit, and checks its range here so
// that a typo never reaches the process.
std::uint64_t knob_value(const layout::Knob& k, const std::string& text) {
  std::string what = std::string("value of ") + k.name;
  std::uint64_t v = 0;
  switch (static_cast<layout::KnobType>(k.type)) {
    case layout::KnobType::kBool:
      if (text == "on" || text == "true" || text == "1" || text == "yes") return 1;
      if (text == "off" || text == "false" || text == "0" || text == "no") return 0;
      usage_error("set: " + what + " must be on or off, not '" + escape(text) + "'");
    case layout::KnobType::kEnum: {
      std::string choices = k.choices;
      std::size_t start = 0;
      for (std::uint64_t i = 0;; ++i) {
        std::size_t bar = choices.find('|', start);
        if (choices.substr(start, bar == std::string::npos ? std::string::npos : bar - start) == text) return i;
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
      usage_error("set: " + what + " must be one of " + escape(choices) + ", not '" + escape(text) + "'");
    }
    case layout::KnobType::kUnsigned:
      switch (static_cast<layout::FieldUnit>(k.unit)) {
        case layout::FieldUnit::kBytes: v = parse_size(text, what); break;
        case layout::FieldUnit::kMilliseconds: v = parse_duration_ns(text, what, 1'000'000) / 1'000'000; break;
        case layout::FieldUnit::kNanoseconds: v = parse_duration_ns(text, what, 1); break;
        default: v = parse_unsigned(text, what); break;
      }
      break;
  }
  if (v < k.min || v > k.max) {
    usage_error("set: " + what + " " + escape(text) + " is outside " + std::to_string(k.min) + ".." + std::to_string(k.max));
  }
  return v;
}

}  // namespace

int cmd_set(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("set", args, {});
  if (f.positional.size() < 2) usage_error("set: give a PID, then KEY=VALUE (see hkmctl help set)");
  for (std::size_t i = 1; i < f.positional.size(); ++i) {
    const std::string& kv = f.positional[i];
    if (kv.find('=') == std::string::npos || kv.front() == '=') {
      usage_error("set: '" + escape(kv) + "' is not KEY=VALUE");
    }
  }
  Attached a;
  attach(o, f.positional[0], true, &a);
  // Every pair is checked before the first is sent: all or nothing.
  std::vector<std::pair<const layout::Knob*, std::uint64_t>> changes;
  for (std::size_t i = 1; i < f.positional.size(); ++i) {
    const std::string& kv = f.positional[i];
    std::string key = kv.substr(0, kv.find('=')), value = kv.substr(kv.find('=') + 1);
    const layout::Knob* k = a.block.knob(key);
    if (k == nullptr) usage_error("set: no knob '" + escape(key) + "' in this process (hkmctl get PID lists knobs.*)");
    if ((k->flags & layout::kKnobRuntime) == 0) {
      throw CtlError(kExitRefused, "set: " + escape(key) + " is read at start-up only: restart the process with " +
                                       escape(k->variable) + "=" + escape(value));
    }
    if (sizeof(layout::Request::key) <= key.size()) usage_error("set: knob name too long");
    changes.emplace_back(k, knob_value(*k, value));
  }
  std::vector<std::string> items;
  for (const auto& [k, v] : changes) {
    layout::Request req{};
    req.opcode = static_cast<std::uint32_t>(layout::Opcode::kSetKnob);
    req.value = v;
    std::memcpy(req.key, k->name, std::strlen(k->name));  // shorter than the key: it has a NUL
    CommandResult r = run(o, a, req, std::string("set ") + escape(k->name));
    if (o.json) {
      items.push_back(Json().str("key", escape(k->name)).num("value", r.response.value).num("previous", k->value).render());
    } else {
      std::cout << escape(k->name) << ": " << k->value << " -> " << r.response.value << "\n";
    }
  }
  if (o.json) std::cout << Json().snum("pid", a.file.pid).raw("changed", json_array(items)).render() << "\n";
  return kExitOk;
}

int cmd_gc(const Options& o, const std::vector<std::string>& args) {
  Flags f = parse_flags("gc", args, {{"--dry-run", false}});
  if (!f.positional.empty()) usage_error("gc: takes no arguments (see hkmctl help gc)");
  bool dry = f.has("--dry-run");
  std::vector<std::string> removed;
  int code = kExitOk;
  for (const ProcessRow& r : inspect_all(control_dir(o.dir))) {
    if (r.state != "stale") continue;
    // Judge again under our own exclusive lock, so that a process that just
    // took over the name (exec under the same pid) is never unlinked.
    int fd = open(r.file.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st{};
    bool plain = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == r.file.uid;
    if (!plain || flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      continue;
    }
    struct stat now{};
    bool same = lstat(r.file.path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev;
    if (same && !dry && unlink(r.file.path.c_str()) != 0) {
      std::cerr << "hkmctl: cannot remove " << escape(r.file.path) << ": " << std::strerror(errno)
                << " (run as its owner or root)\n";
      code = kExitPermission;
    } else if (same) {
      removed.push_back(r.file.path);
    }
    close(fd);
  }
  if (o.json) {
    std::vector<std::string> items;
    for (const auto& p : removed) items.push_back(json_quote(escape(p)));
    std::cout << Json().boolean("dry_run", dry).raw(dry ? "would_remove" : "removed", json_array(items)).render() << "\n";
  } else {
    for (const auto& p : removed) std::cout << (dry ? "would remove " : "removed ") << escape(p) << "\n";
    if (removed.empty()) std::cout << "no stale blocks\n";
  }
  return code;
}

}  // namespace hakmem::hkmctl
