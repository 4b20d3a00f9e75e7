// The control block's file: created safely, locked while alive, refused
// where CONTROL.md says (planted symlink, another uid's file, a live
// holder, a non-tmpfs directory, a full tmpfs), stale files taken over.
// Drives control/block.h's open_block_file directly in scratch directories.
#include "control/block.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace hakmem::control {
namespace {

constexpr std::size_t kBytes = 64 * 1024;

// A scratch directory under `parent`, removed with its files.
class ScratchDir {
 public:
  explicit ScratchDir(const char* parent) {
    std::string t = std::string(parent) + "/hkm-block-test.XXXXXX";
    path_ = mkdtemp(t.data()) != nullptr ? t : "";
  }
  ~ScratchDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const char* c_str() const { return path_.c_str(); }
  std::string file_for(int pid) const { return path_ + "/hakmem." + std::to_string(geteuid()) + "." + std::to_string(pid); }

 private:
  std::string path_;
};

bool is_tmpfs(const char* dir) {
  struct statfs fs;
  return statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

TEST(BlockFile, CreatesPrivateLockedZeroedFile) {
  ScratchDir dir("/dev/shm");
  BlockFile f;
  ASSERT_EQ(open_block_file(dir.c_str(), 4242, false, kBytes, &f), OpenStatus::kOpened);
  struct stat st;
  ASSERT_EQ(stat(dir.file_for(4242).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kBytes);
  EXPECT_EQ(st.st_uid, geteuid());
  // Fully allocated at creation: no hole a later store could SIGBUS on.
  EXPECT_GE(static_cast<std::size_t>(st.st_blocks) * 512, kBytes);
  for (std::size_t i = 0; i < kBytes; i += 4096) ASSERT_EQ(static_cast<char*>(f.base)[i], 0);
  // The lock is held: another open file description cannot take it.
  const int other = open(dir.file_for(4242).c_str(), O_RDONLY);
  ASSERT_GE(other, 0);
  EXPECT_NE(flock(other, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_NE(fcntl(f.fd, F_GETFD) & FD_CLOEXEC, 0);
  close_block_file(&f, true);
  EXPECT_NE(access(dir.file_for(4242).c_str(), F_OK), 0);
  EXPECT_EQ(flock(other, LOCK_EX | LOCK_NB), 0);
  close(other);
}

TEST(BlockFile, GroupReadableIs0640EvenUnderAStrictUmask) {
  ScratchDir dir("/dev/shm");
  const mode_t old = umask(077);
  BlockFile f;
  ASSERT_EQ(open_block_file(dir.c_str(), 4243, true, kBytes, &f), OpenStatus::kOpened);
  umask(old);
  struct stat st;
  ASSERT_EQ(fstat(f.fd, &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  close_block_file(&f, true);
}

TEST(BlockFile, PlantedSymlinkIsRefusedAndItsTargetUntouched) {
  ScratchDir dir("/dev/shm");
  const std::string target = std::string(dir.c_str()) + "/target";
  const int t = open(target.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(t, 0);
  ASSERT_EQ(write(t, "keep", 4), 4);
  close(t);
  ASSERT_EQ(symlink(target.c_str(), dir.file_for(4244).c_str()), 0);
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4244, false, kBytes, &f), OpenStatus::kSquatted);
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);
  ASSERT_EQ(lstat(dir.file_for(4244).c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST(BlockFile, NonTmpfsDirectoryGetsNoBlock) {
  // The build tree's filesystem, or /tmp: a disk-backed directory.
  const char* parent = is_tmpfs("/tmp") ? "/var/tmp" : "/tmp";
  if (is_tmpfs(parent)) GTEST_SKIP() << "no disk-backed directory to test with (/tmp and /var/tmp are tmpfs)";
  ScratchDir dir(parent);
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4245, false, kBytes, &f), OpenStatus::kNotTmpfs);
  EXPECT_NE(access(dir.file_for(4245).c_str(), F_OK), 0);
}

TEST(BlockFile, StaleFileOfOurPidIsTakenOver) {
  ScratchDir dir("/dev/shm");
  // What a kill -9 or an exec leaves: our file, nobody holding its lock.
  const int stale = open(dir.file_for(4246).c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(stale, 0);
  ASSERT_EQ(ftruncate(stale, 4096), 0);
  close(stale);
  BlockFile f;
  ASSERT_EQ(open_block_file(dir.c_str(), 4246, false, kBytes, &f), OpenStatus::kOpened);
  EXPECT_TRUE(f.took_over_stale);
  struct stat st;
  ASSERT_EQ(fstat(f.fd, &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kBytes);
  close_block_file(&f, true);
}

TEST(BlockFile, LiveHolderKeepsItsName) {
  ScratchDir dir("/dev/shm");
  const int live = open(dir.file_for(4247).c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(live, 0);
  ASSERT_EQ(flock(live, LOCK_EX), 0);
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4247, false, kBytes, &f), OpenStatus::kSquatted);
  EXPECT_EQ(access(dir.file_for(4247).c_str(), F_OK), 0);
  close(live);
}

TEST(BlockFile, HardLinkedFileIsNotOurs) {
  ScratchDir dir("/dev/shm");
  const std::string other = std::string(dir.c_str()) + "/other";
  const int fd = open(other.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_EQ(link(other.c_str(), dir.file_for(4248).c_str()), 0);
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4248, false, kBytes, &f), OpenStatus::kSquatted);
  EXPECT_EQ(access(dir.file_for(4248).c_str(), F_OK), 0);
}

TEST(BlockFile, AnotherUidsFileIsNeverRemoved) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a file of another uid";
  ScratchDir dir("/dev/shm");
  const int fd = open(dir.file_for(4249).c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchown(fd, 65534, 65534), 0);
  close(fd);
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4249, false, kBytes, &f), OpenStatus::kSquatted);
  struct stat st;
  ASSERT_EQ(stat(dir.file_for(4249).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

TEST(BlockFile, FullTmpfsFailsAtCreationAndLeavesNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  ScratchDir dir("/tmp");
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "mount -t tmpfs refused (" << std::strerror(errno) << "): not allowed in this container";
  }
  BlockFile f;
  EXPECT_EQ(open_block_file(dir.c_str(), 4250, false, 1024 * 1024, &f), OpenStatus::kNoSpace);
  EXPECT_NE(access(dir.file_for(4250).c_str(), F_OK), 0);
  // A block that fits is made there.
  EXPECT_EQ(open_block_file(dir.c_str(), 4251, false, 16 * 1024, &f), OpenStatus::kOpened);
  close_block_file(&f, true);
  EXPECT_EQ(umount(dir.c_str()), 0);
}

TEST(BlockFile, MissingDirectoryFails) {
  BlockFile f;
  EXPECT_EQ(open_block_file("/dev/shm/hkm-no-such-dir/x", 4252, false, kBytes, &f), OpenStatus::kFailed);
}

}  // namespace
}  // namespace hakmem::control
