// Assertions and checks in three grades, and the fatal exit.
//
// Layer: base. Any thread. Never allocates.
//
//   HAKMEM_ASSERT(x)           debug builds; in release `x` still compiles but
//                              is not evaluated.
//   HAKMEM_ASSERT_EXPENSIVE(x) debug builds with expensive checks (invariant walks).
//   HAKMEM_CHECK(x, ...)       checked builds: cheap user-misuse checks (invalid
//                              or double free); reports and aborts.
//   HAKMEM_BUG(msg)            a state that cannot happen; always aborts.
//
// Running out of memory is never an assertion: callers return null + ENOMEM.
#pragma once

#include "base/build_config.h"

namespace hakmem {

// Prints "hakmem: <what> at <file>:<line>" and aborts. Never returns.
[[noreturn]] void fatal(const char* what, const char* file, int line);

}  // namespace hakmem

#define HAKMEM_ASSERT(x)                                                        \
  do {                                                                          \
    if constexpr (::hakmem::kDebug) {                                           \
      if (!(x)) ::hakmem::fatal("assertion failed: " #x, __FILE__, __LINE__);   \
    } else {                                                                    \
      (void)sizeof(x);                                                          \
    }                                                                           \
  } while (0)

#define HAKMEM_ASSERT_EXPENSIVE(x)                                              \
  do {                                                                          \
    if constexpr (::hakmem::kExpensiveChecks) {                                 \
      if (!(x)) ::hakmem::fatal("invariant failed: " #x, __FILE__, __LINE__);   \
    } else {                                                                    \
      (void)sizeof(x);                                                          \
    }                                                                           \
  } while (0)

#define HAKMEM_BUG(msg) ::hakmem::fatal("internal error: " msg, __FILE__, __LINE__)
