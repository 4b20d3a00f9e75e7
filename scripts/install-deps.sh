#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and benchmarking
# hakmem need. Installs only what is missing; prints nothing when everything
# is already there. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  # the fuzz pass: Clang with libFuzzer
  clang libclang-rt-14-dev
  libnuma-dev libhwloc-dev liburing-dev
  libgtest-dev googletest libbenchmark-dev
  # what the tests run
  python3 libpython3.11-testsuite git procps binutils postgresql nodejs default-jre-headless
  valgrind
  # the allocators the benchmarks compare against
  libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
  # the real programs the benchmarks run under each allocator (bench/run.py's
  # prog_* rows; g++ and python3 are above)
  z3 ghostscript sqlite3 redis-server redis-tools lua5.4 perl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
log=$(mktemp -t hakmem-install-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -q >"$log" 2>&1; then
  echo "install-deps: 'apt-get update' failed:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  echo "install-deps: 'apt-get install ${missing[*]}' failed:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
