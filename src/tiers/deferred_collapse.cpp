#include "tiers/deferred_collapse.h"

#include <atomic>
#include <new>

#include "base/constants.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "tiers/allocator.h"

namespace hakmem::tiers {

namespace {

struct Request {
  Request* next = nullptr;
  void* base = nullptr;
  unsigned tries = 0;
};

// Seven pages in eight: a SuperSlab of dense slabs that the program has
// used through; the collapse then adds at most an eighth of 2 MiB.
constexpr long kResidentPagesToCollapse = static_cast<long>(kSuperSlabBytes / 4096) * 7 / 8;

constinit std::atomic<bool> g_worker{false};
constinit std::atomic<Request*> g_pending{nullptr};
// The free stack's head: a Request* in the low 48 bits, a tag above that
// every pop increments (user-space addresses fit in 47 bits).
constinit std::atomic<std::uint64_t> g_free{0};
constexpr std::uint64_t kPointerMask = (std::uint64_t{1} << 48) - 1;

Request* pointer_of(std::uint64_t head) { return reinterpret_cast<Request*>(head & kPointerMask); }

Request* pop_free() {
  std::uint64_t head = g_free.load(std::memory_order_acquire);
  while (Request* r = pointer_of(head)) {
    const std::uint64_t next = (reinterpret_cast<std::uint64_t>(r->next) & kPointerMask) |
                               (((head >> 48) + 1) << 48);
    if (g_free.compare_exchange_weak(head, next, std::memory_order_acquire, std::memory_order_acquire)) return r;
  }
  return nullptr;
}

void push_free(Request* r) {
  std::uint64_t head = g_free.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    r->next = pointer_of(head);
    next = reinterpret_cast<std::uint64_t>(r) | (head & ~kPointerMask);
  } while (!g_free.compare_exchange_weak(head, next, std::memory_order_release, std::memory_order_relaxed));
}

void push_pending(Request* r) {
  Request* head = g_pending.load(std::memory_order_relaxed);
  do {
    r->next = head;
  } while (!g_pending.compare_exchange_weak(head, r, std::memory_order_release, std::memory_order_relaxed));
}

}  // namespace

void set_collapse_worker(bool present) { g_worker.store(present, std::memory_order_release); }
bool collapse_worker_present() { return g_worker.load(std::memory_order_acquire); }

bool defer_collapse(void* base) {
  Request* r = pop_free();
  if (r == nullptr) {
    void* raw = os::meta_alloc(sizeof(Request), alignof(Request));
    if (raw == nullptr) return false;
    r = new (raw) Request();
  }
  r->base = base;
  r->tries = 0;
  push_pending(r);
  return true;
}

std::size_t run_deferred_collapses() {
  Request* r = g_pending.exchange(nullptr, std::memory_order_acquire);
  std::size_t done = 0;
  while (r != nullptr) {
    Request* next = r->next;
    bool finished = true;
    if (g_chunk_map.kind_of(r->base) == ChunkKind::kSuperSlab) {
      const long resident = os::resident_pages(r->base, kSuperSlabBytes);
      if (resident >= kResidentPagesToCollapse) {
        if (os::collapse_huge_pages(r->base, kSuperSlabBytes)) ++done;
      } else if (resident >= 0 && ++r->tries < kCollapseTries) {
        finished = false;
      }
    }
    if (finished) {
      push_free(r);
    } else {
      push_pending(r);
    }
    r = next;
  }
  return done;
}

std::size_t deferred_collapses_pending() {
  // Only the worker takes requests off: a walk by it, or by a test with no
  // worker running, sees a list that only grows at its head.
  std::size_t n = 0;
  for (Request* r = g_pending.load(std::memory_order_acquire); r != nullptr; r = r->next) ++n;
  return n;
}

}  // namespace hakmem::tiers
