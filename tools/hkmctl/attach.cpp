// Flag parsing, attaching to a block, and judging a block for ps and gc
// (see commands.h).
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "commands.h"
#include "text.h"

namespace hakmem::hkmctl {

Flags parse_flags(const std::string& command, const std::vector<std::string>& args,
                  const std::map<std::string, bool>& spec) {
  Flags f;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
      f.positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (std::size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    auto it = spec.find(name);
    if (it == spec.end()) usage_error(command + ": unknown option " + escape(name) + " (see hkmctl help " + command + ")");
    if (it->second && !inline_value) {
      if (i + 1 >= args.size()) usage_error(command + ": " + name + " needs a value");
      value = args[++i];
    } else if (!it->second && inline_value) {
      usage_error(command + ": " + name + " takes no value");
    }
    f.values[name].push_back(value);
  }
  return f;
}

Attached::~Attached() {
  if (fd >= 0) close(fd);
}

namespace {

// Stale: the lock is free, the process is gone, or its pid now runs a
// process that started at another time.
std::string stale_reason(const BlockFile& f, const layout::Header* h) {
  if (!lock_held(f.path)) return "no process holds its lock (killed?); remove it with hkmctl gc";
  auto ticks = process_start_ticks(f.pid);
  if (!ticks) return "the process is gone; remove it with hkmctl gc";
  if (h != nullptr && *ticks != h->start_time_ticks) return "its pid now runs another process; remove it with hkmctl gc";
  return "";
}

std::string identity_problem(const BlockFile& f, const layout::Header& h) {
  if (h.pid != f.pid) return "its header names pid " + std::to_string(h.pid) + ", its file name pid " + std::to_string(f.pid);
  if (h.uid != f.uid) return "its header names uid " + std::to_string(h.uid) + ", its file name uid " + std::to_string(f.uid);
  return "";
}

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

void attach(const Options& o, const std::string& spec, bool for_write, Attached* out) {
  out->file = resolve_target(control_dir(o.dir), spec);
  if (std::string why = stale_reason(out->file, nullptr); !why.empty()) {
    throw CtlError(kExitNoProcess, "pid " + std::to_string(out->file.pid) + " has a stale block: " + why);
  }
  out->fd = open_block(out->file, for_write);
  out->block = read_block(out->fd);
  if (std::string bad = identity_problem(out->file, out->block.header); !bad.empty()) {
    throw CtlError(kExitError, "suspicious block " + escape(out->file.path) + ": " + bad + "; remove it");
  }
  if (std::string why = stale_reason(out->file, &out->block.header); !why.empty()) {
    throw CtlError(kExitNoProcess, "pid " + std::to_string(out->file.pid) + " has a stale block: " + why);
  }
}

ProcessRow inspect_row(const BlockFile& f) {
  ProcessRow r;
  r.file = f;
  r.command = escape(process_comm(f.pid));
  if (std::string why = stale_reason(f, nullptr); !why.empty()) {
    r.state = "stale";
    r.detail = why;
    return r;
  }
  try {
    Attached a;
    a.file = f;
    a.fd = open_block(f, false);
    a.block = read_block(a.fd);
    const layout::Header& h = a.block.header;
    const layout::Summary& s = a.block.summary;
    r.command = field_string(h.command, sizeof h.command);
    if (std::string bad = identity_problem(f, h); !bad.empty()) {
      r.state = "suspicious";
      r.detail = bad;
      return r;
    }
    if (std::string why = stale_reason(f, &h); !why.empty()) {
      r.state = "stale";
      r.detail = why;
      return r;
    }
    std::uint64_t now = realtime_ns();
    r.uptime_ns = h.created_realtime_ns < now ? now - h.created_realtime_ns : 0;
    r.in_use = s.bytes_in_use;
    r.resident = s.bytes_resident_estimate;
    r.free_cached = s.bytes_thread_cached + s.bytes_free_in_slabs + s.bytes_free_in_pools + s.bytes_free_huge;
    r.threads = s.heaps_active;
    r.nodes = h.node_count;
    r.age_ns = published_age_ns(a.block);
    r.state = r.age_ns > kIdleAfterNs ? "idle" : "ok";
    if (r.state == "idle") r.detail = "figures " + format_duration_ns(r.age_ns) + " old";
  } catch (const BlockError& e) {
    r.state = e.problem() == BlockProblem::kIncompatible ? "incompatible" : "suspicious";
    r.detail = e.what();
  } catch (const CtlError& e) {
    r.state = e.code() == kExitPermission ? "denied" : "suspicious";
    r.detail = e.what();
  }
  return r;
}

namespace {

// Rows cross the pipe as one line of tab-separated fields; strings are
// escaped already, so they hold no tab or newline.
std::string serialise(const ProcessRow& r) {
  std::ostringstream o;
  o << r.state << '\t' << r.detail << '\t' << r.command << '\t' << r.uptime_ns << '\t' << r.in_use << '\t' << r.resident
    << '\t' << r.free_cached << '\t' << r.threads << '\t' << r.nodes << '\t' << r.age_ns << '\n';
  return o.str();
}

ProcessRow deserialise(const BlockFile& f, const std::string& line) {
  ProcessRow r;
  r.file = f;
  std::vector<std::string> parts;
  std::istringstream in(line);
  std::string p;
  while (std::getline(in, p, '\t')) parts.push_back(p);
  if (parts.size() != 10) {
    r.state = "suspicious";
    r.detail = "could not inspect it";
    return r;
  }
  r.state = parts[0];
  r.detail = parts[1];
  r.command = parts[2];
  std::uint64_t* nums[] = {&r.uptime_ns, &r.in_use, &r.resident, &r.free_cached, &r.threads, &r.nodes, &r.age_ns};
  for (int i = 0; i < 7; ++i) *nums[i] = std::strtoull(parts[3 + i].c_str(), nullptr, 10);
  return r;
}

ProcessRow inspect_in_child(const BlockFile& f) {
  int fds[2];
  if (pipe(fds) != 0) return inspect_row(f);
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    std::string line = serialise(inspect_row(f));  // open_block drops to the owner's uid
    ssize_t ignored = write(fds[1], line.data(), line.size());
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  std::string line;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) line.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (child > 0) waitpid(child, nullptr, 0);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return deserialise(f, line);
}

}  // namespace

std::vector<ProcessRow> inspect_all(const std::string& dir) {
  std::vector<ProcessRow> rows;
  for (const BlockFile& f : list_blocks(dir)) {
    rows.push_back(geteuid() == 0 && f.uid != 0 ? inspect_in_child(f) : inspect_row(f));
  }
  return rows;
}

}  // namespace hakmem::hkmctl
