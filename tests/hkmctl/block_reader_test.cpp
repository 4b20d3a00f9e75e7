// The block parser on valid images and on hand-made hostile ones: each
// must come back as figures or as a BlockError naming the problem.
#include "block_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include <gtest/gtest.h>

#include "block_image.h"

namespace hakmem::hkmctl {
namespace {

using testing::ImageSpec;
using testing::make_image;

template <typename T>
void poke(std::vector<unsigned char>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

BlockProblem problem_of(const std::vector<unsigned char>& b) {
  try {
    parse_block(b.data(), b.size());
  } catch (const BlockError& e) {
    return e.problem();
  }
  ADD_FAILURE() << "parsed a block that should have been refused";
  return BlockProblem::kUnreadable;
}

std::size_t entry_at(std::size_t i) { return layout::kHeaderBytes + i * sizeof(layout::SectionEntry); }

TEST(BlockReader, ValidImageParsesWithEveryFigure) {
  ImageSpec spec;
  spec.pid = 4242;
  spec.nodes = 3;
  auto img = make_image(spec);
  Block b = parse_block(img.bytes.data(), img.bytes.size());
  EXPECT_EQ(b.header.pid, 4242);
  EXPECT_EQ(b.summary.bytes_in_use, testing::kInUse);
  EXPECT_EQ(b.nodes.size(), 3u);
  EXPECT_EQ(b.tiers.size(), 4u);
  EXPECT_EQ(b.classes.size(), 4u);
  EXPECT_EQ(b.threads.size(), 3u);
  ASSERT_NE(b.knob("purge_delay"), nullptr);
  EXPECT_EQ(b.knob("purge_delay")->value, 1000u);
  EXPECT_TRUE(b.has_mailbox);
  EXPECT_EQ(b.mailbox_offset, img.mailbox_offset);
  for (const auto& f : b.schema) {
    if (std::strcmp(f.name, "bytes_in_use") == 0 && f.section == layout::kSummary) {
      EXPECT_EQ(b.field(f, 0), testing::kInUse);
    }
  }
}

TEST(BlockReader, ShortElementsReadAsZeroedTails) {
  // An older writer with fewer fields per element: what is missing reads 0.
  auto img = make_image({});
  std::size_t nodes = entry_at(2);
  poke<std::uint32_t>(img.bytes, nodes + offsetof(layout::SectionEntry, element_size), 24);
  poke<std::uint32_t>(img.bytes, nodes + offsetof(layout::SectionEntry, element_count), 1);
  Block b = parse_block(img.bytes.data(), img.bytes.size());
  ASSERT_EQ(b.nodes.size(), 1u);
  EXPECT_EQ(b.nodes[0].bytes_in_use, testing::kInUse / 2);
  EXPECT_EQ(b.nodes[0].bytes_cached, 0u);
}

TEST(BlockReader, TruncatedBlocksAreReportedAsSuch) {
  auto img = make_image({});
  for (std::size_t size : {std::size_t{0}, std::size_t{7}, layout::kHeaderBytes - 1, layout::kHeaderBytes,
                           img.bytes.size() - 1}) {
    std::vector<unsigned char> cut(img.bytes.begin(), img.bytes.begin() + static_cast<long>(size));
    EXPECT_EQ(problem_of(cut), BlockProblem::kTruncated) << size;
  }
}

TEST(BlockReader, WrongMagicAndAbiAreRefused) {
  auto img = make_image({});
  auto bad = img.bytes;
  bad[0] = 'X';
  EXPECT_EQ(problem_of(bad), BlockProblem::kBadMagic);
  bad = img.bytes;
  poke<std::uint16_t>(bad, offsetof(layout::Header, abi_major), layout::kAbiMajor + 1);
  EXPECT_EQ(problem_of(bad), BlockProblem::kIncompatible);
  try {
    parse_block(bad.data(), bad.size());
  } catch (const BlockError& e) {
    EXPECT_EQ(e.code(), kExitIncompatible);
  }
}

TEST(BlockReader, HugeCountsAndOffsetsAreRefused) {
  auto img = make_image({});
  struct Case { std::size_t at; std::uint64_t value; int bytes; };
  const Case cases[] = {
      {offsetof(layout::Header, section_count), 0xffffffff, 4},
      {offsetof(layout::Header, directory_offset), 0xfffffff8, 4},
      {offsetof(layout::Header, header_bytes), 8, 4},
      {offsetof(layout::Header, total_bytes), ~0ull, 8},
      {offsetof(layout::Header, node_count), 0x7fffffff, 4},
      {entry_at(2) + offsetof(layout::SectionEntry, element_count), 0xffffffff, 4},
      {entry_at(2) + offsetof(layout::SectionEntry, capacity), 0xffffffff, 4},
      {entry_at(2) + offsetof(layout::SectionEntry, offset), ~0ull - 7, 8},
      {entry_at(2) + offsetof(layout::SectionEntry, element_size), 0, 4},
      {entry_at(5) + offsetof(layout::SectionEntry, element_size), 0xffffffff, 4},
      {entry_at(1) + offsetof(layout::SectionEntry, id), layout::kNodes, 4},  // listed twice
  };
  for (const Case& c : cases) {
    auto bad = img.bytes;
    if (c.bytes == 4) poke<std::uint32_t>(bad, c.at, static_cast<std::uint32_t>(c.value));
    else poke<std::uint64_t>(bad, c.at, c.value);
    BlockProblem p = problem_of(bad);
    EXPECT_TRUE(p == BlockProblem::kCorrupt || p == BlockProblem::kTruncated) << "offset " << c.at;
  }
}

TEST(BlockReader, StringsWithoutNulAreRefused) {
  auto img = make_image({});
  auto bad = img.bytes;
  std::memset(bad.data() + offsetof(layout::Header, command), 'A', layout::kCommandBytes);
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
  bad = img.bytes;
  std::memset(bad.data() + img.knobs_offset + offsetof(layout::Knob, variable), 'B', layout::kNameBytes);
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
  bad = img.bytes;
  Block good = parse_block(img.bytes.data(), img.bytes.size());
  std::memset(bad.data() + good.section(layout::kFieldSchema)->offset, 'C', layout::kNameBytes);
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
}

TEST(BlockReader, SchemaFieldsOutsideTheirElementAreRefused) {
  auto img = make_image({});
  Block good = parse_block(img.bytes.data(), img.bytes.size());
  std::size_t schema = good.section(layout::kFieldSchema)->offset;
  auto bad = img.bytes;
  poke<std::uint32_t>(bad, schema + offsetof(layout::FieldDesc, offset), sizeof(layout::Summary));
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
  bad = img.bytes;
  poke<std::uint32_t>(bad, schema + offsetof(layout::FieldDesc, size), 3);
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
  bad = img.bytes;
  poke<std::uint16_t>(bad, schema + offsetof(layout::FieldDesc, section), 99);
  EXPECT_EQ(problem_of(bad), BlockProblem::kCorrupt);
}

class FileBlock : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/hkmctl_block_XXXXXX";
    fd_ = mkstemp(path);
    ASSERT_GE(fd_, 0);
    unlink(path);
  }
  void TearDown() override { close(fd_); }
  void write_image(const std::vector<unsigned char>& b) {
    ASSERT_EQ(ftruncate(fd_, 0), 0);
    ASSERT_EQ(pwrite(fd_, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  }
  int fd_ = -1;
};

TEST_F(FileBlock, ReadsAnEvenSeqlock) {
  write_image(make_image({}).bytes);
  EXPECT_EQ(read_block(fd_).summary.bytes_in_use, testing::kInUse);
}

TEST_F(FileBlock, OddSeqlockForeverIsTornWithinBoundedTime) {
  auto img = make_image({});
  poke<std::uint64_t>(img.bytes, offsetof(layout::Header, publish_seq), 7);
  write_image(img.bytes);
  auto start = std::chrono::steady_clock::now();
  try {
    read_block(fd_);
    FAIL() << "an odd seqlock was read as consistent";
  } catch (const BlockError& e) {
    EXPECT_EQ(e.problem(), BlockProblem::kTorn);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(FileBlock, EmptyFileIsTruncated) {
  try {
    read_block(fd_);
    FAIL();
  } catch (const BlockError& e) {
    EXPECT_EQ(e.problem(), BlockProblem::kTruncated);
  }
}

}  // namespace
}  // namespace hakmem::hkmctl
