// Batched purges: every range of a batch loses its pages, through io_uring
// in one submission where the kernel allows it, through madvise otherwise,
// and each way is counted.
#include "os/purge_batch.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem::os {
namespace {

constexpr std::size_t kRange = 64 * 1024;

std::size_t resident_pages(void* p, std::size_t bytes) {
  std::vector<unsigned char> v(bytes / 4096);
  if (mincore(p, bytes, v.data()) != 0) return ~std::size_t{0};
  std::size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

// Maps `count` touched ranges with an untouched gap between each (so that
// they are separate ranges), adds them all, submits once.
void purge_ranges(unsigned count) {
  const std::size_t span = 2 * kRange * count;
  char* base = static_cast<char*>(mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(base, MAP_FAILED);
  std::memset(base, 7, span);
  PurgeBatch batch;
  for (unsigned i = 0; i < count; ++i) ASSERT_TRUE(batch.add(base + 2 * kRange * i, kRange));
  EXPECT_EQ(batch.submit(), count * kRange);
  EXPECT_EQ(batch.size(), 0u);
  for (unsigned i = 0; i < count; ++i) {
    EXPECT_EQ(resident_pages(base + 2 * kRange * i, kRange), 0u) << "range " << i;
    EXPECT_EQ(resident_pages(base + 2 * kRange * i + kRange, kRange), kRange / 4096) << "gap " << i;
  }
  munmap(base, span);
}

TEST(PurgeBatch, ManyRangesOneSubmissionOrMadviseEach) {
  const PurgeBatchStats before = purge_batch_stats();
  purge_ranges(PurgeBatch::kMaxRanges);
  const PurgeBatchStats after = purge_batch_stats();
  if (purge_uring_ready()) {
    EXPECT_EQ(after.uring_submits - before.uring_submits, 1u);
    EXPECT_EQ(after.uring_ranges - before.uring_ranges, PurgeBatch::kMaxRanges);
    EXPECT_EQ(after.madvise_ranges, before.madvise_ranges);
  } else {
    EXPECT_EQ(after.madvise_ranges - before.madvise_ranges, PurgeBatch::kMaxRanges);
  }
}

TEST(PurgeBatch, AFullBatchRefusesMore) {
  PurgeBatch batch;
  static char page[4096] __attribute__((aligned(4096)));
  for (unsigned i = 0; i < PurgeBatch::kMaxRanges; ++i) ASSERT_TRUE(batch.add(page, sizeof(page)));
  EXPECT_FALSE(batch.add(page, sizeof(page)));
  batch.submit();
  EXPECT_TRUE(batch.add(page, sizeof(page)));
  batch.submit();
}

TEST(PurgeBatch, ReportsEachRangeAndFewRangesSkipTheRing) {
  char* base = static_cast<char*>(mmap(nullptr, 2 * kRange, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(base, MAP_FAILED);
  std::memset(base, 7, 2 * kRange);
  const PurgeBatchStats before = purge_batch_stats();
  PurgeBatch one;
  ASSERT_TRUE(one.add(base, kRange));
  EXPECT_EQ(one.submit(), kRange);
  EXPECT_TRUE(one.purged(0));
  EXPECT_EQ(purge_batch_stats().uring_submits, before.uring_submits);
  EXPECT_EQ(resident_pages(base, kRange), 0u);
  // A range the kernel refuses (not page-aligned) is reported as not purged,
  // and the others still are.
  std::memset(base, 7, 2 * kRange);
  PurgeBatch mixed;
  ASSERT_TRUE(mixed.add(base, kRange));
  ASSERT_TRUE(mixed.add(base + kRange + 1, 4096));
  EXPECT_EQ(mixed.submit(), kRange);
  EXPECT_TRUE(mixed.purged(0));
  EXPECT_FALSE(mixed.purged(1));
  EXPECT_EQ(resident_pages(base, kRange), 0u);
  munmap(base, 2 * kRange);
}

// The child of a fork shares the parent's ring; after the reset it sets up
// its own, and both go on purging.
TEST(PurgeBatch, AForkChildPurgesThroughItsOwnRing) {
  purge_ranges(8);
  const bool ring = purge_uring_ready();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    purge_ring_reset_after_fork_child();
    const PurgeBatchStats before = purge_batch_stats();
    purge_ranges(8);
    const PurgeBatchStats after = purge_batch_stats();
    const bool ok = ring ? after.uring_ranges - before.uring_ranges == 8 : after.madvise_ranges - before.madvise_ranges == 8;
    _exit(ok && !::testing::Test::HasFailure() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const PurgeBatchStats before = purge_batch_stats();
  purge_ranges(8);
  if (ring) {
    EXPECT_EQ(purge_batch_stats().uring_ranges - before.uring_ranges, 8u);
  }
}

// ctest runs each test in a process of its own, where the ring is not up
// yet; in one run of the whole binary, an earlier test may have set it up.
TEST(PurgeBatch, FallsBackToMadviseWhenUringIsOff) {
  set_purge_uring_allowed(false);
  if (purge_uring_ready()) GTEST_SKIP() << "the ring was set up by an earlier test in this process";
  const PurgeBatchStats before = purge_batch_stats();
  purge_ranges(8);
  EXPECT_EQ(purge_batch_stats().madvise_ranges - before.madvise_ranges, 8u);
}

}  // namespace
}  // namespace hakmem::os

namespace hakmem::os {
namespace {

void on_tick(int) {}

// Signals that land while a batch waits for its completions must not leave
// a purge in flight: the ranges are written again the moment the batch
// returns, as a block handed out then would be, and a late MADV_DONTNEED
// would zero what was written.
TEST(PurgeBatch, NoPurgeOutlivesItsBatchUnderSignals) {
  constexpr unsigned kRanges = PurgeBatch::kMaxRanges;
  constexpr std::size_t kRangeBytes = 16 * 4096;
  // A gap after each range keeps the ranges apart (adjacent ones merge).
  const std::size_t bytes = 2 * kRanges * kRangeBytes;
  auto* region = static_cast<unsigned char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(region, MAP_FAILED);
  struct sigaction sa {};
  sa.sa_handler = on_tick;  // no SA_RESTART: waits end with EINTR
  struct sigaction old {};
  sigaction(SIGALRM, &sa, &old);
  const itimerval every{{0, 20}, {0, 20}};
  setitimer(ITIMER_REAL, &every, nullptr);
  unsigned damaged_rounds = 0;
  for (unsigned round = 0; round < 300; ++round) {
    std::memset(region, 0x5a, bytes);
    PurgeBatch batch;
    for (unsigned i = 0; i < kRanges; ++i) ASSERT_TRUE(batch.add(region + 2 * i * kRangeBytes, kRangeBytes));
    batch.submit();
    std::memset(region, static_cast<int>(round % 200 + 1), bytes);
    usleep(200);
    for (std::size_t at = 0; at < bytes; at += 4096) {
      if (region[at] != static_cast<unsigned char>(round % 200 + 1)) {
        ++damaged_rounds;
        break;
      }
    }
  }
  const itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  munmap(region, bytes);
  EXPECT_EQ(damaged_rounds, 0u);
}

}  // namespace
}  // namespace hakmem::os
