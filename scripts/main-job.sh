#!/usr/bin/env bash
# hakmem in one command: installs the dependencies, builds the library, then
# runs two real multithreaded programs with hakmem preloaded as their malloc
# and shows each program's output followed by hakmem's statistics report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir="$root/$build_dir"

echo "== installing dependencies =="
bash scripts/install-deps.sh
echo "== building the library (in $build_dir) =="
# The libraries only; scripts/test.sh adds the tests and benchmarks.
BUILD_DIR="$build_dir" bash scripts/build.sh -DHAKMEM_BUILD_TESTS=OFF -DHAKMEM_BUILD_BENCH=OFF

lib="$build_dir/libhakmem.so"
hkmctl="$build_dir/tools/hkmctl/hkmctl"
if [[ ! -f $lib ]]; then
  echo "main-job: $lib was not built" >&2
  exit 1
fi

tmp=$(mktemp -d -t hakmem-main-job.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The programs run under the system's Python (not a wrapper that would start
# more processes, each with its own report).
python=/usr/bin/python3
[[ -x $python ]] || python=python3

# Shows what the program wrote on stderr: hakmem's report, printed at exit.
missing_reports=0
show_report() {
  cat "$1"
  if ! grep -q '^hakmem stats' "$1"; then
    echo "main-job: hakmem printed no statistics report for $2" >&2
    missing_reports=$((missing_reports + 1))
  fi
}

# 1. GNU sort, four sorting threads, a million lines.
"$python" - "$tmp/input" <<'PY'
import random, sys
rng = random.Random(20240601)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa"]
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        n = rng.randrange(1, 8)
        f.write(f"{rng.randrange(10**9):09d} {' '.join(rng.choice(words) for _ in range(n))} {i}\n")
PY
echo
echo "== sort --parallel=4 of 1,000,000 lines under hakmem =="
LC_ALL=C LD_PRELOAD="$lib" HAKMEM_STATS=1 \
  sort --parallel=4 -o "$tmp/sorted" "$tmp/input" 2>"$tmp/sort.err"
echo "sort wrote $(wc -l <"$tmp/sorted") lines; the first and last three:"
head -n 3 "$tmp/sorted"
echo "..."
tail -n 3 "$tmp/sorted"
if LC_ALL=C sort -c "$tmp/sorted"; then
  echo "(checked: the output is in order)"
else
  echo "main-job: sort's output under hakmem is out of order" >&2
  exit 1
fi
show_report "$tmp/sort.err" sort

# 2. Python, four threads, every object through malloc (PYTHONMALLOC=malloc
# bypasses Python's own small-object allocator).
echo
echo "== python3 with 4 allocating threads under hakmem =="
PYTHONMALLOC=malloc LD_PRELOAD="$lib" HAKMEM_STATS=1 \
  "$python" scripts/alloc_workload.py 2>"$tmp/python.err"
show_report "$tmp/python.err" python3

# 3. hkmctl looks into a running program from outside: a Python process that
# builds a large structure, drops it and sleeps in a system call.
echo
echo "== hkmctl: a sleeping python3 under hakmem, looked into and trimmed from outside =="
PYTHONMALLOC=malloc LD_PRELOAD="$lib" "$python" -c '
import time
kept = [bytes(200) for _ in range(200_000)]
time.sleep(1.2)        # the block is published once the process has lived a second
dropped = [bytearray(1000) for _ in range(100_000)]
del dropped
time.sleep(60)' &
sleeper=$!
sleep 3
"$hkmctl" ps
"$hkmctl" stats "$sleeper"
echo "RSS before trim: $(grep VmRSS /proc/$sleeper/status)"
"$hkmctl" trim "$sleeper" || echo "main-job: hkmctl trim failed" >&2
echo "RSS after trim:  $(grep VmRSS /proc/$sleeper/status)"
kill "$sleeper"
wait "$sleeper" 2>/dev/null || true

cat <<MSG

== your own program ==
The library: $lib
Preload it into any dynamically linked program:
  LD_PRELOAD=$lib ./your-program
Add HAKMEM_STATS=1 for the report above at exit, HAKMEM_VERBOSE=1 for the settings in use.
To catch double and invalid frees, preload $build_dir/libhakmem_checked.so instead.
To link with -lhakmem: cmake --install $build_dir, then
  cc prog.c \$(pkg-config --cflags --libs hakmem)
MSG
[[ $missing_reports -eq 0 ]] || exit 1
