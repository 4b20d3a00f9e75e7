// The control block's file: created safely on tmpfs, mapped shared, locked
// while alive, removed at exit; the process-wide state of "does this process
// have a block yet".
//
// Layer: control. open_block_file / close_block_file are mechanisms any
// thread may call (tests call them directly). The process's one block is
// made lazily by maybe_create_block(), from the allocator's slow paths
// (tiers/slow_path_hook.h) or the service thread, once the process has
// lived HAKMEM_CONTROL_DELAY_MS: a short-lived process never pays for it.
// Nothing here allocates: raw system calls and fixed buffers only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::control {

enum class OpenStatus : std::uint8_t {
  kOpened,
  kNotTmpfs,      // the directory is not tmpfs: stores would stall behind writeback
  kSquatted,      // the name is held by a live process, or is not our regular single-link file
  kNoSpace,       // posix_fallocate failed: a full /dev/shm fails here, never as a SIGBUS later
  kFailed,        // any other system call failed (errno-style code in BlockFile::error)
};

struct BlockFile {
  int fd = -1;
  void* base = nullptr;
  std::size_t bytes = 0;
  bool took_over_stale = false;  // a stale file of our pid's name was replaced
  int error = 0;
  char path[256] = {};
};

// Creates `dir`/hakmem.<euid>.<pid> of `bytes` (a multiple of the page size),
// mode 0600 or 0640 (`group_readable`), maps it shared and MADV_DONTFORK,
// and holds flock(LOCK_EX) on it. A file already at the name is taken over
// only if its lock can be taken (its creator is gone: kill -9, or exec of a
// preloaded image under this pid) and it is a regular single-link file of our
// euid. The mapping is zero-filled.
OpenStatus open_block_file(const char* dir, int pid, bool group_readable, std::size_t bytes, BlockFile* out);
// Unmaps, unlinks (when `unlink_file`) and closes.
void close_block_file(BlockFile* f, bool unlink_file);

// Whether this process may have a block at all: not for AT_SECURE
// (setuid, setgid, file capabilities) or non-dumpable processes, which
// opted out of same-uid inspection.
bool process_may_have_block();

// The process's block, once made; null before (or never, when refused).
void* block_base();
std::size_t block_bytes();
int block_fd();

// Records the moment the process (or a fork child) started counting towards
// HAKMEM_CONTROL_DELAY_MS, and installs the slow-path hook. From the preload
// layer's constructor.
void arm_block(std::uint64_t now_ms);
// The hook: cheap until the delay has passed; then makes the block (and
// starts the service thread when HAKMEM_SERVICE says so), once.
void maybe_create_block();
// Removes the block at exit (only the process that made it).
void remove_block_at_exit();
// In a fork child: forget the parent's block (the mapping is not inherited,
// MADV_DONTFORK; the descriptor is closed so the parent's lock stays only
// the parent's) and count afresh towards a block of its own.
void block_after_fork_child(std::uint64_t now_ms);

}  // namespace hakmem::control
