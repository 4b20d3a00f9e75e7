// Every C++ operator new and delete form, forwarding to hakmem::tiers.
//
// Layer: preload. operator new is the only place in hakmem that throws:
// when memory is exhausted it calls the installed new-handler and retries,
// and throws std::bad_alloc when there is none ([new.delete.single]). The
// nothrow forms run the same loop and return null instead of throwing. The
// sized and aligned delete forms ignore size and alignment: a block's
// metadata already knows both.
#include <new>

#include "base/attributes.h"
#include "tiers/allocator.h"

using namespace hakmem;

namespace {

// Out of line and cold: reached only when the allocator returned null.
HAKMEM_SLOW_PATH void* new_after_failure(std::size_t size, std::size_t alignment) {
  for (;;) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
    void* p = alignment == 0 ? tiers::allocate(size) : tiers::allocate_aligned(alignment, size);
    if (p != nullptr) return p;
  }
}

HAKMEM_SLOW_PATH void* new_nothrow_after_failure(std::size_t size, std::size_t alignment) noexcept {
  try {
    return new_after_failure(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

HAKMEM_FAST_PATH void* new_impl(std::size_t size) {
  void* p = tiers::allocate(size);
  return HAKMEM_LIKELY(p != nullptr) ? p : new_after_failure(size, 0);
}

HAKMEM_FAST_PATH void* new_aligned_impl(std::size_t size, std::align_val_t alignment) {
  const auto a = static_cast<std::size_t>(alignment);
  void* p = tiers::allocate_aligned(a, size);
  return HAKMEM_LIKELY(p != nullptr) ? p : new_after_failure(size, a);
}

HAKMEM_FAST_PATH void* new_nothrow_impl(std::size_t size) noexcept {
  void* p = tiers::allocate(size);
  return HAKMEM_LIKELY(p != nullptr) ? p : new_nothrow_after_failure(size, 0);
}

HAKMEM_FAST_PATH void* new_aligned_nothrow_impl(std::size_t size, std::align_val_t alignment) noexcept {
  const auto a = static_cast<std::size_t>(alignment);
  void* p = tiers::allocate_aligned(a, size);
  return HAKMEM_LIKELY(p != nullptr) ? p : new_nothrow_after_failure(size, a);
}

}  // namespace

HAKMEM_EXPORT void* operator new(std::size_t size) { return new_impl(size); }
HAKMEM_EXPORT void* operator new[](std::size_t size) { return new_impl(size); }
HAKMEM_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow_impl(size); }
HAKMEM_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow_impl(size); }
HAKMEM_EXPORT void* operator new(std::size_t size, std::align_val_t al) { return new_aligned_impl(size, al); }
HAKMEM_EXPORT void* operator new[](std::size_t size, std::align_val_t al) { return new_aligned_impl(size, al); }
HAKMEM_EXPORT void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow_impl(size, al);
}
HAKMEM_EXPORT void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow_impl(size, al);
}

HAKMEM_EXPORT void operator delete(void* p) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete(void* p, std::size_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p, std::size_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete(void* p, std::align_val_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { tiers::deallocate(p); }
HAKMEM_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { tiers::deallocate(p); }
