#!/usr/bin/env bash
# Runs placement_check under libhakmem.so inside small VMs with 2 and then 4
# NUMA nodes, once per placement policy, and fails if any run fails.
#
#   run_placement_in_vm.sh PLACEMENT_CHECK LIBHAKMEM
#
# The VM runner is ../shared/numa-vm/run beside the checkout (or
# $NUMA_VM_RUNNER): qemu with -numa, a Debian kernel, KVM where it boots and
# TCG emulation otherwise (about 5 s a boot). Exits 77 (CTest: skipped) with
# a one-line reason when there is no runner or qemu cannot run at all.
set -uo pipefail

check=$1
lib=$2
here=$(cd "$(dirname "$0")" && pwd)
runner=${NUMA_VM_RUNNER:-$here/../../../shared/numa-vm/run}
if [[ ! -x $runner ]]; then
  echo "numa placement: no VM runner at $runner; skipped"
  exit 77
fi

stage=$(mktemp -d /tmp/hakmem-numa.XXXXXX)
trap 'rm -rf "$stage"' EXIT
cp "$check" "$stage/placement_check"
cp "$lib" "$stage/libhakmem.so"
cat > "$stage/cases.sh" <<'CASES'
# Inside the guest: one run of placement_check per policy.
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
run "default policy (local)" env LD_PRELOAD="$lib" PLACEMENT_EXPECT=thread
run "HAKMEM_NODE=1" env LD_PRELOAD="$lib" HAKMEM_NODE=1 PLACEMENT_EXPECT=1
run "HAKMEM_NUMA=bind:1" env LD_PRELOAD="$lib" HAKMEM_NUMA=bind:1 PLACEMENT_EXPECT=1
run "HAKMEM_NUMA=interleave" env LD_PRELOAD="$lib" HAKMEM_NUMA=interleave PLACEMENT_EXPECT=spread
run "numactl --membind=1" env LD_PRELOAD="$lib" PLACEMENT_EXPECT=1 numactl --membind=1
exit $failed
CASES

status=0
for nodes in 2 4; do
  echo "=== VM with $nodes NUMA nodes"
  "$runner" --nodes "$nodes" --mem-per-node 512M --dir "$stage" -- bash "$stage/cases.sh"
  rc=$?
  if [[ $rc == 125 ]]; then
    echo "numa placement: the VM could not run here; skipped"
    exit 77
  fi
  [[ $rc == 0 ]] || status=1
done
exit $status
