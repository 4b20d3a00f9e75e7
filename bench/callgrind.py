#!/usr/bin/env python3
"""Instructions per warm malloc+free pair, per allocator and size, counted by callgrind.

Runs the probe bench/probes/pairs (built with the suite) under
`valgrind --tool=callgrind --trace-children=no`, with the allocator in
LD_PRELOAD in the environment valgrind passes to the program (valgrind adds
its own preload in front and keeps ours). Each allocator and size runs twice,
with --iters=N and --iters=2N; the difference of the two whole-program
instruction totals divided by N is the cost of one pair: start-up, warm-up
and exit cancel. The same difference taken per object file says how much of
it ran inside the allocator's library (for glibc, libc.so.6), which checks
that the preload took effect; the rest is the probe's loop and the PLT
stubs, a few instructions.

    python3 bench/callgrind.py build                      # table on stdout, files in bench/results
    python3 bench/callgrind.py build --sizes 16,4096 --allocators hakmem,mimalloc

Counts are deterministic for a given binary and library, unlike timings, so
one run per cell is enough; a cell whose per-library count is not the larger
part of the total is flagged. run.py calls measure() and section() to put
the table in its report.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as runner  # noqa: E402  (the allocator table and its resolution)

SIZES = [16, 128, 4096]
ITERS = 200_000

_COST = re.compile(r"^[0-9+*-]")


def objects_ir(path):
    """Self instructions (Ir) per object file from a callgrind output file.

    The format (valgrind's docs/callgrind-format): "ob=" sets the current
    object, either "(id) name" or "(id)" for one already named (on an
    "ob=" or "cob=" line before); a cost line
    is a position then the event counts (here Ir alone); the cost line after
    a "calls=" line is the inclusive cost of that call, which belongs to the
    callee and is skipped here, since the callee's own lines count it."""
    names, totals = {}, collections.Counter()
    current = "?"
    skip_next = False
    with open(path) as f:
        for line in f:
            if line.startswith("cob="):  # a call's object: may be where an id is first named
                m = re.match(r"\((\d+)\)\s*(.+)", line[4:].strip())
                if m:
                    names[m.group(1)] = m.group(2)
            elif line.startswith("ob="):
                ref = line[3:].strip()
                m = re.match(r"\((\d+)\)\s*(.*)", ref)
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    current = names.get(m.group(1), ref)
                else:
                    current = ref
            elif line.startswith("calls="):
                skip_next = True
            elif _COST.match(line):
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    totals[current] += int(parts[1])
    return totals


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None


def count(probe, lib, size, iters, workdir):
    """One callgrind run. Returns (total Ir, Ir per object) or raises RuntimeError."""
    out = os.path.join(workdir, f"callgrind.{os.getpid()}.{size}.{iters}")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    argv = ["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={out}",
            probe, f"--size={size}", f"--iters={iters}"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not os.path.exists(out):
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"exit status {proc.returncode}: "
                           f"{'LD_PRELOAD=' + lib + ' ' if lib else ''}{' '.join(argv)}\n    {tail}")
    total, per_object = total_ir(out), objects_ir(out)
    os.unlink(out)
    return total, per_object


def library_object(lib):
    """The object name callgrind gives the allocator's library: its real path
    (callgrind names the file the loader opened, after symlinks)."""
    if lib is None:
        for path in ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"):
            if os.path.exists(path):
                return os.path.realpath(path)
        return "libc.so.6"
    return os.path.realpath(lib)


def measure(build, libs, allocs, sizes=SIZES, iters=ITERS, log=print):
    """{"cells": {alloc: {size: {...}}}, "problems": [...]}: per pair, the total
    instructions and those inside the allocator's library."""
    probe = os.path.join(build, "bench", "probes", "pairs")
    result = {"iters": [iters, 2 * iters], "sizes": sizes, "allocators": allocs, "cells": {}, "problems": []}
    if not shutil.which("valgrind"):
        result["problems"].append("valgrind not found (apt-get install -y valgrind)")
        return result
    if not os.access(probe, os.X_OK):
        result["problems"].append(f"{probe} not built (ninja -C {build})")
        return result
    with tempfile.TemporaryDirectory() as workdir:
        for a in allocs:
            result["cells"][a] = {}
            obj = library_object(libs[a])
            for size in sizes:
                try:
                    t1, o1 = count(probe, libs[a], size, iters, workdir)
                    t2, o2 = count(probe, libs[a], size, 2 * iters, workdir)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    result["problems"].append(f"{a}, {size} B: {e}")
                    log(f"  callgrind {a:9} {size:5} B  FAILED: {e}")
                    continue
                per_pair = (t2 - t1) / iters
                in_lib = (o2.get(obj, 0) - o1.get(obj, 0)) / iters
                # Code outside an object's .text has no name in callgrind's
                # output: tcmalloc puts malloc and free in their own ELF
                # section (google_malloc), which shows as "???". With a
                # preload, count it as the library's and say so.
                unnamed = (o2.get("???", 0) - o1.get("???", 0)) / iters if libs[a] else 0.0
                in_lib += unnamed
                by_object = {os.path.basename(k): (o2[k] - o1.get(k, 0)) / iters
                             for k in o2 if abs(o2[k] - o1.get(k, 0)) >= iters / 10}
                result["cells"][a][str(size)] = {"per_pair": per_pair, "in_library": in_lib, "unnamed": unnamed,
                                                 "library": os.path.basename(obj), "by_object": by_object}
                if in_lib < per_pair / 2:
                    result["problems"].append(
                        f"{a}, {size} B: only {in_lib:.1f} of {per_pair:.1f} instructions per pair ran in "
                        f"{os.path.basename(obj)}: is the preload in effect? (per object: {by_object})")
                log(f"  callgrind {a:9} {size:5} B  {per_pair:7.1f} instructions per pair, "
                    f"{in_lib:7.1f} in {os.path.basename(obj)}")
    return result


def section(result):
    """Markdown lines for the report."""
    out = ["## Instructions per malloc+free pair (callgrind)", "",
           f"Warm pairs of one size in a loop; (instructions at {result['iters'][1]:,} pairs - at "
           f"{result['iters'][0]:,}) / {result['iters'][0]:,}, counted by `valgrind --tool=callgrind` over "
           "the whole program, so start-up and exit cancel. Each cell: all instructions per pair, and "
           "in brackets those inside the allocator's library (glibc: libc.so.6); the difference is "
           "the loop and the PLT stubs. Lower is better.", ""]
    sizes = result["sizes"]
    if result["cells"]:
        out.append("| allocator | " + " | ".join(f"{s} B" for s in sizes) + " |")
        out.append("|---|" + "---:|" * len(sizes))
        for a, cells in result["cells"].items():
            row = []
            for s in sizes:
                c = cells.get(str(s))
                mark = "*" if c and c.get("unnamed", 0) >= 1 else ""
                row.append("n/a" if c is None else f"{c['per_pair']:.1f} ({c['in_library']:.1f}{mark})")
            out.append(f"| {a} | " + " | ".join(row) + " |")
        out.append("")
        if any(c.get("unnamed", 0) >= 1 for cells in result["cells"].values() for c in cells.values()):
            out.append("\\* includes code callgrind could not name (`???`), counted as the preloaded "
                       "library's: tcmalloc keeps malloc and free in their own ELF section, `google_malloc`.")
            out.append("")
        hk = result["cells"].get("hakmem", {})
        ratios = []
        for s in sizes:
            peers = [(c[str(s)]["per_pair"], a) for a, c in result["cells"].items()
                     if a != "hakmem" and str(s) in c]
            if str(s) in hk and peers:
                best, who = min(peers)
                ratios.append(f"{s} B: {hk[str(s)]['per_pair'] / best:.2f}x of {who}")
        if ratios:
            out.append("hakmem / fewest peer instructions: " + "; ".join(ratios) + ".")
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
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated sizes in bytes")
    p.add_argument("--iters", type=int, default=ITERS, help=f"N: pairs in the shorter run (default {ITERS})")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="directory for callgrind-YYYY-MM-DD.md and .json (default bench/results)")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    return runner.run_count_tool(
        args, "callgrind", lambda build, libs, allocs: measure(build, libs, allocs, sizes, args.iters), section)


if __name__ == "__main__":
    sys.exit(main())
