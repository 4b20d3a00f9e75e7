// Requests no allocator can satisfy: every C entry point returns null (or
// ENOMEM) with errno = ENOMEM and never crashes; operator new runs the
// new-handler loop and throws std::bad_alloc; the nothrow forms return null.
// And the other side of the contract: a successful call leaves errno alone.
#include <malloc.h>
#include <stdlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

const std::size_t kImpossibleSizes[] = {
    SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2, SIZE_MAX / 2 + 1, static_cast<std::size_t>(PTRDIFF_MAX),
    std::size_t{1} << 63, (std::size_t{1} << 62) + 1};

TEST(OutOfMemory, MallocOfImpossibleSizesReturnsNullWithEnomem) {
  for (std::size_t n : kImpossibleSizes) {
    errno = 0;
    EXPECT_EQ(malloc(opaque(n)), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
  }
}

TEST(OutOfMemory, AlignedEntryPointsOfImpossibleSizesFailWithEnomem) {
  for (std::size_t n : kImpossibleSizes) {
    for (std::size_t alignment : {std::size_t{16}, std::size_t{64}, std::size_t{4096}, 4 * kMiB}) {
      errno = 0;
      EXPECT_EQ(aligned_alloc(alignment, opaque(n)), nullptr) << "aligned_alloc " << alignment << ", " << n;
      EXPECT_EQ(errno, ENOMEM) << "aligned_alloc " << alignment << ", " << n;
      errno = 0;
      EXPECT_EQ(memalign(alignment, opaque(n)), nullptr) << "memalign " << alignment << ", " << n;
      EXPECT_EQ(errno, ENOMEM) << "memalign " << alignment << ", " << n;
      void* p = reinterpret_cast<void*>(std::uintptr_t{0x1234});
      EXPECT_EQ(posix_memalign(&p, alignment, opaque(n)), ENOMEM) << "posix_memalign " << alignment << ", " << n;
    }
    errno = 0;
    EXPECT_EQ(valloc(opaque(n)), nullptr) << "valloc " << n;
    EXPECT_EQ(errno, ENOMEM) << "valloc " << n;
    errno = 0;
    EXPECT_EQ(pvalloc(opaque(n)), nullptr) << "pvalloc " << n;
    EXPECT_EQ(errno, ENOMEM) << "pvalloc " << n;
  }
}

TEST(OutOfMemory, ImpossibleAlignmentFailsWithEnomem) {
  errno = 0;
  EXPECT_EQ(aligned_alloc(opaque(std::size_t{1} << 62), 16), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* p = nullptr;
  EXPECT_EQ(posix_memalign(&p, opaque(std::size_t{1} << 63), 16), ENOMEM);
}

// A failed realloc leaves the original block valid and unchanged, for a
// block of every tier.
TEST(OutOfMemory, ReallocToAnImpossibleSizeFailsAndKeepsTheBlock) {
  for (std::size_t size : {std::size_t{8}, std::size_t{100}, std::size_t{5000}, std::size_t{100} * kKiB, 3 * kMiB}) {
    void* p = malloc(size);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, size, 11);
    for (std::size_t n : kImpossibleSizes) {
      errno = 0;
      EXPECT_EQ(realloc(p, opaque(n)), nullptr) << size << " -> " << n;
      EXPECT_EQ(errno, ENOMEM) << size << " -> " << n;
      ASSERT_EQ(first_pattern_mismatch(p, size, 11), size) << size << " -> " << n;
    }
    EXPECT_GE(malloc_usable_size(p), size);
    free(p);
  }
}

TEST(OutOfMemory, NewOfImpossibleSizeThrowsBadAlloc) {
  for (std::size_t n : kImpossibleSizes) {
    EXPECT_THROW(::operator delete(::operator new(opaque(n))), std::bad_alloc) << n;
    EXPECT_THROW(::operator delete[](::operator new[](opaque(n))), std::bad_alloc) << n;
    EXPECT_THROW(::operator delete(::operator new(opaque(n), std::align_val_t{64}), std::align_val_t{64}),
                 std::bad_alloc)
        << n;
    EXPECT_THROW(
        {
          char* a = new char[opaque(n)];
          escape(a);
          delete[] a;
        },
        std::bad_alloc)
        << n;
  }
}

TEST(OutOfMemory, NothrowNewOfImpossibleSizeReturnsNull) {
  for (std::size_t n : kImpossibleSizes) {
    EXPECT_EQ(::operator new(opaque(n), std::nothrow), nullptr) << n;
    EXPECT_EQ(::operator new[](opaque(n), std::nothrow), nullptr) << n;
    EXPECT_EQ(::operator new(opaque(n), std::align_val_t{256}, std::nothrow), nullptr) << n;
    EXPECT_EQ(::operator new[](opaque(n), std::align_val_t{8192}, std::nothrow), nullptr) << n;
    char* a = new (std::nothrow) char[opaque(n)];
    escape(a);
    EXPECT_EQ(a, nullptr) << n;
    delete[] a;
  }
}

// The new-handler: operator new calls it after each failure and retries;
// this one gives up (uninstalls itself) on its third call, after which
// operator new throws std::bad_alloc.
int g_handler_calls = 0;
void counting_new_handler() {
  if (++g_handler_calls == 3) std::set_new_handler(nullptr);
}

class NewHandler : public ::testing::Test {
 protected:
  void SetUp() override { g_handler_calls = 0; }
  void TearDown() override { std::set_new_handler(nullptr); }
};

TEST_F(NewHandler, IsCalledUntilItUninstallsItselfThenNewThrows) {
  std::set_new_handler(counting_new_handler);
  EXPECT_THROW(::operator delete(::operator new(opaque(SIZE_MAX / 2))), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);
  EXPECT_EQ(std::get_new_handler(), nullptr);
}

TEST_F(NewHandler, IsCalledByArrayAndAlignedNew) {
  std::set_new_handler(counting_new_handler);
  EXPECT_THROW(::operator delete[](::operator new[](opaque(SIZE_MAX))), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);
  g_handler_calls = 0;
  std::set_new_handler(counting_new_handler);
  EXPECT_THROW(::operator delete(::operator new(opaque(SIZE_MAX), std::align_val_t{4096}), std::align_val_t{4096}),
               std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);
}

TEST_F(NewHandler, IsCalledByNothrowNewWhichThenReturnsNull) {
  std::set_new_handler(counting_new_handler);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX), std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 3);
  g_handler_calls = 0;
  std::set_new_handler(counting_new_handler);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX), std::align_val_t{64}, std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 3);
}

// A handler that throws: the exception leaves operator new as it is.
struct HandlerGaveUp {};
TEST_F(NewHandler, ExceptionFromTheHandlerPropagatesOutOfNew) {
  std::set_new_handler([] {
    ++g_handler_calls;
    throw HandlerGaveUp();
  });
  EXPECT_THROW(::operator delete(::operator new(opaque(SIZE_MAX))), HandlerGaveUp);
  EXPECT_EQ(g_handler_calls, 1);
}

TEST_F(NewHandler, IsNotCalledWhenAllocationSucceeds) {
  std::set_new_handler(counting_new_handler);
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, 3 * kMiB}) {
    ::operator delete(::operator new(opaque(n)));
    ::operator delete(::operator new(opaque(n), std::align_val_t{128}), std::align_val_t{128});
  }
  EXPECT_EQ(g_handler_calls, 0);
}

// C and POSIX allow malloc to change errno only on failure.
TEST(Errno, IsPreservedBySuccessfulCallsOfEveryEntryPoint) {
  constexpr int kMarker = 12345;
  for (std::size_t n : {std::size_t{0}, std::size_t{8}, std::size_t{100}, std::size_t{5000}, std::size_t{100} * kKiB,
                        3 * kMiB, 20 * kMiB}) {
    errno = kMarker;
    void* m = malloc(n);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(errno, kMarker) << "malloc(" << n << ")";
    void* c = calloc(1, n);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(errno, kMarker) << "calloc(1, " << n << ")";
    void* r = realloc(m, 2 * n + 1);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(errno, kMarker) << "realloc grow " << n;
    r = realloc(r, n / 3 + 1);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(errno, kMarker) << "realloc shrink " << n;
    void* a = aligned_alloc(4096, n);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(errno, kMarker) << "aligned_alloc(4096, " << n << ")";
    void* pm = nullptr;
    ASSERT_EQ(posix_memalign(&pm, 8 * kMiB, n), 0);
    EXPECT_EQ(errno, kMarker) << "posix_memalign(8 MiB, " << n << ")";
    void* o = ::operator new(n);
    EXPECT_EQ(errno, kMarker) << "operator new(" << n << ")";
    ::operator delete(o, n);
    free(pm);
    free(a);
    free(r);
    free(c);
    EXPECT_EQ(errno, kMarker) << "free, size " << n;
  }
  // trim and the statistics calls succeed without touching errno too.
  errno = kMarker;
  hkm_trim();
  malloc_trim(0);
  const hkm_stats s = stats_now();
  EXPECT_GT(s.allocations, 0u);
  EXPECT_EQ(errno, kMarker);
}

// The first allocation of a new thread attaches a heap, maps memory and
// registers the thread-exit hook: errno must survive that as well.
TEST(Errno, IsPreservedByTheFirstAllocationOfANewThread) {
  struct Result {
    int after_malloc = 0;
    int after_free = 0;
  } result;
  ASSERT_TRUE(run_on_new_thread(
      [](void* arg) -> void* {
        auto* r = static_cast<Result*>(arg);
        errno = 12345;
        void* p = malloc(100);
        r->after_malloc = p != nullptr ? errno : -1;
        free(p);
        r->after_free = errno;
        return nullptr;
      },
      &result));
  EXPECT_EQ(result.after_malloc, 12345);
  EXPECT_EQ(result.after_free, 12345);
}

}  // namespace
}  // namespace hakmem::preload_test
