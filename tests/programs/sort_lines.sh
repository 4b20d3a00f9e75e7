#!/bin/bash
# sort(1) of a million lines under LD_PRELOAD: in memory, in parallel with a
# 50 MiB buffer, with a 4 MiB buffer (so it spills to temporary files and
# merges them), and numerically on a key (stable). The sha256 of each output
# must match the run without preload.
# Usage: sort_lines.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
require_tool sort
require_tool awk
require_tool sha256sum

# A million lines from a fixed generator (generated once, without preload):
# a word of 1..60 letters cut from a random pool, a number, and a tail of
# 0..32 characters. The generator is Park-Miller's (x * 16807 stays exact in
# awk's doubles).
awk 'BEGIN {
  x = 42
  letters = "abcdefghijklmnopqrstuvwxyz"
  pool = ""
  for (i = 0; i < 4096; i++) {
    x = (x * 16807) % 2147483647
    pool = pool substr(letters, 1 + int(x / 65536) % 26, 1)
  }
  for (i = 0; i < 1000000; i++) {
    x = (x * 16807) % 2147483647
    printf "%s %d %s\n", substr(pool, 1 + int(x / 256) % 4000, 1 + x % 60), int(x / 4096) % 100000,
      substr("0123456789abcdef0123456789abcdef", 1, int(x / 16) % 33)
  }
}' >"$WORK/input.txt" || programs_fail "cannot generate the input"
[ "$(wc -l <"$WORK/input.txt")" -eq 1000000 ] || programs_fail "the input does not have a million lines"

scenario() {
  mkdir -p tmp
  echo "default: $(sort "$WORK/input.txt" | sha256sum)"
  echo "parallel: $(sort --parallel=4 -S 50M "$WORK/input.txt" | sha256sum)"
  echo "spilling: $(sort --parallel=2 -S 4M -T tmp "$WORK/input.txt" | sha256sum)"
  echo "numeric key: $(sort -s -n -k2,2 "$WORK/input.txt" | sha256sum)"
}
compare_runs sort scenario
