#!/usr/bin/env bash
# A process that never allocates (/usr/bin/true) under the preload: the
# allocator initialises on its first call, or at start-up only when the
# environment holds HAKMEM_* settings. So with settings, what they print
# must still come (the verbose listing and a bad value's warning at
# start-up, the report at exit); without, the process prints nothing.
#
#   startup_settings.sh LIBRARY
set -euo pipefail
lib=$1
status=0
expect() {  # expect DESCRIPTION PATTERN OUTPUT
  if grep -qF -- "$2" <<<"$3"; then
    echo "ok: $1"
  else
    printf 'FAILED: %s: no line with "%s" in:\n%s\n' "$1" "$2" "$3"
    status=1
  fi
}

out=$(HAKMEM_STATS=1 LD_PRELOAD=$lib /usr/bin/true 2>&1)
expect "HAKMEM_STATS=1 reports at exit" "hakmem stats" "$out"
out=$(HAKMEM_VERBOSE=1 LD_PRELOAD=$lib /usr/bin/true 2>&1)
expect "HAKMEM_VERBOSE=1 lists the settings" "hakmem: HAKMEM_VERBOSE = 1 (environment)" "$out"
expect "HAKMEM_VERBOSE=1 shows the placement" "hakmem: NUMA placement:" "$out"
out=$(HAKMEM_HUGEPAGES=big LD_PRELOAD=$lib /usr/bin/true 2>&1)
expect "a bad value is named at start-up" "hakmem: HAKMEM_HUGEPAGES='big' is not valid" "$out"
out=$(HAKMEM_NODE=99999 LD_PRELOAD=$lib /usr/bin/true 2>&1)
expect "a node that cannot be used is named at start-up" "HAKMEM_NODE='99999'" "$out"
out=$(env -u HAKMEM_STATS -u HAKMEM_VERBOSE LD_PRELOAD=$lib /usr/bin/true 2>&1)
if [[ -n $out ]]; then
  printf 'FAILED: without settings the process printed:\n%s\n' "$out"
  status=1
else
  echo "ok: without settings, nothing printed"
fi
exit $status
