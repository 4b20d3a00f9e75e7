#!/usr/bin/env bash
# Configures and builds hakmem with CMake and Ninja, in parallel.
#   BUILD_DIR   build directory (default: build)
#   BUILD_TYPE  CMake build type (default: RelWithDebInfo)
# Extra arguments go to the configure step, e.g.
#   bash scripts/build.sh -DHAKMEM_BUILD_BENCH=OFF
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
build_type=${BUILD_TYPE:-RelWithDebInfo}

generator=()
# A fresh build directory gets Ninja; an existing one keeps its generator.
[[ -f "$build_dir/CMakeCache.txt" ]] || generator=(-G Ninja)

cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
