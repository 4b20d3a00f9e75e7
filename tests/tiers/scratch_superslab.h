// A SuperSlab of its own, for tests that build slabs by hand: an empty one,
// owned by no heap, released when the test ends.
#pragma once

#include <gtest/gtest.h>

#include "os/pages.h"
#include "tiers/superslab.h"

namespace hakmem::tiers {

class ScratchSuperSlabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Through map_aligned, which counts the mapping that release() in
    // TearDown uncounts: the process's mapped-bytes figure stays true for
    // the tests that run after these in the same process.
    region_ = os::map_aligned(kSuperSlabBytes, os::HugePagePolicy::kOff, nullptr, nullptr, 0).base;
    ASSERT_NE(region_, nullptr);
    ss_ = SuperSlab::format(region_, numa::NodeId{0}, os::Backing::kPlain);
  }
  void TearDown() override { os::release(region_, kSuperSlabBytes); }

  void* region_ = nullptr;
  SuperSlab* ss_ = nullptr;
  // Slabs carved here name this owner; no heap is behind it.
  ThreadHeap* const owner_ = reinterpret_cast<ThreadHeap*>(0x1000);
};

}  // namespace hakmem::tiers
