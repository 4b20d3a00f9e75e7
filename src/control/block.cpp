// The control block's file and the process's lazy creation of it
// (block.h). Layer: control. No allocation: raw system calls, fixed buffers
// and the base formatter.
#include "control/block.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/format.h"
#include "config/options.h"
#include "control/layout.h"
#include "control/publish.h"
#include "control/service.h"
#include "os/clock.h"
#include "os/purge_batch.h"
#include "tiers/heap_registry.h"
#include "tiers/slow_path_hook.h"

namespace hakmem::control {

namespace {

bool is_our_file(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid();
}

// The name is taken. It is ours to replace only if nobody holds its lock
// (the creator is gone) and it is a regular single-link file of our euid:
// never follow a planted symlink, never remove another uid's file.
bool try_remove_stale(const char* path) {
  const int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  bool stale = fstat(fd, &st) == 0 && is_our_file(st) && flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (stale) stale = unlink(path) == 0;
  close(fd);
  return stale;
}

OpenStatus fail(BlockFile* out, OpenStatus s, int fd, bool unlink_it) {
  out->error = errno;
  if (fd >= 0) {
    if (unlink_it) unlink(out->path);
    close(fd);
  }
  return s;
}

}  // namespace

OpenStatus open_block_file(const char* dir, int pid, bool group_readable, std::size_t bytes, BlockFile* out) {
  *out = BlockFile{};
  struct statfs fs;
  if (statfs(dir, &fs) != 0) return fail(out, OpenStatus::kFailed, -1, false);
  if (fs.f_type != TMPFS_MAGIC) return OpenStatus::kNotTmpfs;
  Formatter f;
  f.str(dir).str("/").str(layout::kFilePrefix).dec(geteuid()).ch('.').dec(static_cast<std::uint64_t>(pid));
  if (f.size() >= sizeof(out->path)) return OpenStatus::kFailed;
  std::memcpy(out->path, f.view().data(), f.size());
  const mode_t mode = group_readable ? 0640 : 0600;

  int fd = -1;
  for (int attempt = 0; attempt < 2 && fd < 0; ++attempt) {
    fd = open(out->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) break;
    if (errno != EEXIST) return fail(out, OpenStatus::kFailed, -1, false);
    if (!try_remove_stale(out->path)) return OpenStatus::kSquatted;
    out->took_over_stale = true;
  }
  if (fd < 0) return OpenStatus::kSquatted;
  // The umask may have cut the mode; the group bit must be what was asked.
  struct stat st;
  if (fchmod(fd, mode) != 0 || fstat(fd, &st) != 0) return fail(out, OpenStatus::kFailed, fd, true);
  if (!is_our_file(st)) return fail(out, OpenStatus::kSquatted, fd, false);
  // Liveness for hkmctl gc and for a later exec under this pid: held until
  // the process exits (close-on-exec drops it at exec).
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return fail(out, OpenStatus::kSquatted, fd, false);
  // Reserve every page now: on a full tmpfs a store to a hole would SIGBUS.
  const int rc = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (rc != 0) {
    errno = rc;
    return fail(out, rc == ENOSPC ? OpenStatus::kNoSpace : OpenStatus::kFailed, fd, true);
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail(out, OpenStatus::kFailed, fd, true);
  // A fork child must not write the parent's block (block.h).
  madvise(p, bytes, MADV_DONTFORK);
  out->fd = fd;
  out->base = p;
  out->bytes = bytes;
  return OpenStatus::kOpened;
}

void close_block_file(BlockFile* f, bool unlink_file) {
  if (f->base != nullptr) munmap(f->base, f->bytes);
  if (unlink_file && f->path[0] != '\0') unlink(f->path);
  if (f->fd >= 0) close(f->fd);
  *f = BlockFile{};
}

bool process_may_have_block() {
  if (getauxval(AT_SECURE) != 0) return false;
  return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

namespace {

enum State : std::uint8_t { kUnarmed, kPending, kCreating, kDone };

constinit std::atomic<std::uint8_t> g_state{kUnarmed};
constinit std::uint64_t g_armed_at_ms = 0;
constinit BlockFile g_file;
constinit int g_creator_pid = 0;
// Published with release once the block is formatted; the service thread
// and hkm_* readers acquire it.
constinit std::atomic<void*> g_base{nullptr};

void say(const char* what, const BlockFile& f) {
  if (!config::options().verbose) return;
  Formatter m;
  m.str("hakmem: no control block at ").str(f.path[0] != '\0' ? f.path : config::options().control_dir);
  m.str(": ").str(what);
  if (f.error != 0) m.str(" (errno ").dec(static_cast<std::uint64_t>(f.error)).str(")");
  m.ch('\n').write_to(2);
}

// Returns true if the block was made.
bool make_block(const config::Options& o) {
  if (o.control == config::ControlMode::kOff || !process_may_have_block()) return false;
  const int pid = static_cast<int>(getpid());
  const std::size_t bytes = block_bytes_needed();
  BlockFile f;
  switch (open_block_file(o.control_dir, pid, o.control == config::ControlMode::kGroup, bytes, &f)) {
    case OpenStatus::kOpened: break;
    case OpenStatus::kNotTmpfs: say("the directory is not tmpfs", f); return false;
    case OpenStatus::kSquatted: say("the name is taken by a live process or another user", f); return false;
    case OpenStatus::kNoSpace: say("no space left", f); return false;
    case OpenStatus::kFailed: say("a system call failed", f); return false;
  }
  g_file = f;
  g_creator_pid = pid;
  format_block(f.base, f.bytes, o.control == config::ControlMode::kGroup);
  g_base.store(f.base, std::memory_order_release);
  return true;
}

void create_now() {
  const config::Options& o = config::options();
  os::set_purge_uring_allowed(o.uring);
  const bool have_block = make_block(o);
  // auto: a thread only where a block can command it; on: for the timed
  // purges even without one.
  if (o.service == config::ServiceMode::kOn || (o.service == config::ServiceMode::kAuto && have_block)) {
    start_service();
  }
  publish_figures();
}

}  // namespace

void* block_base() { return g_base.load(std::memory_order_acquire); }
std::size_t block_bytes() { return block_base() != nullptr ? g_file.bytes : 0; }
int block_fd() { return block_base() != nullptr ? g_file.fd : -1; }

void arm_block(std::uint64_t now_ms) {
  g_armed_at_ms = now_ms;
  g_state.store(kPending, std::memory_order_release);
  tiers::g_slow_path_hook.store(&maybe_create_block, std::memory_order_release);
}

void maybe_create_block() {
  if (g_state.load(std::memory_order_acquire) != kPending) return;
  // Slow paths only, and cheap: the coarse clock is a vDSO read.
  if (os::monotonic_ms() - g_armed_at_ms < config::options().control_delay_ms) return;
  if (tiers::current_thread_is_initialising()) return;
  std::uint8_t expected = kPending;
  if (!g_state.compare_exchange_strong(expected, kCreating, std::memory_order_acq_rel)) return;
  tiers::g_slow_path_hook.store(nullptr, std::memory_order_relaxed);
  if (tiers::ensure_initialized()) create_now();
  g_state.store(kDone, std::memory_order_release);
}

void remove_block_at_exit() {
  // Unlinked only: the service thread may still be publishing into the
  // mapping, and the lock goes with the process.
  if (block_base() == nullptr || g_creator_pid != static_cast<int>(getpid())) return;
  mark_exiting();
  unlink(g_file.path);
}

void block_after_fork_child(std::uint64_t now_ms) {
  if (g_file.fd >= 0) close(g_file.fd);
  g_file = BlockFile{};
  g_creator_pid = 0;
  g_base.store(nullptr, std::memory_order_relaxed);
  service_after_fork_child();
  if (g_state.load(std::memory_order_relaxed) != kUnarmed) arm_block(now_ms);
}

}  // namespace hakmem::control
