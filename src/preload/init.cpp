// Process-level hooks of the preload layer: fork handlers and the statistics
// report at exit.
//
// Layer: preload. The allocator itself needs no constructor: it initialises
// on its first call, whenever that comes, even before this library's
// constructors run. A process that never allocates (true, test, many of a
// shell script's helpers) thus pays for the library's loading and nothing
// else: no topology file read, no metadata mapped. Only a process started
// with HAKMEM_* settings initialises here, so that a setting's warning, the
// verbose listing and the report's copy of stderr come at start-up.
#include <fcntl.h>
#include <pthread.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include <cstring>

#include "base/attributes.h"
#include "config/options.h"
#include "control/block.h"
#include "os/clock.h"
#include "tiers/heap_registry.h"
#include "tiers/stats.h"

extern char** environ;

// glibc's lock of its list of streams (exported, undeclared in its headers).
extern "C" void _IO_list_lock();
extern "C" void _IO_list_unlock();

namespace hakmem::preload {

namespace {

// fork() in a multithreaded process: take every allocator lock in rank order
// so that the child starts with consistent pools and can allocate at once.
// The allocator is initialised first (or another thread's init waited for),
// so that no child starts with an init half done by a thread it lacks.
//
// stdio's list of streams comes before the allocator's locks, as glibc's
// fork() orders its own malloc: a thread can hold a FILE's lock and wait for
// the allocator (getline growing its line) while another holds the list and
// waits for that FILE (fflush(NULL)); a fork handler holding the allocator's
// locks while fork() waits for the list would close the cycle. The list lock
// is recursive, so fork() takes it again after the handlers; in the child,
// fork() resets it. Only with threads: glibc takes it only then, and alone a
// process has nobody to wait for.
bool g_took_stream_list = false;

void fork_prepare() {
  tiers::ensure_initialized();
  g_took_stream_list = __libc_single_threaded == 0;
  if (g_took_stream_list) _IO_list_lock();
  tiers::prepare_fork();
}
void fork_parent() {
  tiers::after_fork_parent();
  if (g_took_stream_list) _IO_list_unlock();
}
void fork_child() {
  tiers::after_fork_child();
  control::block_after_fork_child(os::monotonic_ms());
}

// Where the report at exit goes: a copy of stderr taken at start-up, since
// many programs (GNU coreutils among them) close stderr before they exit.
// Close-on-exec, so programs this one starts do not inherit it.
int g_report_fd = -1;
bool g_report_at_exit = false;

// Whether the environment holds any HAKMEM_* variable. Reads environ
// directly: no allocation, no system call.
bool environment_has_settings() {
  if (environ == nullptr) return false;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "HAKMEM_", 7) == 0) return true;
  }
  return false;
}

__attribute__((constructor(101))) void install_process_hooks() {
  if (environment_has_settings() && tiers::ensure_initialized() && config::options().print_stats_at_exit) {
    g_report_at_exit = true;
    g_report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  }
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  // The control block comes later, from a slow path, once the process has
  // lived HAKMEM_CONTROL_DELAY_MS (control/block.h): here, only the clock.
  control::arm_block(os::monotonic_ms());
}

// Runs after main's atexit handlers and after the destructors of every
// library loaded after us, so the report includes them.
__attribute__((destructor(101))) void report_at_exit() {
  control::remove_block_at_exit();
  if (!g_report_at_exit) return;
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  tiers::print_snapshot(s, g_report_fd >= 0 ? g_report_fd : STDERR_FILENO);
}

}  // namespace

}  // namespace hakmem::preload
