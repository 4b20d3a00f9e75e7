// The service thread: one per process, started lazily with the block (or on
// its own with HAKMEM_SERVICE=on), that waits on the mailbox's doorbell with
// a timeout of HAKMEM_SERVICE_INTERVAL_MS, answers commands, runs the
// delayed purges on time and publishes the figures.
//
// Layer: control. start_service runs on a slow path with no allocator lock
// held (it calls pthread_create, which allocates). The thread has a heap of
// its own like any other; the commands it runs touch other threads' heaps
// only through the heap registry's idle-heap paths.
#pragma once

#include <cstdint>

#include "control/layout.h"

namespace hakmem::control {

struct ServiceCounters {
  std::uint64_t wakeups = 0;
  std::uint64_t timed_purges = 0;      // wake-ups whose delayed purges gave pages back
  std::uint64_t commands_served = 0;
  std::uint64_t commands_refused = 0;  // error statuses
  std::uint64_t flush_epoch = 0;
};
ServiceCounters service_counters();

// Starts the thread, once per process (and once per fork child that asks).
// Returns false if it could not be created.
bool start_service();
bool service_running();
// Fork child: the parent's thread does not exist here.
void service_after_fork_child();

// Executes one request (already copied out of the block) and fills `out`.
// The mailbox loop calls it; tests call it directly.
void execute_request(const layout::Request& req, layout::Response* out);

// The time-based work of one wake-up: delayed purges of free memory whose
// delay has passed. Returns the bytes given back.
std::uint64_t run_timed_purges();

}  // namespace hakmem::control
