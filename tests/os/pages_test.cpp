#include "os/pages.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "base/constants.h"

namespace hakmem::os {
namespace {

// Pages of [p, p + bytes) resident in memory, asked of the kernel (mincore).
std::size_t resident_pages(void* p, std::size_t bytes) {
  const std::size_t pages = bytes / kOsPageBytes;
  std::string vec(pages, '\0');
  if (mincore(p, bytes, reinterpret_cast<unsigned char*>(vec.data())) != 0) return SIZE_MAX;
  std::size_t n = 0;
  for (char c : vec) n += (c & 1);
  return n;
}

TEST(Pages, MapAlignedGives2MiBAlignedUsableMemory) {
  for (HugePagePolicy policy : {HugePagePolicy::kAuto, HugePagePolicy::kThp, HugePagePolicy::kOff}) {
    const Region r = map_aligned(4 * kSuperSlabBytes, policy, nullptr, nullptr);
    ASSERT_NE(r.base, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.base) % kSuperSlabBytes, 0u);
    if (policy == HugePagePolicy::kOff) {
      EXPECT_EQ(r.backing, Backing::kPlain);
    }
    auto* bytes = static_cast<unsigned char*>(r.base);
    bytes[0] = 1;
    bytes[4 * kSuperSlabBytes - 1] = 2;
    EXPECT_EQ(bytes[0] + bytes[4 * kSuperSlabBytes - 1], 3);
    EXPECT_TRUE(release(r.base, 4 * kSuperSlabBytes));
  }
}

TEST(Pages, HookRunsBeforeFirstTouchAndCanRefuse) {
  struct Seen {
    void* base = nullptr;
    std::size_t bytes = 0;
    std::size_t resident_at_hook = 1;
  } seen;
  auto hook = [](void* base, std::size_t bytes, void* ctx) {
    auto* s = static_cast<Seen*>(ctx);
    s->base = base;
    s->bytes = bytes;
    s->resident_at_hook = resident_pages(base, bytes);
    return true;
  };
  const Region r = map_aligned(kSuperSlabBytes, HugePagePolicy::kOff, hook, &seen);
  ASSERT_NE(r.base, nullptr);
  EXPECT_EQ(seen.base, r.base);
  EXPECT_EQ(seen.bytes, kSuperSlabBytes);
  EXPECT_EQ(seen.resident_at_hook, 0u);
  release(r.base, kSuperSlabBytes);

  const std::uint64_t failures = os_stats().map_failures.get();
  const Region refused =
      map_aligned(kSuperSlabBytes, HugePagePolicy::kOff, [](void*, std::size_t, void*) { return false; }, nullptr);
  EXPECT_EQ(refused.base, nullptr);
  EXPECT_EQ(os_stats().map_failures.get(), failures + 1);
}

TEST(Pages, PurgeDropsResidentPagesAndZeroes) {
  const Region r = map_aligned(kSuperSlabBytes, HugePagePolicy::kOff, nullptr, nullptr);
  ASSERT_NE(r.base, nullptr);
  std::memset(r.base, 0x5a, kSuperSlabBytes);
  EXPECT_EQ(resident_pages(r.base, kSuperSlabBytes), kSuperSlabBytes / kOsPageBytes);
  const std::uint64_t purged_before = os_stats().purged_bytes.get();
  ASSERT_TRUE(purge(r.base, kSuperSlabBytes));
  EXPECT_EQ(resident_pages(r.base, kSuperSlabBytes), 0u);
  EXPECT_EQ(os_stats().purged_bytes.get() - purged_before, kSuperSlabBytes);
  const auto* bytes = static_cast<const unsigned char*>(r.base);
  for (std::size_t i = 0; i < kSuperSlabBytes; i += 777) ASSERT_EQ(bytes[i], 0) << i;
  release(r.base, kSuperSlabBytes);
}

TEST(Pages, RemapMovesPagesWithoutCopying) {
  const Region a = map_aligned(kSuperSlabBytes, HugePagePolicy::kOff, nullptr, nullptr);
  const Region b = map_aligned(2 * kSuperSlabBytes, HugePagePolicy::kOff, nullptr, nullptr);
  ASSERT_NE(a.base, nullptr);
  ASSERT_NE(b.base, nullptr);
  std::memset(a.base, 0x11, kSuperSlabBytes);
  void* moved = remap(a.base, kSuperSlabBytes, kSuperSlabBytes, b.base);
  ASSERT_EQ(moved, b.base);
  EXPECT_EQ(static_cast<unsigned char*>(b.base)[kSuperSlabBytes - 1], 0x11);
  EXPECT_EQ(static_cast<unsigned char*>(b.base)[kSuperSlabBytes], 0);
  release(b.base, 2 * kSuperSlabBytes);
}

TEST(Pages, OperationsPreserveErrno) {
  errno = 4242;
  const Region r = map_aligned(kSuperSlabBytes, HugePagePolicy::kAuto, nullptr, nullptr);
  purge(r.base, kSuperSlabBytes);
  release(r.base, kSuperSlabBytes);
  EXPECT_EQ(errno, 4242);
}

// Reserves `count` 2 MiB huge pages for the test's lifetime and restores the
// previous count afterwards.
class HugePageReservation {
 public:
  explicit HugePageReservation(long count) {
    std::ifstream in(kPath);
    in >> previous_;
    ok_ = write(previous_ + count);
  }
  ~HugePageReservation() { write(previous_); }
  bool ok() const { return ok_; }

 private:
  static constexpr const char* kPath = "/proc/sys/vm/nr_hugepages";
  static bool write(long n) {
    std::ofstream out(kPath);
    out << n;
    out.flush();
    return out.good();
  }
  long previous_ = 0;
  bool ok_ = false;
};

TEST(Pages, HugetlbWhenReservedOtherwiseCountedFallback) {
  HugePageReservation reservation(4);
  const bool have_pages = reservation.ok() && hugetlb_pages_available();
  const std::uint64_t fallbacks = os_stats().hugetlb_fallbacks.get();
  const Region r = map_aligned(kSuperSlabBytes, HugePagePolicy::kHugetlb, nullptr, nullptr);
  ASSERT_NE(r.base, nullptr);
  if (have_pages) {
    EXPECT_EQ(r.backing, Backing::kHugetlb);
    std::memset(r.base, 1, kSuperSlabBytes);  // populated at map time: cannot SIGBUS
  } else {
    // No pool (not root, or no memory): the failure is counted and the map
    // falls back to the next backing instead of failing.
    EXPECT_NE(r.backing, Backing::kHugetlb);
    EXPECT_EQ(os_stats().hugetlb_fallbacks.get(), fallbacks + 1);
  }
  release(r.base, kSuperSlabBytes);
}

TEST(Pages, HugetlbShortPoolFailsAtMapTimeNotAtTouch) {
  // Ask for more huge pages than are free: the map must fail (and fall
  // back), never hand out memory that would SIGBUS on first touch.
  HugePageReservation reservation(1);
  std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  std::size_t free_pages = 0;
  in >> free_pages;
  const std::size_t bytes = (free_pages + 1) * kSuperSlabBytes;
  const Region r = map_aligned(bytes, HugePagePolicy::kHugetlb, nullptr, nullptr);
  ASSERT_NE(r.base, nullptr);
  EXPECT_NE(r.backing, Backing::kHugetlb);
  std::memset(r.base, 1, bytes);
  release(r.base, bytes);
}

}  // namespace
}  // namespace hakmem::os
