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
    python3 bench/callgrind.py build --check              # hakmem against bench/golden/instructions.json
    python3 bench/callgrind.py build --update-golden      # every allocator, written to the golden file

Counts are deterministic for a given binary and library, unlike timings, so
one run per cell is enough; a cell whose per-library count is not the larger
part of the total is flagged. run.py calls measure() and section() to put
the table in its report.

The golden file (bench/golden/instructions.json) holds the reviewed counts:
hakmem's per size, the peers' beside them, and the compiler and build type
they were counted with. --check counts hakmem alone and fails when a size
costs more than its golden count (plus a fraction of an instruction for the
loop's rounding), or when the build's compiler or build type is not the
golden file's, since the counts are only comparable for the same code
generator; --update-golden recounts everything and rewrites the file after a
change that moves the number on purpose.
"""

import argparse
import collections
import json
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
GOLDEN = os.path.join(HERE, "golden", "instructions.json")
# A pair's count is a difference of two whole-program totals over ITERS; it
# moves by a few hundredths between identical builds (start-up's page
# faults and clock reads), never by a whole instruction.
GOLDEN_SLACK = 0.5

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


def build_toolchain(build):
    """(compiler, build type) of a CMake build directory, from its cache and
    the compiler's own --version line."""
    cache = {}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                name, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    cache[name.split(":")[0]] = value
    except OSError:
        return None, None
    compiler = cache.get("CMAKE_CXX_COMPILER")
    version = None
    if compiler:
        try:
            out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
            version = out.splitlines()[0].strip() if out else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return version or compiler, cache.get("CMAKE_BUILD_TYPE")


def check_against_golden(result, golden, compiler, build_type):
    """Lines saying how hakmem's counts compare with the golden file's, and
    whether each holds. Returns (lines, failed)."""
    lines, failed = [], False
    if golden.get("compiler") != compiler or golden.get("build_type") != build_type:
        return [f"golden counts are for {golden.get('compiler')!r}, {golden.get('build_type')}; this build is "
                f"{compiler!r}, {build_type}: counts of different code generators do not compare. Count this "
                f"toolchain's with --update-golden and review them."], True
    want = golden["cells"]["hakmem"]
    got = result["cells"].get("hakmem", {})
    for size in result["sizes"]:
        key = str(size)
        if key not in want:
            lines.append(f"{size} B: no golden count (add it with --update-golden)")
            failed = True
            continue
        if key not in got:
            lines.append(f"{size} B: not measured")
            failed = True
            continue
        measured, reviewed = got[key]["per_pair"], want[key]
        ok = measured <= reviewed + GOLDEN_SLACK
        failed |= not ok
        peers = ", ".join(f"{a} {c[key]:.1f}" for a, c in golden["cells"].items() if a != "hakmem" and key in c)
        lines.append(f"{size} B: {measured:.1f} instructions per pair, golden {reviewed:.1f}: "
                     f"{'holds' if ok else 'MORE THAN REVIEWED'}" + (f" (peers when counted: {peers})" if peers else ""))
    return lines, failed


def golden_from(result, compiler, build_type):
    cells = {a: {s: round(c["per_pair"], 1) for s, c in sizes.items()} for a, sizes in result["cells"].items()}
    return {"about": "instructions per warm malloc+free pair, whole program, bench/callgrind.py; "
                     "reviewed numbers: --check fails when hakmem's exceed them",
            "compiler": compiler, "build_type": build_type, "iters": result["iters"][0],
            "sizes": result["sizes"], "cells": cells}


def golden_mode(args, sizes):
    """--check and --update-golden. Returns the exit status."""
    build = os.path.abspath(args.build)
    compiler, build_type = build_toolchain(build)
    if compiler is None:
        print(f"{build}: no CMakeCache.txt, not a build directory", file=sys.stderr)
        return 2
    wanted = args.allocators or ("hakmem" if args.check else None)
    libs, allocs, _, error = runner.resolve_allocators(build, wanted, args.lib, list(runner.ALLOCATORS))
    if error:
        print(error, file=sys.stderr)
        return 2
    if "hakmem" not in allocs:
        print("the golden counts are hakmem's: include hakmem in --allocators", file=sys.stderr)
        return 2
    result = measure(build, libs, allocs, sizes, args.iters)
    if result["problems"]:
        for p in result["problems"]:
            print(f"problem: {p}", file=sys.stderr)
        return 1
    if args.update_golden:
        os.makedirs(os.path.dirname(args.golden), exist_ok=True)
        with open(args.golden, "w") as f:
            json.dump(golden_from(result, compiler, build_type), f, indent=1)
            f.write("\n")
        print(f"written to {args.golden}")
        return 0
    try:
        with open(args.golden) as f:
            golden = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args.golden}: {e}", file=sys.stderr)
        return 2
    lines, failed = check_against_golden(result, golden, compiler, build_type)
    for line in lines:
        print(line)
    return 1 if failed else 0


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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="count hakmem only and fail if a size costs more than the golden file says")
    mode.add_argument("--update-golden", action="store_true",
                      help="count every allocator and write the golden file")
    p.add_argument("--golden", default=GOLDEN, help=f"the golden file (default {os.path.relpath(GOLDEN)})")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.check or args.update_golden:
        return golden_mode(args, sizes)
    return runner.run_count_tool(
        args, "callgrind", lambda build, libs, allocs: measure(build, libs, allocs, sizes, args.iters), section)


if __name__ == "__main__":
    sys.exit(main())
