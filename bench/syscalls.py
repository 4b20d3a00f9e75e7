#!/usr/bin/env python3
"""Memory system calls per million operations in a warm cyclic workload, per allocator, counted by strace.

Runs the probe bench/probes/syscall_cycle (built with the suite) under

    strace -f --seccomp-bpf -e trace=mmap,munmap,madvise,brk,mremap,mprotect,getppid -o FILE

with the allocator in LD_PRELOAD. The probe calls getppid() once when every
thread has finished its warm-up cycles and once when the measured cycles are
done (a call no allocator makes); only the calls between the two markers,
from every thread (-f), are counted, so start-up, warm-up, teardown and exit
stay out. One op is one malloc and its free (the probe's RESULT line gives
the count). The figure: calls per million ops, per system call, the median
of --runs runs. madvise calls are also split by advice in the JSON.

    python3 bench/syscalls.py build                 # table on stdout, files in bench/results
    python3 bench/syscalls.py build --runs 1 --allocators hakmem,glibc

Allocators that return memory on a timer (jemalloc's decay, background
threads) make counts that depend on elapsed time as well as on ops, and
strace slows the traced calls down; the counts are for comparing allocators
on one machine, not absolute rates. run.py calls measure() and section() to
put the table in its report.
"""

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as runner  # noqa: E402  (the allocator table and its resolution)

CALLS = ["mmap", "munmap", "madvise", "brk", "mremap", "mprotect"]
MARKER = "getppid"
# name -> probe arguments; one op = one malloc + free.
CONFIGS = {
    "1t": ["--threads=1", "--slots=4000", "--cycles=2000", "--warmup=20"],
    "4t": ["--threads=4", "--slots=4000", "--cycles=500", "--warmup=20"],
}
QUICK_CYCLES = {"1t": 200, "4t": 50}

# "PID name(args) = ret", "PID name(args <unfinished ...>"; the
# "<... name resumed>" halves are not new calls.
_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((.*)")


def count_calls(trace):
    """Counter of calls between the two markers in an strace -f -o file, with
    madvise also counted per advice as "madvise:MADV_...". Returns
    (counter, markers seen)."""
    counts = collections.Counter()
    markers = 0
    with open(trace) as f:
        for line in f:
            m = _CALL.match(line)
            if not m:
                continue  # resumed halves, signals, exits
            name = m.group(1)
            if name == MARKER:
                markers += 1
                continue
            if markers != 1 or name not in CALLS:
                continue
            counts[name] += 1
            if name == "madvise":
                args = m.group(2).split(",")
                if len(args) >= 3:
                    counts["madvise:" + args[2].split(")")[0].strip().split()[0]] += 1
    return counts, markers


def one_run(probe, argv, lib, workdir, timeout):
    trace = os.path.join(workdir, "trace")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    cmd = ["strace", "-f", "--seccomp-bpf", "-e", "trace=" + ",".join(CALLS + [MARKER]), "-o", trace,
           probe] + argv
    repro = (f"LD_PRELOAD={lib} " if lib else "") + " ".join(cmd)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    fields = runner.parse_result_line(proc.stdout)
    if proc.returncode != 0 or fields is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"exit status {proc.returncode}: {repro}\n    {tail}")
    counts, markers = count_calls(trace)
    os.unlink(trace)
    if markers != 2:
        raise RuntimeError(f"saw {markers} {MARKER} markers, expected 2: {repro}")
    return counts, fields["ops"]


def measure(build, libs, allocs, runs=3, quick=False, timeout=600, log=print):
    """{"cells": {config: {alloc: {call: calls per million ops (median)}}}, ...}."""
    probe = os.path.join(build, "bench", "probes", "syscall_cycle")
    configs = {}
    for name, argv in CONFIGS.items():
        argv = list(argv)
        if quick:
            argv = [a for a in argv if not a.startswith("--cycles=")] + [f"--cycles={QUICK_CYCLES[name]}"]
        configs[name] = argv
    result = {"configs": configs, "runs": runs, "allocators": allocs, "cells": {}, "raw": {}, "problems": []}
    if not shutil.which("strace"):
        result["problems"].append("strace not found (apt-get install -y strace)")
        return result
    if not os.access(probe, os.X_OK):
        result["problems"].append(f"{probe} not built (ninja -C {build})")
        return result
    with tempfile.TemporaryDirectory() as workdir:
        for cname, argv in configs.items():
            samples = {a: [] for a in allocs}
            for r in range(runs):
                for a in allocs:  # interleaved, as in run.py
                    try:
                        counts, ops = one_run(probe, argv, libs[a], workdir, timeout)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        result["problems"].append(f"{cname} under {a}, run {r + 1}: {e}")
                        log(f"  syscalls {cname} {a:9} run {r + 1}/{runs} FAILED: {e}")
                        continue
                    per_m = {k: v * 1e6 / ops for k, v in counts.items()}
                    samples[a].append(per_m)
                    log(f"  syscalls {cname} {a:9} run {r + 1}/{runs} "
                        + " ".join(f"{c}={per_m.get(c, 0):.1f}" for c in CALLS) + " per M ops")
            result["raw"][cname] = samples
            result["cells"][cname] = {}
            for a, runs_ in samples.items():
                if not runs_:
                    continue
                keys = sorted({k for s in runs_ for k in s} | set(CALLS))
                result["cells"][cname][a] = {k: statistics.median(s.get(k, 0.0) for s in runs_) for k in keys}
    return result


def section(result):
    """Markdown lines for the report."""
    out = ["## Memory system calls per million operations (strace)", "",
           "A warm cyclic workload (`bench/probes/syscall_cycle`: each thread replaces about 40% of a "
           "4000-block working set per cycle and all of it every fourth cycle; 90% of the sizes in "
           "16 B-1 KiB, 9% up to 32 KiB, 1% up to 1 MiB). Only the calls between the two markers "
           "that fence the measured phase, from every thread, are counted; one op is one malloc and "
           f"its free. Median of {result['runs']} runs. Lower is better.", ""]
    for cname, cells in result["cells"].items():
        if not cells:
            continue
        out.append(f"`syscall_cycle {' '.join(result['configs'][cname])}`")
        out.append("")
        out.append("| allocator | " + " | ".join(CALLS) + " | total | madvise by advice |")
        out.append("|---|" + "---:|" * (len(CALLS) + 1) + "---|")
        for a, c in cells.items():
            advice = ", ".join(f"{k.split(':', 1)[1]} {v:.0f}" for k, v in sorted(c.items())
                               if k.startswith("madvise:") and v > 0)
            total = sum(c.get(k, 0.0) for k in CALLS)
            out.append(f"| {a} | " + " | ".join(f"{c.get(k, 0.0):,.1f}" for k in CALLS)
                       + f" | {total:,.1f} | {advice} |")
        out.append("")
    for p in result["problems"]:
        out.append(f"- problem: {p}")
    if result["problems"]:
        out.append("")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build", nargs="?", default="build", help="the build directory (default ./build)")
    p.add_argument("--allocators", help="comma-separated allocators (default: all)")
    p.add_argument("--lib", action="append", default=[], metavar="NAME=PATH", help="as in run.py")
    p.add_argument("--runs", type=int, default=3, help="runs per allocator and configuration (default 3)")
    p.add_argument("--quick", action="store_true", help="fewer measured cycles")
    p.add_argument("--timeout", type=float, default=600, help="seconds before one run counts as hung")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="directory for syscalls-YYYY-MM-DD.md and .json (default bench/results)")
    args = p.parse_args()
    return runner.run_count_tool(
        args, "syscalls",
        lambda build, libs, allocs: measure(build, libs, allocs, args.runs, args.quick, args.timeout), section)


if __name__ == "__main__":
    sys.exit(main())
