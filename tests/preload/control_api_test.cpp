// hkm_ctl_get, hkm_ctl_set and hkm_report_json: the in-process twin of
// hkmctl, by the same names.
#include <hakmem.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace {

TEST(ControlApi, RuntimeKnobIsReadAndSetByName) {
  uint64_t before = 0;
  ASSERT_EQ(hkm_ctl_get("purge_delay", &before), 0);
  EXPECT_EQ(hkm_ctl_set("purge_delay", 123), 0);
  uint64_t now = 0;
  ASSERT_EQ(hkm_ctl_get("purge_delay", &now), 0);
  EXPECT_EQ(now, 123u);
  EXPECT_EQ(hkm_ctl_set("purge_delay", before), 0);
}

TEST(ControlApi, RefusalsAreErrnoValues) {
  uint64_t v = 0;
  EXPECT_EQ(hkm_ctl_get("no_such_name", &v), ENOENT);
  EXPECT_EQ(hkm_ctl_set("no_such_name", 1), ENOENT);
  EXPECT_EQ(hkm_ctl_set("huge_pages", 1), EPERM);
  EXPECT_EQ(hkm_ctl_set("service_interval", 1), ERANGE);
  EXPECT_EQ(hkm_ctl_get(nullptr, &v), EINVAL);
  EXPECT_EQ(hkm_ctl_get("purge_delay", nullptr), EINVAL);
}

TEST(ControlApi, SummaryFieldsFollowTheProgramsAllocations) {
  uint64_t before = 0;
  ASSERT_EQ(hkm_ctl_get("bytes_in_use", &before), 0);
  void* p = std::malloc(64 << 20);
  std::memset(p, 1, 64 << 20);
  uint64_t during = 0;
  ASSERT_EQ(hkm_ctl_get("bytes_in_use", &during), 0);
  EXPECT_GE(during, before + (64u << 20));
  uint64_t rss = 0;
  ASSERT_EQ(hkm_ctl_get("rss_bytes", &rss), 0);
  EXPECT_GE(rss, 64u << 20);
  std::free(p);
}

TEST(ControlApi, ReportJsonIsCompleteOrCutLikeSnprintf) {
  char big[8192];
  const size_t n = hkm_report_json(big, sizeof(big));
  ASSERT_LT(n, sizeof(big));
  EXPECT_EQ(std::strlen(big), n);
  const std::string s(big);
  EXPECT_EQ(s.front(), '{');
  EXPECT_EQ(s.back(), '}');
  EXPECT_NE(s.find("\"summary\":{\"bytes_in_use\":"), std::string::npos) << s;
  EXPECT_NE(s.find("\"rss_bytes\":"), std::string::npos);
  EXPECT_NE(s.find("\"knobs\":{\"purge_delay\":"), std::string::npos);
  char small[16];
  EXPECT_GE(hkm_report_json(small, sizeof(small)), n - 64);  // figures may have moved a little
  EXPECT_EQ(std::strlen(small), sizeof(small) - 1);
  EXPECT_GT(hkm_report_json(nullptr, 0), 0u);
}

}  // namespace
