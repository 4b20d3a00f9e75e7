#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with Clang in build-fuzz, the
# allocator core instrumented with ASan and UBSan too, and runs each for
# HAKMEM_FUZZ_SECONDS (default 3600: the long run; the test command passes
# 20). Inputs that crash are written to build-fuzz/tests/fuzz/; keep one
# that a fix cured in tests/fuzz/corpus/NAME, where every run replays it.
#   bash scripts/fuzz.sh                        # an hour each
#   HAKMEM_FUZZ_SECONDS=60 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${HAKMEM_FUZZ_SECONDS:-3600}
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
generator=()
[[ -f build-fuzz/CMakeCache.txt ]] || generator=(-G Ninja)
CC=clang CXX=clang++ cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DHAKMEM_BUILD_TESTS=ON -DHAKMEM_UNIT_TESTS_ONLY=ON -DHAKMEM_BUILD_BENCH=OFF \
  -DHAKMEM_BUILD_FUZZERS=ON -DHAKMEM_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-fuzz --parallel "$(nproc)" -- api_sequence_fuzzer size_class_fuzzer options_fuzzer
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  ctest --test-dir build-fuzz -L fuzz --output-on-failure -j"${CTEST_JOBS:-2}" --timeout $((seconds + 600))
