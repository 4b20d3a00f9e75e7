// hkmctl's reading commands against fake processes: ps, stats, get, watch,
// help, the exit codes, bad arguments, stale blocks and gc, hostile blocks
// on disk.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>

#include "target.h"

#include "block_image.h"
#include "cli_util.h"
#include "control/layout.h"

namespace hakmem::hkmctl::testing {
namespace {

class Cli : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(Cli, PsListsALiveProcessAndItsFigures) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"ps"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "PID")) << r.out;
  EXPECT_TRUE(contains(r.out, p.spid() + "  fake_process")) << r.out;
  EXPECT_TRUE(contains(r.out, "48.0 MiB")) << r.out;  // in use
  EXPECT_TRUE(contains(r.out, " ok")) << r.out;
  CliRun j = hkmctl(dir.path, {"--json", "ps"});
  ASSERT_EQ(j.rc, 0);
  for (const char* key : {"\"processes\":[", "\"pid\":" , "\"command\":\"fake_process\"", "\"uptime_ns\":",
                          "\"bytes_in_use\":50331648", "\"bytes_resident_estimate\":", "\"bytes_free_cached\":",
                          "\"threads\":3", "\"nodes\":2", "\"state\":\"ok\""}) {
    EXPECT_TRUE(contains(j.out, key)) << key << " in " << j.out;
  }
}

TEST_F(Cli, StatsShowsTheWaterfallPerNodeTierClassAndThread) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"stats", p.spid(), "--classes", "--threads"});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* line : {"in use by the program", "+ thread caches", "+ free in slabs", "+ free in node pools",
                           "+ free huge ranges", "+ metadata", "= hakmem resident estimate", "purged",
                           "process RSS (/proc)", "not hakmem", "KERNEL RESIDENT", "TIER", "tiny", "huge", "CLASS",
                           "TID", "1002"}) {
    EXPECT_TRUE(contains(r.out, line)) << line << " in\n" << r.out;
  }
  // Columns are aligned: every waterfall figure ends in the same column.
  std::size_t col = r.out.find("48.0 MiB") + 8 - r.out.rfind('\n', r.out.find("48.0 MiB"));
  std::size_t col2 = r.out.find("81.0 MiB") + 8 - r.out.rfind('\n', r.out.find("81.0 MiB"));
  EXPECT_EQ(col, col2) << r.out;

  CliRun j = hkmctl(dir.path, {"--json", "stats", p.spid(), "--classes", "--threads", "--top", "2"});
  ASSERT_EQ(j.rc, 0) << j.err;
  for (const char* key : {"\"summary\":{\"bytes_in_use\":50331648", "\"bytes_resident_estimate\":84934656",
                          "\"proc_rss_bytes\":", "\"not_hakmem_bytes\":", "\"nodes\":[{\"node\":0",
                          "\"kernel_resident_bytes\":", "\"tiers\":[", "\"classes\":[", "\"threads\":[",
                          "\"age_ns\":", "\"service_running\":true"}) {
    EXPECT_TRUE(contains(j.out, key)) << key << " in " << j.out;
  }
  // --top 2 keeps the two threads with the most cached: 1002 and 1001.
  EXPECT_TRUE(contains(j.out, "\"tid\":1002")) << j.out;
  EXPECT_FALSE(contains(j.out, "\"tid\":1000")) << j.out;

  CliRun one = hkmctl(dir.path, {"--json", "stats", p.spid(), "--node", "1"});
  ASSERT_EQ(one.rc, 0);
  EXPECT_TRUE(contains(one.out, "\"nodes\":[{\"node\":1,")) << one.out;
  EXPECT_FALSE(contains(one.out, "{\"node\":0,")) << one.out;
}

TEST_F(Cli, PidMayBeAProcessName) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"--json", "stats", "hkmctl_fake_pro"});  // comm is cut to 15 characters
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"pid\":" + p.spid()));
  FakeProcess q(dir.path, "serve");
  ASSERT_TRUE(q.ready());
  CliRun amb = hkmctl(dir.path, {"stats", "hkmctl_fake_pro"});
  EXPECT_EQ(amb.rc, 2);
  expect_one_line_error(amb);
  EXPECT_TRUE(contains(amb.err, "give a pid"));
}

TEST_F(Cli, GetReadsFieldsAndKnobsByName) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"--json", "get", p.spid(), "bytes_in_use", "purge_delay", "nodes.bytes_in_use"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"summary.bytes_in_use\":50331648,\"purge_delay\":1000,\"nodes[0].bytes_in_use\":25165824,"
                   "\"nodes[1].bytes_in_use\":25165824}\n");
  CliRun raw = hkmctl(dir.path, {"get", p.spid(), "--raw"});
  ASSERT_EQ(raw.rc, 0);
  for (const char* key : {"summary.bytes_in_use", "nodes[1].node", "tiers[3].bytes_cached", "classes[0].block_bytes",
                          "threads[2].tid", "knobs.hugepages"}) {
    EXPECT_TRUE(contains(raw.out, key)) << key << " in " << raw.out;
  }
  CliRun missing = hkmctl(dir.path, {"get", p.spid(), "no_such_field"});
  EXPECT_EQ(missing.rc, 2);
  expect_one_line_error(missing);
}

TEST_F(Cli, WatchPrintsRatesAndNdjson) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  CliRun r = hkmctl(dir.path, {"--json", "watch", p.spid(), "--interval", "50ms", "--count", "3"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  EXPECT_TRUE(contains(r.out, "\"allocations_per_s\":0")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"sample\":2")) << r.out;
  CliRun h = hkmctl(dir.path, {"watch", p.spid(), "--interval", "20ms", "--count", "2"});
  ASSERT_EQ(h.rc, 0);
  EXPECT_TRUE(contains(h.out, "ALLOCS/S")) << h.out;
}

TEST_F(Cli, EveryCommandHasHelp) {
  for (const char* c : {"ps", "stats", "trim", "flush", "get", "set", "watch", "ping", "gc"}) {
    CliRun r = hkmctl("", {c, "--help"});
    EXPECT_EQ(r.rc, 0) << c;
    EXPECT_TRUE(contains(r.out, std::string("usage: hkmctl")) && contains(r.out, c)) << r.out;
    CliRun h = hkmctl("", {"help", c});
    EXPECT_EQ(h.out, r.out);
  }
  CliRun all = hkmctl("", {"--help"});
  EXPECT_EQ(all.rc, 0);
  EXPECT_TRUE(contains(all.out, "Exit codes"));
}

TEST_F(Cli, BadArgumentsGetOneLineAndExitTwo) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  const std::string pid = p.spid();
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"--bogus", "ps"},
      {"--timeout", "soon", "ps"},
      {"--timeout"},
      {"ps", "extra"},
      {"ps", "--node", "1"},
      {"stats"},
      {"stats", pid, pid},
      {"stats", pid, "--node", "x"},
      {"stats", pid, "--top", "0"},
      {"stats", pid, "--node", "7"},
      {"trim"},
      {"trim", pid, "--keep", "lots"},
      {"trim", pid, "--node", "64"},
      {"trim", pid, "--node"},
      {"flush"},
      {"flush", pid, "--now"},
      {"get"},
      {"get", pid, "--raw=1"},
      {"set", pid},
      {"set", pid, "purge_delay"},
      {"set", pid, "=5"},
      {"set", pid, "purge_delay=soon"},
      {"set", pid, "purge_delay=99h"},
      {"set", pid, "no_such_knob=1"},
      {"set", pid, "thp=sometimes"},
      {"watch"},
      {"watch", pid, "--interval", "1ms"},
      {"watch", pid, "--count", "0"},
      {"ping"},
      {"ping", pid, "again"},
      {"gc", "now"},
      {"gc", "--force"},
      {"help", "nothing"},
  };
  for (const auto& args : cases) {
    CliRun r = hkmctl(dir.path, args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.rc, 2) << joined << "\n" << r.err;
    expect_one_line_error(r);
  }
}

TEST_F(Cli, NoSuchProcessExitsThree) {
  CliRun r = hkmctl(dir.path, {"stats", "999999"});
  EXPECT_EQ(r.rc, 3);
  expect_one_line_error(r);
  CliRun n = hkmctl(dir.path, {"ping", "no_such_name"});
  EXPECT_EQ(n.rc, 3);
}

TEST_F(Cli, KilledProcessLeavesAStaleBlockThatGcRemoves) {
  FakeProcess p(dir.path, "serve");
  ASSERT_TRUE(p.ready());
  std::string pid = p.spid();
  std::string block = dir.path + "/hakmem." + std::to_string(geteuid()) + "." + pid;
  FakeProcess live(dir.path, "serve");
  ASSERT_TRUE(live.ready());
  p.stop(SIGKILL);
  ASSERT_TRUE(std::filesystem::exists(block));
  CliRun ps = hkmctl(dir.path, {"ps"});
  EXPECT_TRUE(contains(ps.out, "stale")) << ps.out;
  CliRun st = hkmctl(dir.path, {"stats", pid});
  EXPECT_EQ(st.rc, 3);
  EXPECT_TRUE(contains(st.err, "stale")) << st.err;
  CliRun dry = hkmctl(dir.path, {"gc", "--dry-run"});
  EXPECT_EQ(dry.rc, 0);
  EXPECT_TRUE(contains(dry.out, "would remove " + block)) << dry.out;
  EXPECT_TRUE(std::filesystem::exists(block));
  CliRun gc = hkmctl(dir.path, {"--json", "gc"});
  EXPECT_EQ(gc.rc, 0) << gc.err;
  EXPECT_TRUE(contains(gc.out, "\"removed\":[\"" + block + "\"]")) << gc.out;
  EXPECT_FALSE(std::filesystem::exists(block));
  // The live process's block stays.
  CliRun after = hkmctl(dir.path, {"stats", live.spid()});
  EXPECT_EQ(after.rc, 0) << after.err;
}

TEST_F(Cli, GcLeavesFilesThatAreNotPlainBlocks) {
  std::string uid = std::to_string(geteuid());
  std::string other = dir.path + "/notes.txt";
  std::ofstream(other) << "x";
  std::string link = dir.path + "/hakmem." + uid + ".999998";
  ASSERT_EQ(symlink(other.c_str(), link.c_str()), 0);
  std::string hard = dir.path + "/hakmem." + uid + ".999997";
  ASSERT_EQ(::link(other.c_str(), hard.c_str()), 0);
  CliRun gc = hkmctl(dir.path, {"gc"});
  EXPECT_EQ(gc.rc, 0) << gc.err;
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_TRUE(std::filesystem::exists(hard));
  EXPECT_TRUE(std::filesystem::exists(other));
  CliRun st = hkmctl(dir.path, {"stats", "999998"});
  EXPECT_NE(st.rc, 0);
  expect_one_line_error(st);
}

// A block planted under a live process's name, with hostile contents.
class HostileFile : public Cli {
 protected:
  void SetUp() override {
    p_ = std::make_unique<FakeProcess>(dir.path, "serve");
    ASSERT_TRUE(p_->ready());
    path_ = dir.path + "/hakmem." + std::to_string(geteuid()) + "." + p_->spid();
    ImageSpec spec;
    spec.pid = p_->pid();
    spec.uid = geteuid();
    spec.start_ticks = process_start_ticks(p_->pid()).value_or(0);
    image_ = make_image(spec).bytes;
  }
  // Rewrites the file in place: the fake process keeps its lock on it.
  void plant(const std::vector<unsigned char>& bytes) {
    int fd = open(path_.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  CliRun stats() { return hkmctl(dir.path, {"stats", p_->spid()}); }
  std::unique_ptr<FakeProcess> p_;
  std::string path_;
  std::vector<unsigned char> image_;
};

TEST_F(HostileFile, TruncatedRandomAndWrongAbiBlocksGiveOneLine) {
  plant(std::vector<unsigned char>(image_.begin(), image_.begin() + 100));
  // Past the fake's 100 ms wait: it has touched the truncated mapping and
  // must still hold its lock, so the block reads as truncated, not stale.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CliRun t = stats();
  EXPECT_EQ(t.rc, 1);
  expect_one_line_error(t);
  EXPECT_TRUE(contains(t.err, "truncated")) << t.err;

  std::vector<unsigned char> noise(8192);
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<unsigned char>(i * 131 + 7);
  plant(noise);
  CliRun n = stats();
  EXPECT_EQ(n.rc, 1);
  expect_one_line_error(n);

  auto abi = image_;
  std::uint16_t major = layout::kAbiMajor + 1;
  std::memcpy(abi.data() + offsetof(layout::Header, abi_major), &major, 2);
  plant(abi);
  CliRun a = stats();
  EXPECT_EQ(a.rc, 5);
  expect_one_line_error(a);
  CliRun ps = hkmctl(dir.path, {"ps"});
  EXPECT_TRUE(contains(ps.out, "incompatible")) << ps.out;
}

TEST_F(HostileFile, HugeCountsAndMismatchedPidAreSuspicious) {
  auto huge = image_;
  std::uint32_t big = 0xffffffff;
  std::memcpy(huge.data() + layout::kHeaderBytes + 2 * sizeof(layout::SectionEntry) +
                  offsetof(layout::SectionEntry, element_count), &big, 4);
  plant(huge);
  CliRun h = stats();
  EXPECT_EQ(h.rc, 1);
  expect_one_line_error(h);

  auto pid = image_;
  std::int32_t other = 1;
  std::memcpy(pid.data() + offsetof(layout::Header, pid), &other, 4);
  plant(pid);
  CliRun s = stats();
  EXPECT_EQ(s.rc, 1);
  EXPECT_TRUE(contains(s.err, "suspicious")) << s.err;
  CliRun ps = hkmctl(dir.path, {"ps"});
  EXPECT_TRUE(contains(ps.out, "suspicious")) << ps.out;
}

TEST_F(HostileFile, OddSeqlockForeverIsReportedTornQuickly) {
  FakeProcess torn(dir.path, "torn");
  ASSERT_TRUE(torn.ready());
  auto start = std::chrono::steady_clock::now();
  CliRun r = hkmctl(dir.path, {"stats", torn.spid()});
  EXPECT_EQ(r.rc, 1);
  expect_one_line_error(r);
  EXPECT_TRUE(contains(r.err, "torn")) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HostileFile, EscapeSequencesInNamesArePrintedEscaped) {
  FakeProcess evil(dir.path, "escape");
  ASSERT_TRUE(evil.ready());
  for (const auto& args : {std::vector<std::string>{"ps"}, {"stats", evil.spid()}, {"--json", "ps"}}) {
    CliRun r = hkmctl(dir.path, args);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
    EXPECT_TRUE(contains(r.out, "x1b]0;owned")) << r.out;
  }
}

}  // namespace
}  // namespace hakmem::hkmctl::testing
