// Helpers for running hkmctl against fake processes: a private control
// directory, a fake process that holds a block in it, and a run of the
// hkmctl binary with its exit code, stdout and stderr.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem::hkmctl::testing {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/hkmctl_test_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

class FakeProcess {
 public:
  // With `as_uid` (tests run as root), the fake runs as that uid and gid.
  FakeProcess(const std::string& dir, const std::string& mode, int as_uid = -1) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      if (as_uid >= 0 && (setgroups(0, nullptr) != 0 || setresgid(as_uid, as_uid, as_uid) != 0 ||
                          setresuid(as_uid, as_uid, as_uid) != 0)) {
        _exit(126);
      }
      execl(FAKE_PROCESS_BIN, FAKE_PROCESS_BIN, dir.c_str(), mode.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    char buf[16] = {};
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    ready_ = n > 0 && std::string(buf).rfind("ready", 0) == 0;
  }
  ~FakeProcess() { stop(SIGTERM); }
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string spid() const { return std::to_string(pid_); }
  bool ready() const { return ready_; }
  void stop(int sig) {
    if (pid_ > 0) {
      kill(pid_, sig);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

struct CliRun {
  int rc = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs hkmctl with `args`; `dir` goes in as --dir unless empty. With
// `as_uid` (tests run as root), as that uid and its same-numbered gid.
inline CliRun hkmctl(const std::string& dir, const std::vector<std::string>& args, int as_uid = -1) {
  TempDir io;
  std::string out = io.path + "/out", err = io.path + "/err";
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    if (as_uid >= 0 && (setgroups(0, nullptr) != 0 || setresgid(as_uid, as_uid, as_uid) != 0 ||
                        setresuid(as_uid, as_uid, as_uid) != 0)) {
      _exit(126);
    }
    std::vector<std::string> all = {HKMCTL_BIN};
    if (!dir.empty()) {
      all.push_back("--dir");
      all.push_back(dir);
    }
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(HKMCTL_BIN, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// An error is one line starting "hkmctl: ".
inline void expect_one_line_error(const CliRun& r) {
  EXPECT_EQ(r.err.rfind("hkmctl: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace hakmem::hkmctl::testing
