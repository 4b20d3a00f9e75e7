// The OS layer: one small function per syscall family, plus the fallback order.
// See pages.h for the contract.
#include "os/pages.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "base/bits.h"
#include "base/constants.h"
#include "os/fault_injection.h"
#include "os/small_file.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1; older headers lack it
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older headers lack it
#endif

namespace hakmem::os {

namespace {

// errno must survive every allocation that succeeds (C and POSIX say malloc
// may only change errno on failure), so every syscall here is wrapped.
class KeepErrno {
 public:
  KeepErrno() : saved_(errno) {}
  ~KeepErrno() { errno = saved_; }
  KeepErrno(const KeepErrno&) = delete;
  KeepErrno& operator=(const KeepErrno&) = delete;

 private:
  int saved_;
};

constinit OsStats g_stats;

void* raw_mmap(std::size_t bytes, int extra_flags) {
  g_stats.map_calls.inc();
  if (fault_due((extra_flags & MAP_HUGETLB) != 0 ? Fault::kHugetlb : Fault::kMmap)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags,
                   -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

bool raw_munmap(void* addr, std::size_t bytes) {
  g_stats.unmap_calls.inc();
  return ::munmap(addr, bytes) == 0;
}

bool raw_madvise(void* addr, std::size_t bytes, int advice) {
  g_stats.madvise_calls.inc();
  if (fault_due(advice == MADV_COLLAPSE ? Fault::kCollapse : Fault::kMadvise)) {
    errno = EAGAIN;
    return false;
  }
  return ::madvise(addr, bytes, advice) == 0;
}

// Maps bytes + alignment and unmaps the unaligned head and the tail, so the
// result is aligned. The kernel gives no aligned mmap; this is the usual way.
void* map_over_and_trim(std::size_t bytes, std::size_t alignment, int extra_flags) {
  if (alignment <= kOsPageBytes) return raw_mmap(bytes, extra_flags);
  const std::size_t over = bytes + alignment;
  if (over < bytes) return nullptr;
  auto* raw = static_cast<char*>(raw_mmap(over, extra_flags));
  if (raw == nullptr) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = align_up(start, alignment);
  const std::size_t head = aligned - start;
  const std::size_t tail = over - head - bytes;
  if (head != 0) raw_munmap(raw, head);
  if (tail != 0) raw_munmap(reinterpret_cast<char*>(aligned + bytes), tail);
  return reinterpret_cast<void*>(aligned);
}

}  // namespace

OsStats& os_stats() { return g_stats; }

const char* backing_name(Backing b) {
  switch (b) {
    case Backing::kHugetlb: return "hugetlb";
    case Backing::kThp: return "thp";
    case Backing::kPlain: return "plain";
  }
  return "?";
}

void* map_hugetlb(std::size_t bytes) {
  KeepErrno keep;
  // No MAP_NORESERVE: the kernel then reserves the huge pages at mmap time
  // and the call fails (ENOMEM) if the pool is short, instead of a SIGBUS on
  // a later first touch (Documentation/admin-guide/mm/hugetlbpage.rst).
  // Anonymous hugetlb mappings of 2 MiB pages are 2 MiB aligned by the kernel.
  return raw_mmap(bytes, MAP_HUGETLB | (21 << MAP_HUGE_SHIFT));
}

// madvise, its outcome counted in `done` or `refused`.
static bool counted_madvise(void* addr, std::size_t bytes, int advice, SharedCounter& done, SharedCounter& refused) {
  KeepErrno keep;
  const bool ok = raw_madvise(addr, bytes, advice);
  (ok ? done : refused).inc();
  return ok;
}

bool advise_huge_pages(void* addr, std::size_t bytes) {
  return counted_madvise(addr, bytes, MADV_HUGEPAGE, g_stats.thp_maps, g_stats.thp_fallbacks);
}

bool collapse_huge_pages(void* addr, std::size_t bytes) {
  return counted_madvise(addr, bytes, MADV_COLLAPSE, g_stats.thp_collapses, g_stats.thp_collapse_failures);
}

long resident_pages(void* addr, std::size_t bytes) {
  KeepErrno keep;
  if (bytes > kMaxResidentQuery) bytes = kMaxResidentQuery;
  unsigned char vec[kMaxResidentQuery / 4096];
  if (syscall(SYS_mincore, addr, bytes, vec) != 0) return -1;
  long n = 0;
  for (std::size_t i = 0; i < (bytes + 4095) / 4096; ++i) n += vec[i] & 1;
  return n;
}

bool populate_hugetlb(void* base, std::size_t bytes) {
  KeepErrno keep;
  // The global reservation above does not guarantee a page on the node a
  // binding asks for; populating now turns a shortage into an error here.
  return raw_madvise(base, bytes, MADV_POPULATE_WRITE);
}

void* map_thp(std::size_t bytes, std::size_t alignment, std::size_t advise_bytes) {
  KeepErrno keep;
  void* p = map_over_and_trim(bytes, alignment, 0);
  if (p == nullptr) return nullptr;
  // Advice only: if the kernel has THP off, the mapping still works with
  // small pages. Counted as a fallback so users can see it.
  const std::size_t advised = advise_bytes < bytes ? advise_bytes : bytes;
  if (advised != 0 && !raw_madvise(p, advised, MADV_HUGEPAGE)) g_stats.thp_fallbacks.inc();
  return p;
}

void* map_plain(std::size_t bytes, std::size_t alignment) {
  KeepErrno keep;
  return map_over_and_trim(bytes, alignment, 0);
}

Region map_aligned(std::size_t bytes, HugePagePolicy policy, BeforeFirstTouch hook, void* context,
                   std::size_t thp_bytes) {
  Region r;
  if (policy == HugePagePolicy::kHugetlb) {
    void* p = map_hugetlb(bytes);
    if (p != nullptr && (hook == nullptr || hook(p, bytes, context)) && populate_hugetlb(p, bytes)) {
      g_stats.hugetlb_maps.inc();
      g_stats.mapped_bytes.add(bytes);
      return {p, Backing::kHugetlb};
    }
    if (p != nullptr) raw_munmap(p, bytes);
    g_stats.hugetlb_fallbacks.inc();
  }
  const std::size_t advise = thp_bytes == kAdviseAll ? bytes : align_down(thp_bytes, kHugePageBytes);
  if (policy != HugePagePolicy::kOff && advise != 0) {
    void* p = map_thp(bytes, kSuperSlabBytes, advise);
    if (p != nullptr && (hook == nullptr || hook(p, bytes, context))) {
      g_stats.thp_maps.inc();
      g_stats.mapped_bytes.add(bytes);
      return {p, Backing::kThp};
    }
    if (p != nullptr) raw_munmap(p, bytes);
  }
  void* p = map_plain(bytes, kSuperSlabBytes);
  if (p != nullptr && (hook == nullptr || hook(p, bytes, context))) {
    g_stats.plain_maps.inc();
    g_stats.mapped_bytes.add(bytes);
    return {p, Backing::kPlain};
  }
  if (p != nullptr) raw_munmap(p, bytes);
  g_stats.map_failures.inc();
  return r;
}

bool purge(void* addr, std::size_t bytes) {
  KeepErrno keep;
  g_stats.purge_calls.inc();
  const bool ok = raw_madvise(addr, bytes, MADV_DONTNEED);
  if (ok) g_stats.purged_bytes.add(bytes);
  return ok;
}

bool release(void* addr, std::size_t bytes) {
  KeepErrno keep;
  const bool ok = raw_munmap(addr, bytes);
  if (ok) g_stats.mapped_bytes.sub(bytes);
  return ok;
}

void* remap(void* addr, std::size_t old_bytes, std::size_t new_bytes, void* target) {
  KeepErrno keep;
  g_stats.remap_calls.inc();
  // Growth in place needs address space, as an mmap does.
  if (target == nullptr && new_bytes > old_bytes && fault_due(Fault::kMmap)) return nullptr;
  void* p = target == nullptr
                ? ::mremap(addr, old_bytes, new_bytes, 0)
                : ::mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (p == MAP_FAILED) return nullptr;
  if (new_bytes > old_bytes) g_stats.mapped_bytes.add(new_bytes - old_bytes);
  else g_stats.mapped_bytes.sub(old_bytes - new_bytes);
  return p;
}

bool hugetlb_pages_available() {
  char buf[32];
  const long n = read_small_file("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", buf, sizeof(buf));
  return n > 0 && !(buf[0] == '0' && (n == 1 || buf[1] == '\n'));
}

}  // namespace hakmem::os
