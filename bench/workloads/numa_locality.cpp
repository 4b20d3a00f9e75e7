// NUMA locality: the share of the pages a thread uses that lie on its own
// node, asked of the kernel (get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)).
// Meant for a machine or VM with two or more nodes (bench/numa_locality.sh
// runs it in the multi-node VM under each allocator); on one node every
// page is local and the figure says nothing.
//
//   numa_locality --mib=32 --rounds=20 --seed=1
//
// Phase 1, own data: one thread per node, started on that node's CPUs,
// allocates about --mib MiB of blocks of mixed sizes (16 B to 256 KiB, and
// a few of 2 MiB), writes them all and keeps them while the others do the
// same. Phase 2, producer/consumer across nodes: a producer on the first
// node allocates and writes batches of small and mid-size blocks, and a
// consumer on the second node reads and frees them, for --rounds rounds;
// then the producer allocates one more batch, which is measured: memory
// that came back from the other node must be reused on the producer's.
//
// Phase 3 (below) follows a thread that exited with one of another node.
//
// Prints local_pct (all phases), own_pct (phase 1), handoff_pct (phase 2's
// last batch) and after_exit_pct (phase 3), in percent of distinct pages.
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

constexpr const char* kUsage = "usage: numa_locality [--mib=32] [--rounds=20] [--seed=1]";
constexpr uintptr_t kPage = 4096;

std::string read_text(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// "0-2,5" -> {0, 1, 2, 5}
std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  const char* p = text.c_str();
  while (*p >= '0' && *p <= '9') {
    char* end = nullptr;
    const long lo = std::strtol(p, &end, 10);
    long hi = lo;
    p = end;
    if (*p == '-') {
      hi = std::strtol(p + 1, &end, 10);
      p = end;
    }
    for (long n = lo; n <= hi; ++n) out.push_back(static_cast<int>(n));
    if (*p == ',') ++p;
  }
  return out;
}

int page_node(uintptr_t page) {
  int node = -1;
  if (syscall(SYS_get_mempolicy, &node, nullptr, 0, reinterpret_cast<void*>(page), MPOL_F_NODE | MPOL_F_ADDR) != 0) {
    return -1;
  }
  return node;
}

// Distinct pages of the blocks, and how many of them are on `node`.
struct Tally {
  uint64_t pages = 0;
  uint64_t local = 0;
};

Tally tally(const std::vector<std::pair<void*, size_t>>& blocks, int node) {
  std::set<uintptr_t> pages;
  for (const auto& [p, size] : blocks) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
    for (uintptr_t page = begin; page < reinterpret_cast<uintptr_t>(p) + size; page += kPage) pages.insert(page);
  }
  Tally t;
  for (uintptr_t page : pages) {
    ++t.pages;
    if (page_node(page) == node) ++t.local;
  }
  return t;
}

// Starts fn on a thread confined to the CPUs of `node` (from its first
// instruction, as a program that pins its workers when it creates them).
pthread_t start_on_node(int node, std::function<void()>* fn) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : parse_list(read_text("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist"))) {
    CPU_SET(cpu, &set);
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
  pthread_t t;
  auto body = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  if (pthread_create(&t, &attr, body, fn) != 0) {
    std::perror("numa_locality: pthread_create");
    std::exit(1);
  }
  pthread_attr_destroy(&attr);
  return t;
}

void* fresh(size_t size) {
  void* p = std::malloc(size);
  if (p == nullptr) std::abort();
  std::memset(p, 0x5a, size);
  return p;
}

// About `mib` MiB of written blocks, 60% of them 16 B - 1 KiB, the rest up
// to 256 KiB.
std::vector<std::pair<void*, size_t>> fill_small_and_mid(uint64_t seed, uint64_t mib) {
  bench::Rng rng(seed);
  std::vector<std::pair<void*, size_t>> blocks;
  uint64_t bytes = 0;
  while (bytes < (mib << 20)) {
    const size_t size = rng.below(10) < 6 ? rng.between(16, 1024) : rng.between(1024, 256 << 10);
    blocks.emplace_back(fresh(size), size);
    bytes += size;
  }
  return blocks;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, kUsage, {"mib", "rounds", "seed"});
  const uint64_t mib = args.u64("mib", 32);
  const uint64_t rounds = args.u64("rounds", 20);
  const uint64_t seed = args.u64("seed", 1);
  std::vector<int> nodes = parse_list(read_text("/sys/devices/system/node/has_memory"));
  if (nodes.empty()) nodes.push_back(0);

  // Phase 1: every node's thread fills its own data; all stay live until
  // every thread is done, so none reuses another's freed memory.
  std::vector<Tally> own(nodes.size());
  std::vector<std::vector<std::pair<void*, size_t>>> kept(nodes.size());
  std::vector<std::function<void()>> bodies(nodes.size());
  std::vector<pthread_t> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    bodies[i] = [&, i] {
      bench::Rng rng(seed + i);
      auto& blocks = kept[i];
      uint64_t bytes = 0;
      while (bytes < (mib << 20)) {
        const uint64_t pick = rng.below(100);
        const size_t size = pick < 2 ? (2u << 20) : pick < 60 ? rng.between(16, 1024) : rng.between(1024, 256 << 10);
        blocks.emplace_back(fresh(size), size);
        bytes += size;
      }
      own[i] = tally(blocks, nodes[i]);
    };
    threads.push_back(start_on_node(nodes[i], &bodies[i]));
  }
  for (pthread_t t : threads) pthread_join(t, nullptr);
  for (auto& blocks : kept) {
    for (auto& [p, size] : blocks) std::free(p);
  }

  // Phase 2: batches made on the first node, freed on the second.
  Tally handoff;
  if (nodes.size() >= 2) {
    std::vector<std::pair<void*, size_t>> batch;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int turn = 0;  // 0: producer's, 1: consumer's, 2: done
    std::function<void()> producer = [&] {
      bench::Rng rng(seed + 100);
      for (uint64_t r = 0; r <= rounds; ++r) {
        pthread_mutex_lock(&lock);
        while (turn != 0) pthread_cond_wait(&cond, &lock);
        batch.clear();
        for (int i = 0; i < 4000; ++i) {
          const size_t size = rng.below(10) < 8 ? rng.between(16, 512) : rng.between(1024, 16 << 10);
          batch.emplace_back(fresh(size), size);
        }
        if (r == rounds) {
          handoff = tally(batch, nodes[0]);
          for (auto& [p, size] : batch) std::free(p);
          turn = 2;
        } else {
          turn = 1;
        }
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
      }
    };
    std::function<void()> consumer = [&] {
      for (;;) {
        pthread_mutex_lock(&lock);
        while (turn == 0) pthread_cond_wait(&cond, &lock);
        if (turn == 2) {
          pthread_mutex_unlock(&lock);
          return;
        }
        uint64_t sum = 0;
        for (auto& [p, size] : batch) {
          sum += static_cast<unsigned char*>(p)[size - 1];
          std::free(p);
        }
        if (sum == 1) std::printf(" ");  // keeps the reads
        turn = 0;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
      }
    };
    pthread_t c = start_on_node(nodes[1], &consumer);
    pthread_t p = start_on_node(nodes[0], &producer);
    pthread_join(p, nullptr);
    pthread_join(c, nullptr);
  }

  // Phase 3, a thread of the other node after one that has exited: a
  // thread on the first node fills and frees --mib MiB and exits (as a
  // pool's worker does); then a thread on the second node fills as much.
  // What the first left behind must not become the second's memory.
  Tally after_exit;
  if (nodes.size() >= 2) {
    std::function<void()> first = [&] {
      for (auto& [p, size] : fill_small_and_mid(seed + 200, mib)) std::free(p);
    };
    std::function<void()> second = [&] {
      const std::vector<std::pair<void*, size_t>> blocks = fill_small_and_mid(seed + 300, mib);
      after_exit = tally(blocks, nodes[1]);
      for (auto& [p, size] : blocks) std::free(p);
    };
    pthread_join(start_on_node(nodes[0], &first), nullptr);
    pthread_join(start_on_node(nodes[1], &second), nullptr);
  }

  Tally own_total;
  for (const Tally& t : own) {
    own_total.pages += t.pages;
    own_total.local += t.local;
  }
  auto pct = [](const Tally& t) { return t.pages == 0 ? 100.0 : 100.0 * static_cast<double>(t.local) / t.pages; };
  Tally all{own_total.pages + handoff.pages + after_exit.pages, own_total.local + handoff.local + after_exit.local};
  bench::ResultLine("numa_locality")
      .add("nodes", static_cast<uint64_t>(nodes.size()))
      .add("mib", mib)
      .add("rounds", rounds)
      .add("pages", all.pages)
      .add("local_pct", pct(all))
      .add("own_pct", pct(own_total))
      .add("handoff_pct", pct(handoff))
      .add("after_exit_pct", pct(after_exit))
      .print();
  return 0;
}
