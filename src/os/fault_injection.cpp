#include "os/fault_injection.h"

namespace hakmem::os {

namespace {

struct Schedule {
  std::atomic<std::uint32_t> count{0};
  std::atomic<std::uint32_t> period{0};
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> injected{0};
};

constinit Schedule g_schedules[kFaultKinds];

}  // namespace

namespace detail {

constinit std::atomic<bool> g_any_fault_armed{false};

bool fault_due_slow(Fault f) {
  Schedule& s = g_schedules[static_cast<unsigned>(f)];
  const std::uint32_t period = s.period.load(std::memory_order_relaxed);
  if (period == 0) return false;
  const std::uint64_t call = s.calls.fetch_add(1, std::memory_order_relaxed);
  if (call % period >= s.count.load(std::memory_order_relaxed)) return false;
  s.injected.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace detail

void inject_fault(Fault f, std::uint32_t count, std::uint32_t period) {
  Schedule& s = g_schedules[static_cast<unsigned>(f)];
  s.calls.store(0, std::memory_order_relaxed);
  s.count.store(count, std::memory_order_relaxed);
  s.period.store(period, std::memory_order_relaxed);
  detail::g_any_fault_armed.store(true, std::memory_order_relaxed);
}

void clear_faults() {
  detail::g_any_fault_armed.store(false, std::memory_order_relaxed);
  for (Schedule& s : g_schedules) s.period.store(0, std::memory_order_relaxed);
}

std::uint64_t faults_injected(Fault f) {
  return g_schedules[static_cast<unsigned>(f)].injected.load(std::memory_order_relaxed);
}

}  // namespace hakmem::os
