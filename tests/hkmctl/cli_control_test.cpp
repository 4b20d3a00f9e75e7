// hkmctl's commands through the mailbox against fake processes: ping,
// trim, flush, set, timeouts, concurrent commanders, a commander killed
// mid-command, and a block that may be read but not commanded.
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "cli_util.h"

namespace hakmem::hkmctl::testing {
namespace {

class Control : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(Control, PingSaysWhoAnswered) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"ping", p.spid()});
  ASSERT_EQ(r.rc, 0) << r.err;
  // The fake answers from its only thread, whose tid is its pid.
  EXPECT_TRUE(contains(r.out, "answered by thread " + p.spid())) << r.out;
  EXPECT_TRUE(contains(r.out, "round trip")) << r.out;
  CliRun j = hkmctl(dir.path, {"--json", "ping", p.spid()});
  ASSERT_EQ(j.rc, 0);
  for (const char* key : {"\"status\":\"ok\"", "\"served_by_tid\":", "\"round_trip_ns\":", "\"duration_ns\":"}) {
    EXPECT_TRUE(contains(j.out, key)) << key << " in " << j.out;
  }
}

TEST_F(Control, TrimGivesBackFreeMemoryAndTheFiguresShowIt) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"--json", "trim", p.spid()});
  ASSERT_EQ(r.rc, 0) << r.err;
  // free in slabs + pools + huge ranges of block_image.h: 29 MiB.
  EXPECT_TRUE(contains(r.out, "\"released_bytes\":30408704")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"nodes\":[{\"node\":0,\"released_bytes\":15204352},{\"node\":1,")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"rss_before_bytes\":")) << r.out;
  CliRun after = hkmctl(dir.path, {"--json", "get", p.spid(), "bytes_free_in_pools", "bytes_free_huge"});
  EXPECT_EQ(after.out, "{\"summary.bytes_free_in_pools\":0,\"summary.bytes_free_huge\":0}\n") << after.err;
}

TEST_F(Control, TrimOfOneNodeWithKeepIsPartial) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"trim", p.spid(), "--node", "1", "--keep", "4MiB"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "gave back 25.0 MiB")) << r.out;
  EXPECT_TRUE(contains(r.out, "kept 4.00 MiB: kept 4194304 bytes as asked")) << r.out;
  EXPECT_TRUE(contains(r.out, "NODE")) << r.out;
  EXPECT_FALSE(contains(r.out, "\n0  ")) << r.out;
}

TEST_F(Control, FlushReportsHeapsFlushed) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"flush", p.spid()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "flushed 3 thread caches")) << r.out;
  CliRun j = hkmctl(dir.path, {"--json", "get", p.spid(), "bytes_thread_cached"});
  EXPECT_EQ(j.out, "{\"summary.bytes_thread_cached\":0}\n");
}

TEST_F(Control, SetChangesRuntimeKnobsWithUnits) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"set", p.spid(), "purge_delay=2.5s", "thread_cache_bytes=8MiB", "thp=always"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "purge_delay: 1000 -> 2500")) << r.out;
  CliRun g = hkmctl(dir.path, {"--json", "get", p.spid(), "purge_delay", "thread_cache_bytes", "thp"});
  EXPECT_EQ(g.out, "{\"purge_delay\":2500,\"thread_cache_bytes\":8388608,\"thp\":2}\n") << g.err;
}

TEST_F(Control, SetRefusesStartupOnlyKnobsNamingTheVariable) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"set", p.spid(), "hugepages=hugetlb"});
  EXPECT_EQ(r.rc, 7);
  expect_one_line_error(r);
  EXPECT_TRUE(contains(r.err, "HAKMEM_HUGEPAGES=hugetlb")) << r.err;
}

TEST_F(Control, AProcessThatNeverAnswersTimesOutSayingWhy) {
  FakeProcess p(dir.path, "silent");
  ASSERT_TRUE(p.ready());
  auto start = std::chrono::steady_clock::now();
  CliRun r = hkmctl(dir.path, {"--timeout", "300ms", "ping", p.spid()});
  EXPECT_EQ(r.rc, 6);
  expect_one_line_error(r);
  EXPECT_TRUE(contains(r.err, "HAKMEM_SERVICE=on")) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Reading needs no answer.
  EXPECT_EQ(hkmctl(dir.path, {"stats", p.spid()}).rc, 0);
}

TEST_F(Control, TwoCommandersAtOnceBothGetTheirOwnAnswer) {
  FakeProcess p(dir.path, "slow");
  ASSERT_TRUE(p.ready());
  CliRun a, b;
  std::thread t1([&] { a = hkmctl(dir.path, {"--json", "flush", p.spid()}); });
  std::thread t2([&] { b = hkmctl(dir.path, {"--json", "ping", p.spid()}); });
  t1.join();
  t2.join();
  EXPECT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(b.rc, 0) << b.err;
  EXPECT_TRUE(contains(a.out, "\"heaps_flushed\":3")) << a.out;
  EXPECT_FALSE(contains(b.out, "heaps_flushed")) << b.out;
  CliRun g = hkmctl(dir.path, {"--json", "get", p.spid(), "commands_served"});
  EXPECT_EQ(g.out, "{\"summary.commands_served\":2}\n");
}

TEST_F(Control, ACommanderKilledMidCommandLeavesTheNextOneWorking) {
  FakeProcess p(dir.path, "slow");
  ASSERT_TRUE(p.ready());
  pid_t child = fork();
  if (child == 0) {
    execl(HKMCTL_BIN, HKMCTL_BIN, "--dir", dir.path.c_str(), "trim", p.spid().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CliRun r = hkmctl(dir.path, {"--json", "ping", p.spid()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"status\":\"ok\"")) << r.out;
}

}  // namespace
}  // namespace hakmem::hkmctl::testing

namespace hakmem::hkmctl::testing {
namespace {

// Across uids: these need root to create the other users.
class Uids : public ::testing::Test {
 protected:
  static constexpr int kOwner = 65534;   // the process's uid
  static constexpr int kOther = 65533;   // a user, or a 0640 block's group member
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run processes as other uids";
    ASSERT_EQ(chmod(dir.path.c_str(), 01777), 0);
  }
  std::string block_of(const FakeProcess& p) {
    return dir.path + "/hakmem." + std::to_string(kOwner) + "." + p.spid();
  }
  TempDir dir;
};

TEST_F(Uids, RootReadsAndCommandsAnotherUsersProcess) {
  FakeProcess p(dir.path, "serve", kOwner);
  ASSERT_TRUE(p.ready());
  CliRun ps = hkmctl(dir.path, {"ps"});
  EXPECT_TRUE(contains(ps.out, p.spid() + "  fake_process")) << ps.out;
  EXPECT_TRUE(contains(ps.out, " ok")) << ps.out;
  CliRun st = hkmctl(dir.path, {"--json", "stats", p.spid()});
  EXPECT_EQ(st.rc, 0) << st.err;
  EXPECT_TRUE(contains(st.out, "\"bytes_in_use\":50331648")) << st.out;
  CliRun t = hkmctl(dir.path, {"trim", p.spid()});
  EXPECT_EQ(t.rc, 0) << t.err;
}

TEST_F(Uids, AnotherUserCanNeitherReadNorCommand) {
  FakeProcess p(dir.path, "serve", kOwner);
  ASSERT_TRUE(p.ready());
  for (const char* cmd : {"stats", "trim", "ping"}) {
    CliRun r = hkmctl(dir.path, {cmd, p.spid()}, kOther);
    EXPECT_EQ(r.rc, 4) << cmd << ": " << r.err;
    expect_one_line_error(r);
  }
}

TEST_F(Uids, AGroupMemberOfA0640BlockReadsButIsRefusedTrim) {
  FakeProcess p(dir.path, "serve", kOwner);
  ASSERT_TRUE(p.ready());
  ASSERT_EQ(chown(block_of(p).c_str(), kOwner, kOther), 0);
  ASSERT_EQ(chmod(block_of(p).c_str(), 0640), 0);
  CliRun st = hkmctl(dir.path, {"stats", p.spid()}, kOther);
  EXPECT_EQ(st.rc, 0) << st.err;
  CliRun t = hkmctl(dir.path, {"trim", p.spid()}, kOther);
  EXPECT_EQ(t.rc, 4) << t.err;
  expect_one_line_error(t);
}

}  // namespace
}  // namespace hakmem::hkmctl::testing
