// A program for the control tests, linked to libhakmem.so so that hakmem is
// its malloc. Each mode does one thing the tests then observe from outside
// (the block's file, /proc/PID): it prints "ready" on stdout when done and
// then sleeps blocked in read(2) on stdin until the test closes it, making
// no allocator call meanwhile.
//
//   huge MIB    allocates MIB MiB in 8 MiB blocks, touches them, frees them
//   fork        waits for its block, forks; the child reports whether it
//               maps or holds the parent's block, then waits for its own
//   exec        waits for its block, then execs `huge 16` under the same pid
//   exit        returns at once (a short-lived process)
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void wait_for_stdin_close() {
  char c;
  while (read(0, &c, 1) > 0) {
  }
}

std::string block_path(int pid) {
  const char* dir = std::getenv("HAKMEM_CONTROL_DIR");
  return std::string(dir != nullptr ? dir : "/dev/shm") + "/hakmem." + std::to_string(geteuid()) + "." +
         std::to_string(pid);
}

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// Allocator calls until the block exists (it is made from a slow path).
bool poke_until_block(int pid) {
  for (int i = 0; i < 400 && !exists(block_path(pid)); ++i) {
    void* p = std::malloc(512 * 1024);
    std::free(p);
    usleep(10000);
  }
  return exists(block_path(pid));
}

bool file_mentions(const char* path, const std::string& needle) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char line[4096];
  bool found = false;
  while (!found && std::fgets(line, sizeof(line), f) != nullptr) found = std::strstr(line, needle.c_str()) != nullptr;
  std::fclose(f);
  return found;
}

bool holds_fd_to(const std::string& path) {
  for (int fd = 0; fd < 1024; ++fd) {
    char link[64];
    char target[512];
    std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (path == target) return true;
  }
  return false;
}

int run_huge(long mib) {
  constexpr std::size_t kBlock = 8u << 20;
  const long count = mib / 8;
  void** blocks = static_cast<void**>(std::calloc(static_cast<std::size_t>(count), sizeof(void*)));
  for (long i = 0; i < count; ++i) {
    blocks[i] = std::malloc(kBlock);
    std::memset(blocks[i], 1, kBlock);
  }
  for (long i = 0; i < count; ++i) std::free(blocks[i]);
  std::free(blocks);
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stdin_close();
  return 0;
}

int run_fork() {
  const int parent = static_cast<int>(getpid());
  if (!poke_until_block(parent)) {
    std::printf("no parent block\n");
    return 1;
  }
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    const std::string parent_block = block_path(parent);
    const bool maps = file_mentions("/proc/self/maps", parent_block);
    const bool holds = holds_fd_to(parent_block);
    const bool own = poke_until_block(static_cast<int>(getpid()));
    char msg[128];
    const int n = std::snprintf(msg, sizeof(msg), "child maps=%d holds=%d own=%d\n", maps, holds, own);
    if (write(fds[1], msg, static_cast<std::size_t>(n)) != n) _exit(2);
    std::exit(0);  // not _exit: the child's block goes at its exit like any process's
  }
  close(fds[1]);
  char buf[128] = {};
  const ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
  int status = 0;
  waitpid(child, &status, 0);
  std::printf("%s", n > 0 ? buf : "child said nothing\n");
  std::printf("child_block_removed=%d\n", !exists(block_path(static_cast<int>(child))));
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stdin_close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (std::strcmp(argv[1], "huge") == 0 && argc == 3) return run_huge(std::atol(argv[2]));
  if (std::strcmp(argv[1], "fork") == 0) return run_fork();
  if (std::strcmp(argv[1], "exec") == 0) {
    if (!poke_until_block(static_cast<int>(getpid()))) return 1;
    char huge[] = "huge";
    char mib[] = "16";
    char* args[] = {argv[0], huge, mib, nullptr};
    execv("/proc/self/exe", args);
    return 1;
  }
  if (std::strcmp(argv[1], "exit") == 0) return 0;
  return 2;
}
