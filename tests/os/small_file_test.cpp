#include "os/small_file.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

namespace hakmem::os {
namespace {

TEST(SmallFile, ReadsAndEndsWithANul) {
  char buf[4096];
  std::memset(buf, 'x', sizeof(buf));
  const long n = read_small_file("/proc/self/status", buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(buf[n], '\0');
  EXPECT_EQ(std::strncmp(buf, "Name:", 5), 0);
}

TEST(SmallFile, ACutReadStillEndsWithANul) {
  char buf[6];
  EXPECT_EQ(read_small_file("/proc/self/status", buf, sizeof(buf)), 5);
  EXPECT_STREQ(buf, "Name:");
}

TEST(SmallFile, AMissingFileIsMinusOneAndErrnoIsKept) {
  char buf[16];
  errno = 1234;
  EXPECT_EQ(read_small_file("/nonexistent/file", buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, 1234);
  errno = 4321;
  EXPECT_GT(read_small_file("/proc/self/status", buf, sizeof(buf)), 0);
  EXPECT_EQ(errno, 4321);
}

}  // namespace
}  // namespace hakmem::os
