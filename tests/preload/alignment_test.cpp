// Aligned allocation through every entry point that takes an alignment:
// posix_memalign, aligned_alloc, memalign, valloc, pvalloc and the aligned
// operator new forms, for every power of two from 8 B to 2 MiB and sizes
// around each alignment; and the argument checks each of them makes.
#include <malloc.h>
#include <stdlib.h>

#include <cerrno>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "preload_test_util.h"

namespace hakmem::preload_test {
namespace {

constexpr unsigned kMinAlignShift = 3;   // 8 B
constexpr unsigned kMaxAlignShift = 21;  // 2 MiB

std::vector<std::size_t> sizes_around(std::size_t alignment) {
  return {1, alignment - 1, alignment, alignment + 1, 3 * alignment};
}

// Every byte of the block is writable and keeps what was written; the usable
// size covers the request.
void check_block(void* p, std::size_t alignment, std::size_t size, const char* how) {
  ASSERT_NE(p, nullptr) << how << " alignment " << alignment << " size " << size;
  EXPECT_TRUE(is_aligned(p, alignment)) << how << " returned " << p << " for alignment " << alignment
                                        << " size " << size;
  EXPECT_GE(malloc_usable_size(p), size) << how << " alignment " << alignment;
  const auto seed = static_cast<unsigned>(alignment + size);
  fill_pattern(p, size, seed);
  EXPECT_EQ(first_pattern_mismatch(p, size, seed), size) << how << " alignment " << alignment << " size " << size;
}

TEST(Alignment, PosixMemalignAlignsEveryPowerOfTwoFrom8BTo2MiB) {
  for (unsigned shift = kMinAlignShift; shift <= kMaxAlignShift; ++shift) {
    const std::size_t alignment = std::size_t{1} << shift;
    for (std::size_t size : sizes_around(alignment)) {
      void* p = nullptr;
      ASSERT_EQ(posix_memalign(&p, alignment, size), 0) << "alignment " << alignment << " size " << size;
      check_block(p, alignment, size, "posix_memalign");
      free(p);
    }
  }
}

TEST(Alignment, AlignedAllocAlignsEveryPowerOfTwoFrom8BTo2MiB) {
  for (unsigned shift = kMinAlignShift; shift <= kMaxAlignShift; ++shift) {
    const std::size_t alignment = std::size_t{1} << shift;
    for (std::size_t size : sizes_around(alignment)) {
      void* p = aligned_alloc(alignment, size);
      check_block(p, alignment, size, "aligned_alloc");
      free(p);
    }
  }
}

TEST(Alignment, MemalignAlignsEveryPowerOfTwoFrom8BTo2MiB) {
  for (unsigned shift = kMinAlignShift; shift <= kMaxAlignShift; ++shift) {
    const std::size_t alignment = std::size_t{1} << shift;
    for (std::size_t size : sizes_around(alignment)) {
      void* p = memalign(alignment, size);
      check_block(p, alignment, size, "memalign");
      free(p);
    }
  }
}

TEST(Alignment, AlignedOperatorNewAlignsEveryPowerOfTwoFrom8BTo2MiB) {
  for (unsigned shift = kMinAlignShift; shift <= kMaxAlignShift; ++shift) {
    const std::size_t alignment = std::size_t{1} << shift;
    const auto al = static_cast<std::align_val_t>(alignment);
    int form = 0;
    for (std::size_t size : sizes_around(alignment)) {
      void* p = ::operator new(size, al);
      check_block(p, alignment, size, "operator new(size, align_val_t)");
      // Every delete form that takes an alignment, in turn.
      switch (form++ % 3) {
        case 0: ::operator delete(p, al); break;
        case 1: ::operator delete(p, size, al); break;
        default: ::operator delete(p, al, std::nothrow); break;
      }
      void* a = ::operator new[](size, al);
      check_block(a, alignment, size, "operator new[](size, align_val_t)");
      if (form % 2 == 0) ::operator delete[](a, size, al);
      else ::operator delete[](a, al);
      void* q = ::operator new(size, al, std::nothrow);
      check_block(q, alignment, size, "operator new(size, align_val_t, nothrow)");
      ::operator delete(q, al);
      void* r = ::operator new[](size, al, std::nothrow);
      check_block(r, alignment, size, "operator new[](size, align_val_t, nothrow)");
      ::operator delete[](r, al, std::nothrow);
    }
  }
}

template <std::size_t Alignment>
struct alignas(Alignment) OverAligned {
  unsigned char bytes[Alignment];
};

// new T[n] of a type whose alignment is `Alignment`: the compiler chooses
// the aligned operator new[] and, for delete[], the sized aligned form.
template <std::size_t Alignment>
void check_new_array_of_aligned_type() {
  using T = OverAligned<Alignment>;
  static_assert(alignof(T) == Alignment);
  for (std::size_t count : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
    T* a = new T[count];
    check_block(a, Alignment, count * sizeof(T), "new T[]");
    delete[] a;
  }
  T* one = new T;
  check_block(one, Alignment, sizeof(T), "new T");
  delete one;
}

template <std::size_t... Shifts>
void check_new_arrays(std::index_sequence<Shifts...>) {
  (check_new_array_of_aligned_type<std::size_t{1} << (Shifts + kMinAlignShift)>(), ...);
}

TEST(Alignment, NewOfAlignasTypeAlignsEveryPowerOfTwoFrom8BTo2MiB) {
  check_new_arrays(std::make_index_sequence<kMaxAlignShift - kMinAlignShift + 1>());
}

TEST(Alignment, VallocAndPvallocReturnPageAlignedBlocks) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                           std::size_t{4097}, 100 * kKiB, 3 * kMiB}) {
    void* v = valloc(size);
    check_block(v, 4096, size, "valloc");
    free(v);
    void* p = pvalloc(size);
    check_block(p, 4096, size, "pvalloc");
    // pvalloc rounds the size up to whole pages (one page for 0).
    const std::size_t pages = size == 0 ? 4096 : (size + 4095) / 4096 * 4096;
    EXPECT_GE(malloc_usable_size(p), pages) << "pvalloc(" << size << ")";
    fill_pattern(p, pages, 7);
    EXPECT_EQ(first_pattern_mismatch(p, pages, 7), pages);
    free(p);
  }
}

TEST(Alignment, PosixMemalignRejectsBadAlignmentWithEinval) {
  // Zero, not a power of two, or a power of two below sizeof(void*).
  for (std::size_t alignment : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3},
                                std::size_t{4}, std::size_t{24}, std::size_t{48}, std::size_t{4097}}) {
    void* p = reinterpret_cast<void*>(std::uintptr_t{0x1234});
    errno = 0;
    EXPECT_EQ(posix_memalign(&p, opaque(alignment), 64), EINVAL) << "alignment " << alignment;
    // posix_memalign reports through its result; errno is not its channel.
    EXPECT_EQ(errno, 0) << "alignment " << alignment;
  }
}

TEST(Alignment, AlignedAllocRejectsNonPowerOfTwoWithEinvalAndNull) {
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{24}, std::size_t{48},
                                std::size_t{100}, std::size_t{4097}, (std::size_t{1} << 20) + 8}) {
    errno = 0;
    void* p = aligned_alloc(opaque(alignment), 64);
    EXPECT_EQ(p, nullptr) << "alignment " << alignment;
    EXPECT_EQ(errno, EINVAL) << "alignment " << alignment;
    free(p);
  }
}

TEST(Alignment, MemalignRoundsNonPowerOfTwoUpToTheNextPowerOfTwo) {
  struct Case {
    std::size_t alignment;
    std::size_t rounded;
  };
  for (Case c : {Case{3, 4}, Case{5, 8}, Case{24, 32}, Case{48, 64}, Case{96, 128}, Case{100, 128},
                 Case{3000, 4096}, Case{5000, 8192}, Case{3 * kMiB / 2, 2 * kMiB},
                 Case{3 * kMiB, 4 * kMiB}}) {
    for (std::size_t size : {std::size_t{1}, c.alignment, 3 * c.alignment}) {
      void* p = memalign(opaque(c.alignment), size);
      check_block(p, c.rounded, size, "memalign (non-power-of-two alignment)");
      free(p);
    }
  }
}

TEST(Alignment, MemalignOfAlignmentZeroOrOneIsMalloc) {
  for (std::size_t alignment : {std::size_t{0}, std::size_t{1}}) {
    void* p = memalign(opaque(alignment), 100);
    check_block(p, 8, 100, "memalign (alignment 0 or 1)");
    free(p);
  }
}

TEST(Alignment, MemalignOfAnAlignmentTooLargeToRoundFailsWithEinval) {
  errno = 0;
  void* p = memalign(opaque((SIZE_MAX >> 1) + 2), 16);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(errno, EINVAL);
}

// Many live aligned blocks at once: alignment must hold for blocks carved
// from the middle of a slab, not only its first one.
TEST(Alignment, ManyLiveAlignedBlocksAreAllAlignedAndDisjoint) {
  for (std::size_t alignment : {std::size_t{32}, std::size_t{64}, std::size_t{256}, std::size_t{4096}}) {
    std::vector<void*> blocks;
    for (unsigned i = 0; i < 300; ++i) {
      const std::size_t size = 1 + (i * 37) % (2 * alignment);
      void* p = aligned_alloc(alignment, size);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(is_aligned(p, alignment)) << p << " alignment " << alignment;
      fill_pattern(p, size, i);
      blocks.push_back(p);
    }
    for (unsigned i = 0; i < blocks.size(); ++i) {
      const std::size_t size = 1 + (i * 37) % (2 * alignment);
      EXPECT_EQ(first_pattern_mismatch(blocks[i], size, i), size) << "block " << i << " alignment " << alignment;
      free(blocks[i]);
    }
  }
}

}  // namespace
}  // namespace hakmem::preload_test
