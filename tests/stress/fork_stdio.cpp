// fork_stdio: fork() in a loop while other threads read files with getline
// and flush every stream with fflush(NULL).
//
// What it exercises: the order in which fork() takes locks. A getline
// thread holds its FILE's lock and calls realloc to grow its line; a
// fflush(NULL) thread holds stdio's list of streams and waits for that
// FILE; the forking thread runs the fork handlers and then needs that list.
// The allocator's handler must not hold its locks while waiting for the
// list, or the three wait on each other for ever.
//
// A parent or child that hangs is caught by alarm(): the run prints the fork
// it stopped at and fails.
//
// Usage: fork_stdio [forks [readers]]
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
volatile sig_atomic_t g_fork_number = 0;
volatile sig_atomic_t g_child = 0;

void on_alarm(int) {
  char msg[96];
  const int n = std::snprintf(msg, sizeof msg, "fork_stdio: hung at fork %d\n", static_cast<int>(g_fork_number));
  if (n > 0) (void)!write(STDERR_FILENO, msg, static_cast<std::size_t>(n));
  if (g_child > 0) kill(static_cast<pid_t>(g_child), SIGKILL);
  _exit(3);
}

// Lines from a hundred bytes to 3 MiB, so that getline's buffer grows
// through every tier, huge blocks included (which take locks).
std::string write_lines_file() {
  char path[] = "/tmp/fork_stdio.XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    std::perror("fork_stdio: mkstemp");
    std::exit(1);
  }
  std::string text;
  static const std::size_t kLengths[] = {100, 3000, 70'000, 600'000, 3'000'000};
  for (int i = 0; i < 10; ++i) {
    for (std::size_t n : kLengths) text += std::string(n, static_cast<char>('a' + i)) + "\n";
  }
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::exit(1);
  close(fd);
  return path;
}

void read_lines(const std::string& path) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) std::abort();
    char* line = nullptr;
    std::size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      // A fresh buffer now and then: getline mallocs and reallocs again.
      if (cap > 1'000'000) {
        std::free(line);
        line = nullptr;
        cap = 0;
      }
    }
    std::free(line);
    std::fclose(f);
  }
}

void flush_all() {
  while (!g_stop.load(std::memory_order_relaxed)) std::fflush(nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const int forks = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int readers = argc > 2 ? std::atoi(argv[2]) : 2;
  if (forks <= 0 || readers <= 0) {
    std::fprintf(stderr, "usage: fork_stdio [forks [readers]]\n");
    return 2;
  }
  std::signal(SIGALRM, on_alarm);
  alarm(120);
  const std::string path = write_lines_file();
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) threads.emplace_back(read_lines, path);
  threads.emplace_back(flush_all);
  for (int i = 0; i < forks; ++i) {
    g_fork_number = i;
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork_stdio: fork");
      return 1;
    }
    if (pid == 0) {
      // The child allocates and uses stdio: its locks must be usable.
      void* p = std::malloc(100);
      std::free(p);
      std::fflush(nullptr);
      _exit(0);
    }
    g_child = pid;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "fork_stdio: child of fork %d failed (status %d)\n", i, status);
      return 1;
    }
  }
  g_stop.store(true);
  for (auto& t : threads) t.join();
  unlink(path.c_str());
  std::printf("fork_stdio: %d forks\n", forks);
  return 0;
}
