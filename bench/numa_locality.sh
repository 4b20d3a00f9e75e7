#!/usr/bin/env bash
# NUMA locality of hakmem and the peers: runs bench/workloads/numa_locality
# under each allocator inside one VM with several NUMA nodes, and prints a
# markdown table of the share of pages local to the thread that uses them.
#
#   bash bench/numa_locality.sh [BUILD_DIR] [NODES]      (defaults: build, 2)
#
# The VM is tests/vm/numa_vm.sh; the peers are Debian's libjemalloc2,
# libtcmalloc-minimal4 and libmimalloc2.0 (scripts/install-deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
nodes=${2:-2}
runner=$root/tests/vm/numa_vm.sh

libdir=/usr/lib/x86_64-linux-gnu
declare -A libs=([hakmem]=$build/libhakmem.so [glibc]="" [jemalloc]=$libdir/libjemalloc.so.2
                 [tcmalloc]=$libdir/libtcmalloc_minimal.so.4 [mimalloc]=$libdir/libmimalloc.so.2)
order=(hakmem glibc jemalloc tcmalloc mimalloc)

stage=$(mktemp -d /tmp/hakmem-locality.XXXXXX)
trap 'rm -rf "$stage"' EXIT
cp "$build/bench/workloads/numa_locality" "$stage/"
copies=()
{
  echo 'cd "$(dirname "$0")"'
  for name in "${order[@]}"; do
    lib=${libs[$name]}
    if [[ -n $lib ]]; then
      [[ -e $lib ]] || { echo "numa_locality: $lib is missing" >&2; exit 1; }
      copies+=(--copy "$(readlink -f "$lib")")
      echo "echo \"$name \$(LD_PRELOAD=$(readlink -f "$lib") ./numa_locality)\""
    else
      echo "echo \"$name \$(./numa_locality)\""
    fi
  done
} > "$stage/run.sh"

out=$("$runner" --nodes "$nodes" --cpus-per-node 1 --mem-per-node 1024 --copy "$stage" "${copies[@]}" \
        -- bash "$stage/run.sh")
echo "NUMA locality in a VM with $nodes nodes (percent of distinct pages on the node of the thread that uses them)"
echo
echo "| allocator | all | own data | producer's batch after the consumer freed the last ones | thread after another node's thread exited |"
echo "|---|---:|---:|---:|---:|"
while read -r name result; do
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
  printf '| %s | %.1f | %.1f | %.1f | %.1f |\n' "$name" "$(field local_pct)" "$(field own_pct)" "$(field handoff_pct)" \
    "$(field after_exit_pct)"
done <<<"$out"
