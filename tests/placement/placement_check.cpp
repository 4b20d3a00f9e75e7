// Where the kernel put the pages of blocks hakmem handed out, asked with
// get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR): the proof of placement, run
// under LD_PRELOAD=libhakmem.so on a machine (or VM) with two or more nodes.
// On one node every test skips.
//
// PLACEMENT_EXPECT says where memory should go, as the driver
// (run_placement_in_vm.sh) sets up the policy:
//   thread   on the node of the thread that allocates (local, the default)
//   N        on node N (HAKMEM_NODE=N, bind:N, numactl --membind=N)
//   spread   evenly over all nodes (interleave)
#include <dlfcn.h>
#include <fcntl.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "hakmem.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kPage = 4096;

std::string read_file(const std::string& path) {
  std::string out;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return out;
}

// "0-2,5" -> {0, 1, 2, 5}
std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    std::size_t end = 0;
    const int lo = std::stoi(text.substr(i), &end);
    i += end;
    int hi = lo;
    if (i < text.size() && text[i] == '-') {
      ++i;
      hi = std::stoi(text.substr(i), &end);
      i += end;
    }
    for (int n = lo; n <= hi; ++n) out.push_back(n);
    if (i < text.size() && text[i] == ',') ++i;
  }
  return out;
}

std::vector<int> memory_nodes() { return parse_list(read_file("/sys/devices/system/node/has_memory")); }

// Online nodes with CPUs and no memory of their own.
std::vector<int> memoryless_nodes() {
  std::vector<int> out;
  const std::vector<int> with_memory = memory_nodes();
  for (int n : parse_list(read_file("/sys/devices/system/node/online"))) {
    const bool has_cpus = !parse_list(read_file("/sys/devices/system/node/node" + std::to_string(n) + "/cpulist")).empty();
    if (has_cpus && std::find(with_memory.begin(), with_memory.end(), n) == with_memory.end()) out.push_back(n);
  }
  return out;
}

// The node's row of the SLIT, from sysfs.
std::vector<int> distance_row(int node) {
  std::vector<int> row;
  std::istringstream in(read_file("/sys/devices/system/node/node" + std::to_string(node) + "/distance"));
  for (int d; in >> d;) row.push_back(d);
  return row;
}

// The node with memory nearest to `node` (ties: the lower id).
int nearest_memory_node(int node) {
  const std::vector<int> row = distance_row(node);
  int best = -1;
  for (int n : memory_nodes()) {
    if (best < 0 || row.at(static_cast<std::size_t>(n)) < row.at(static_cast<std::size_t>(best))) best = n;
  }
  return best;
}

// "Node 1 MemTotal:  480964 kB", in bytes.
std::uint64_t node_memory_bytes(int node) {
  const std::string text = read_file("/sys/devices/system/node/node" + std::to_string(node) + "/meminfo");
  const std::size_t at = text.find("MemTotal:");
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + 9)) * 1024;
}

// hakmem's own calls, looked up: this program runs under LD_PRELOAD.
template <typename Fn>
Fn hakmem_call(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

cpu_set_t cpus_of(int node) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : parse_list(read_file("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist"))) {
    CPU_SET(cpu, &set);
  }
  return set;
}

// Runs fn on a new thread that starts confined to the CPUs of `node`, as a
// program that pins its workers when it creates them: its first allocation
// already happens there.
void run_on_node(int node, const std::function<void()>& fn) {
  const cpu_set_t set = cpus_of(node);
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setaffinity_np(&attr, sizeof(set), &set), 0);
  pthread_t thread;
  auto body = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, body, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

int page_node(const void* addr) {
  int node = -1;
  // The raw call: no libnuma needed in the VM.
  if (syscall(SYS_get_mempolicy, &node, nullptr, 0, addr, MPOL_F_NODE | MPOL_F_ADDR) != 0) return -2;
  return node;
}

// Touches every page of the block and adds the node of each page not seen
// before to `counts` (small blocks share pages).
void count_pages(void* p, std::size_t bytes, std::vector<int>* counts) {
  thread_local std::set<std::uintptr_t> seen;
  std::memset(p, 0x5a, bytes);
  const auto begin = reinterpret_cast<std::uintptr_t>(p) & ~(kPage - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(p) + bytes;
  for (std::uintptr_t page = begin; page < end; page += kPage) {
    if (!seen.insert(page).second) continue;
    const int node = page_node(reinterpret_cast<void*>(page));
    ASSERT_GE(node, 0) << "get_mempolicy failed";
    if (static_cast<std::size_t>(node) >= counts->size()) counts->resize(static_cast<std::size_t>(node) + 1);
    ++(*counts)[static_cast<std::size_t>(node)];
  }
}

std::string expectation() {
  const char* e = std::getenv("PLACEMENT_EXPECT");
  return e != nullptr ? e : "thread";
}

// The node memory allocated by a thread on `thread_node` must be on, or -1
// for "spread".
int expected_node(int thread_node) {
  const std::string e = expectation();
  if (e == "thread") return thread_node;
  if (e == "spread") return -1;
  return std::stoi(e);
}

// Blocks of every tier allocated on `node`, their pages counted per node.
std::vector<int> allocate_and_count(std::vector<void*>* keep) {
  std::vector<int> counts;
  const std::size_t sizes[] = {64, 64, 64, 64, 1000, 16 << 10, 256 << 10, 4 << 20};
  for (std::size_t size : sizes) {
    const int n = size <= 1000 ? 2000 : size <= (16 << 10) ? 200 : size <= (256 << 10) ? 20 : 4;
    for (int i = 0; i < n; ++i) {
      void* p = std::malloc(size);
      EXPECT_NE(p, nullptr);
      if (p == nullptr) return counts;
      count_pages(p, size, &counts);
      keep->push_back(p);
    }
  }
  return counts;
}

void expect_counts(const std::vector<int>& counts, int want, const std::string& what) {
  int total = 0;
  for (int c : counts) total += c;
  ASSERT_GT(total, 0);
  if (want >= 0) {
    const int on_node = static_cast<std::size_t>(want) < counts.size() ? counts[static_cast<std::size_t>(want)] : 0;
    EXPECT_EQ(on_node, total) << what << ": " << total - on_node << " of " << total << " pages not on node " << want;
    return;
  }
  const std::vector<int> nodes = memory_nodes();
  for (int n : nodes) {
    const int on = static_cast<std::size_t>(n) < counts.size() ? counts[static_cast<std::size_t>(n)] : 0;
    // Evenly: at least half a fair share on every node.
    EXPECT_GE(on * static_cast<int>(nodes.size()) * 2, total) << what << ": node " << n << " has " << on << " of " << total;
  }
}

class Placement : public ::testing::Test {
 protected:
  void SetUp() override {
    if (memory_nodes().size() < 2) GTEST_SKIP() << "this machine has fewer than two NUMA nodes with memory";
  }
};

TEST_F(Placement, BlocksOfEveryTierLandWhereThePolicySays) {
  for (int node : memory_nodes()) {
    run_on_node(node, [node] {
      std::vector<void*> keep;
      const std::vector<int> counts = allocate_and_count(&keep);
      expect_counts(counts, expected_node(node), "thread on node " + std::to_string(node));
      for (void* p : keep) std::free(p);
    });
  }
}

TEST_F(Placement, BlocksFreedOnAnotherNodeComeBackToTheirHome) {
  if (expectation() == "spread") GTEST_SKIP() << "a few MiB say nothing about an even spread";
  const std::vector<int> nodes = memory_nodes();
  // The per-node counters, under the local policy, where each heap is on
  // its thread's node. (Under a bound policy both threads' heaps are on one
  // node, and the second thread may adopt the first one's heap, warm: then
  // its frees are not remote at all.)
  const bool local = expectation() == "thread";
  auto remote_frees = local ? hakmem_call<std::uint64_t (*)(int, int)>("hkm_remote_frees") : nullptr;
  auto node_stats = local ? hakmem_call<int (*)(int, hkm_node_stats*, std::size_t)>("hkm_node_stats_get") : nullptr;
  const int home = nodes[0];
  const int freeing = nodes[1];
  const std::uint64_t remote_before = remote_frees != nullptr ? remote_frees(freeing, home) : 0;
  std::vector<void*> blocks(20000);
  run_on_node(nodes[0], [&] {
    for (void*& p : blocks) p = std::malloc(128);
  });
  if (node_stats != nullptr) {
    hkm_node_stats s{};
    ASSERT_EQ(node_stats(home, &s, sizeof s), 0);
    EXPECT_GE(s.bytes_in_use, blocks.size() * 128) << "node " << home << " holds the live blocks";
  }
  run_on_node(nodes[1], [&] {
    for (void* p : blocks) std::free(p);
  });
  if (remote_frees != nullptr) {
    // The freeing thread has exited: its batches of remote frees are in.
    EXPECT_GE(remote_frees(freeing, home) - remote_before, blocks.size())
        << "frees by node " << freeing << " of node " << home << "'s blocks";
  }
  run_on_node(nodes[0], [&] {
    std::vector<int> counts;
    for (void*& p : blocks) {
      p = std::malloc(128);
      count_pages(p, 128, &counts);
    }
    expect_counts(counts, expected_node(nodes[0]), "reused after remote frees");
    for (void* p : blocks) std::free(p);
  });
}

TEST_F(Placement, AThreadThatMovesTakesMemoryFromItsNewNode) {
  if (expectation() != "thread") GTEST_SKIP() << "only under the local policy";
  const std::vector<int> nodes = memory_nodes();
  run_on_node(nodes[0], [&] {
    std::vector<void*> keep;
    for (int i = 0; i < 1000; ++i) keep.push_back(std::malloc(64));
    const cpu_set_t set = cpus_of(nodes[1]);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);
    sched_yield();
    // Enough slow-path work for the heap to notice the move.
    for (int round = 0; round < 50; ++round) {
      std::vector<void*> churn;
      for (std::size_t size = 16; size <= 32768; size *= 2) {
        for (int i = 0; i < 200; ++i) churn.push_back(std::malloc(size));
      }
      for (void* p : churn) std::free(p);
    }
    std::vector<void*> fresh;
    const std::vector<int> counts = allocate_and_count(&fresh);
    expect_counts(counts, nodes[1], "after moving to node " + std::to_string(nodes[1]));
    for (void* p : fresh) std::free(p);
    for (void* p : keep) std::free(p);
  });
}

TEST_F(Placement, AThreadPinnedWithHkmThreadSetNodeAllocatesThere) {
  using SetNode = int (*)(int);
  auto set_node = reinterpret_cast<SetNode>(dlsym(RTLD_DEFAULT, "hkm_thread_set_node"));
  if (set_node == nullptr) GTEST_SKIP() << "not running under hakmem";
  if (expectation() != "thread") GTEST_SKIP() << "only under the local policy";
  const std::vector<int> nodes = memory_nodes();
  run_on_node(nodes[0], [&] {
    ASSERT_EQ(set_node(nodes[1]), 0);
    std::vector<void*> keep;
    const std::vector<int> counts = allocate_and_count(&keep);
    expect_counts(counts, nodes[1], "pinned to node " + std::to_string(nodes[1]) + " from node " +
                                        std::to_string(nodes[0]));
    for (void* p : keep) std::free(p);
  });
}

TEST_F(Placement, AThreadOnANodeWithoutMemoryUsesTheNearestNode) {
  const std::vector<int> cpu_only = memoryless_nodes();
  if (cpu_only.empty()) GTEST_SKIP() << "every node with CPUs has memory here";
  if (expectation() == "spread") GTEST_SKIP() << "interleave spreads, whatever the thread's node";
  for (int node : cpu_only) {
    const int want = expectation() == "thread" ? nearest_memory_node(node) : expected_node(node);
    run_on_node(node, [&] {
      std::vector<void*> keep;
      const std::vector<int> counts = allocate_and_count(&keep);
      expect_counts(counts, want, "thread on node " + std::to_string(node) + ", which has no memory");
      for (void* p : keep) std::free(p);
    });
  }
}

// Free 2 MiB pages in each node's hugetlb pool.
std::vector<long> free_huge_pages() {
  std::vector<long> out;
  for (int n : memory_nodes()) {
    const std::string path =
        "/sys/devices/system/node/node" + std::to_string(n) + "/hugepages/hugepages-2048kB/free_hugepages";
    if (static_cast<std::size_t>(n) >= out.size()) out.resize(static_cast<std::size_t>(n) + 1);
    out[static_cast<std::size_t>(n)] = std::stol(read_file(path));
  }
  return out;
}

TEST_F(Placement, HugetlbPagesComeFromTheNodesOwnPool) {
  if (std::getenv("PLACEMENT_HUGETLB") == nullptr) GTEST_SKIP() << "run with HAKMEM_HUGEPAGES=hugetlb and a pool";
  if (expectation() == "spread") GTEST_SKIP() << "interleave takes from every pool";
  for (int node : memory_nodes()) {
    const int want = expected_node(node);
    const std::vector<long> before = free_huge_pages();
    std::vector<void*> keep;
    run_on_node(node, [&] {
      const std::vector<int> counts = allocate_and_count(&keep);
      expect_counts(counts, want, "thread on node " + std::to_string(node) + ", hugetlb");
    });
    const std::vector<long> after = free_huge_pages();
    for (int n : memory_nodes()) {
      const long taken = before[static_cast<std::size_t>(n)] - after[static_cast<std::size_t>(n)];
      if (n == want) {
        EXPECT_GT(taken, 0) << "node " << n << "'s pool gave no page to a thread on node " << node;
      } else {
        EXPECT_LE(taken, 0) << "node " << n << "'s pool gave " << taken << " pages to a thread on node " << node;
      }
    }
    for (void* p : keep) std::free(p);
  }
}

TEST(Topology, WhatHakmemReportsMatchesTheKernel) {
  auto node_info = hakmem_call<int (*)(int, hkm_node_info*, std::size_t)>("hkm_node_info_get");
  auto distance = hakmem_call<int (*)(int, int)>("hkm_node_distance");
  auto has_cpu = hakmem_call<int (*)(int, int)>("hkm_node_has_cpu");
  if (node_info == nullptr) GTEST_SKIP() << "not running under hakmem";
  const std::vector<int> cpu_only = memoryless_nodes();
  for (int node : parse_list(read_file("/sys/devices/system/node/online"))) {
    SCOPED_TRACE("node " + std::to_string(node));
    hkm_node_info info{};
    ASSERT_EQ(node_info(node, &info, sizeof info), 0);
    EXPECT_EQ(info.memory_bytes, node_memory_bytes(node));
    const std::vector<int> cpus =
        parse_list(read_file("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist"));
    EXPECT_EQ(info.cpu_count, cpus.size());
    for (int cpu : cpus) EXPECT_EQ(has_cpu(node, cpu), 1) << "cpu " << cpu;
    const std::vector<int> row = distance_row(node);
    for (std::size_t to = 0; to < row.size(); ++to) EXPECT_EQ(distance(node, static_cast<int>(to)), row[to]);
    if (expectation() == "thread") {
      const bool own = std::find(cpu_only.begin(), cpu_only.end(), node) == cpu_only.end();
      EXPECT_EQ(info.nearest, own ? node : nearest_memory_node(node));
    }
  }
}

}  // namespace
