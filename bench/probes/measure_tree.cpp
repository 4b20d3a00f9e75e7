// Runs one command and reports its wall time, CPU time and peak resident
// set, for run.py's real-program rows (kind "program").
//
//   measure_tree [--preload=LIB] [--stdout=PATH] -- PROGRAM ARGS...
//
// The command is forked from this small process, with LIB in its
// LD_PRELOAD (this process itself runs without it), its stdout to PATH
// (default /dev/null), its stderr inherited. wait4 gives the command's
// resource use together with that of every descendant it waited for (the
// compiler driver's cc1plus and as, for example): peak_rss_kb is the largest
// peak resident set among them (ru_maxrss, the kernel's maximum over the
// tree, not a sum), and cpu_s their user plus system time.
//
// Why a process of its own: the kernel carries ru_maxrss across execve, so a
// command the Python runner started directly would report at least the
// runner's own size. Forked from here, it starts from this process's few
// pages.
//
// Prints "RESULT name=measure_tree exit=N wall_s=... cpu_s=... peak_rss_kb=..."
// and exits with the command's status (128 + signal when it was killed).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_util.h"

namespace {

constexpr const char* kUsage = "usage: measure_tree [--preload=LIB] [--stdout=PATH] -- PROGRAM ARGS...";

[[noreturn]] void usage() {
  std::fprintf(stderr, "%s\n", kUsage);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  const char* preload = nullptr;
  const char* out_path = "/dev/null";
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (std::strncmp(argv[i], "--preload=", 10) == 0) {
      preload = argv[i] + 10;
    } else if (std::strncmp(argv[i], "--stdout=", 9) == 0) {
      out_path = argv[i] + 9;
    } else {
      usage();
    }
  }
  if (i + 1 >= argc) usage();
  char** command = argv + i + 1;

  double start = bench::now_s();
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("measure_tree: fork");
    return 2;
  }
  if (pid == 0) {
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
      std::perror("measure_tree: stdout");
      _exit(127);
    }
    if (preload != nullptr && *preload != '\0') setenv("LD_PRELOAD", preload, 1);
    execvp(command[0], command);
    std::fprintf(stderr, "measure_tree: %s: %s\n", command[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (wait4(pid, &status, 0, &ru) < 0) {
    std::perror("measure_tree: wait4");
    return 2;
  }
  double wall = bench::now_s() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  bench::ResultLine("measure_tree")
      .add("exit", code)
      .add("wall_s", wall)
      .add("cpu_s", cpu)
      .add("peak_rss_kb", static_cast<long>(ru.ru_maxrss))
      .print();
  return code;
}
