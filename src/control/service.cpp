// The service thread and the mailbox's commands (service.h).
// Layer: control. The thread allocates like any other thread (it has a
// heap); the code on it calls no libc function that could take a lock a
// forking or exiting thread holds, apart from pthread_create at start.
#include "control/service.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>

#include "base/format.h"
#include "config/options.h"
#include "control/block.h"
#include "control/knobs.h"
#include "control/publish.h"
#include "control/rss.h"
#include "numa/topology.h"
#include "os/pages.h"
#include "tiers/allocator.h"
#include "tiers/deferred_collapse.h"
#include "tiers/heap_registry.h"
#include "tiers/huge.h"
#include "tiers/node_pool.h"
#include "tiers/slow_path_hook.h"
#include "tiers/stats.h"

namespace hakmem::control {

namespace L = layout;

namespace {

// Relaxed counters: one writer (the service thread, or a test), read by
// publish_figures.
struct Counters {
  std::atomic<std::uint64_t> wakeups{0};
  std::atomic<std::uint64_t> timed_purges{0};
  std::atomic<std::uint64_t> commands_served{0};
  std::atomic<std::uint64_t> commands_refused{0};
  std::atomic<std::uint64_t> flush_epoch{0};
};
constinit Counters g_counters;
constinit std::atomic<bool> g_started{false};
constinit std::atomic<bool> g_running{false};
// The futex the thread sleeps on when the process has no block.
constinit std::uint32_t g_private_doorbell = 0;

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint32_t current_tid() { return static_cast<std::uint32_t>(syscall(SYS_gettid)); }

// FUTEX_WAIT on a word of a MAP_SHARED file mapping: not the _PRIVATE op,
// so that a commander's FUTEX_WAKE in another process reaches us
// (futex(2): the futex is keyed by the file page, not the address).
void futex_wait(std::uint32_t* word, std::uint32_t seen, std::uint64_t timeout_ms, bool shared) {
  timespec ts{static_cast<time_t>(timeout_ms / 1000), static_cast<long>(timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
}

void futex_wake(std::uint32_t* word) { syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0); }

void set_message(L::Response* out, const char* a, const char* b = "") {
  Formatter f;
  f.str(a).str(b);
  const std::size_t n = f.size() < sizeof(out->message) - 1 ? f.size() : sizeof(out->message) - 1;
  std::memcpy(out->message, f.view().data(), n);
  out->message[n] = '\0';
}

// Free memory still resident on a node, as the trim result counts it: the
// node's cached blocks and free huge ranges plus its dirty pooled SuperSlabs.
std::uint64_t free_resident_on(std::uint32_t node) {
  const tiers::NodeStats s = tiers::node_stats(numa::NodeId{node});
  // Free huge ranges count only where they may hold pages: a purged or
  // untouched range is address space, nothing a trim can give back.
  const tiers::HugeNodeStats h = tiers::huge_node_stats(numa::NodeId{node});
  // (The two reads are apart in time: never below zero.)
  std::uint64_t b = (s.bytes_cached > h.free_bytes ? s.bytes_cached - h.free_bytes : 0) + h.dirty_free_bytes;
  if (node < tiers::node_pool_count()) b += tiers::node_pool(numa::NodeId{node}).stats().superslabs_dirty * kSuperSlabBytes;
  return b;
}

L::Status do_trim(const L::Request& req, L::Response* out) {
  const std::uint32_t nodes = numa::node_count();
  const std::uint64_t all_nodes = nodes >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << nodes) - 1;
  const std::uint32_t all_tiers = L::kTierBitTiny | L::kTierBitMid | L::kTierBitLarge | L::kTierBitHuge;
  if ((req.tiers & ~all_tiers) != 0) {
    set_message(out, "tiers has bits for tiers that do not exist");
    return L::Status::kBadArgument;
  }
  if ((req.node_mask & ~all_nodes) != 0) {
    set_message(out, "node_mask names nodes this machine does not have");
    return L::Status::kBadArgument;
  }
  const std::uint64_t mask = req.node_mask == 0 ? all_nodes : req.node_mask;
  const std::uint32_t tiers_wanted = req.tiers == 0 ? all_tiers : req.tiers;
  const std::uint32_t shown = nodes < L::kMaxResultNodes ? nodes : static_cast<std::uint32_t>(L::kMaxResultNodes);
  std::uint64_t before[L::kMaxResultNodes] = {};
  std::uint64_t free_total = 0;
  for (std::uint32_t n = 0; n < shown; ++n) {
    before[n] = free_resident_on(n);
    if ((mask >> n) & 1) free_total += before[n];
  }
  if (req.keep_bytes >= free_total) {
    out->not_released_bytes = free_total;
    set_message(out, "keep_bytes is at least the free memory: nothing to do");
    return L::Status::kOk;
  }
  const os::OsStats& os = os::os_stats();
  const std::uint64_t purged_before = os.purged_bytes.get();
  const std::uint64_t mapped_before = os.mapped_bytes.get();
  const bool small = (tiers_wanted & (L::kTierBitTiny | L::kTierBitMid | L::kTierBitLarge)) != 0;
  if (small) {
    // Idle heaps' free memory, then the node pools of the nodes asked for.
    tiers::collect_idle_heaps(true);
    for (std::uint32_t i = 0; i < tiers::node_pool_count(); ++i) {
      if ((mask >> i) & 1) tiers::node_pool(numa::NodeId{i}).decay(true);
    }
  }
  // The huge cache is one structure for every node: trimmed only when every
  // node is asked for.
  const bool huge = (tiers_wanted & L::kTierBitHuge) != 0 && mask == all_nodes;
  if (huge) tiers::huge_decay(true);
  out->released_bytes = (os.purged_bytes.get() - purged_before) +
                        (mapped_before > os.mapped_bytes.get() ? mapped_before - os.mapped_bytes.get() : 0);
  std::uint64_t left = 0;
  for (std::uint32_t n = 0; n < shown; ++n) {
    const std::uint64_t after = free_resident_on(n);
    out->released_per_node[n] = before[n] > after ? before[n] - after : 0;
    left += after;
  }
  // What stays: blocks in the caches of running threads (theirs to flush),
  // slabs that still hold a live block, and whatever the mask left out.
  out->not_released_bytes = left;
  if (left != 0) {
    set_message(out, (tiers_wanted & L::kTierBitHuge) != 0 && !huge
                         ? "the huge cache is trimmed only with every node; the rest is in running threads' caches"
                         : "kept: blocks in running threads' caches (flush first) and outside the node mask");
    return L::Status::kPartial;
  }
  return L::Status::kOk;
}

L::Status do_set(const L::Request& req, L::Response* out) {
  if (std::memchr(req.key, '\0', sizeof(req.key)) == nullptr || req.key[0] == '\0') {
    set_message(out, "key is empty or not NUL-terminated");
    return L::Status::kBadArgument;
  }
  const char* variable = nullptr;
  switch (knob_set(req.key, req.value, &variable)) {
    case KnobResult::kOk: break;
    case KnobResult::kUnknown: set_message(out, "no such knob: ", req.key); return L::Status::kUnknownKnob;
    case KnobResult::kStartupOnly:
      set_message(out, "start-up only; set it with the environment variable ", variable);
      return L::Status::kStartupOnlyKnob;
    case KnobResult::kOutOfRange: set_message(out, "value out of the knob's range"); return L::Status::kOutOfRange;
  }
  knob_get(req.key, &out->value);
  return L::Status::kOk;
}

void serve_mailbox(L::Mailbox* mb) {
  std::atomic_ref<std::uint64_t> request_seq(mb->request_seq);
  std::atomic_ref<std::uint64_t> response_seq(mb->response_seq);
  const std::uint64_t req_seq = request_seq.load(std::memory_order_acquire);
  const std::uint64_t answered = response_seq.load(std::memory_order_relaxed);
  if (req_seq != answered + 1) return;
  // A copy first: a commander may keep writing the shared page while we
  // validate and execute.
  L::Request req;
  std::memcpy(&req, &mb->request, sizeof(req));
  std::atomic_thread_fence(std::memory_order_acquire);
  L::Response resp{};
  execute_request(req, &resp);
  std::memcpy(&mb->response, &resp, sizeof(resp));
  response_seq.store(req_seq, std::memory_order_release);
  std::atomic_ref<std::uint32_t>(mb->ack).fetch_add(1, std::memory_order_release);
  futex_wake(&mb->ack);
}

void* service_main(void*) {
  prctl(PR_SET_NAME, "hkm-service", 0, 0, 0);
  mark_service_running(true);
  // Full SuperSlabs' collapses into huge pages come here from now on, off
  // the allocating threads (tiers/deferred_collapse.h).
  tiers::set_collapse_worker(true);
  for (;;) {
    void* base = block_base();
    auto* mb = base != nullptr ? section<L::Mailbox>(base, L::kMailbox) : nullptr;
    std::uint32_t* doorbell = mb != nullptr ? &mb->doorbell : &g_private_doorbell;
    const std::uint32_t seen = std::atomic_ref<std::uint32_t>(*doorbell).load(std::memory_order_acquire);
    if (mb != nullptr) serve_mailbox(mb);
    if (run_timed_purges() != 0) g_counters.timed_purges.fetch_add(1, std::memory_order_relaxed);
    tiers::run_deferred_collapses();
    publish_figures();
    futex_wait(doorbell, seen, config::options().service_interval_ms.load(std::memory_order_relaxed), mb != nullptr);
    g_counters.wakeups.fetch_add(1, std::memory_order_relaxed);
  }
  return nullptr;
}

}  // namespace

ServiceCounters service_counters() {
  ServiceCounters c;
  c.wakeups = g_counters.wakeups.load(std::memory_order_relaxed);
  c.timed_purges = g_counters.timed_purges.load(std::memory_order_relaxed);
  c.commands_served = g_counters.commands_served.load(std::memory_order_relaxed);
  c.commands_refused = g_counters.commands_refused.load(std::memory_order_relaxed);
  c.flush_epoch = g_counters.flush_epoch.load(std::memory_order_relaxed);
  return c;
}

bool start_service() {
  bool expected = false;
  if (!g_started.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return g_running.load();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // Signals stay with the program's threads: the service thread blocks all.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  const bool ok = pthread_create(&t, &attr, service_main, nullptr) == 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  g_running.store(ok, std::memory_order_release);
  return ok;
}

bool service_running() { return g_running.load(std::memory_order_acquire); }

void service_after_fork_child() {
  tiers::set_collapse_worker(false);
  g_started.store(false, std::memory_order_relaxed);
  g_running.store(false, std::memory_order_relaxed);
}

std::uint64_t run_timed_purges() {
  const os::OsStats& os = os::os_stats();
  const std::uint64_t purged_before = os.purged_bytes.get();
  const std::uint64_t mapped_before = os.mapped_bytes.get();
  for (std::uint32_t i = 0; i < tiers::node_pool_count(); ++i) tiers::node_pool(numa::NodeId{i}).decay(false);
  tiers::huge_decay(false);
  const std::uint64_t mapped_after = os.mapped_bytes.get();
  return (os.purged_bytes.get() - purged_before) + (mapped_before > mapped_after ? mapped_before - mapped_after : 0);
}

void execute_request(const L::Request& req, L::Response* out) {
  *out = L::Response{};
  out->served_by_tid = current_tid();
  out->started_ns = monotonic_ns();
  out->rss_before = rss_bytes();
  L::Status status = L::Status::kOk;
  switch (static_cast<L::Opcode>(req.opcode)) {
    case L::Opcode::kPing: break;
    case L::Opcode::kSnapshot: break;  // published below, as after every command
    case L::Opcode::kTrim: status = do_trim(req, out); break;
    case L::Opcode::kFlush:
      // Running threads flush on their next slow path; idle heaps (no
      // thread to answer) are taken here.
      g_counters.flush_epoch.store(tiers::g_flush_epoch.fetch_add(1, std::memory_order_relaxed) + 1,
                                   std::memory_order_relaxed);
      tiers::collect_idle_heaps(true);
      break;
    case L::Opcode::kSetKnob: status = do_set(req, out); break;
    case L::Opcode::kResetPeaks: reset_peaks(); break;
    default:
      status = L::Status::kUnknownOpcode;
      set_message(out, "unknown opcode");
      break;
  }
  out->status = static_cast<std::int32_t>(status);
  out->rss_after = rss_bytes();
  out->duration_ns = monotonic_ns() - out->started_ns;
  const bool refused = status != L::Status::kOk && status != L::Status::kPartial;
  (refused ? g_counters.commands_refused : g_counters.commands_served).fetch_add(1, std::memory_order_relaxed);
  publish_figures();
}

}  // namespace hakmem::control
