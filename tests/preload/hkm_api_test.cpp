// hakmem's own calls (include/hakmem.h): the hkm_ allocation functions, the
// version, the statistics snapshot and trimming.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

TEST(HkmApi, VersionMatchesTheHeader) {
  const char* v = hkm_version();
  ASSERT_NE(v, nullptr);
  const std::string prefix = std::to_string(HKM_VERSION_MAJOR) + "." + std::to_string(HKM_VERSION_MINOR) + ".";
  EXPECT_EQ(std::string(v).rfind(prefix, 0), 0u) << v;
  // MAJOR.MINOR.PATCH: digits after the prefix, and nothing else.
  const std::string patch = std::string(v).substr(prefix.size());
  EXPECT_FALSE(patch.empty()) << v;
  EXPECT_EQ(patch.find_first_not_of("0123456789"), std::string::npos) << v;
}

// On any machine node 0 is usable and no node past the last one is. (The
// placement tests in the multi-node VM check where the memory then goes.)
TEST(HkmApi, ThreadSetNodeAcceptsUsableNodesAndRefusesOthers) {
  std::thread([] {
    errno = 0;
    EXPECT_EQ(hkm_thread_set_node(0), 0);
    EXPECT_EQ(hkm_thread_node(), 0);
    void* p = malloc(100);
    ASSERT_NE(p, nullptr);
    free(p);
    for (int bad : {-1, 1023, 1 << 20}) {
      errno = 0;
      EXPECT_EQ(hkm_thread_set_node(bad), -1) << bad;
      EXPECT_EQ(errno, EINVAL) << bad;
    }
    EXPECT_EQ(hkm_thread_node(), 0) << "a refused pin changes nothing";
  }).join();
}

TEST(HkmApi, NodeStatsFollowAllocationsAndRemoteFrees) {
  ASSERT_GE(hkm_node_count(), 1);
  const int node = hkm_thread_node();
  hkm_node_stats before{};
  ASSERT_EQ(hkm_node_stats_get(node, &before, sizeof before), 0);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(malloc(4000));
  void* big = malloc(20 * kMiB);
  hkm_node_stats during{};
  ASSERT_EQ(hkm_node_stats_get(node, &during, sizeof during), 0);
  EXPECT_GE(during.bytes_in_use, before.bytes_in_use + 1000 * 4000 + 20 * kMiB);
  EXPECT_GE(during.bytes_mapped, during.bytes_in_use);

  // Freed by another thread (of the same node, on this machine or not).
  const std::uint64_t remote_before = hkm_remote_frees(hkm_thread_node(), node);
  std::thread([&] {
    for (void* p : blocks) free(p);
    const int freeing_node = hkm_thread_node();
    EXPECT_GE(hkm_remote_frees(freeing_node, node), (freeing_node == node ? remote_before : 0) + 1000);
  }).join();
  free(big);
  hkm_node_stats after{};
  ASSERT_EQ(hkm_node_stats_get(node, &after, sizeof after), 0);
  EXPECT_LE(after.bytes_in_use + 1000 * 4000 + 20 * kMiB, during.bytes_in_use);

  errno = 0;
  EXPECT_EQ(hkm_node_stats_get(hkm_node_count(), &after, sizeof after), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(hkm_node_stats_get(node, &after, sizeof after - 8), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(hkm_remote_frees(-1, 0), 0u);
}

// "Node 0 MemTotal:  8480980 kB" from the node's meminfo, in bytes.
std::uint64_t sysfs_node_memory_bytes(int node) {
  const std::string path = "/sys/devices/system/node/node" + std::to_string(node) + "/meminfo";
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  std::uint64_t kib = 0;
  while (fgets(line, sizeof line, f) != nullptr) {
    const char* at = strstr(line, "MemTotal:");
    if (at != nullptr) kib = strtoull(at + 9, nullptr, 10);
  }
  fclose(f);
  return kib * 1024;
}

TEST(HkmApi, NodeInfoDescribesThisMachine) {
  // Read through hwloc on the first call, while the heap is in use.
  std::vector<std::thread> threads;
  std::vector<hkm_node_info> seen(4);
  for (hkm_node_info& info : seen) {
    threads.emplace_back([&info] { EXPECT_EQ(hkm_node_info_get(0, &info, sizeof info), 0); });
  }
  for (std::thread& t : threads) t.join();
  std::uint32_t cpus = 0;
  for (int node = 0; node < hkm_node_count(); ++node) {
    hkm_node_info info{};
    if (hkm_node_info_get(node, &info, sizeof info) != 0) continue;  // an id sysfs skips
    cpus += info.cpu_count;
    EXPECT_GE(info.nearest, 0);
    if (info.memory_bytes > 0) {
      EXPECT_EQ(info.nearest, node);
    }
    EXPECT_EQ(hkm_node_distance(node, node), 10) << "sysfs and hwloc call a node 10 from itself";
  }
  EXPECT_EQ(cpus, static_cast<std::uint32_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  for (const hkm_node_info& info : seen) {
    EXPECT_EQ(info.cpu_count, seen[0].cpu_count);
    EXPECT_EQ(info.memory_bytes, seen[0].memory_bytes);
  }
  // The node's memory is what the kernel's node meminfo says.
  EXPECT_EQ(seen[0].memory_bytes, sysfs_node_memory_bytes(0));
  int nodes_with_this_cpu = 0;
  const int cpu = sched_getcpu();
  for (int node = 0; node < hkm_node_count(); ++node) nodes_with_this_cpu += hkm_node_has_cpu(node, cpu) == 1;
  EXPECT_EQ(nodes_with_this_cpu, 1) << "cpu " << cpu;
  EXPECT_EQ(hkm_node_has_cpu(0, 1 << 20), 0);
  EXPECT_EQ(hkm_node_has_cpu(0, -1), 0);
}

TEST(HkmApi, NodeInfoRejectsBadNodesAndSizes) {
  hkm_node_info info{};
  for (int node : {-1, hkm_node_count(), 1 << 20}) {
    errno = 0;
    EXPECT_EQ(hkm_node_info_get(node, &info, sizeof info), -1) << node;
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(hkm_node_distance(0, node), -1) << node;
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(hkm_node_has_cpu(node, 0), -1) << node;
    EXPECT_EQ(errno, EINVAL);
  }
  errno = 0;
  EXPECT_EQ(hkm_node_info_get(0, &info, sizeof info - 4), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(hkm_node_info_get(0, nullptr, sizeof info), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(HkmApi, AllocationFunctionsWorkAndMixWithTheCInterface) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{5000}, 100 * kKiB, 3 * kMiB}) {
    void* p = hkm_malloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_GE(hkm_usable_size(p), n);
    EXPECT_EQ(hkm_usable_size(p), malloc_usable_size(p));
    fill_pattern(p, n, 1);
    void* q = hkm_realloc(p, 2 * n + 7);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(first_pattern_mismatch(q, n, 1), n);
    free(q);  // one allocator behind both interfaces

    void* c = hkm_calloc(n, 3);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(first_byte_not(c, 3 * n, 0), 3 * n);
    hkm_free(c);

    void* m = malloc(n);
    ASSERT_NE(m, nullptr);
    hkm_free(m);

    for (std::size_t alignment : {std::size_t{8}, std::size_t{64}, std::size_t{4096}, 4 * kMiB}) {
      void* a = hkm_aligned_alloc(alignment, n);
      ASSERT_NE(a, nullptr) << alignment << ", " << n;
      EXPECT_TRUE(is_aligned(a, alignment)) << alignment << ", " << n;
      EXPECT_GE(hkm_usable_size(a), n);
      fill_pattern(a, n, 2);
      hkm_free(a);
    }
  }
  hkm_free(nullptr);
  EXPECT_EQ(hkm_usable_size(nullptr), 0u);
}

TEST(HkmApi, AllocationFunctionsReportErrorsLikeTheCInterface) {
  errno = 0;
  EXPECT_EQ(hkm_aligned_alloc(opaque(24), 100), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(hkm_aligned_alloc(opaque(0), 100), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(hkm_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hkm_malloc(SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* p = hkm_malloc(10);
  ASSERT_NE(p, nullptr);
  errno = 0;
  EXPECT_EQ(hkm_realloc(p, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  const hkm_stats before = stats_now();
  EXPECT_EQ(hkm_realloc(p, 0), nullptr);  // frees p
  EXPECT_EQ(stats_now().live_blocks, before.live_blocks - 1);
  void* r = hkm_realloc(nullptr, 50);
  ASSERT_NE(r, nullptr);
  hkm_free(r);
}

TEST(HkmStats, RejectsNullAndSizesBelowOneField) {
  errno = 0;
  EXPECT_EQ(hkm_stats_get(nullptr, sizeof(hkm_stats)), -1);
  EXPECT_EQ(errno, EINVAL);
  hkm_stats s;
  std::memset(&s, 0xcd, sizeof(s));
  for (std::size_t short_size : {std::size_t{0}, std::size_t{1}, sizeof(std::uint64_t) - 1}) {
    errno = 0;
    EXPECT_EQ(hkm_stats_get(&s, short_size), -1) << short_size;
    EXPECT_EQ(errno, EINVAL) << short_size;
  }
  EXPECT_EQ(first_byte_not(&s, sizeof(s), 0xcd), sizeof(s));
}

// An older caller's shorter struct: exactly out_size bytes are written, the
// rest (here a canary) is left alone.
TEST(HkmStats, ShortSizeWritesOnlyThatManyBytes) {
  constexpr std::size_t kCanaryBytes = 64;
  for (std::size_t out_size : {sizeof(std::uint64_t), std::size_t{12}, 3 * sizeof(std::uint64_t),
                               offsetof(hkm_stats, bytes_mapped), sizeof(hkm_stats) - 1, sizeof(hkm_stats)}) {
    unsigned char buffer[sizeof(hkm_stats) + kCanaryBytes];
    std::memset(buffer, 0xcd, sizeof(buffer));
    ASSERT_EQ(hkm_stats_get(reinterpret_cast<hkm_stats*>(buffer), out_size), 0) << out_size;
    EXPECT_EQ(first_byte_not(buffer + out_size, sizeof(buffer) - out_size, 0xcd), sizeof(buffer) - out_size)
        << "bytes past " << out_size << " were written";
    // The first field (allocations, ever) was written: it is not the canary.
    std::uint64_t allocations = 0;
    std::memcpy(&allocations, buffer, sizeof(allocations));
    EXPECT_NE(allocations, 0xcdcdcdcdcdcdcdcdull);
    EXPECT_GT(allocations, 0u);
  }
}

// A newer caller's longer struct: only the fields hakmem knows are written.
TEST(HkmStats, LongerSizeWritesOnlyTheKnownFields) {
  unsigned char buffer[sizeof(hkm_stats) + 64];
  std::memset(buffer, 0xcd, sizeof(buffer));
  ASSERT_EQ(hkm_stats_get(reinterpret_cast<hkm_stats*>(buffer), sizeof(buffer)), 0);
  EXPECT_EQ(first_byte_not(buffer + sizeof(hkm_stats), 64, 0xcd), 64u);
}

TEST(HkmStats, FieldsAreConsistent) {
  const hkm_stats s = stats_now();
  EXPECT_EQ(s.live_blocks, s.allocations - s.frees);
  EXPECT_LE(s.remote_frees, s.frees);
  EXPECT_GE(s.threads_active, 1u);  // this thread's heap
  EXPECT_GT(s.bytes_mapped, 0u);
  EXPECT_GE(s.bytes_mapped, s.superslabs_mapped * 2 * kMiB);
  EXPECT_GE(s.os_map_calls, 1u);
}

// N blocks allocated by a thread that then exits stay live (and counted)
// until someone frees them; freeing them from this thread brings the count
// back. The other threads of the process are idle meanwhile.
TEST(HkmStats, LiveBlocksCountBlocksOfAnExitedThreadUntilFreed) {
  constexpr std::size_t kBlocks = 10000;
  std::vector<void*> blocks(kBlocks, nullptr);
  const hkm_stats before = stats_now();
  ASSERT_TRUE(run_on_new_thread(
      [](void* arg) -> void* {
        auto* b = static_cast<std::vector<void*>*>(arg);
        for (std::size_t i = 0; i < b->size(); ++i) (*b)[i] = malloc(16 + (i % 64) * 16);
        return nullptr;
      },
      &blocks));
  const hkm_stats held = stats_now();
  for (void* p : blocks) ASSERT_NE(p, nullptr);
  EXPECT_EQ(held.live_blocks - before.live_blocks, kBlocks);
  // At least: pthread_create's TLS vector is an allocation too (freed by
  // the join, so it does not count as live).
  EXPECT_GE(held.allocations - before.allocations, kBlocks);
  EXPECT_GE(held.bytes_in_use - before.bytes_in_use, kBlocks * 16);
  for (void* p : blocks) free(p);
  const hkm_stats after = stats_now();
  EXPECT_EQ(after.live_blocks, before.live_blocks);
  EXPECT_EQ(after.frees - held.frees, kBlocks);
  // Every block went back to the exited thread's heap from this one.
  EXPECT_EQ(after.remote_frees - held.remote_frees, kBlocks);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

// A thread that fills more than a SuperSlab with small blocks has it made
// huge pages (or asks, and counts the refusal), and its blocks keep their
// contents through the copy the kernel makes.
TEST(HkmStats, AFullSuperSlabIsMadeHugePagesWithItsBlocksIntact) {
  // Three SuperSlabs' worth of 256-byte blocks. The array of their
  // addresses stays below the huge tier: a huge block's span would count
  // as mapped memory and give new SuperSlabs THP advice from the start.
  constexpr std::size_t kBlockBytes = 256;
  constexpr std::size_t kWords = kBlockBytes / sizeof(std::uint64_t);
  constexpr std::size_t kBlocks = 3 * 2 * kMiB / kBlockBytes;
  std::vector<void*> blocks(kBlocks, nullptr);
  // What earlier tests left cached goes back first, so that the process
  // maps too little for new SuperSlabs to get THP advice when mapped
  // (README: from 32 MiB): only the collapse can give them huge pages.
  hkm_trim();
  const hkm_stats before = stats_now();
  ASSERT_LT(before.bytes_mapped, 16 * kMiB) << "too much mapped for the fill to stay on plain pages";
  ASSERT_TRUE(run_on_new_thread(
      [](void* arg) -> void* {
        auto* b = static_cast<std::vector<void*>*>(arg);
        for (std::size_t i = 0; i < b->size(); ++i) {
          auto* p = static_cast<std::uint64_t*>(malloc(kBlockBytes));
          if (p == nullptr) return nullptr;
          for (std::size_t w = 0; w < kWords; ++w) p[w] = i * kWords + w;
          (*b)[i] = p;
        }
        return nullptr;
      },
      &blocks));
  const hkm_stats after = stats_now();
  const std::uint64_t asked = (after.thp_collapses - before.thp_collapses) +
                              (after.thp_collapse_refusals - before.thp_collapse_refusals);
  EXPECT_GE(asked, 1u) << "no full SuperSlab was made huge pages";
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    auto* p = static_cast<std::uint64_t*>(blocks[i]);
    ASSERT_NE(p, nullptr);
    for (std::size_t w = 0; w < kWords; ++w) wrong += p[w] != i * kWords + w;
    free(p);
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(HkmStats, HugeBlocksAreCountedWhileLive) {
  const hkm_stats before = stats_now();
  void* blocks[4];
  for (int i = 0; i < 4; ++i) {
    blocks[i] = malloc((3 + i) * kMiB);
    ASSERT_NE(blocks[i], nullptr);
  }
  const hkm_stats held = stats_now();
  EXPECT_EQ(held.huge_live_blocks - before.huge_live_blocks, 4u);
  EXPECT_GE(held.huge_live_bytes - before.huge_live_bytes, (3 + 4 + 5 + 6) * kMiB);
  EXPECT_EQ(held.live_blocks - before.live_blocks, 4u);
  for (void* p : blocks) free(p);
  const hkm_stats after = stats_now();
  EXPECT_EQ(after.huge_live_blocks, before.huge_live_blocks);
  EXPECT_EQ(after.huge_live_bytes, before.huge_live_bytes);
}

// Resident set size in bytes, from /proc/self/statm (second field, pages).
std::size_t resident_bytes() {
  char text[128] = {};
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t got = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (got <= 0) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  if (sscanf(text, "%lu %lu", &size_pages, &resident_pages) != 2) return 0;
  return static_cast<std::size_t>(resident_pages) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// HugePages_Total from /proc/meminfo: 2 MiB pages reserved for hugetlb.
unsigned long hugetlb_pages_reserved() {
  FILE* f = fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long pages = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "HugePages_Total: %lu", &pages) == 1) break;
  }
  fclose(f);
  return pages;
}

constexpr std::size_t kTrimBlockBytes = 64 * kKiB;
constexpr std::size_t kTrimTotalBytes = 100 * kMiB;

// 100 MiB in blocks of `block` bytes, every byte written with `fill`.
std::vector<void*> allocate_touched(std::size_t block, int fill) {
  std::vector<void*> blocks;
  blocks.reserve(kTrimTotalBytes / block);
  for (std::size_t i = 0; i < kTrimTotalBytes / block; ++i) {
    void* p = malloc(block);
    if (p == nullptr) break;
    std::memset(p, fill, block);
    blocks.push_back(p);
  }
  EXPECT_EQ(blocks.size(), kTrimTotalBytes / block);
  return blocks;
}

// Allocates 100 MiB in 64 KiB blocks, touching every page, then frees it all.
void allocate_touch_and_free() {
  for (void* p : allocate_touched(kTrimBlockBytes, 0x77)) free(p);
}

TEST(HkmTrim, ReturnsBytesGivenBackAfterMuchWasFreed) {
  allocate_touch_and_free();
  const std::size_t trimmed = hkm_trim();
  EXPECT_GT(trimmed, 0u);
  // Most of the 100 MiB was free and is given back.
  EXPECT_GE(trimmed, kTrimTotalBytes / 2);
}

TEST(HkmTrim, MallocTrimLowersResidentMemory) {
  if (hugetlb_pages_reserved() > 0) {
    // SuperSlabs may then be hugetlb pages: not counted as resident in
    // /proc/self/statm, and never purged in pieces.
    GTEST_SKIP() << "hugetlb pages are reserved on this machine";
  }
  const std::vector<void*> blocks = allocate_touched(kTrimBlockBytes, 0x77);
  ASSERT_EQ(blocks.size(), kTrimTotalBytes / kTrimBlockBytes);
  const std::size_t peak = resident_bytes();
  ASSERT_GT(peak, kTrimTotalBytes);
  for (void* p : blocks) free(p);
  EXPECT_EQ(malloc_trim(0), 1);
  const std::size_t trimmed = resident_bytes();
  // Measured from the peak, so that a purge that happened on its own
  // between the frees and the trim does not matter.
  EXPECT_LE(trimmed + kTrimTotalBytes / 2, peak) << "resident " << peak << " -> " << trimmed;
}

TEST(HkmTrim, MallocTrimGivesBackThePagesOfFreeBlocksAmongLiveOnes) {
  if (hugetlb_pages_reserved() > 0) GTEST_SKIP() << "hugetlb pages are reserved on this machine";
  // 100 MiB of 20 KiB blocks, three in four freed: every fourth block stays,
  // so that every slab (a few blocks each) keeps a live one and none
  // empties. Only the pages inside the free blocks can go back.
  constexpr std::size_t kBlock = 20 * kKiB;
  const std::vector<void*> blocks = allocate_touched(kBlock, 0x3c);
  ASSERT_EQ(blocks.size(), kTrimTotalBytes / kBlock);
  const std::size_t peak = resident_bytes();
  std::vector<void*> live;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 4 == 0) {
      live.push_back(blocks[i]);
    } else {
      free(blocks[i]);
    }
  }
  EXPECT_EQ(malloc_trim(0), 1);
  const std::size_t trimmed = resident_bytes();
  // 75 MiB freed, of which whole pages make 16 KiB of each 20 KiB block.
  EXPECT_LE(trimmed + kTrimTotalBytes * 2 / 5, peak) << "resident " << peak << " -> " << trimmed;
  // The live blocks kept their contents, and the freed places serve again.
  for (void* p : live) EXPECT_EQ(first_byte_not(p, kBlock, 0x3c), kBlock);
  const std::vector<void*> again = allocate_touched(kBlock, 0x4d);
  ASSERT_EQ(again.size(), kTrimTotalBytes / kBlock);
  for (void* p : live) EXPECT_EQ(first_byte_not(p, kBlock, 0x3c), kBlock);
  for (void* p : again) EXPECT_EQ(first_byte_not(p, kBlock, 0x4d), kBlock);
  for (void* p : again) free(p);
  for (void* p : live) free(p);
}

TEST(HkmTrim, MemoryStaysUsableAfterTrim) {
  allocate_touch_and_free();
  hkm_trim();
  for (std::size_t n : {std::size_t{16}, std::size_t{5000}, kTrimBlockBytes, 3 * kMiB}) {
    for (int i = 0; i < 20; ++i) {
      void* p = calloc(1, n);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(first_byte_not(p, n, 0), n);
      fill_pattern(p, n, static_cast<unsigned>(i));
      ASSERT_EQ(first_pattern_mismatch(p, n, static_cast<unsigned>(i)), n);
      free(p);
    }
  }
}

// Everything read from fd until end of file.
std::string drain(int fd) {
  std::string out;
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof(chunk))) > 0) out.append(chunk, static_cast<std::size_t>(got));
  return out;
}

TEST(HkmStats, PrintWritesTheReportToTheGivenDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  hkm_stats_print(fds[1]);
  close(fds[1]);
  const std::string report = drain(fds[0]);
  close(fds[0]);
  EXPECT_NE(report.find("hakmem stats"), std::string::npos) << report;
  EXPECT_NE(report.find("huge"), std::string::npos) << report;
}

TEST(HkmStats, MallocStatsWritesTheReportToStderr) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(stderr);
  const int saved = dup(2);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(dup2(fds[1], 2), 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  const std::string report = drain(fds[0]);
  close(fds[0]);
  EXPECT_NE(report.find("hakmem stats"), std::string::npos) << report;
}

}  // namespace
}  // namespace hakmem::preload_test
