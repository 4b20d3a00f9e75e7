// The control block in real processes: control_probe (linked to
// libhakmem.so) runs under chosen HAKMEM_* settings; the test watches its
// block and /proc from outside, and commands it through the mailbox the way
// hkmctl does (OFD lock, request, doorbell, futex wait on ack).
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/layout.h"

namespace hakmem::control {
namespace {

namespace L = layout;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1u << 20;

std::string scratch_dir() {
  char t[] = "/dev/shm/hkm-process-test.XXXXXX";
  return mkdtemp(t) != nullptr ? t : "";
}

// A probe process with a pipe on its stdin (closing it ends the probe) and
// one on its stdout.
struct Probe {
  pid_t pid = -1;
  int in = -1;
  int out = -1;
  std::string output;

  Probe(std::vector<std::string> args, std::vector<std::string> env, bool preload = true) {
    int to[2];
    int from[2];
    if (pipe(to) != 0 || pipe(from) != 0) return;
    pid = fork();
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      close(to[1]);
      close(from[0]);
      if (preload) setenv("LD_PRELOAD", HKM_TEST_LIBRARY, 1);
      for (const std::string& e : env) putenv(strdup(e.c_str()));
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    in = to[1];
    out = from[0];
  }
  // Reads stdout until "ready" (or EOF); false if the probe ended first.
  bool wait_ready() {
    char buf[256];
    while (output.find("ready\n") == std::string::npos) {
      const ssize_t n = read(out, buf, sizeof(buf));
      if (n <= 0) return false;
      output.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  int finish() {
    if (in >= 0) close(in);
    in = -1;
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    pid = -1;
    if (out >= 0) close(out);
    out = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~Probe() {
    if (pid > 0) kill(pid, SIGKILL);
    finish();
  }
};

std::string block_path(const std::string& dir, pid_t pid) {
  return dir + "/hakmem." + std::to_string(geteuid()) + "." + std::to_string(pid);
}

std::uint64_t rss_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

bool wait_for_file(const std::string& path, int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return access(path.c_str(), F_OK) == 0;
}

// The block, mapped read-write as a commander maps it.
struct Attached {
  int fd = -1;
  void* base = nullptr;
  std::size_t bytes = 0;
  explicit Attached(const std::string& path) {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return;
    bytes = static_cast<std::size_t>(st.st_size);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    base = p == MAP_FAILED ? nullptr : p;
  }
  ~Attached() {
    if (base != nullptr) munmap(base, bytes);
    if (fd >= 0) close(fd);
  }
  L::Header* header() const { return static_cast<L::Header*>(base); }
  const L::SectionEntry* entry(L::SectionId id) const {
    const auto* e = reinterpret_cast<const L::SectionEntry*>(static_cast<char*>(base) + header()->directory_offset);
    for (std::uint32_t i = 0; i < header()->section_count; ++i) {
      if (e[i].id == id) return &e[i];
    }
    return nullptr;
  }
  template <typename T>
  T* section(L::SectionId id) const {
    const L::SectionEntry* e = entry(id);
    return e == nullptr ? nullptr : reinterpret_cast<T*>(static_cast<char*>(base) + e->offset);
  }
  // A consistent copy of the summary (seqlock even and unchanged).
  bool summary(L::Summary* out) const {
    std::atomic_ref<std::uint64_t> seq(header()->publish_seq);
    for (int i = 0; i < 1000; ++i) {
      const std::uint64_t s0 = seq.load(std::memory_order_acquire);
      if (s0 % 2 != 0 || s0 == 0) continue;
      std::memcpy(out, section<L::Summary>(L::kSummary), sizeof(*out));
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq.load(std::memory_order_relaxed) == s0) return true;
    }
    return false;
  }
  // One command, as hkmctl sends it. False on timeout.
  bool command(const L::Request& req, L::Response* resp, int timeout_ms = 5000, bool bad_seq = false) {
    auto* mb = section<L::Mailbox>(L::kMailbox);
    struct flock lk{};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLKW, &lk) != 0) return false;
    std::atomic_ref<std::uint64_t> request_seq(mb->request_seq);
    std::atomic_ref<std::uint64_t> response_seq(mb->response_seq);
    std::atomic_ref<std::uint32_t> doorbell(mb->doorbell);
    std::atomic_ref<std::uint32_t> ack(mb->ack);
    const std::uint64_t seq = response_seq.load(std::memory_order_acquire) + (bad_seq ? 5 : 1);
    std::memcpy(&mb->request, &req, sizeof(req));
    const std::uint32_t ack_seen = ack.load(std::memory_order_acquire);
    request_seq.store(seq, std::memory_order_release);
    doorbell.fetch_add(1, std::memory_order_release);
    syscall(SYS_futex, &mb->doorbell, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    bool done = false;
    while (!done && Clock::now() < end) {
      timespec ts{0, 50 * 1000 * 1000};
      syscall(SYS_futex, &mb->ack, FUTEX_WAIT, ack_seen, &ts, nullptr, 0);
      done = response_seq.load(std::memory_order_acquire) == seq;
    }
    if (done) std::memcpy(resp, &mb->response, sizeof(*resp));
    if (bad_seq) request_seq.store(response_seq.load() , std::memory_order_release);
    lk.l_type = F_UNLCK;
    fcntl(fd, F_OFD_SETLK, &lk);
    return done;
  }
};

std::string probe_path() { return HKM_TEST_PROBE; }

class ControlProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::vector<std::string> env(std::vector<std::string> more) const {
    more.push_back("HAKMEM_CONTROL_DIR=" + dir_);
    return more;
  }
  bool dir_is_empty() const {
    const std::string cmd = "test -z \"$(ls -A '" + dir_ + "')\"";
    return std::system(cmd.c_str()) == 0;
  }
  std::string dir_;
};

TEST_F(ControlProcess, ShortLivedProcessesMakeNoBlock) {
  Probe t({"/bin/true"}, env({}));
  EXPECT_EQ(t.finish(), 0);
  Probe p({probe_path(), "exit"}, env({}));
  EXPECT_EQ(p.finish(), 0);
  EXPECT_TRUE(dir_is_empty());
}

TEST_F(ControlProcess, BlockIsMadeFromASlowPathAndPublished) {
  Probe p({probe_path(), "huge", "64"}, env({"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_SERVICE_INTERVAL_MS=50"}));
  ASSERT_TRUE(p.wait_ready());
  const std::string path = block_path(dir_, p.pid);
  ASSERT_TRUE(wait_for_file(path, 2000));
  Attached a(path);
  ASSERT_NE(a.base, nullptr);
  EXPECT_EQ(std::memcmp(a.header()->magic, L::kMagic, 8), 0);
  EXPECT_EQ(a.header()->abi_major, L::kAbiMajor);
  EXPECT_EQ(a.header()->pid, p.pid);
  EXPECT_EQ(a.header()->total_bytes, a.bytes);
  EXPECT_STREQ(a.header()->command, "control_probe");
  const std::uint64_t count0 = a.header()->publish_count;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(a.header()->publish_count, count0) << "the service thread publishes every interval";
  EXPECT_NE(a.header()->state_flags & L::kStateServiceRunning, 0u);
  L::Summary s;
  ASSERT_TRUE(a.summary(&s));
  EXPECT_GT(s.rss_bytes, 0u);
  EXPECT_GT(s.bytes_mapped, 0u);
  EXPECT_GE(s.allocations, 8u);
  // Every section lies inside the file.
  const auto* e = reinterpret_cast<const L::SectionEntry*>(static_cast<char*>(a.base) + a.header()->directory_offset);
  for (std::uint32_t i = 0; i < a.header()->section_count; ++i) {
    EXPECT_LE(e[i].offset + std::uint64_t{e[i].element_size} * e[i].capacity, a.bytes);
    EXPECT_LE(e[i].element_count, e[i].capacity);
  }
  EXPECT_EQ(p.finish(), 0);
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the process removes its block at exit";
}

TEST_F(ControlProcess, IdleProcessGetsItsFreeMemoryBackOnTime) {
  constexpr int kPurgeDelayMs = 500;
  constexpr int kIntervalMs = 200;
  Probe p({probe_path(), "huge", "256"},
          env({"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_PURGE_DELAY_MS=" + std::to_string(kPurgeDelayMs),
               "HAKMEM_SERVICE_INTERVAL_MS=" + std::to_string(kIntervalMs)}));
  ASSERT_TRUE(p.wait_ready());
  const auto freed_at = Clock::now();
  const std::uint64_t rss0 = rss_of(p.pid);
  ASSERT_GT(rss0, 200 * kMiB) << "the freed blocks are still resident right after the free";
  std::uint64_t rss = rss0;
  while (rss > rss0 - 200 * kMiB && Clock::now() - freed_at < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rss = rss_of(p.pid);
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - freed_at).count();
  EXPECT_LE(rss, rss0 - 200 * kMiB) << "RSS " << rss0 / kMiB << " MiB -> " << rss / kMiB << " MiB";
  // Purge delay + one interval, and scheduling slack on a shared machine.
  EXPECT_LE(took, kPurgeDelayMs + kIntervalMs + 400);
  std::printf("idle purge: RSS %llu MiB -> %llu MiB in %lld ms\n", static_cast<unsigned long long>(rss0 / kMiB),
              static_cast<unsigned long long>(rss / kMiB), static_cast<long long>(took));
  EXPECT_EQ(p.finish(), 0);
}

TEST_F(ControlProcess, WithoutTheServiceAnIdleProcessKeepsItsFreeMemory) {
  Probe p({probe_path(), "huge", "256"},
          env({"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_PURGE_DELAY_MS=300", "HAKMEM_SERVICE=off"}));
  ASSERT_TRUE(p.wait_ready());
  const std::uint64_t rss0 = rss_of(p.pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_GT(rss_of(p.pid), rss0 - 32 * kMiB);
  EXPECT_EQ(p.finish(), 0);
}

TEST_F(ControlProcess, TrimThroughTheMailboxLowersRss) {
  Probe p({probe_path(), "huge", "256"}, env({"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_PURGE_DELAY_MS=3600000"}));
  ASSERT_TRUE(p.wait_ready());
  const std::string path = block_path(dir_, p.pid);
  ASSERT_TRUE(wait_for_file(path, 2000));
  Attached a(path);
  ASSERT_NE(a.base, nullptr);
  const std::uint64_t rss0 = rss_of(p.pid);
  ASSERT_GT(rss0, 200 * kMiB);
  L::Request req{};
  req.opcode = static_cast<std::uint32_t>(L::Opcode::kTrim);
  L::Response resp{};
  const auto t0 = Clock::now();
  ASSERT_TRUE(a.command(req, &resp));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  const std::uint64_t rss1 = rss_of(p.pid);
  EXPECT_TRUE(resp.status == static_cast<std::int32_t>(L::Status::kOk) ||
              resp.status == static_cast<std::int32_t>(L::Status::kPartial))
      << resp.message;
  EXPECT_GE(resp.released_bytes, 200 * kMiB);
  EXPECT_LE(rss1, rss0 - 200 * kMiB);
  EXPECT_LT(resp.rss_after, resp.rss_before);
  EXPECT_NE(resp.served_by_tid, static_cast<std::uint32_t>(p.pid)) << "the service thread ran it";
  EXPECT_GT(resp.duration_ns, 0u);
  EXPECT_LT(took, 1000);
  std::printf("mailbox trim: released %llu MiB, RSS %llu MiB -> %llu MiB, %lld ms round trip\n",
              static_cast<unsigned long long>(resp.released_bytes / kMiB),
              static_cast<unsigned long long>(rss0 / kMiB), static_cast<unsigned long long>(rss1 / kMiB),
              static_cast<long long>(took));
  EXPECT_EQ(p.finish(), 0);
}

TEST_F(ControlProcess, MailboxValidatesEveryRequest) {
  Probe p({probe_path(), "huge", "16"}, env({"HAKMEM_CONTROL_DELAY_MS=0"}));
  ASSERT_TRUE(p.wait_ready());
  const std::string path = block_path(dir_, p.pid);
  ASSERT_TRUE(wait_for_file(path, 2000));
  Attached a(path);
  ASSERT_NE(a.base, nullptr);
  auto status = [](const L::Response& r) { return static_cast<L::Status>(r.status); };
  L::Request req{};
  L::Response resp{};

  req.opcode = static_cast<std::uint32_t>(L::Opcode::kPing);
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kOk);

  req = L::Request{};
  req.opcode = 99;
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kUnknownOpcode);

  req = L::Request{};
  req.opcode = static_cast<std::uint32_t>(L::Opcode::kTrim);
  req.tiers = 1u << 7;
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kBadArgument);
  req.tiers = 0;
  req.node_mask = std::uint64_t{1} << 63;
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kBadArgument);

  req = L::Request{};
  req.opcode = static_cast<std::uint32_t>(L::Opcode::kSetKnob);
  std::memset(req.key, 'x', sizeof(req.key));  // no NUL
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kBadArgument);
  std::strcpy(req.key, "no_such_knob");
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kUnknownKnob);
  std::memset(req.key, 0, sizeof(req.key));
  std::strcpy(req.key, "huge_pages");
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kStartupOnlyKnob);
  EXPECT_NE(std::strstr(resp.message, "HAKMEM_HUGEPAGES"), nullptr) << resp.message;
  std::memset(req.key, 0, sizeof(req.key));
  std::strcpy(req.key, "purge_delay");
  req.value = std::uint64_t{1} << 40;
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kOutOfRange);
  req.value = 250;
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kOk);
  EXPECT_EQ(resp.value, 250u);

  // A request whose sequence number is not exactly the next is ignored...
  req = L::Request{};
  req.opcode = static_cast<std::uint32_t>(L::Opcode::kPing);
  EXPECT_FALSE(a.command(req, &resp, 300, true));
  // ... and the next proper one is answered.
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(status(resp), L::Status::kOk);
  EXPECT_EQ(p.finish(), 0);
}

TEST_F(ControlProcess, ForkChildNeverTouchesTheParentsBlockAndGetsItsOwn) {
  Probe p({probe_path(), "fork"}, env({"HAKMEM_CONTROL_DELAY_MS=0"}));
  ASSERT_TRUE(p.wait_ready()) << p.output;
  EXPECT_NE(p.output.find("child maps=0 holds=0 own=1"), std::string::npos) << p.output;
  EXPECT_NE(p.output.find("child_block_removed=1"), std::string::npos) << p.output;
  EXPECT_TRUE(wait_for_file(block_path(dir_, p.pid), 100)) << "the parent keeps its block";
  EXPECT_EQ(p.finish(), 0);
}

TEST_F(ControlProcess, ExecUnderTheSamePidTakesOverTheStaleName) {
  Probe p({probe_path(), "exec"}, env({"HAKMEM_CONTROL_DELAY_MS=0"}));
  ASSERT_TRUE(p.wait_ready()) << p.output;
  const std::string path = block_path(dir_, p.pid);
  ASSERT_TRUE(wait_for_file(path, 2000));
  // The new image maps the name: it made its own block there.
  std::ifstream maps("/proc/" + std::to_string(p.pid) + "/maps");
  const std::string all((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find(path), std::string::npos);
  Attached a(path);
  ASSERT_NE(a.base, nullptr);
  L::Request req{};
  req.opcode = static_cast<std::uint32_t>(L::Opcode::kPing);
  L::Response resp{};
  ASSERT_TRUE(a.command(req, &resp));
  EXPECT_EQ(static_cast<L::Status>(resp.status), L::Status::kOk);
  EXPECT_EQ(p.finish(), 0);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(ControlProcess, KilledProcessLeavesAStaleBlockWhoseLockIsFree) {
  Probe p({probe_path(), "huge", "16"}, env({"HAKMEM_CONTROL_DELAY_MS=0"}));
  ASSERT_TRUE(p.wait_ready());
  const std::string path = block_path(dir_, p.pid);
  ASSERT_TRUE(wait_for_file(path, 2000));
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_NE(flock(fd, LOCK_EX | LOCK_NB), 0) << "a live process holds its block's lock";
  kill(p.pid, SIGKILL);
  p.finish();
  EXPECT_EQ(access(path.c_str(), F_OK), 0) << "kill -9 leaves the file for hkmctl gc";
  EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0) << "and its lock is free: stale";
  close(fd);
}

TEST_F(ControlProcess, NonTmpfsDirectoryAndControlOffMakeNoBlock) {
  char t[] = "/tmp/hkm-process-test.XXXXXX";
  ASSERT_NE(mkdtemp(t), nullptr);
  const std::string disk = t;
  Probe p({probe_path(), "huge", "16"}, {"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_CONTROL_DIR=" + disk});
  ASSERT_TRUE(p.wait_ready());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(std::system(("test -z \"$(ls -A '" + disk + "')\"").c_str()), 0);
  EXPECT_EQ(p.finish(), 0);
  rmdir(disk.c_str());

  Probe off({probe_path(), "huge", "16"}, env({"HAKMEM_CONTROL_DELAY_MS=0", "HAKMEM_CONTROL=off"}));
  ASSERT_TRUE(off.wait_ready());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(dir_is_empty());
  EXPECT_EQ(off.finish(), 0);
}

}  // namespace
}  // namespace hakmem::control
