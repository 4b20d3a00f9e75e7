#!/usr/bin/env bash
# libhakmem.so must load with libc alone: every process it is preloaded into
# pays for each library it pulls in (start-up time), and a C++ runtime would
# bring its own allocations before ours are ready. So: no DT_NEEDED but
# libc.so.6, and no undefined symbol outside glibc except the weak C++ ones
# that src/preload/new_delete.cpp uses only when a C++ runtime is present.
#
#   needs_only_libc.sh LIBRARY...
set -euo pipefail
status=0
for lib in "$@"; do
  needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  if [[ $needed != "libc.so.6 " ]]; then
    echo "$lib needs: $needed(expected libc.so.6 only)"
    status=1
  fi
  strong=$(nm -D --undefined-only "$lib" | awk '$1 == "U" && $2 !~ /@GLIBC_/ {print $2}')
  if [[ -n $strong ]]; then
    echo "$lib has undefined symbols outside glibc: $strong"
    status=1
  fi
done
[[ $status == 0 ]] && echo "ok: $* need libc.so.6 only"
exit $status
