#!/usr/bin/env bash
# The test suite in one command (CI runs exactly this): installs the
# dependencies, builds, runs every test, then builds the unit tests under
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan and runs
# them, then runs each libFuzzer target for a short while (build-fuzz,
# scripts/fuzz.sh).
#   HAKMEM_SKIP_SANITIZERS=1  skips the sanitizer and fuzz passes (quicker local runs)
#   BUILD_DIR                 the main build directory (default: build)
# Exit status: the first failing pass's ctest status, else 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${BUILD_DIR:-build}
jobs=${CTEST_JOBS:-2}

# Seconds since the start, as "3m07s".
elapsed() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }

echo "== installing dependencies =="
bash scripts/install-deps.sh
echo "== building (in $build_dir) =="
BUILD_DIR="$build_dir" bash scripts/build.sh -DHAKMEM_BUILD_TESTS=ON -DHAKMEM_BUILD_BENCH=ON

echo "== running the test suite ($(elapsed) so far) =="
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" || status=$?

if [[ ${HAKMEM_SKIP_SANITIZERS:-0} == 1 ]]; then
  echo "== sanitizer pass skipped (HAKMEM_SKIP_SANITIZERS=1) =="
else
  # Unit tests link the allocator core directly and keep glibc's malloc, so
  # the sanitizers' own allocator stays in charge there.
  echo "== building the unit tests with ASan+UBSan (in build-asan; $(elapsed) so far) =="
  san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
  generator=()
  [[ -f build-asan/CMakeCache.txt ]] || generator=(-G Ninja)
  cmake -S . -B build-asan "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$san_flags" -DCMAKE_CXX_FLAGS="$san_flags" \
    -DHAKMEM_BUILD_TESTS=ON -DHAKMEM_UNIT_TESTS_ONLY=ON -DHAKMEM_BUILD_BENCH=OFF >/dev/null
  # Only the unit test binaries (those that link the core, hakmem_internal):
  # the rest of the suite replaces malloc, which the sanitizers must own.
  mapfile -t unit_targets < <(ninja -C build-asan -t query libhakmem_internal.a |
    awk '/^  outputs:/ { o = 1; next } o && $1 ~ /^tests\// && $1 !~ /\.cmake$/ { print $1 }' | sort -u)
  if [[ ${#unit_targets[@]} -eq 0 ]]; then
    echo "test: no unit test binaries found in build-asan" >&2
    exit 1
  fi
  cmake --build build-asan --parallel "$(nproc)" -- "${unit_targets[@]}"
  echo "== running the unit tests under ASan+UBSan ($(elapsed) so far) =="
  san_status=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs" || san_status=$?
  if [[ $status -eq 0 ]]; then status=$san_status; fi
fi

if [[ ${HAKMEM_SKIP_SANITIZERS:-0} != 1 ]]; then
  echo "== running the fuzzers, ${HAKMEM_FUZZ_SECONDS:-20} s each ($(elapsed) so far) =="
  fuzz_status=0
  HAKMEM_FUZZ_SECONDS=${HAKMEM_FUZZ_SECONDS:-20} bash scripts/fuzz.sh || fuzz_status=$?
  if [[ $status -eq 0 ]]; then status=$fuzz_status; fi
fi

if [[ $status -eq 0 ]]; then
  echo "== all tests passed (in $(elapsed)) =="
else
  echo "== tests FAILED (ctest exit status $status; in $(elapsed)) ==" >&2
fi
exit "$status"
