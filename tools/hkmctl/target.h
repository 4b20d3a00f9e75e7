// Finding a process's block and what the kernel says about the process.
//
// Layer: tools/hkmctl. Blocks live in one directory (HAKMEM_CONTROL_DIR, or
// --dir, default /dev/shm) as hakmem.<euid>.<pid>. A block is live while its
// process holds flock(LOCK_EX) on it; a block whose lock we can take is
// stale, and so is one whose pid now runs a process that started at another
// time (a reused pid).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hakmem::hkmctl {

struct BlockFile {
  std::string path;
  std::string name;   // hakmem.<uid>.<pid>
  uid_t uid = 0;      // from the name
  pid_t pid = 0;      // from the name
};

std::string control_dir(const std::string& dir_option);

// Parses "hakmem.<uid>.<pid>"; nullopt for any other name.
std::optional<BlockFile> parse_block_name(const std::string& dir, const std::string& name);

// Every file in `dir` whose name matches the pattern, sorted by pid; only our
// euid's unless we are root or ask for every uid's.
std::vector<BlockFile> list_blocks(const std::string& dir, bool every_uid = false);

// The block of process `spec` (a pid, or a name matched against
// /proc/PID/comm among processes with blocks). A pid's block of another uid
// is returned too: opening it decides (a 0640 block's group may read it).
// Throws CtlError: 3 when no block matches, 2 when a name is ambiguous.
BlockFile resolve_target(const std::string& dir, const std::string& spec);

// Opens the block read-only (or read-write for commands), refusing symlinks
// and anything but a regular file with one link. As root, drops to the file
// owner's uid and gid before returning, so that parsing never runs as root
// on another user's bytes. Throws CtlError (3 missing, 4 permission).
int open_block(const BlockFile& f, bool for_write);

// flock(LOCK_SH|LOCK_NB) on a fresh descriptor: true while the process holds
// its LOCK_EX (or when we may not open the file, so cannot judge). The test
// lock is released at once.
bool lock_held(const std::string& path);

// Field 22 of /proc/PID/stat; nullopt when the process is gone.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);
std::string process_comm(pid_t pid);
// VmRSS from /proc/PID/status, in bytes; nullopt when unreadable.
std::optional<std::uint64_t> process_rss_bytes(pid_t pid);
// The kernel's resident bytes per node for the whole process, summed from
// /proc/PID/numa_maps (N<node>=<pages> times the mapping's page size).
// Empty when unreadable.
std::vector<std::uint64_t> kernel_node_bytes(pid_t pid);

std::uint64_t monotonic_ns();

}  // namespace hakmem::hkmctl
