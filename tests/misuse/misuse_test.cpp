// Every misuse case of misuse_cases.cpp, run under glibc's malloc and under
// both libraries. The release library must catch at least what glibc
// catches: where glibc aborts, it aborts too, and a misuse of a block of its
// own it reports with one line of its own, whatever glibc does. The checked
// library reports every case with one line, addresses of no allocator's
// included. A report ends the process with SIGABRT.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace {

struct Outcome {
  int status = 0;      // as waitpid gives it
  std::string output;  // stdout and stderr together
  bool aborted() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT; }
  std::string describe() const {
    std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with " + std::to_string(WEXITSTATUS(status));
    return how + ", output:\n" + output;
  }
};

// Runs the cases program with `arg`, `preload` (empty: none) in LD_PRELOAD.
Outcome run_cases(const std::string& arg, const std::string& preload) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("LD_PRELOAD=", 0) != 0) env_strings.emplace_back(*e);
  }
  if (!preload.empty()) env_strings.push_back("LD_PRELOAD=" + preload);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string program = HAKMEM_CASES;
  std::string argument = arg;
  char* argv[] = {program.data(), argument.data(), nullptr};

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  Outcome out;
  if (rc != 0) {
    close(pipe_fds[0]);
    out.output = "posix_spawn failed";
    return out;
  }
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) out.output.append(buffer, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  waitpid(pid, &out.status, 0);
  return out;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  const Outcome listed = run_cases("--list", "");
  std::string line;
  for (char ch : listed.output) {
    if (ch != '\n') {
      line += ch;
    } else if (!line.empty()) {
      names.push_back(line);
      line.clear();
    }
  }
  return names;
}

// Addresses no allocator handed out: hakmem hands them to glibc.
bool is_foreign_case(const std::string& name) {
  return name == "free_stack" || name == "free_global" || name == "free_mmapped";
}

// The report: one line, starting "hakmem: ".
bool is_one_hakmem_line(const std::string& output) {
  return output.rfind("hakmem: ", 0) == 0 && output.find('\n') == output.size() - 1;
}

class Misuse : public ::testing::TestWithParam<std::string> {};

TEST(MisuseCases, TwentyAreListed) { EXPECT_EQ(case_names().size(), 20u); }

TEST_P(Misuse, ReleaseLibraryCatchesWhatGlibcCatches) {
  const Outcome glibc = run_cases(GetParam(), "");
  const Outcome hakmem = run_cases(GetParam(), HAKMEM_LIBRARY);
  if (glibc.aborted()) {
    EXPECT_TRUE(hakmem.aborted()) << "glibc: " << glibc.describe() << "\nhakmem: " << hakmem.describe();
  }
  if (!is_foreign_case(GetParam())) {
    EXPECT_TRUE(hakmem.aborted() && is_one_hakmem_line(hakmem.output)) << hakmem.describe();
  }
}

TEST_P(Misuse, CheckedLibraryReportsEveryCase) {
  const Outcome checked = run_cases(GetParam(), HAKMEM_CHECKED_LIBRARY);
  EXPECT_TRUE(checked.aborted() && is_one_hakmem_line(checked.output)) << checked.describe();
}

INSTANTIATE_TEST_SUITE_P(Cases, Misuse, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
