#include "base/futex_lock.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hakmem {
namespace {

TEST(FutexLock, MutualExclusionUnderContention) {
  FutexLock lock{LockRank::kNodePool};
  long counter = 0;  // guarded by lock; a lost update would show in the total
  constexpr int kThreads = 6;
  constexpr int kIterations = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        LockGuard guard(lock);
        counter = counter + 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, long{kThreads} * kIterations);
}

TEST(FutexLock, ResetAfterForkUnlocks) {
  FutexLock lock{LockRank::kHugeCache};
  lock.lock();
  lock.reset_after_fork();
  // A lock reset while "held" (its holder gone) can be taken again.
  lock.lock();
  lock.unlock();
  SUCCEED();
}

}  // namespace
}  // namespace hakmem
