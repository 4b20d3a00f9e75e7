// The allocator under faults injected in src/os (os/fault_injection.h): an
// allocation that cannot be served returns null with ENOMEM, every block
// already allocated keeps its contents, and allocation works again once
// the fault stops. One test per fault, and a randomised one that mixes
// them with allocations, frees, reallocs and trims.
#include "os/fault_injection.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "config/options.h"
#include "os/pages.h"
#include "tiers/allocator.h"
#include "tiers/heap_registry.h"

namespace hakmem::tiers {
namespace {

// A live block and the byte it was filled with.
struct Block {
  unsigned char* p = nullptr;
  std::size_t n = 0;
  unsigned char seed = 0;
};

void fill(Block& b) {
  // The first and last bytes and one per 4 KiB page: enough to see a page
  // lost or a block handed out twice, cheap at every size.
  for (std::size_t i = 0; i + 1 < b.n; i += 4096) b.p[i] = static_cast<unsigned char>(b.seed + i / 4096);
  b.p[b.n - 1] = b.seed;
}

bool intact(const Block& b) {
  for (std::size_t i = 0; i + 1 < b.n; i += 4096) {
    if (b.p[i] != static_cast<unsigned char>(b.seed + i / 4096)) return false;
  }
  return b.p[b.n - 1] == b.seed;
}

std::size_t count_damaged(const std::vector<Block>& blocks) {
  std::size_t damaged = 0;
  for (const Block& b : blocks) damaged += intact(b) ? 0 : 1;
  return damaged;
}

const std::size_t kSizes[] = {16, 100, 1000, 5000, 40000, 200000, std::size_t{1} << 20, std::size_t{5} << 20};

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override { ensure_initialized(); }
  void TearDown() override {
    os::clear_faults();
    for (Block& b : blocks_) deallocate(b.p);
  }

  // Allocates `n` bytes into blocks_; false (errno checked) if refused.
  bool add(std::size_t n) {
    errno = 0;
    void* p = allocate(n);
    if (p == nullptr) {
      EXPECT_EQ(errno, ENOMEM) << "a refused allocation of " << n << " bytes";
      return false;
    }
    Block b{static_cast<unsigned char*>(p), n, static_cast<unsigned char>(blocks_.size() * 7 + 1)};
    fill(b);
    blocks_.push_back(b);
    return true;
  }
  void free_every(unsigned keep_one_in) {
    std::vector<Block> kept;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      if (i % keep_one_in == 0) {
        kept.push_back(blocks_[i]);
      } else {
        ASSERT_TRUE(intact(blocks_[i]));
        deallocate(blocks_[i].p);
      }
    }
    blocks_ = kept;
  }

  std::vector<Block> blocks_;
};

TEST_F(FaultTest, RefusedMmapGivesEnomemAndKeepsEveryBlock) {
  for (std::size_t n : kSizes) {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(add(n));
  }
  os::inject_fault(os::Fault::kMmap, 1, 1);
  std::size_t refused = 0;
  for (int round = 0; round < 40; ++round) {
    for (std::size_t n : kSizes) refused += add(n) ? 0 : 1;
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(os::faults_injected(os::Fault::kMmap), 0u);
  EXPECT_EQ(count_damaged(blocks_), 0u);
  os::clear_faults();
  for (std::size_t n : kSizes) EXPECT_TRUE(add(n)) << n << " bytes once mmap works again";
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

TEST_F(FaultTest, RefusedMadviseLosesNothingAndTheNextTrimPurges) {
  for (std::size_t n : kSizes) {
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(add(n));
  }
  free_every(3);
  os::inject_fault(os::Fault::kMadvise, 1, 1);
  trim();
  EXPECT_GT(os::faults_injected(os::Fault::kMadvise), 0u);
  EXPECT_EQ(count_damaged(blocks_), 0u);
  for (std::size_t n : kSizes) EXPECT_TRUE(add(n));
  os::clear_faults();
  const std::uint64_t purged_before = os::os_stats().purged_bytes.get();
  trim();
  EXPECT_GT(os::os_stats().purged_bytes.get(), purged_before) << "what the refused purges kept is purged now";
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

TEST_F(FaultTest, IoUringUnavailablePurgesWithMadvise) {
  // Armed before the first batch of purges sets the ring up.
  os::inject_fault(os::Fault::kUringSetup, 1, 1);
  for (std::size_t n : kSizes) {
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(add(n));
  }
  free_every(4);
  const std::uint64_t purged_before = os::os_stats().purged_bytes.get();
  trim();
  EXPECT_GT(os::faults_injected(os::Fault::kUringSetup), 0u);
  EXPECT_GT(os::os_stats().purged_bytes.get(), purged_before);
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

TEST_F(FaultTest, EmptyHugetlbPoolFallsBackToOrdinaryPages) {
  config::Options& options = config::mutable_options();
  const os::HugePagePolicy saved = options.huge_pages;
  options.huge_pages = os::HugePagePolicy::kHugetlb;
  os::inject_fault(os::Fault::kHugetlb, 1, 1);
  for (std::size_t n : kSizes) {
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(add(n)) << n << " bytes";
  }
  options.huge_pages = saved;
  EXPECT_GT(os::faults_injected(os::Fault::kHugetlb), 0u);
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

TEST_F(FaultTest, RefusedCollapseLeavesBlocksWhole) {
  os::inject_fault(os::Fault::kCollapse, 1, 1);
  // Full SuperSlabs of tiny blocks are the ones made huge pages.
  for (int i = 0; i < 200000; ++i) ASSERT_TRUE(add(64));
  EXPECT_GT(os::faults_injected(os::Fault::kCollapse), 0u);
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

// Random allocations, frees, reallocs and trims while mmap fails one call
// in three and madvise one in two; then without faults.
TEST_F(FaultTest, RandomFaultsNeverCorruptAndServiceResumes) {
  std::mt19937_64 rng(12345);
  auto random_size = [&rng] {
    const unsigned shift = static_cast<unsigned>(rng() % 23);  // 1 B .. 8 MiB, log-uniform
    return (std::size_t{1} << shift) + rng() % (std::size_t{1} << shift);
  };
  os::inject_fault(os::Fault::kMmap, 1, 3);
  os::inject_fault(os::Fault::kMadvise, 1, 2);
  std::size_t refused = 0;
  for (int op = 0; op < 20000; ++op) {
    const unsigned what = static_cast<unsigned>(rng() % 10);
    if (what < 5 || blocks_.empty()) {
      refused += add(random_size()) ? 0 : 1;
    } else if (what < 8) {
      const std::size_t i = rng() % blocks_.size();
      ASSERT_TRUE(intact(blocks_[i])) << "op " << op;
      deallocate(blocks_[i].p);
      blocks_[i] = blocks_.back();
      blocks_.pop_back();
    } else if (what == 9 && op % 20 == 0) {
      trim();
    } else {
      Block& b = blocks_[rng() % blocks_.size()];
      ASSERT_TRUE(intact(b)) << "op " << op;
      const std::size_t n = random_size();
      errno = 0;
      void* q = reallocate(b.p, n);
      if (q == nullptr) {
        EXPECT_EQ(errno, ENOMEM);
        ASSERT_TRUE(intact(b)) << "a refused realloc keeps its block, op " << op;
        ++refused;
      } else {
        // The block is refilled whole at its new size.
        b.p = static_cast<unsigned char*>(q);
        b.n = n;
        fill(b);
      }
    }
    if (blocks_.size() > 400) {
      deallocate(blocks_.front().p);
      blocks_.front() = blocks_.back();
      blocks_.pop_back();
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(os::faults_injected(os::Fault::kMmap), 0u);
  EXPECT_EQ(count_damaged(blocks_), 0u);
  os::clear_faults();
  for (std::size_t n : kSizes) EXPECT_TRUE(add(n));
  EXPECT_EQ(count_damaged(blocks_), 0u);
}

}  // namespace
}  // namespace hakmem::tiers
