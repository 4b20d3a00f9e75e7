// Process-level hooks of the preload layer: fork handlers and the statistics
// report at exit.
//
// Layer: preload. The allocator itself needs no constructor (it initialises
// on its first call, whenever that comes, even before this library's
// constructors run); these hooks only need to be in place before main.
#include <pthread.h>

#include "base/attributes.h"
#include "config/options.h"
#include "tiers/heap_registry.h"
#include "tiers/stats.h"

namespace hakmem::preload {

namespace {

// fork() in a multithreaded process: take every allocator lock in rank order
// so that the child starts with consistent pools and can allocate at once.
void fork_prepare() { tiers::prepare_fork(); }
void fork_parent() { tiers::after_fork_parent(); }
void fork_child() { tiers::after_fork_child(); }

__attribute__((constructor(101))) void install_process_hooks() {
  tiers::ensure_initialized();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

// Runs after main's atexit handlers and after the destructors of every
// library loaded after us, so the report includes them.
__attribute__((destructor(101))) void report_at_exit() {
  if (!tiers::ensure_initialized() || !config::options().print_stats_at_exit) return;
  tiers::Snapshot s;
  tiers::take_snapshot(&s);
  tiers::print_snapshot(s, 2);
}

}  // namespace

}  // namespace hakmem::preload
