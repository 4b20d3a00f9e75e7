// fork_in_signal: fork() from a signal handler that interrupts the
// allocator, in a single-threaded process.
//
// What it exercises: a timer signal every millisecond forks
// from its handler while the main thread allocates in ways that take the
// allocator's locks (huge blocks, new SuperSlabs, trims that unmap them).
// Now and then the signal lands while the thread holds one of those locks;
// the fork handler runs on that same thread and must not wait for a lock it
// holds itself. The child exits at once, as a child of fork() in a signal
// handler may only call async-signal-safe functions.
//
// A hang is caught by alarm(): the run prints how many forks it made and
// fails.
//
// Usage: fork_in_signal [forks]
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace {

volatile sig_atomic_t g_forks = 0;
volatile sig_atomic_t g_failed = 0;
// Allocator calls the main thread has made, and how many it had made at the
// last fork. A fork and its wait can take longer than the timer's period on
// a loaded machine; a handler that forked at every tick regardless would
// then starve the main thread, which must make progress between forks.
volatile sig_atomic_t g_progress = 0;
volatile sig_atomic_t g_progress_at_fork = -1;

void on_timer(int) {
  if (g_progress == g_progress_at_fork) return;
  g_progress_at_fork = g_progress;
  const int saved = errno;
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) g_failed = 1;
  g_forks = g_forks + 1;
  errno = saved;
}

void on_alarm(int) {
  char msg[96];
  const int n = std::snprintf(msg, sizeof msg, "fork_in_signal: hung after %d forks\n", static_cast<int>(g_forks));
  if (n > 0) (void)!write(STDERR_FILENO, msg, static_cast<std::size_t>(n));
  _exit(3);
}

// Allocations that take locks: a huge block, a few thousand blocks that
// need new SuperSlabs, then a trim that gives them back.
void churn(std::vector<void*>& blocks) {
  void* huge = std::malloc(std::size_t{3} << 20);
  if (huge == nullptr) std::abort();
  std::memset(huge, 1, 4096);
  for (int i = 0; i < 4000; ++i) {
    void* p = std::malloc(static_cast<std::size_t>(i % 7 + 1) * 1000);
    if (p == nullptr) std::abort();
    blocks.push_back(p);
    g_progress = g_progress + 1;
  }
  for (void* p : blocks) {
    std::free(p);
    g_progress = g_progress + 1;
  }
  blocks.clear();
  std::free(huge);
  malloc_trim(0);
}

}  // namespace

int main(int argc, char** argv) {
  const int forks = argc > 1 ? std::atoi(argv[1]) : 300;
  if (forks <= 0) {
    std::fprintf(stderr, "usage: fork_in_signal [forks]\n");
    return 2;
  }
  std::signal(SIGALRM, on_alarm);
  alarm(120);
  struct sigaction sa {};
  sa.sa_handler = on_timer;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR1;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) {
    std::perror("fork_in_signal: timer_create");
    return 1;
  }
  // Long enough between signals for the main thread to make progress.
  const itimerspec every{{0, 1'000'000}, {0, 1'000'000}};
  timer_settime(timer, 0, &every, nullptr);
  std::vector<void*> blocks;
  blocks.reserve(4000);
  while (g_forks < forks && g_failed == 0) churn(blocks);
  timer_delete(timer);
  if (g_failed != 0) {
    std::fprintf(stderr, "fork_in_signal: a child failed\n");
    return 1;
  }
  std::printf("fork_in_signal: %d forks\n", static_cast<int>(g_forks));
  return 0;
}
