#!/bin/bash
# Part of Python's own regression suite under LD_PRELOAD: a dozen modules of
# `python3 -m test` whose tests allocate heavily (containers, strings,
# regular expressions, JSON, pickling). The lists of modules run
# and their results must match the run without preload. (test_threading is
# left out: some of its tests fail when run as root, without the preload too.)
# Usage: python_regression_tests.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
require_tool python3
if ! python3 -c 'import test.libregrtest' 2>/dev/null; then
  echo "SKIP: Python's test package is not installed (libpython3.11-testsuite)"
  exit 77
fi

modules=(test_list test_dict test_set test_deque test_string test_bytes test_re test_json test_pickle
         test_heapq test_bisect test_collections)

scenario() {
  # Only the verdict lines: timings and the order of output differ by run.
  python3 -m test -j0 "${modules[@]}" 2>&1 | grep -E '^(Total tests|Result|[0-9]+ tests? (OK|failed))' | sed 's/ in [0-9.]* sec//'
}
compare_runs python_regrtest scenario
