#!/usr/bin/env bash
# Runs one command as root inside a throw-away QEMU guest with several NUMA
# nodes, so that page placement can be tested on a one-node machine.
#
#   numa_vm.sh [options] -- COMMAND [ARGS...]
#
#   --nodes N            NUMA nodes, 1..8 (default 2)
#   --cpus-per-node N    vCPUs per node (default 1); node n has CPUs n*N ..
#   --mem-per-node MIB   memory per node in MiB (default 512)
#   --memoryless N       node N gets CPUs but no memory (repeatable)
#   --distances ROWS     the SLIT, rows separated by ';' ("10,20;20,10");
#                        default 10 to itself and 20 to any other node
#   --hugepages N        reserve N 2 MiB huge pages on every node with memory
#   --copy PATH          a file or folder to put in the guest at the same
#                        path, with the libraries of its ELF files (repeatable)
#   -e NAME=VALUE        set a variable for the command (repeatable)
#   --timeout S          give up after S seconds (default 300): exit 124
#
# COMMAND is found on the host (a path, or a name on PATH) and copied in
# with its libraries; the guest starts in the host's working directory (it
# exists there, empty, unless copied). Output (stdout and stderr together)
# comes back when the guest stops. Exit status: the command's; 124 on
# timeout; 125 when the VM cannot run here (no qemu, no kernel, a huge page
# pool the guest cannot fill), with a one-line reason; 2 for a wrong option;
# 1 when the guest stopped before the command ended.
#
# Needs qemu-system-x86, busybox-static, cpio and numactl (installed when missing)
# and the kernel of Debian's linux-image-cloud-amd64 (downloaded once into
# the cache, $HAKMEM_VM_CACHE or ~/.cache/hakmem-numa-vm; nothing is
# installed into /boot). The cloud kernel has NUMA, ACPI SRAT/SLIT and the
# serial console built in, so the guest needs no modules. KVM is used where
# it boots a stock kernel; elsewhere TCG emulation boots a guest in ~5 s.
set -uo pipefail

die() { echo "numa_vm: $*" >&2; exit 125; }         # the VM cannot run here
usage_error() { echo "numa_vm: $*" >&2; exit 2; }  # a wrong option

nodes=2 cpus_per_node=1 mem_mib=512 hugepages=0 timeout_s=300 distances=""
memoryless=() copies=() envs=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --cpus-per-node) cpus_per_node=$2; shift 2 ;;
    --mem-per-node) mem_mib=$2; shift 2 ;;
    --memoryless) memoryless+=("$2"); shift 2 ;;
    --distances) distances=$2; shift 2 ;;
    --hugepages) hugepages=$2; shift 2 ;;
    --copy) copies+=("$2"); shift 2 ;;
    -e) envs+=("$2"); shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --) shift; break ;;
    *) usage_error "unknown option '$1' (the command goes after --)" ;;
  esac
done
[[ $# -gt 0 ]] || usage_error "no command given (numa_vm.sh [options] -- COMMAND ...)"
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }
is_count "$nodes" && ((nodes >= 1 && nodes <= 8)) || usage_error "--nodes must be 1..8, not '$nodes'"
is_count "$cpus_per_node" && ((cpus_per_node >= 1 && cpus_per_node <= 8)) || usage_error "--cpus-per-node must be 1..8"
is_count "$mem_mib" && ((mem_mib >= 128)) || usage_error "--mem-per-node is MiB, at least 128"
is_count "$hugepages" && ((hugepages * 2 + 96 <= mem_mib)) || usage_error "--hugepages $hugepages do not fit in $mem_mib MiB"
is_count "$timeout_s" || usage_error "--timeout must be seconds"
declare -A no_memory=()
for n in "${memoryless[@]}"; do
  is_count "$n" && ((n > 0 && n < nodes)) || usage_error "--memoryless $n: must be a node other than 0 (node 0 holds the kernel)"
  no_memory[$n]=1
done

# ---------------------------------------------------------------- the host
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
# The guest runs the host's numactl (the placement test's --membind case).
command -v numactl >/dev/null || missing+=(numactl)
if ! file -L "$(command -v busybox 2>/dev/null || echo /nonexistent)" 2>/dev/null | grep -q 'statically linked'; then
  missing+=(busybox-static)
fi
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  { as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } \
    >/dev/null 2>&1 || die "qemu cannot run here: installing ${missing[*]} failed"
fi
busybox=$(command -v busybox)

cache=${HAKMEM_VM_CACHE:-$HOME/.cache/hakmem-numa-vm}
mkdir -p "$cache" || die "cannot create $cache"
kernel=$cache/vmlinuz
if [[ ! -s $kernel ]]; then
  found=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | tail -n 1)
  if [[ -n $found ]]; then
    cp "$found" "$kernel.tmp" && mv "$kernel.tmp" "$kernel"
  else
    work=$(mktemp -d) || die "mktemp failed"
    package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [[ -z $package ]]; then
      as_root apt-get update -qq >/dev/null 2>&1
      package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [[ -n $package ]] || die "qemu cannot run here: no linux-image-cloud-amd64 package to take a kernel from"
    (cd "$work" && apt-get download -qq "$package" >/dev/null 2>&1) || die "qemu cannot run here: downloading $package failed"
    dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*' ||
      die "no kernel in $package"
    mv "$work"/boot/vmlinuz-* "$kernel" || die "no kernel in $package"
    rm -rf "$work"
  fi
fi

# ------------------------------------------------------ the guest's files
work=$(mktemp -d "${TMPDIR:-/tmp}/numa_vm.XXXXXX") || die "mktemp failed"
qemu_pid=""
trap '[[ -n $qemu_pid ]] && kill $qemu_pid 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{hkvm/bin,proc,sys,dev,tmp,etc,root,usr/bin,usr/sbin,usr/lib,usr/lib64}
chmod 1777 "$root/tmp"
for d in bin sbin lib lib64; do  # the host's merged /usr, so host paths resolve
  if [[ -L /$d ]]; then ln -s "$(readlink "/$d")" "$root/$d"; else mkdir -p "$root/$d"; fi
done
cp "$busybox" "$root/hkvm/bin/busybox"
for applet in $("$busybox" --list); do [[ $applet == busybox ]] || ln -s busybox "$root/hkvm/bin/$applet"; done
cp /etc/ld.so.cache "$root/etc/" 2>/dev/null
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"

elves=()
# Copies a host path to the same path in the guest, keeping the name it was
# asked by when that is a symlink (libfoo.so.1 -> libfoo.so.1.2.3).
put() {
  local path=$1 real
  real=$(readlink -f -- "$path") || return 1
  [[ -e $root$real ]] || { mkdir -p "$root$(dirname "$real")" && cp -a "$real" "$root$real"; } || return 1
  if [[ $path != "$real" && ! -e $root$path && ! -L $root$path ]]; then
    mkdir -p "$root$(dirname "$path")" && ln -s "$real" "$root$path"
  fi
}
put_with_libraries() {
  local path=$1 f
  put "$path" || die "cannot copy $path into the guest"
  if [[ -d $path ]]; then
    while IFS= read -r -d '' f; do elves+=("$f"); done < <(find "$(readlink -f "$path")" -type f \( -perm -u=x -o -name '*.so*' \) -print0)
  else
    elves+=("$(readlink -f "$path")")
  fi
}

command_path=$1
[[ $command_path == */* ]] || command_path=$(type -P -- "$1") || usage_error "command not found: $1"
[[ -e $command_path ]] || usage_error "command not found: $1"
put_with_libraries "$command_path"
for tool in bash env numactl; do t=$(type -P $tool) && put_with_libraries "$t"; done
for c in "${copies[@]}"; do
  [[ -e $c ]] || usage_error "--copy: $c does not exist"
  put_with_libraries "$c"
done
for e in "${envs[@]}"; do
  if [[ ${e%%=*} == LD_PRELOAD ]]; then for l in ${e#*=}; do put_with_libraries "$l"; done; fi
done
while read -r lib; do put "$lib"; done < <(
  printf '%s\0' "${elves[@]}" | xargs -0 -r ldd 2>/dev/null |
    awk '/=> \// {print $3} /^[ \t]+\/[^ ]+ \(0x/ {print $1}' | sort -u)

cwd=$(pwd -P)
mkdir -p "$root$cwd"
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/hkvm/bin HOME=/root LANG=C"
  for e in "${envs[@]}"; do echo "export ${e%%=*}=$(quote "${e#*=}")"; done
  echo "cd $(quote "$cwd") || exit 125"
  printf 'exec'; for a in "$@"; do printf ' %s' "$(quote "$a")"; done; echo
} >"$root/hkvm/command"
cat >"$root/init" <<INIT
#!/hkvm/bin/sh
export PATH=/hkvm/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/shm /dev/hugepages
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
stty -F /dev/ttyS1 raw -echo
exec 3>/dev/ttyS1
if [ $hugepages -gt 0 ]; then
  for f in /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages; do
    [ "\$(cat \${f%/hugepages/*}/meminfo | awk '/MemTotal/ {print \$4}')" = 0 ] && continue
    echo $hugepages > \$f
    [ "\$(cat \$f)" = $hugepages ] || { echo "@@HKVM-SETUP-FAILED \$f: \$(cat \$f) of $hugepages huge pages" >&3; reboot -f; }
  done
  mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
fi
echo "@@HKVM-STARTED" >&3
sh /hkvm/command </dev/null >&3 2>&3
echo "@@HKVM-EXIT \$?" >&3
exec 3>&-
reboot -f
INIT
chmod 755 "$root/init"
(cd "$root" && find . -mindepth 1 | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd" || die "cpio failed"
rm -rf "$root"

# ------------------------------------------------------------- the guest
memory_nodes=$((nodes - ${#no_memory[@]}))
machine=(-smp "$((nodes * cpus_per_node)),sockets=$nodes,cores=$cpus_per_node,threads=1" -m "$((memory_nodes * mem_mib))M")
for ((n = 0; n < nodes; n++)); do
  if [[ -n ${no_memory[$n]:-} ]]; then
    machine+=(-numa "node,nodeid=$n")
  else
    machine+=(-object "memory-backend-ram,id=mem$n,size=${mem_mib}M" -numa "node,nodeid=$n,memdev=mem$n")
  fi
  machine+=(-numa "cpu,node-id=$n,socket-id=$n")
done
IFS=';' read -r -a rows <<<"$distances"
[[ -z $distances || ${#rows[@]} == "$nodes" ]] || usage_error "--distances has ${#rows[@]} rows for $nodes nodes"
for ((i = 0; i < nodes; i++)); do
  [[ -n $distances ]] && IFS=',' read -r -a row <<<"${rows[$i]}"
  [[ -z $distances || ${#row[@]} == "$nodes" ]] || usage_error "--distances row $i has ${#row[@]} entries for $nodes nodes"
  for ((j = 0; j < nodes; j++)); do
    ((i == j)) && continue
    machine+=(-numa "dist,src=$i,dst=$j,val=${row[$j]:-20}")
  done
done

# Boots the guest under accelerator $1 (kvm or tcg); its output lands in
# $work/output, the kernel's console in $work/console.
boot() {
  local accel boot_args=""
  if [[ $1 == kvm ]]; then
    accel=(-accel kvm -cpu host)
  else
    accel=(-accel tcg -cpu max)
    # a trusted TSC keeps the guest clock on the vDSO; no boot self-tests
    boot_args="tsc=reliable no_timer_check cryptomgr.notests"
  fi
  : >"$work/output"
  timeout -k 5 "$timeout_s" qemu-system-x86_64 -nodefaults -no-user-config -display none -M pc -no-reboot \
    "${accel[@]}" "${machine[@]}" -kernel "$kernel" -initrd "$work/initrd" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init 8250.nr_uarts=2 numa_balancing=disable $boot_args" \
    -serial "file:$work/console" -serial "file:$work/output" 2>"$work/qemu.err" &
  qemu_pid=$!
  wait $qemu_pid
  qemu_status=$?
  qemu_pid=""
}

# KVM where it boots a stock kernel, found out once and remembered: the
# paravirtual KVM of some cloud machines (kvm-pvm) cannot, and is not tried.
accel_file=$cache/accelerator
accel=$(cat "$accel_file" 2>/dev/null)
if [[ -z $accel ]]; then
  accel=tcg
  [[ -r /dev/kvm && -w /dev/kvm && ! -d /sys/module/kvm_pvm ]] && accel=kvm
fi
boot "$accel"
if [[ $accel == kvm ]] && ! grep -aq '^@@HKVM-STARTED' "$work/output"; then
  echo "numa_vm: the guest did not boot under KVM here; using TCG emulation from now on" >&2
  accel=tcg
  boot tcg
fi
grep -aq '^@@HKVM-STARTED' "$work/output" && echo "$accel" >"$accel_file"

output=$work/output
exit_line=$(grep -a '^@@HKVM-EXIT ' "$output" 2>/dev/null | tail -n 1)
grep -a -v '^@@HKVM-' "$output" 2>/dev/null
setup_failed=$(sed -n 's/^@@HKVM-SETUP-FAILED //p' "$output" 2>/dev/null)
[[ -z $setup_failed ]] || die "guest setup failed: $setup_failed"
if [[ -z $exit_line ]]; then
  if [[ $qemu_status == 124 || $qemu_status == 137 ]]; then
    echo "numa_vm: timed out after ${timeout_s}s; the guest's console:" >&2
    tail -n 20 "$work/console" >&2 2>/dev/null
    exit 124
  fi
  echo "numa_vm: the guest stopped before the command ended (qemu exit $qemu_status); its console:" >&2
  tail -n 20 "$work/console" "$work/qemu.err" >&2 2>/dev/null
  exit 1
fi
exit "${exit_line#@@HKVM-EXIT }"
