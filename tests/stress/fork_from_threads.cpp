// fork_from_threads: fork() while other threads allocate, then allocate in
// the child.
//
// What it exercises:
//   - fork from a multithreaded parent: 4 worker threads allocate, verify and
//     free continuously (and swap blocks through shared slots, so they also
//     free each other's blocks) while the main thread forks 20 times; the
//     allocator's fork handlers must leave the child with consistent state,
//     whatever the workers were doing at that instant;
//   - allocation in the child: malloc, calloc, realloc, new and new[] of
//     many sizes, huge ones included; the blocks inherited from the parent's
//     workers (owned by heaps whose threads do not exist in the child) are
//     verified and freed;
//   - a thread in the child that allocates and frees, and frees blocks the
//     child's main thread allocated (cross-thread frees in the child);
//   - fork in a child (a grandchild) after the child has its own threads;
//   - the parent: its workers keep working across forks (the main thread
//     waits, without any timing, until each worker has made progress since
//     the previous fork), and every child must exit with status 0.
// A child that hangs (a lock left held across fork) is killed by alarm() and
// reported as such.
//
// Usage: fork_from_threads [seed [forks]]
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

using stress::Rng;

struct Block {
  void* p;
  std::size_t size;
};

constexpr unsigned kWorkers = 4;
constexpr std::size_t kSharedSlots = 256;
constexpr unsigned kChildAlarmSeconds = 60;

std::atomic<Block*> g_shared[kSharedSlots];
std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_progress[kWorkers];

Block* new_block(std::size_t size) {
  void* p = std::malloc(size);
  STRESS_CHECK(p != nullptr, "malloc(%zu) returned null", size);
  stress::fill(p, size, stress::g_seed);
  auto* b = static_cast<Block*>(std::malloc(sizeof(Block)));
  STRESS_CHECK(b != nullptr, "malloc(%zu) returned null", sizeof(Block));
  b->p = p;
  b->size = size;
  return b;
}

void free_block(Block* b, const char* what) {
  stress::verify(b->p, b->size, stress::g_seed, what);
  std::free(b->p);
  std::free(b);
}

// A parent worker: allocates, verifies and frees until told to stop.
void worker(unsigned id) {
  Rng r(stress::g_seed, id);
  constexpr std::size_t kLocal = 64;
  Block* local[kLocal] = {};
  while (!g_stop.load(std::memory_order_relaxed)) {
    Block*& mine = local[r.below(kLocal)];
    if (mine != nullptr) free_block(mine, "parent worker free");
    mine = new_block(stress::random_size(r));
    if (r.chance(30)) {
      Block* got = g_shared[r.below(kSharedSlots)].exchange(mine, std::memory_order_acq_rel);
      mine = nullptr;
      if (got != nullptr) free_block(got, "parent worker free of a shared block");
    }
    g_progress[id].fetch_add(1, std::memory_order_relaxed);
  }
  for (Block* b : local)
    if (b != nullptr) free_block(b, "parent worker free at exit");
}

// Everything a child does. depth is 1 in a child, 2 in a grandchild.
// Returns only if every check passed (a failure exits with status 1).
void child_work(unsigned fork_index, unsigned depth) {
  alarm(kChildAlarmSeconds);
  Rng r(stress::g_seed, 1000 + fork_index * 10 + depth);

  // The blocks inherited from the parent's workers, in the shared slots:
  // their owners' threads do not exist here.
  for (auto& slot : g_shared) {
    Block* b = slot.exchange(nullptr, std::memory_order_acq_rel);
    if (b != nullptr) free_block(b, "child free of a block inherited from a parent thread");
  }

  // malloc of many sizes, huge ones included.
  std::vector<Block*> blocks;
  static constexpr std::size_t kFixed[] = {1,    8,    16,   24,          100,         128,          1000,
                                           4096, 5000, 65536, 300 * 1024, 1024 * 1024, 1024 * 1024 + 1,
                                           3 * stress::kMiB, 9 * stress::kMiB};
  for (std::size_t s : kFixed) blocks.push_back(new_block(s));
  for (int i = 0; i < 400; ++i) blocks.push_back(new_block(stress::random_size(r)));

  // calloc and realloc.
  {
    auto* z = static_cast<unsigned char*>(std::calloc(3000, 7));
    STRESS_CHECK(z != nullptr, "child: calloc returned null");
    for (std::size_t i = 0; i < 21000; ++i) STRESS_CHECK(z[i] == 0, "child: calloc byte %zu is not 0", i);
    std::memset(z, 0x5a, 21000);
    z = static_cast<unsigned char*>(std::realloc(z, 2 * stress::kMiB));
    STRESS_CHECK(z != nullptr, "child: realloc returned null");
    for (std::size_t i = 0; i < 21000; ++i) STRESS_CHECK(z[i] == 0x5a, "child: realloc lost byte %zu", i);
    std::free(z);
  }

  // C++: new, new[] (huge too), containers.
  {
    std::vector<std::unique_ptr<std::string>> strings;
    for (int i = 0; i < 500; ++i) strings.push_back(std::make_unique<std::string>(static_cast<std::size_t>(i * 7), 'a' + i % 26));
    auto big = std::unique_ptr<std::uint64_t[]>(new std::uint64_t[(5 * stress::kMiB) / 8]);
    for (std::size_t i = 0; i < (5 * stress::kMiB) / 8; ++i) big[i] = i * 3;
    for (std::size_t i = 0; i < (5 * stress::kMiB) / 8; ++i) STRESS_CHECK(big[i] == i * 3, "child: new[] word %zu", i);
    for (int i = 0; i < 500; ++i) {
      const std::string& s = *strings[static_cast<std::size_t>(i)];
      STRESS_CHECK(s.size() == static_cast<std::size_t>(i * 7) &&
                       (s.empty() || (s.front() == 'a' + i % 26 && s.back() == 'a' + i % 26)),
                   "child: string %d corrupted", i);
    }
  }

  // A thread that allocates and frees its own blocks, and frees half of the
  // main thread's (cross-thread frees in the child).
  std::atomic<bool> thread_ok{false};
  std::thread t([&] {
    Rng tr(stress::g_seed, 2000 + fork_index * 10 + depth);
    std::vector<Block*> own;
    for (int i = 0; i < 300; ++i) own.push_back(new_block(stress::random_size(tr)));
    own.push_back(new_block(2 * stress::kMiB + 5));
    for (std::size_t i = 0; i < blocks.size(); i += 2) {
      free_block(blocks[i], "child thread free of a block of the child's main thread");
      blocks[i] = nullptr;
    }
    for (Block* b : own) free_block(b, "child thread free");
    auto* v = new std::vector<int>(100000, 7);
    delete v;
    thread_ok.store(true);
  });
  t.join();
  STRESS_CHECK(thread_ok.load(), "child: the thread did not finish");

  // A grandchild, forked after this child had a thread of its own.
  if (depth == 1 && fork_index % 4 == 0) {
    const pid_t pid = fork();
    STRESS_CHECK(pid >= 0, "child: fork failed: %s", std::strerror(errno));
    if (pid == 0) {
      child_work(fork_index, 2);
      _exit(0);
    }
    int status = 0;
    STRESS_CHECK(waitpid(pid, &status, 0) == pid, "child: waitpid failed");
    if (WIFSIGNALED(status)) {
      stress::fail("grandchild of fork %u killed by signal %d%s", fork_index, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (alarm: it hung for 60 s)" : "");
    }
    STRESS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "grandchild of fork %u exited with status %d",
                 fork_index, WEXITSTATUS(status));
  }

  for (Block* b : blocks)
    if (b != nullptr) free_block(b, "child free");
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = stress::arg_or(argc, argv, 1, 1);
  const unsigned forks = static_cast<unsigned>(stress::arg_or(argc, argv, 2, 20));
  stress::start("fork_from_threads", seed);

  std::vector<std::thread> workers;
  for (unsigned i = 0; i < kWorkers; ++i) workers.emplace_back(worker, i);

  unsigned grandchildren = 0;
  for (unsigned k = 0; k < forks; ++k) {
    // Wait until every worker has made progress since the last fork.
    std::uint64_t mark[kWorkers];
    for (unsigned i = 0; i < kWorkers; ++i) mark[i] = g_progress[i].load();
    for (unsigned i = 0; i < kWorkers; ++i) {
      while (g_progress[i].load() < mark[i] + 200) std::this_thread::yield();
    }
    std::fflush(stdout);
    const pid_t pid = fork();
    STRESS_CHECK(pid >= 0, "fork %u failed: %s", k, std::strerror(errno));
    if (pid == 0) {
      stress::g_program = "fork_from_threads (child)";
      child_work(k, 1);
      _exit(0);
    }
    if (k % 4 == 0) ++grandchildren;
    int status = 0;
    STRESS_CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed: %s", std::strerror(errno));
    if (WIFSIGNALED(status)) {
      stress::fail("child of fork %u killed by signal %d%s", k, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (alarm: it hung for 60 s)" : "");
    }
    STRESS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child of fork %u exited with status %d", k,
                 WEXITSTATUS(status));
  }

  // The workers keep working after the last fork too.
  std::uint64_t mark[kWorkers];
  for (unsigned i = 0; i < kWorkers; ++i) mark[i] = g_progress[i].load();
  for (unsigned i = 0; i < kWorkers; ++i) {
    while (g_progress[i].load() < mark[i] + 200) std::this_thread::yield();
  }
  g_stop.store(true);
  for (auto& t : workers) t.join();
  std::uint64_t total = 0;
  for (auto& p : g_progress) total += p.load();
  for (auto& slot : g_shared) {
    Block* b = slot.exchange(nullptr);
    if (b != nullptr) free_block(b, "parent free at the end");
  }
  std::printf("fork_from_threads: seed %" PRIu64 ", %u forks (%u with a grandchild), all children exited 0; "
              "%u parent workers made %" PRIu64 " allocations: OK\n",
              seed, forks, grandchildren, kWorkers, total);
  return 0;
}
