// Allocation at process exit and in forked children. Each test forks: the
// child does the work and reports through its exit status, which the parent
// checks, so a crash or a hang-free wrong answer in the child fails the test.
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

constexpr int kExitStatusIfHandlerDidNotFinish = 7;

// Waits for the child and returns its exit status, or -signal if it died.
int wait_for_child(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1000;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -2000;
}

// Registered with atexit in the child: 1000 blocks of every tier, written
// and verified, then freed. Ends the process with status 0 only if all of
// that worked; returning normally leaves the child's exit(7) status.
void allocate_at_exit() {
  constexpr std::size_t kSizes[] = {1, 16, 200, 1500, 20000, 100000};
  std::vector<void*> blocks;
  std::vector<std::size_t> sizes;
  for (unsigned i = 0; i < 1000; ++i) {
    // Every hundredth block is huge.
    const std::size_t n = (i % 100 == 99 ? 2 * 1024 * 1024 : kSizes[i % std::size(kSizes)]) + i;
    void* p = (i % 3 == 0) ? ::operator new(n) : malloc(n);
    if (p == nullptr) return;
    fill_pattern(p, n, i);
    blocks.push_back(p);
    sizes.push_back(n);
  }
  for (unsigned i = 0; i < blocks.size(); ++i) {
    if (first_pattern_mismatch(blocks[i], sizes[i], i) != sizes[i]) return;
    if (i % 3 == 0) ::operator delete(blocks[i]);
    else free(blocks[i]);
  }
  _exit(0);
}

TEST(ProcessExit, AtexitHandlerCanAllocateAndFree) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (atexit(allocate_at_exit) != 0) _exit(3);
    exit(kExitStatusIfHandlerDidNotFinish);
  }
  EXPECT_EQ(wait_for_child(pid), 0);
}

// The atexit handler also runs after other threads have exited and left
// their heaps idle, with blocks of theirs still live.
TEST(ProcessExit, AtexitHandlerCanAllocateAfterThreadsExited) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    static void* survivors[4];
    for (void*& s : survivors) {
      if (!run_on_new_thread(
              [](void* slot) -> void* {
                *static_cast<void**>(slot) = malloc(5000);
                return nullptr;
              },
              &s)) {
        _exit(4);
      }
      if (s == nullptr) _exit(5);
    }
    if (atexit(allocate_at_exit) != 0) _exit(3);
    for (void* s : survivors) free(s);
    exit(kExitStatusIfHandlerDidNotFinish);
  }
  EXPECT_EQ(wait_for_child(pid), 0);
}

// fork while other threads allocate and free as fast as they can: the
// child starts with every allocator lock released and consistent pools, and
// can allocate (small, huge, from a new thread) and free the parent's
// blocks.
TEST(Fork, ChildOfABusyMultithreadedParentCanAllocate) {
  std::atomic<bool> stop{false};
  constexpr unsigned kBusyThreads = 2;
  pthread_t busy[kBusyThreads];
  for (pthread_t& t : busy) {
    ASSERT_EQ(pthread_create(&t, nullptr,
                             [](void* arg) -> void* {
                               auto* s = static_cast<std::atomic<bool>*>(arg);
                               unsigned i = 0;
                               while (!s->load(std::memory_order_relaxed)) {
                                 void* p = malloc(1 + (i * 7919) % 70000);
                                 void* h = (i % 64 == 0) ? malloc(3 * 1024 * 1024) : nullptr;
                                 free(p);
                                 free(h);
                                 ++i;
                               }
                               return nullptr;
                             },
                             &stop),
              0);
  }
  void* parent_block = malloc(1234);
  ASSERT_NE(parent_block, nullptr);
  fill_pattern(parent_block, 1234, 5);
  for (unsigned round = 0; round < 8; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (first_pattern_mismatch(parent_block, 1234, 5) != 1234) _exit(10);
      free(parent_block);
      for (unsigned i = 0; i < 500; ++i) {
        const std::size_t n = 1 + (i * 131) % 50000;
        void* p = malloc(n);
        if (p == nullptr) _exit(11);
        fill_pattern(p, n, i);
        if (first_pattern_mismatch(p, n, i) != n) _exit(12);
        free(p);
      }
      void* huge = calloc(1, 5 * 1024 * 1024);
      if (huge == nullptr || first_byte_not(huge, 5 * 1024 * 1024, 0) != 5 * 1024 * 1024) _exit(13);
      free(huge);
      void* from_thread = nullptr;
      if (!run_on_new_thread(
              [](void* out) -> void* {
                *static_cast<void**>(out) = malloc(300);
                return nullptr;
              },
              &from_thread) ||
          from_thread == nullptr) {
        _exit(14);
      }
      free(from_thread);
      _exit(0);
    }
    EXPECT_EQ(wait_for_child(pid), 0) << "round " << round;
  }
  stop = true;
  for (pthread_t t : busy) pthread_join(t, nullptr);
  EXPECT_EQ(first_pattern_mismatch(parent_block, 1234, 5), 1234u);
  free(parent_block);
}

}  // namespace
}  // namespace hakmem::preload_test
