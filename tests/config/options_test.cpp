#include "config/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace hakmem::config {
namespace {

std::map<std::string, std::string> g_env;
const char* fake_lookup(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

class OptionsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    g_env.clear();
    init_options(fake_lookup);
  }
};

TEST_F(OptionsTest, DefaultsWhenUnset) {
  g_env.clear();
  init_options(fake_lookup);
  EXPECT_EQ(options().huge_pages, os::HugePagePolicy::kAuto);
  EXPECT_FALSE(options().print_stats_at_exit);
  EXPECT_FALSE(options().verbose);
  EXPECT_EQ(options().purge_delay_ms.load(), 1000u);
}

TEST_F(OptionsTest, ValidValuesAreApplied) {
  g_env = {{"HAKMEM_HUGEPAGES", "thp"}, {"HAKMEM_STATS", "1"}, {"HAKMEM_VERBOSE", "off"},
           {"HAKMEM_PURGE_DELAY_MS", " 250 "}};
  testing::internal::CaptureStderr();
  init_options(fake_lookup);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(options().huge_pages, os::HugePagePolicy::kThp);
  EXPECT_TRUE(options().print_stats_at_exit);
  EXPECT_FALSE(options().verbose);
  EXPECT_EQ(options().purge_delay_ms.load(), 250u);
}

TEST_F(OptionsTest, BadValueGetsOneLineNamingVariableValueAndDefault) {
  g_env = {{"HAKMEM_HUGEPAGES", "sometimes"}, {"HAKMEM_PURGE_DELAY_MS", "-5"}};
  testing::internal::CaptureStderr();
  init_options(fake_lookup);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "hakmem: HAKMEM_HUGEPAGES='sometimes' is not valid (expected auto|hugetlb|thp|off); using auto\n"
            "hakmem: HAKMEM_PURGE_DELAY_MS='-5' is not valid (expected an integer from 0 to 3600000); "
            "using 1000\n");
  EXPECT_EQ(options().huge_pages, os::HugePagePolicy::kAuto);
  EXPECT_EQ(options().purge_delay_ms.load(), 1000u);
}

TEST_F(OptionsTest, NumaPolicyAndNodeAreParsedTheNodeWinning) {
  g_env = {{"HAKMEM_NUMA", "interleave"}};
  init_options(fake_lookup);
  EXPECT_TRUE(options().numa_given);
  EXPECT_EQ(options().numa.kind, numa::PlacementKind::kInterleave);
  g_env = {{"HAKMEM_NUMA", "interleave"}, {"HAKMEM_NODE", "1"}};
  init_options(fake_lookup);
  EXPECT_EQ(options().numa.kind, numa::PlacementKind::kBind);
  EXPECT_TRUE(options().numa.nodes.contains(1));
  EXPECT_STREQ(options().numa_variable, "HAKMEM_NODE");
  g_env.clear();
  init_options(fake_lookup);
  EXPECT_FALSE(options().numa_given) << "init starts from the defaults again";
}

TEST_F(OptionsTest, BadNumaValuesGetOneLineEach) {
  g_env = {{"HAKMEM_NUMA", "bind:"}, {"HAKMEM_NODE", "x"}};
  testing::internal::CaptureStderr();
  init_options(fake_lookup);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "hakmem: HAKMEM_NUMA='bind:' is not valid (expected local|interleave|bind:LIST|off, LIST like 0,2-3); "
            "using local\n"
            "hakmem: HAKMEM_NODE='x' is not valid (expected a node number); using none\n");
  EXPECT_FALSE(options().numa_given);
}

TEST(OptionParsers, Bool) {
  bool b = false;
  EXPECT_TRUE(parse_bool("yes", &b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(parse_bool("0", &b));
  EXPECT_FALSE(b);
  EXPECT_FALSE(parse_bool("2", &b));
  EXPECT_FALSE(parse_bool("", &b));
}

TEST(OptionParsers, UintRejectsOverflowSignsAndJunk) {
  std::uint64_t v = 0;
  EXPECT_TRUE(parse_uint("3600000", 3600000, &v));
  EXPECT_EQ(v, 3600000u);
  EXPECT_FALSE(parse_uint("3600001", 3600000, &v));
  EXPECT_FALSE(parse_uint("99999999999999999999999", UINT64_MAX, &v));
  EXPECT_FALSE(parse_uint("+5", 100, &v));
  EXPECT_FALSE(parse_uint("5ms", 100, &v));
  EXPECT_FALSE(parse_uint("", 100, &v));
}

TEST(OptionParsers, HugePages) {
  os::HugePagePolicy p{};
  EXPECT_TRUE(parse_huge_pages("hugetlb", &p));
  EXPECT_EQ(p, os::HugePagePolicy::kHugetlb);
  EXPECT_TRUE(parse_huge_pages("off", &p));
  EXPECT_EQ(p, os::HugePagePolicy::kOff);
  EXPECT_FALSE(parse_huge_pages("HUGETLB", &p));
}

TEST_F(OptionsTest, ControlAndServiceSettings) {
  g_env = {{"HAKMEM_CONTROL", "group"}, {"HAKMEM_CONTROL_DIR", "/run/hkm"}, {"HAKMEM_CONTROL_DELAY_MS", "0"},
           {"HAKMEM_SERVICE", "off"}, {"HAKMEM_SERVICE_INTERVAL_MS", "50"}};
  testing::internal::CaptureStderr();
  init_options(fake_lookup);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(options().control, ControlMode::kGroup);
  EXPECT_STREQ(options().control_dir, "/run/hkm");
  EXPECT_EQ(options().control_delay_ms, 0u);
  EXPECT_EQ(options().service, ServiceMode::kOff);
  EXPECT_EQ(options().service_interval_ms.load(), 50u);
  g_env.clear();
  init_options(fake_lookup);
  EXPECT_EQ(options().control, ControlMode::kOn);
  EXPECT_STREQ(options().control_dir, "/dev/shm");
  EXPECT_EQ(options().control_delay_ms, 1000u);
  EXPECT_EQ(options().service, ServiceMode::kAuto);
  EXPECT_EQ(options().service_interval_ms.load(), 1000u);
}

TEST_F(OptionsTest, BadControlValuesGetOneLineEach) {
  g_env = {{"HAKMEM_CONTROL", "maybe"}, {"HAKMEM_CONTROL_DIR", "relative/dir"},
           {"HAKMEM_SERVICE_INTERVAL_MS", "5"}};
  testing::internal::CaptureStderr();
  init_options(fake_lookup);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "hakmem: HAKMEM_CONTROL='maybe' is not valid (expected off|on|group); using on\n"
            "hakmem: HAKMEM_CONTROL_DIR='relative/dir' is not valid (expected an absolute directory path); "
            "using /dev/shm\n"
            "hakmem: HAKMEM_SERVICE_INTERVAL_MS='5' is not valid (expected an integer from 10 to 3600000); "
            "using 1000\n");
  EXPECT_EQ(options().control, ControlMode::kOn);
  EXPECT_STREQ(options().control_dir, "/dev/shm");
  EXPECT_EQ(options().service_interval_ms.load(), 1000u);
}

}  // namespace
}  // namespace hakmem::config
