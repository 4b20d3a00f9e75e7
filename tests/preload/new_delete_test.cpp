// Every C++ allocation form: new/delete, new[]/delete[], nothrow, sized
// delete, aligned new/delete for alignas types from 16 B to 4 KiB, each over
// many sizes, with objects written by their constructors and verified before
// their destructors run.
#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

constexpr std::size_t kArrayCounts[] = {1, 2, 3, 7, 16, 100, 1000, 5000};

// An object of N bytes that fills itself from its address-independent id
// and checks itself on destruction; `live` counts constructed objects.
template <std::size_t Alignment, std::size_t Bytes>
struct alignas(Alignment) Tracked {
  static inline long live = 0;
  static inline long corrupt = 0;
  unsigned id;
  unsigned char payload[Bytes];

  explicit Tracked(unsigned i = 0) : id(i) {
    fill_pattern(payload, Bytes, id);
    ++live;
  }
  ~Tracked() {
    if (!intact()) ++corrupt;
    --live;
  }
  bool intact() const { return first_pattern_mismatch(payload, Bytes, id) == Bytes; }
};

template <typename T>
void check_single_forms() {
  T::live = 0;
  T::corrupt = 0;
  std::vector<T*> objects;
  for (unsigned i = 0; i < 64; ++i) {
    T* o = (i % 2 == 0) ? new T(i) : new (std::nothrow) T(i);
    ASSERT_NE(o, nullptr);
    EXPECT_TRUE(is_aligned(o, alignof(T))) << o << " alignof " << alignof(T);
    EXPECT_GE(malloc_usable_size(o), sizeof(T));
    objects.push_back(o);
  }
  EXPECT_EQ(T::live, 64);
  for (T* o : objects) {
    EXPECT_TRUE(o->intact());
    delete o;
  }
  EXPECT_EQ(T::live, 0);
  EXPECT_EQ(T::corrupt, 0);
}

template <typename T>
void check_array_forms() {
  T::live = 0;
  T::corrupt = 0;
  for (std::size_t count : kArrayCounts) {
    T* a = new T[count];
    T* b = new (std::nothrow) T[count];
    ASSERT_NE(b, nullptr);
    for (T* arr : {a, b}) {
      EXPECT_TRUE(is_aligned(arr, alignof(T))) << arr << " alignof " << alignof(T) << " count " << count;
      for (std::size_t i = 0; i < count; ++i) {
        arr[i].~T();
        new (&arr[i]) T(static_cast<unsigned>(i));
      }
    }
    EXPECT_EQ(T::live, static_cast<long>(2 * count));
    for (T* arr : {a, b}) {
      for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(arr[i].intact()) << "element " << i << " of " << count;
    }
    delete[] a;
    delete[] b;
    EXPECT_EQ(T::live, 0);
  }
  EXPECT_EQ(T::corrupt, 0);
}

template <std::size_t Alignment>
void check_alignment() {
  check_single_forms<Tracked<Alignment, 1>>();
  check_single_forms<Tracked<Alignment, Alignment * 3 + 5>>();
  check_array_forms<Tracked<Alignment, 1>>();
  check_array_forms<Tracked<Alignment, Alignment + 1>>();
}

TEST(NewDelete, SingleAndArrayFormsOfPlainTypes) {
  check_single_forms<Tracked<alignof(std::max_align_t), 1>>();
  check_single_forms<Tracked<alignof(std::max_align_t), 100>>();
  check_single_forms<Tracked<alignof(std::max_align_t), 5000>>();
  check_single_forms<Tracked<alignof(std::max_align_t), 300000>>();
  check_array_forms<Tracked<8, 4>>();
  check_array_forms<Tracked<alignof(std::max_align_t), 24>>();
  check_array_forms<Tracked<alignof(std::max_align_t), 1000>>();
}

TEST(NewDelete, AlignedFormsForEveryAlignmentFrom16BTo4KiB) {
  check_alignment<16>();
  check_alignment<32>();
  check_alignment<64>();
  check_alignment<128>();
  check_alignment<256>();
  check_alignment<512>();
  check_alignment<1024>();
  check_alignment<2048>();
  check_alignment<4096>();
}

// The operator functions called directly, each allocation form paired with
// each delete form that may free it, over sizes of every tier.
TEST(NewDelete, EveryOperatorPairOnSizesOfEveryTier) {
  const std::size_t sizes[] = {0, 1, 8, 17, 128, 1000, 1025, 5000, 32 * kKiB + 1, 300 * kKiB, kMiB + 1, 5 * kMiB};
  unsigned seed = 0;
  auto use = [&seed](void* p, std::size_t n) {
    ASSERT_NE(p, nullptr);
    EXPECT_GE(malloc_usable_size(p), n);
    fill_pattern(p, n, ++seed);
    EXPECT_EQ(first_pattern_mismatch(p, n, seed), n);
  };
  for (std::size_t n : sizes) {
    void* p;
    p = ::operator new(n); use(p, n); ::operator delete(p);
    p = ::operator new(n); use(p, n); ::operator delete(p, n);
    p = ::operator new(n, std::nothrow); use(p, n); ::operator delete(p, std::nothrow);
    p = ::operator new(n, std::nothrow); use(p, n); ::operator delete(p, n);
    p = ::operator new[](n); use(p, n); ::operator delete[](p);
    p = ::operator new[](n); use(p, n); ::operator delete[](p, n);
    p = ::operator new[](n, std::nothrow); use(p, n); ::operator delete[](p, std::nothrow);
    for (std::size_t a : {std::size_t{16}, std::size_t{64}, std::size_t{4096}, std::size_t{64} * kKiB}) {
      const auto al = static_cast<std::align_val_t>(a);
      p = ::operator new(n, al); use(p, n); EXPECT_TRUE(is_aligned(p, a)); ::operator delete(p, al);
      p = ::operator new(n, al); use(p, n); EXPECT_TRUE(is_aligned(p, a)); ::operator delete(p, n, al);
      p = ::operator new(n, al, std::nothrow); use(p, n); ::operator delete(p, al, std::nothrow);
      p = ::operator new[](n, al); use(p, n); EXPECT_TRUE(is_aligned(p, a)); ::operator delete[](p, al);
      p = ::operator new[](n, al); use(p, n); ::operator delete[](p, n, al);
      p = ::operator new[](n, al, std::nothrow); use(p, n); ::operator delete[](p, al, std::nothrow);
    }
  }
}

// new of size 0 returns a distinct, deletable pointer each time
// ([basic.stc.dynamic.allocation]).
TEST(NewDelete, ZeroSizeNewReturnsDistinctPointers) {
  void* a = ::operator new(0);
  void* b = ::operator new(0);
  void* c = ::operator new[](0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
  ::operator delete(a);
  ::operator delete(b, std::size_t{0});
  ::operator delete[](c);
}

// The standard library's containers and smart pointers, which reach every
// operator through std::allocator and make_shared's over-aligned control
// blocks, run on it.
TEST(NewDelete, StandardContainersAndSmartPointersWork) {
  std::vector<std::string> strings;
  for (int i = 0; i < 2000; ++i) strings.push_back(std::string(static_cast<std::size_t>(i % 300), 'a' + i % 26));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(strings[i].size(), static_cast<std::size_t>(i % 300));
    ASSERT_EQ(strings[i].find_first_not_of(static_cast<char>('a' + i % 26)), std::string::npos);
  }
  auto big = std::make_unique<unsigned char[]>(6 * kMiB);
  EXPECT_EQ(first_byte_not(big.get(), 6 * kMiB, 0), 6 * kMiB);
  auto shared = std::make_shared<Tracked<64, 100>>(77);
  EXPECT_TRUE(is_aligned(shared.get(), 64));
  EXPECT_TRUE(shared->intact());
}

}  // namespace
}  // namespace hakmem::preload_test
