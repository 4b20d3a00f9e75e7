# Shared by the program tests: run a scenario twice, on the C library's
# malloc and under LD_PRELOAD=libhakmem.so, and compare what it printed.
#
# A test script sources this file, calls programs_init with its arguments
# (the first one is the path of libhakmem.so), defines a scenario function
# that prints everything worth comparing on stdout, and calls
#   compare_runs NAME scenario [args...]
# which runs the scenario in a fresh directory of each run ($WORK/NAME.plain
# and $WORK/NAME.hakmem, the current directory when it runs) and fails the
# test when
#   - the two runs print different stdout or exit with different statuses
#     (the diff is printed),
#   - the run without preload fails (the test itself is broken),
#   - the preloaded run prints a line starting with "hakmem:" on stderr.
# Every process the preloaded scenario starts inherits LD_PRELOAD.
#
# Exit statuses: 0 pass, 1 fail, 77 skip (a required tool is missing).

set -u

programs_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# programs_init LIBHAKMEM: checks the library, makes $WORK (removed at exit).
programs_init() {
  HAKMEM_LIB=${1:?usage: $0 /path/to/libhakmem.so [args]}
  [ -f "$HAKMEM_LIB" ] || programs_fail "$HAKMEM_LIB: no such file"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-programs.XXXXXX") || programs_fail "mktemp -d failed"
  trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
  # The preload must take: the dynamic loader prints an error and carries on
  # without the library when it cannot load it.
  if ! LD_PRELOAD="$HAKMEM_LIB" grep -q libhakmem /proc/self/maps; then
    programs_fail "LD_PRELOAD=$HAKMEM_LIB does not load the library"
  fi
  # Locale and time zone fixed so that output does not depend on the host.
  export LC_ALL=C TZ=UTC
}

# require_tool NAME: skips the test (status 77) when NAME is not installed.
require_tool() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "SKIP: $1 is not installed"
    exit 77
  fi
}

# step COMMAND...: runs COMMAND and prints its exit status when not 0, so
# that a failing step shows in the compared output.
step() {
  "$@"
  local rc=$?
  [ "$rc" -eq 0 ] || echo "exit status $rc: $*"
  return 0
}

# compare_runs NAME FUNCTION [ARGS...]
compare_runs() {
  local name=$1
  shift
  local mode dir rc
  for mode in plain hakmem; do
    dir=$WORK/$name.$mode
    mkdir -p "$dir"
    (
      cd "$dir" || exit 1
      if [ "$mode" = hakmem ]; then export LD_PRELOAD="$HAKMEM_LIB"; else unset LD_PRELOAD; fi
      "$@"
    ) >"$WORK/$name.$mode.out" 2>"$WORK/$name.$mode.err"
    echo $? >"$WORK/$name.$mode.rc"
  done
  local plain_rc hakmem_rc
  plain_rc=$(cat "$WORK/$name.plain.rc")
  hakmem_rc=$(cat "$WORK/$name.hakmem.rc")
  if [ "$plain_rc" -ne 0 ]; then
    echo "--- stderr of $name without preload:" >&2
    tail -n 40 "$WORK/$name.plain.err" >&2
    programs_fail "$name: the run without preload exited with status $plain_rc (the test is broken)"
  fi
  if [ ! -s "$WORK/$name.plain.out" ]; then
    programs_fail "$name: the run without preload printed nothing to compare"
  fi
  local bad=0
  if ! diff -u "$WORK/$name.plain.out" "$WORK/$name.hakmem.out" >"$WORK/$name.diff"; then
    echo "--- $name: stdout differs (- without preload, + with libhakmem.so):" >&2
    head -n 200 "$WORK/$name.diff" >&2
    bad=1
  fi
  if [ "$hakmem_rc" -ne "$plain_rc" ]; then
    echo "--- $name: exit status $hakmem_rc with libhakmem.so, $plain_rc without" >&2
    bad=1
  fi
  if grep -q '^hakmem:' "$WORK/$name.hakmem.err"; then
    echo "--- $name: the preloaded run printed hakmem messages on stderr:" >&2
    grep '^hakmem:' "$WORK/$name.hakmem.err" | head -n 40 >&2
    bad=1
  fi
  if [ "$bad" -ne 0 ]; then
    echo "--- stderr of $name with libhakmem.so (last 40 lines):" >&2
    tail -n 40 "$WORK/$name.hakmem.err" >&2
    programs_fail "$name: the preloaded run differs"
  fi
  echo "$name: same output with and without libhakmem.so ($(wc -l <"$WORK/$name.plain.out") lines)"
}
