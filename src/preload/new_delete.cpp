// Every C++ operator new and delete form, forwarding to hakmem::tiers.
//
// Layer: preload. operator new is the only place in hakmem that throws:
// when memory is exhausted it calls the installed new-handler and retries,
// and throws std::bad_alloc when there is none ([new.delete.single]). The
// nothrow forms run the same loop and return null instead of throwing. The
// sized and aligned delete forms ignore size and alignment: a block's
// metadata already knows both.
//
// libhakmem.so does not depend on libstdc++: loading and relocating it would
// cost every preloaded process (C programs and shells included) about a
// millisecond at start-up. The few C++ runtime entry points used here are
// weak references instead. A program that calls operator new is C++ and has
// libstdc++ loaded already, so the dynamic loader binds them; in a C program
// they stay null and are never reached.
#include <cstdlib>
#include <new>

#include "base/attributes.h"
#include "tiers/allocator.h"

extern "C" {
std::new_handler hakmem_get_new_handler() noexcept __asm__("_ZSt15get_new_handlerv") __attribute__((weak));
[[noreturn]] void hakmem_throw_bad_alloc() __asm__("_ZSt17__throw_bad_allocv") __attribute__((weak));
void* __cxa_begin_catch(void*) noexcept __attribute__((weak));
void __cxa_end_catch() __attribute__((weak));
}
// The personality routine is referenced by the compiler itself (for the
// catch below), so it is made weak at the assembler level.
asm(".weak __gxx_personality_v0");

using namespace hakmem;

namespace {

std::new_handler current_new_handler() {
  return hakmem_get_new_handler != nullptr ? hakmem_get_new_handler() : nullptr;
}

[[noreturn]] void throw_bad_alloc() {
  if (hakmem_throw_bad_alloc != nullptr) hakmem_throw_bad_alloc();
  std::abort();  // unreachable: only C++ code calls operator new
}

// Out of line and cold: reached only when the allocator returned null.
HAKMEM_SLOW_PATH void* new_after_failure(std::size_t size, std::size_t alignment) {
  for (;;) {
    std::new_handler handler = current_new_handler();
    if (handler == nullptr) throw_bad_alloc();
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
