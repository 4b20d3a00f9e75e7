#!/bin/bash
# python3 running an allocation-heavy script on 4 threads (alloc_heavy.py),
# once with Python's own small-object allocator in front of malloc and once
# with PYTHONMALLOC=malloc, which sends every object to malloc.
# Usage: python_threads.sh LIBHAKMEM SCRIPT_DIR
. "$(dirname "$0")/lib.sh"
programs_init "$1"
SCRIPT_DIR=${2:?usage: $0 LIBHAKMEM SCRIPT_DIR}
require_tool python3
# The interpreter itself, not a wrapper script in front of it.
PYTHON=$(python3 -c 'import sys; print(sys.executable)') || programs_fail "python3 does not run"
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

scenario() {
  step "$PYTHON" "$SCRIPT_DIR/alloc_heavy.py"
}
compare_runs python_pymalloc scenario
PYTHONMALLOC=malloc compare_runs python_malloc scenario
