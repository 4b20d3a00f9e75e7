// Finding a process's block (see target.h).
#include "target.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "control/layout.h"
#include "error.h"
#include "text.h"

namespace hakmem::hkmctl {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string control_dir(const std::string& dir_option) {
  if (!dir_option.empty()) return dir_option;
  const char* env = std::getenv("HAKMEM_CONTROL_DIR");
  return env != nullptr && env[0] != '\0' ? env : "/dev/shm";
}

std::optional<BlockFile> parse_block_name(const std::string& dir, const std::string& name) {
  const std::string prefix = control::layout::kFilePrefix;
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string rest = name.substr(prefix.size());
  std::size_t dot = rest.find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string uid = rest.substr(0, dot), pid = rest.substr(dot + 1);
  if (!all_digits(uid) || !all_digits(pid)) return std::nullopt;
  unsigned long long u = std::stoull(uid), p = std::stoull(pid);
  if (u > 0xffffffffull || p == 0 || p > 0x7fffffffull) return std::nullopt;
  return BlockFile{dir + "/" + name, name, static_cast<uid_t>(u), static_cast<pid_t>(p)};
}

std::vector<BlockFile> list_blocks(const std::string& dir, bool every_uid) {
  std::vector<BlockFile> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    throw CtlError(errno == EACCES ? kExitPermission : kExitError,
                   "cannot read the control directory " + escape(dir) + ": " + std::strerror(errno) +
                       " (set --dir or HAKMEM_CONTROL_DIR)");
  }
  bool root = geteuid() == 0;
  while (dirent* e = readdir(d)) {
    auto f = parse_block_name(dir, e->d_name);
    if (f && (root || every_uid || f->uid == geteuid())) out.push_back(*f);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const BlockFile& a, const BlockFile& b) { return a.pid < b.pid; });
  return out;
}

BlockFile resolve_target(const std::string& dir, const std::string& spec) {
  if (spec.empty()) usage_error("empty PID: give a process id or name");
  if (all_digits(spec)) {
    pid_t pid = static_cast<pid_t>(std::stoll(spec));
    for (const auto& b : list_blocks(dir, true)) {
      if (b.pid == pid) return b;
    }
    throw CtlError(kExitNoProcess, "no hakmem block for pid " + spec + " in " + escape(dir) +
                                       " (is it running with libhakmem, and has it lived long enough to publish one? see hkmctl ps)");
  }
  std::vector<BlockFile> matches;
  for (const auto& b : list_blocks(dir)) {
    if (process_comm(b.pid) == spec && lock_held(b.path)) matches.push_back(b);
  }
  if (matches.empty()) {
    throw CtlError(kExitNoProcess, "no live hakmem process named '" + escape(spec) + "' (see hkmctl ps)");
  }
  if (matches.size() > 1) {
    std::string pids;
    for (const auto& m : matches) pids += " " + std::to_string(m.pid);
    usage_error("'" + escape(spec) + "' names " + std::to_string(matches.size()) + " processes (" + pids.substr(1) +
                "): give a pid");
  }
  return matches[0];
}

int open_block(const BlockFile& f, bool for_write) {
  int fd = open(f.path.c_str(), (for_write ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) throw CtlError(kExitNoProcess, "the block of pid " + std::to_string(f.pid) + " is gone: the process exited");
    if (e == EACCES || e == EPERM) {
      throw CtlError(kExitPermission, std::string("permission denied on ") + escape(f.path) +
                                          (for_write ? ": only the owner (or root) may command a process"
                                                     : ": run as the process's user or root"));
    }
    if (e == ELOOP) throw CtlError(kExitError, escape(f.path) + " is a symbolic link: not a hakmem block; remove it");
    throw CtlError(kExitError, "cannot open " + escape(f.path) + ": " + std::strerror(e));
  }
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    close(fd);
    throw CtlError(kExitError, escape(f.path) + " is not a regular single-link file: not a hakmem block");
  }
  if (st.st_uid != f.uid) {
    close(fd);
    throw CtlError(kExitError, escape(f.path) + " is owned by uid " + std::to_string(st.st_uid) +
                                   ", not the uid in its name: someone squatted the name; remove it");
  }
  if (geteuid() == 0 && st.st_uid != 0) {
    // Parse another user's bytes with that user's rights only.
    if (setresgid(st.st_gid, st.st_gid, st.st_gid) != 0 || setresuid(st.st_uid, st.st_uid, st.st_uid) != 0) {
      close(fd);
      throw CtlError(kExitPermission, std::string("cannot drop to the block owner's uid: ") + std::strerror(errno));
    }
  }
  return fd;
}

bool lock_held(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  // A block we may not open is not ours to call stale: opening it again
  // reports the permission.
  if (fd < 0) return errno == EACCES || errno == EPERM;
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // releases our test lock, if we took it
  return held;
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  std::string stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  // comm (field 2) may hold spaces and parentheses: count from the last ')'.
  std::size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(close_paren + 1));
  std::string token;
  for (int field = 3; field <= 22; ++field) {
    if (!(in >> token)) return std::nullopt;
  }
  if (token.empty() || token.size() > 20 || token.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(token);
}

std::string process_comm(pid_t pid) {
  std::string comm = read_small_file("/proc/" + std::to_string(pid) + "/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

std::optional<std::uint64_t> process_rss_bytes(pid_t pid) {
  std::istringstream in(read_small_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream v(line.substr(6));
      std::uint64_t kib = 0;
      if (v >> kib) return kib * 1024;
    }
  }
  return std::nullopt;
}

std::vector<std::uint64_t> kernel_node_bytes(pid_t pid) {
  std::istringstream in(read_small_file("/proc/" + std::to_string(pid) + "/numa_maps"));
  std::vector<std::uint64_t> nodes;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string w;
    std::uint64_t page_bytes = 4096;
    std::vector<std::pair<std::size_t, std::uint64_t>> counts;
    while (words >> w) {
      if (w.rfind("kernelpagesize_kB=", 0) == 0) {
        page_bytes = std::strtoull(w.c_str() + 18, nullptr, 10) * 1024;
      } else if (w.size() > 1 && w[0] == 'N' && w.find('=') != std::string::npos) {
        std::size_t eq = w.find('=');
        std::string node = w.substr(1, eq - 1);
        if (!all_digits(node)) continue;
        std::size_t n = std::stoul(node);
        if (n >= 4096) continue;
        counts.emplace_back(n, std::strtoull(w.c_str() + eq + 1, nullptr, 10));
      }
    }
    for (auto [n, pages] : counts) {
      if (nodes.size() <= n) nodes.resize(n + 1);
      nodes[n] += pages * page_bytes;
    }
  }
  return nodes;
}

}  // namespace hakmem::hkmctl
