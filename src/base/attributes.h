// Compiler-attribute macros shared by every layer.
//
// Layer: base (the lowest). Included everywhere; never allocates.
//
// HAKMEM_FAST_PATH and HAKMEM_SLOW_PATH mark the two halves of every hot
// entry point, so that `grep -n HAKMEM_FAST_PATH` gives a reader the map of
// what runs on every malloc/free and what runs only on a refill or a miss.
#pragma once

#define HAKMEM_FAST_PATH inline __attribute__((always_inline))
#define HAKMEM_SLOW_PATH __attribute__((noinline, cold))
#define HAKMEM_NOINLINE __attribute__((noinline))
#define HAKMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAKMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

// Symbols that form the public ABI of libhakmem.so. Everything else is built
// with -fvisibility=hidden and is also kept local by the version script.
#define HAKMEM_EXPORT __attribute__((visibility("default")))

// Thread-local storage that must never go through __tls_get_addr: the
// allocator's own TLS is reached on every malloc and free. libhakmem.so is
// loaded at start-up (preload or DT_NEEDED), so the static TLS block has room.
#define HAKMEM_TLS __attribute__((tls_model("initial-exec"))) thread_local

// Clang's thread-safety analysis; no-ops under GCC.
#if defined(__clang__)
#define HAKMEM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HAKMEM_THREAD_ANNOTATION(x)
#endif
#define HAKMEM_CAPABILITY(x) HAKMEM_THREAD_ANNOTATION(capability(x))
#define HAKMEM_GUARDED_BY(x) HAKMEM_THREAD_ANNOTATION(guarded_by(x))
#define HAKMEM_PT_GUARDED_BY(x) HAKMEM_THREAD_ANNOTATION(pt_guarded_by(x))
#define HAKMEM_REQUIRES(...) HAKMEM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define HAKMEM_EXCLUDES(...) HAKMEM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define HAKMEM_ACQUIRE(...) HAKMEM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define HAKMEM_RELEASE(...) HAKMEM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define HAKMEM_TRY_ACQUIRE(...) HAKMEM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define HAKMEM_SCOPED_CAPABILITY HAKMEM_THREAD_ANNOTATION(scoped_lockable)
#define HAKMEM_NO_THREAD_SAFETY_ANALYSIS HAKMEM_THREAD_ANNOTATION(no_thread_safety_analysis)
