#!/usr/bin/env bash
# Runs placement_check under libhakmem.so inside small VMs with several NUMA
# nodes, once per placement policy, and fails if any run fails:
#   2 nodes and 4 nodes, every policy; 2 nodes with hugetlb pools;
#   3 nodes where node 2 has CPUs but no memory and the distances differ
#   (0-1 20, 0-2 30, 1-2 25), so that its threads must get node 1's memory.
#
#   run_placement_in_vm.sh PLACEMENT_CHECK LIBHAKMEM
#
# The VM is tests/vm/numa_vm.sh. Exits 77 (CTest: skipped) with a one-line
# reason when qemu cannot run here at all.
set -uo pipefail

check=$1
lib=$2
here=$(cd "$(dirname "$0")" && pwd)
runner=$here/../vm/numa_vm.sh

stage=$(mktemp -d /tmp/hakmem-numa.XXXXXX)
trap 'rm -rf "$stage"' EXIT
cp "$check" "$stage/placement_check"
cp "$lib" "$stage/libhakmem.so"
cat > "$stage/cases.sh" <<'CASES'
# Inside the guest: one run of placement_check per policy given.
cd "$(dirname "$0")"
lib=$PWD/libhakmem.so
failed=0
run() {
  local name=$1
  shift
  echo "== $name"
  if ! "$@" ./placement_check --gtest_brief=1; then
    echo "FAILED: $name"
    failed=1
  fi
}
for policy in "$@"; do
  case $policy in
    local) run "default policy (local)" env LD_PRELOAD="$lib" PLACEMENT_EXPECT=thread ;;
    node1) run "HAKMEM_NODE=1" env LD_PRELOAD="$lib" HAKMEM_NODE=1 PLACEMENT_EXPECT=1 ;;
    bind1) run "HAKMEM_NUMA=bind:1" env LD_PRELOAD="$lib" HAKMEM_NUMA=bind:1 PLACEMENT_EXPECT=1 ;;
    bind0) run "HAKMEM_NUMA=bind:0" env LD_PRELOAD="$lib" HAKMEM_NUMA=bind:0 PLACEMENT_EXPECT=0 ;;
    interleave) run "HAKMEM_NUMA=interleave" env LD_PRELOAD="$lib" HAKMEM_NUMA=interleave PLACEMENT_EXPECT=spread ;;
    membind1) run "numactl --membind=1" env LD_PRELOAD="$lib" PLACEMENT_EXPECT=1 numactl --membind=1 ;;
    # Alone in its process: pages other tests freed would be reused, and
    # the pools' counts would not move.
    hugetlb) run "HAKMEM_HUGEPAGES=hugetlb" env LD_PRELOAD="$lib" HAKMEM_HUGEPAGES=hugetlb PLACEMENT_HUGETLB=1 \
               PLACEMENT_EXPECT=thread GTEST_FILTER='*Hugetlb*' ;;
    hugetlb_node1) run "HAKMEM_HUGEPAGES=hugetlb HAKMEM_NODE=1" env LD_PRELOAD="$lib" HAKMEM_HUGEPAGES=hugetlb \
               HAKMEM_NODE=1 PLACEMENT_HUGETLB=1 PLACEMENT_EXPECT=1 GTEST_FILTER='*Hugetlb*' ;;
  esac
done
exit $failed
CASES

# hwloc is opened only when the topology is asked for: the VM needs it too.
hwloc=$(ldconfig -p | awk '/libhwloc\.so\.15 .*x86-64/ {print $NF; exit}')
copies=(--copy "$stage")
[[ -n $hwloc ]] && copies+=(--copy "$hwloc")

all="local node1 bind1 interleave membind1"
status=0
vm() {
  local title=$1
  shift
  echo "=== $title"
  "$runner" "${copies[@]}" "$@"
  local rc=$?
  if [[ $rc == 125 ]]; then
    echo "numa placement: the VM could not run here; skipped"
    exit 77
  fi
  [[ $rc == 0 ]] || status=1
}
vm "VM with 2 NUMA nodes" --nodes 2 -- bash "$stage/cases.sh" $all
vm "VM with 2 NUMA nodes and 64 huge pages on each" --nodes 2 --hugepages 64 -- \
  bash "$stage/cases.sh" hugetlb hugetlb_node1
vm "VM with 4 NUMA nodes" --nodes 4 -- bash "$stage/cases.sh" $all
vm "VM with 3 NUMA nodes, node 2 without memory" --nodes 3 --memoryless 2 \
  --distances "10,20,30;20,10,25;30,25,10" -- bash "$stage/cases.sh" local bind0 interleave
exit $status
