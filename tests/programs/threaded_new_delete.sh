#!/bin/bash
# threaded_new_delete (built from threaded_new_delete.cpp, not linked to
# hakmem): new and delete from six threads, with messages deleted by another
# thread than their sender; the same digests with and without preload.
# Usage: threaded_new_delete.sh LIBHAKMEM PROGRAM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
PROGRAM=${2:?usage: $0 LIBHAKMEM PROGRAM}
[ -x "$PROGRAM" ] || programs_fail "$PROGRAM is not an executable"

scenario() {
  step "$PROGRAM"
}
compare_runs threaded_new_delete scenario
