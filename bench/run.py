#!/usr/bin/env python3
"""Runs hakmem's benchmark suite against the peer allocators and reports ratios.

Every workload is a plain executable (bench/workloads, bench/micro) that
calls malloc and free, a short system command the runner starts many times
itself (the startup_* rows), or a real program from a Debian package run on
a generated input (the prog_* rows, programs.py); this runner picks the
allocator with LD_PRELOAD, so each allocator runs the very same binary.
Runs are interleaved (hakmem, glibc, jemalloc, tcmalloc, mimalloc, then
again, --runs times), so a disturbance on the machine spreads over every
column instead of landing on one. Each figure is the median of its runs; the report gives, per row, each
allocator's median and hakmem's ratio to the best peer, then per workload
hakmem's speed and RSS against the best peers side by side, their geometric
means, and the spread of hakmem's runs.

It builds nothing: build first (cmake -S . -B build -G Ninja && ninja -C
build) and pass the build directory (default ./build).

    python3 bench/run.py                       # everything, 5 runs
    python3 bench/run.py --quick               # small sizes, to check it all works
    python3 bench/run.py --only memory_overhead,random_mixed_tiny_1t --runs 5
    python3 bench/run.py --smoke build         # ctest: each workload once under hakmem

Unless --only or --no-counts, the report also gets instructions per
malloc+free pair (callgrind.py, needs valgrind), memory system calls per
million ops (syscalls.py, needs strace) and the madvise calls per second of
the real programs and the workloads (one more run of each under strace).

Python standard library only; the chart needs matplotlib and is skipped
without it, with a note. Adding a workload is one entry in WORKLOADS.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import programs  # noqa: E402  (the real-program rows: their inputs and how a run is measured)

HIGHER = "higher"
LOWER = "lower"

# name -> library to preload (None: the C library's own malloc). hakmem's
# path is relative to the build directory; the peers are Debian's packages.
ALLOCATORS = {
    "hakmem": "libhakmem.so",
    "glibc": None,
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
}
PEER_PACKAGES = {"jemalloc": "libjemalloc2", "tcmalloc": "libtcmalloc-minimal4", "mimalloc": "libmimalloc2.0"}
INSTALL_HINT = "apt-get install -y libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0"

# Metrics: (key in the RESULT line, label, better, scale, decimals).
OPS = ("ops_per_sec", "M ops/s", HIGHER, 1e-6, 2)
OPS_K = ("ops_per_sec", "K ops/s", HIGHER, 1e-3, 1)
OPS_1 = ("ops_per_sec", "ops/s", HIGHER, 1, 0)
PEAK = ("peak_rss_kb", "peak RSS MiB", LOWER, 1 / 1024, 1)
THROUGHPUT = [OPS, PEAK]
THROUGHPUT_K = [OPS_K, PEAK]  # for the slow size ranges
THROUGHPUT_1 = [OPS_1, PEAK]
# Ops per CPU-second of the process: steadier than wall time when other work
# shares the machine (time spent descheduled does not count).
OPS_CPU = ("ops_per_cpu_sec", "M ops per CPU-s", HIGHER, 1e-6, 2)


def larson(threads, seconds, chunks):
    # The original program's positional command line (see larson.cpp).
    return [str(seconds), "8", "128", str(chunks), "1", "12345", str(threads)]


def mixed(size, threads, slots, ops, touch="0"):
    return [f"--size={size}", f"--threads={threads}", f"--slots={slots}", f"--ops={ops}", "--seed=12345",
            f"--touch={touch}"]


# Start-up: time per execution of a short command (kind "spawn").
EXEC_WALL = ("us_per_exec", "us per exec, wall", LOWER, 1, 0)
EXEC_CPU = ("cpu_us_per_exec", "CPU us per exec", LOWER, 1, 0)
STARTUP = [EXEC_WALL, EXEC_CPU]
STARTUP_REPS = {"full": 200, "quick": 50, "smoke": 3}
PIPELINE = "seq 1 2000 | sort -n | uniq | wc -l"


def growth(step, via, max_bytes, rounds):
    return [f"--growth={step}", f"--via={via}", f"--max={max_bytes}", "--live=16", f"--rounds={rounds}"]


def per_thread(threads, total):
    """The per-thread op count that keeps a row's total work the same at 1, 2
    and 4 threads."""
    return max(1, total // threads)


def threaded(prefix, program, args_of, totals, metrics, threads=(1, 2, 4)):
    """Rows PREFIX_1t, _2t, _4t: args_of(threads, ops per thread) per mode,
    from the total ops of each mode."""
    return [{"name": f"{prefix}_{t}t", "program": program,
             "args": {m: args_of(t, per_thread(t, n)) for m, n in totals.items()}, "metrics": metrics}
            for t in threads]


def server_sim(mode, slots=None):
    def args_of(t, ops):
        a = [f"--mode={mode}", f"--threads={t}", f"--ops={ops}", "--seed=12345"]
        if slots is not None:
            a.append(f"--slots={slots(t)}")
        return a
    return args_of


# Real programs (kind "program"): the wall time of one whole run, lower is
# better, and the largest peak resident set in its process tree.
WALL = ("wall_s", "wall s", LOWER, 1, 2)
TREE_CPU = ("cpu_s", "CPU s (process tree)", LOWER, 1, 2)
TREE_PEAK = ("peak_rss_kb", "peak RSS MiB (largest process)", LOWER, 1 / 1024, 1)
PROGRAM = [WALL, TREE_PEAK, TREE_CPU]
AFTER_FREE = ("rss_after_free_kb", "RSS after free MiB", LOWER, 1 / 1024, 1)
REDIS_LPUSH = {"full": 500_000, "quick": 100_000, "smoke": 2_000}


def interpreter(name, program, package, script_name, script, full, quick):
    """A prog_* row running one of programs.py's interpreter scripts with
    its two arguments (rounds, items) per mode; smoke runs 1 round of 1000."""
    return {"name": name, "kind": "program", "program": program, "package": package,
            "input": (script_name, programs.fixed(script), None),
            "args": {"full": ["{input}", *full], "quick": ["{input}", *quick], "smoke": ["{input}", "1", "1000"]},
            "metrics": PROGRAM}


# The workloads. Each entry: the program (under BUILD/bench), its arguments
# for the full run, --quick and --smoke, and the metrics to report. kind
# "gbench" is a google-benchmark binary whose rows are read from its JSON.
# kind "spawn" is a system command (found on PATH, not built here) that the
# runner starts "reps" times in a row with the allocator preloaded, timing
# each execution: start-up, the allocator's initialisation and exit. kind
# "program" is a real program (found on PATH, or an absolute path; a row
# whose program or "needs" is missing is skipped with a note naming its
# "package"), timed as one whole run; "input" is (file name, generator,
# size per mode) and "{input}" in the arguments becomes the generated file.
# A program row with a "client" is a server: the client drives it and the
# server's resident set is read after (see programs.py).
WORKLOADS = [
    {"name": "larson_1t", "program": "workloads/larson",
     "args": {"full": larson(1, 10, 1024), "quick": larson(1, 1, 1024), "smoke": larson(1, 0.1, 256)},
     "metrics": THROUGHPUT},
    {"name": "larson_2t", "program": "workloads/larson",
     "args": {"full": larson(2, 10, 1024), "quick": larson(2, 1, 1024), "smoke": larson(2, 0.1, 256)},
     "metrics": THROUGHPUT},
    {"name": "larson_4t", "program": "workloads/larson",
     "args": {"full": larson(4, 10, 1024), "quick": larson(4, 1, 1024), "smoke": larson(4, 0.1, 256)},
     "metrics": THROUGHPUT},
    {"name": "random_mixed_tiny_1t", "program": "workloads/random_mixed",
     "args": {"full": mixed("tiny", 1, 4096, 20_000_000), "quick": mixed("tiny", 1, 4096, 2_000_000),
              "smoke": mixed("tiny", 1, 256, 20_000)},
     "metrics": [OPS, OPS_CPU, PEAK]},
    {"name": "random_mixed_tiny_2t", "program": "workloads/random_mixed",
     "args": {"full": mixed("tiny", 2, 4096, 10_000_000), "quick": mixed("tiny", 2, 4096, 1_000_000),
              "smoke": mixed("tiny", 2, 256, 10_000)},
     "metrics": THROUGHPUT},
    {"name": "random_mixed_tiny_4t", "program": "workloads/random_mixed",
     "args": {"full": mixed("tiny", 4, 4096, 5_000_000), "quick": mixed("tiny", 4, 4096, 500_000),
              "smoke": mixed("tiny", 4, 256, 5_000)},
     "metrics": THROUGHPUT},
    {"name": "random_mixed_mid_1t", "program": "workloads/random_mixed",
     "args": {"full": mixed("mid", 1, 1024, 5_000_000), "quick": mixed("mid", 1, 1024, 500_000),
              "smoke": mixed("mid", 1, 64, 5_000)},
     "metrics": [OPS, OPS_CPU, PEAK]},
    {"name": "random_mixed_large_1t", "program": "workloads/random_mixed",
     "args": {"full": mixed("large", 1, 256, 200_000), "quick": mixed("large", 1, 256, 20_000),
              "smoke": mixed("large", 1, 16, 500)},
     "metrics": THROUGHPUT_K},
    {"name": "random_mixed_huge_1t", "program": "workloads/random_mixed",
     "args": {"full": mixed("huge", 1, 16, 50_000), "quick": mixed("huge", 1, 16, 5_000),
              "smoke": mixed("huge", 1, 4, 20)},
     "metrics": THROUGHPUT_1},
    # The same, writing every byte of each block: page faults included, as
    # for a program that fills its buffers (huge-page backing pays off here).
    {"name": "random_mixed_huge_touch_1t", "program": "workloads/random_mixed",
     "args": {"full": mixed("huge", 1, 16, 1_000, "all"), "quick": mixed("huge", 1, 16, 100, "all"),
              "smoke": mixed("huge", 1, 4, 10, "all")},
     "metrics": THROUGHPUT_1},
    {"name": "memory_overhead", "program": "workloads/memory_overhead",
     "args": {"full": ["--blocks=1000000", "--size=16"], "quick": ["--blocks=1000000", "--size=16"],
              "smoke": ["--blocks=10000", "--size=16"]},
     "metrics": [PEAK,
                 ("rss_per_block_bytes", "RSS per live block, bytes", LOWER, 1, 1),
                 ("rss_after_free_kb", "RSS after free MiB", LOWER, 1 / 1024, 1),
                 ("rss_after_trim_kb", "RSS after malloc_trim MiB", LOWER, 1 / 1024, 1)]},
    {"name": "producer_consumer_2t", "program": "workloads/producer_consumer",
     "args": {"full": ["--threads=2", "--size=tiny", "--blocks=5000000"],
              "quick": ["--threads=2", "--size=tiny", "--blocks=500000"],
              "smoke": ["--threads=2", "--size=tiny", "--blocks=10000"]},
     "metrics": THROUGHPUT},
    # Mixed sizes freed at random, 90% of each phase, then other sizes: how
    # much of the freed memory the next phases reuse or the kernel gets back.
    {"name": "fragmentation", "program": "workloads/fragmentation",
     "args": {"full": ["--phases=6", "--phase-mib=64"], "quick": ["--phases=6", "--phase-mib=16"],
              "smoke": ["--phases=6", "--phase-mib=1"]},
     "metrics": [PEAK,
                 ("final_rss_kb", "final RSS MiB (10% live)", LOWER, 1 / 1024, 1),
                 ("rss_after_trim_kb", "RSS after malloc_trim MiB", LOWER, 1 / 1024, 1)]},
    # Buffers growing side by side to a few MiB: by 16 bytes through realloc
    # (a string appended to), by doubling through realloc, and by doubling
    # through malloc+copy+free (std::vector's way).
    {"name": "realloc_step16", "program": "workloads/realloc_growth",
     "args": {"full": growth("16", "realloc", 2 << 20, 4), "quick": growth("16", "realloc", 2 << 20, 1),
              "smoke": growth("16", "realloc", 64 << 10, 1)},
     "metrics": [OPS, OPS_CPU, PEAK]},
    {"name": "realloc_double", "program": "workloads/realloc_growth",
     "args": {"full": growth("double", "realloc", 4 << 20, 60), "quick": growth("double", "realloc", 4 << 20, 6),
              "smoke": growth("double", "realloc", 1 << 20, 1)},
     "metrics": [OPS_K, PEAK]},
    {"name": "vector_double", "program": "workloads/realloc_growth",
     "args": {"full": growth("double", "copy", 4 << 20, 60), "quick": growth("double", "copy", 4 << 20, 6),
              "smoke": growth("double", "copy", 1 << 20, 1)},
     "metrics": [OPS_K, PEAK]},
    # Short-lived processes: the allocator's share of start-up and exit. The
    # preload reaches every process of the pipeline (sh, seq, sort, uniq, wc).
    # The glibc column runs with no preload at all: it is the baseline, and
    # the report gives each allocator's ratio to it.
    {"name": "startup_true", "kind": "spawn", "program": "true", "reps": STARTUP_REPS,
     "args": {"full": [], "quick": [], "smoke": []}, "metrics": STARTUP},
    {"name": "startup_ls", "kind": "spawn", "program": "ls", "reps": STARTUP_REPS,
     "args": {m: ["/usr/bin"] for m in ("full", "quick", "smoke")}, "metrics": STARTUP},
    {"name": "startup_pipeline", "kind": "spawn", "program": "sh", "reps": STARTUP_REPS,
     "args": {m: ["-c", PIPELINE] for m in ("full", "quick", "smoke")}, "metrics": STARTUP},
    # What users meet (issue 19). A logic minimiser's shifting size mix.
    {"name": "shifting_mix", "program": "workloads/shifting_mix",
     "args": {"full": ["--rounds=400"], "quick": ["--rounds=40"],
              "smoke": ["--rounds=4", "--slots=2000", "--phase-ops=2000"]},
     "metrics": [OPS, OPS_CPU, PEAK]},
    # Batches of 100/1000/10000 blocks of 16/32/64 B, freed LIFO or FIFO.
    *threaded("batch_same_size", "workloads/batch_same_size",
              lambda t, n: [f"--threads={t}", f"--pairs={n * t}"],
              {"full": 96_000_000, "quick": 9_600_000, "smoke": 100_000}, THROUGHPUT),
    # Random 8 B-16 KiB blocks, one in four handed to the next thread to free.
    *threaded("handoff_random", "workloads/handoff_random",
              lambda t, n: [f"--threads={t}", f"--ops={n}", "--seed=12345"],
              {"full": 10_000_000, "quick": 1_000_000, "smoke": 20_000}, [OPS_CPU, OPS, PEAK]),
    # A server's memory: 8-1000 B blocks in arrays passed from thread to
    # thread; 1024-slot working sets of 4 B-32 KiB; 5-25 MiB buffers, 20 live
    # in all. Peak RSS is what counts.
    *threaded("server_sim", "workloads/server_sim", server_sim("handoff"),
              {"full": 40_000_000, "quick": 4_000_000, "smoke": 20_000}, [OPS, PEAK, AFTER_FREE]),
    *threaded("server_sim_ws", "workloads/server_sim", server_sim("working-set"),
              {"full": 8_000_000, "quick": 800_000, "smoke": 10_000}, [OPS, PEAK, AFTER_FREE]),
    *threaded("server_sim_big", "workloads/server_sim", server_sim("big", slots=lambda t: 20 // t),
              {"full": 1_000, "quick": 100, "smoke": 8}, [OPS_1, PEAK, AFTER_FREE]),
    # 1-32 KiB blocks, 1024 live, one byte written in each: page faults, and
    # with transparent huge pages a spread between runs.
    *threaded("thp_sparse", "workloads/thp_sparse",
              lambda t, n: [f"--threads={t}", f"--ops={n}", "--seed=12345"],
              {"full": 10_000_000, "quick": 1_000_000, "smoke": 10_000}, THROUGHPUT),
    # Real programs from Debian packages, with generated inputs (programs.py).
    {"name": "prog_gxx", "kind": "program", "program": "g++", "package": "g++",
     "input": ("unit.cpp", programs.cxx_source, {"full": 6, "quick": 1, "smoke": 0}),
     "args": {m: ["-std=c++20", "-O2", "-c", "-o", "/dev/null", "{input}"] for m in ("full", "quick", "smoke")},
     "metrics": PROGRAM},
    {"name": "prog_z3", "kind": "program", "program": "z3", "package": "z3",
     "input": ("problem.smt2", programs.smt_problem, {"full": 100, "quick": 15, "smoke": 2}),
     "args": {m: ["{input}"] for m in ("full", "quick", "smoke")}, "metrics": PROGRAM},
    {"name": "prog_gs", "kind": "program", "program": "gs", "package": "ghostscript",
     "input": ("pages.ps", programs.postscript, {"full": 40, "quick": 6, "smoke": 1}),
     "args": {m: ["-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=png16m", "-r150", "-sOutputFile=/dev/null",
                  "{input}"] for m in ("full", "quick", "smoke")},
     "metrics": PROGRAM},
    {"name": "prog_sqlite3", "kind": "program", "program": "sqlite3", "package": "sqlite3",
     "input": ("rows.sql", programs.sql_script, {"full": 1_000_000, "quick": 100_000, "smoke": 2_000}),
     "args": {m: [":memory:", ".read {input}"] for m in ("full", "quick", "smoke")}, "metrics": PROGRAM},
    # Debian's interpreter, not one first on PATH (pyenv, a venv).
    interpreter("prog_python3", "/usr/bin/python3", "python3", "alloc.py", programs.PYTHON_SCRIPT,
                full=("8", "100000"), quick=("1", "100000")),
    interpreter("prog_perl", "perl", "perl", "alloc.pl", programs.PERL_SCRIPT,
                full=("3", "100000"), quick=("1", "30000")),
    interpreter("prog_lua", "lua5.4", "lua5.4", "alloc.lua", programs.LUA_SCRIPT,
                full=("2", "100000"), quick=("1", "20000")),
    # redis-server under the allocator, redis-benchmark (not preloaded)
    # pushing 1000-byte values onto one list; the server's RSS after.
    {"name": "prog_redis_lpush", "kind": "program", "program": "redis-server", "package": "redis-server redis-tools",
     "needs": ["redis-benchmark"],
     "args": {m: ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
              for m in ("full", "quick", "smoke")},
     "client": {m: ["redis-benchmark", "-h", "127.0.0.1", "-p", "{port}", "-t", "lpush", "-n", str(n), "-d", "1000",
                    "-c", "50", "-P", "16", "-q", "--csv"] for m, n in REDIS_LPUSH.items()},
     "metrics": [("requests_per_sec", "K requests/s", HIGHER, 1e-3, 1),
                 ("rss_after_kb", "server RSS after MiB", LOWER, 1 / 1024, 1),
                 ("peak_rss_kb", "server peak RSS MiB", LOWER, 1 / 1024, 1)]},
    {"name": "micro", "program": "micro/alloc_micro", "kind": "gbench",
     "args": {"full": ["--benchmark_min_time=0.5"], "quick": ["--benchmark_min_time=0.05"],
              "smoke": ["--benchmark_min_time=0.001"]},
     "metrics": []},  # one row per benchmark, in ns per iteration (lower is better)
]

# The targets (issue 19), as ratios to the best peer in the same run, on the
# per-workload summary (summarize()): speed is hakmem's advantage (above 1:
# faster), RSS hakmem's resident set over the best peer's (below 1: less),
# spread hakmem's slowest run over its fastest. Entries: (selector, measure,
# comparison, bound). The selector "geomean" is the geometric mean over the
# summary rows, "every row" holds for each of them (the report names the
# worst), and a workload name is that row alone; the measure is "speed",
# "rss", "spread" or a metric key of the workload's own table rows.
# Larson and random tiny must lead outright and the memory overhead must not
# trail; the rows a user meets as a whole program, and the sparse-touch rows
# that huge pages make erratic, must repeat within 1.3x.
SPREAD_ROWS = [w["name"] for w in WORKLOADS if w["name"].startswith("thp_sparse") or w.get("kind") == "program"]
TARGETS = (
    [("geomean", "speed", ">=", 1.05), ("geomean", "rss", "<=", 1.0),
     ("every row", "speed", ">=", 0.95), ("every row", "rss", "<=", 1.10)]
    + [(w, "spread", "<=", 1.3) for w in SPREAD_ROWS]
    + [(w, "ops_per_sec", ">=", 1.0) for w in ("larson_1t", "larson_2t", "larson_4t",
                                             "random_mixed_tiny_1t", "random_mixed_tiny_2t")]
    + [("memory_overhead", "peak_rss_kb", "<=", 1.0)]
    + [("fragmentation", key, "<=", 1.10) for key in ("final_rss_kb", "rss_after_trim_kb")]
)


# --- running ---------------------------------------------------------------

def parse_result_line(stdout):
    """The RESULT line's key=value pairs, numbers as floats; None if absent."""
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            fields = {}
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                try:
                    fields[key] = float(value)
                except ValueError:
                    fields[key] = value
            return fields
    return None


def parse_gbench(stdout):
    """google-benchmark JSON -> {row: ns per iteration}. Single-thread rows use
    CPU time, which a busy machine disturbs least; rows marked real_time (the
    cross-thread ones) use wall time, since their cost includes waiting."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    rows = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = b["name"]
        t = b["real_time"] if "real_time" in name else b["cpu_time"]
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        rows[name] = t * scale
    return rows or None


def describe_exit(rc):
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


def run_spawn(workload, mode, lib, timeout):
    """One sample of a "spawn" workload: the command started reps times in a
    row (after 3 unmeasured starts that warm the page cache), each waited
    for before the next. posix_spawn keeps the runner's own cost per start
    small and the same for every allocator. Returns the mean wall time and
    the mean CPU time (user + system, the command and the children it waited
    for, from wait4) per execution, in microseconds."""
    exe = shutil.which(workload["program"])
    if exe is None:
        return None, f"{workload['program']} not found on PATH"
    argv = [workload["program"]] + list(workload["args"][mode])
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    repro = (f"LD_PRELOAD={lib} " if lib else "") + " ".join(shlex.quote(a) for a in argv)
    reps = workload["reps"][mode]
    with tempfile.TemporaryFile() as err:
        # stdout to /dev/null, stderr kept to explain a failure.
        actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        deadline = time.monotonic() + timeout
        wall = cpu = 0.0
        for i in range(3 + reps):
            t0 = time.perf_counter()
            pid = os.posix_spawn(exe, argv, env, file_actions=actions)
            _, status, ru = os.wait4(pid, 0)
            t1 = time.perf_counter()
            rc = os.waitstatus_to_exitcode(status)
            if rc != 0:
                err.seek(0)
                tail = "\n".join(err.read().decode(errors="replace").strip().splitlines()[-5:])
                return None, f"{describe_exit(rc)}: {repro}" + (f"\n    stderr: {tail}" if tail else "")
            if i >= 3:
                wall += t1 - t0
                cpu += ru.ru_utime + ru.ru_stime
            if time.monotonic() > deadline:
                return None, f"timed out after {timeout} s ({i + 1} of {3 + reps} starts): {repro}"
    return {"us_per_exec": wall / reps * 1e6, "cpu_us_per_exec": cpu / reps * 1e6}, None


def run_once(workload, mode, build, lib, timeout):
    """Runs one sample. Returns (metrics dict, None) or (None, problem text)."""
    if workload.get("kind") == "spawn":
        return run_spawn(workload, mode, lib, timeout)
    if workload.get("kind") == "program":
        return programs.run_program(workload, mode, build, lib, timeout)
    exe = os.path.join(build, "bench", workload["program"])
    argv = [exe] + list(workload["args"][mode])
    gbench = workload.get("kind") == "gbench"
    if gbench:
        argv.append("--benchmark_format=json")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    repro = (f"LD_PRELOAD={lib} " if lib else "") + " ".join(shlex.quote(a) for a in argv)
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s: {repro}"
    tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
    if proc.returncode != 0:
        return None, f"{describe_exit(proc.returncode)}: {repro}" + (f"\n    stderr: {tail}" if tail else "")
    if gbench:
        values = parse_gbench(proc.stdout)
        if values is None:
            return None, f"no benchmark rows in the JSON output: {repro}"
        return values, None
    fields = parse_result_line(proc.stdout)
    if fields is None:
        return None, f"no RESULT line: {repro}" + (f"\n    stderr: {tail}" if tail else "")
    missing = [m[0] for m in workload["metrics"] if not isinstance(fields.get(m[0]), float)]
    if missing:
        return None, f"RESULT line lacks {', '.join(missing)}: {repro}"
    values = {m[0]: fields[m[0]] for m in workload["metrics"]}
    # The timed window, for the madvise calls per second (programs.py).
    if isinstance(fields.get("elapsed_s"), float):
        values["elapsed_s"] = fields["elapsed_s"]
    return values, None


def short(values, workload):
    if workload.get("kind") == "gbench":
        return f"{len(values)} rows"
    parts = []
    for key, label, _, scale, dec in workload["metrics"][:2]:
        parts.append(f"{label}={values[key] * scale:.{dec}f}")
    return " ".join(parts)


# --- the machine -------------------------------------------------------------

def read_first(path, prefix=None):
    try:
        with open(path) as f:
            for line in f:
                if prefix is None or line.startswith(prefix):
                    return line.strip()
    except OSError:
        pass
    return None


def command_out(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cache_value(cache, key):
    """A value from CMakeCache.txt ("KEY:TYPE=value"), or ""."""
    line = read_first(cache, key + ":") if os.path.exists(cache) else None
    return line.split("=", 1)[1] if line else ""


def machine_info(build):
    model = read_first("/proc/cpuinfo", "model name")
    mem = read_first("/proc/meminfo", "MemTotal")
    mem_gib = f"{int(mem.split()[1]) / 2**20:.1f} GiB" if mem else "unknown"
    thp = read_first("/sys/kernel/mm/transparent_hugepage/enabled") or "unknown"
    hugepages = read_first("/proc/meminfo", "HugePages_Total")
    # The commit is the one of the tree the build was configured from, which
    # need not be this script's.
    cache = os.path.join(build, "CMakeCache.txt")
    build_type = cache_value(cache, "CMAKE_BUILD_TYPE")
    source = cache_value(cache, "CMAKE_HOME_DIRECTORY") or REPO
    commit = command_out(["git", "-C", source, "rev-parse", "--short", "HEAD"])
    dirty = command_out(["git", "-C", source, "status", "--porcelain", "--", "src", "include", "CMakeLists.txt"])
    lib = os.path.join(build, ALLOCATORS["hakmem"])
    built = (datetime.datetime.fromtimestamp(os.path.getmtime(lib)).strftime("%Y-%m-%d %H:%M")
             if os.path.exists(lib) else "not built")
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "model": model.split(":", 1)[1].strip() if model else "unknown",
        "kernel": platform.release(),
        "memory": mem_gib,
        "thp": thp,
        "hugepages": hugepages.split(":", 1)[1].strip() if hugepages else "unknown",
        "commit": ((commit + (" (src/ has uncommitted changes)" if dirty else "")) if commit else "unknown")
                  + f" in {source}",
        "build": f"{os.path.abspath(build)} ({build_type or 'unknown build type'}, libhakmem.so built {built})",
    }


def loadavg():
    return read_first("/proc/loadavg") or "unknown"


def busy_cpu_seconds():
    """CPU-seconds spent busy so far, summed over the machine's CPUs (/proc/stat)."""
    line = read_first("/proc/stat", "cpu ")
    if not line:
        return None
    ticks = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class OtherLoad:
    """How many CPUs other processes kept busy during one run: the machine's
    busy time over the run, less the time our (waited-for) child used. The
    benchmarks often share a machine; this says which samples it disturbed."""

    def __init__(self):
        self.busy, self.child, self.t = busy_cpu_seconds(), children_cpu_seconds(), time.monotonic()

    def cpus(self):
        busy, wall = busy_cpu_seconds(), time.monotonic() - self.t
        if busy is None or self.busy is None or wall <= 0:
            return None
        return max(0.0, (busy - self.busy) - (children_cpu_seconds() - self.child)) / wall


def wait_for_quiet(max_busy, max_wait):
    """Waits until other processes use at most max_busy CPUs (measured over
    half-second windows), for at most max_wait seconds. True if it got quiet."""
    deadline = time.monotonic() + max_wait
    while True:
        meter = OtherLoad()
        time.sleep(0.5)
        used = meter.cpus()
        if used is None or used <= max_busy:
            return True
        if time.monotonic() >= deadline:
            return False


def peer_version(name):
    pkg = PEER_PACKAGES.get(name)
    if not pkg:
        return ""
    return command_out(["dpkg-query", "-W", "-f", "${Version}", pkg])


# --- the report ---------------------------------------------------------------

def rows_of(workload, samples):
    """(metric key, label, better, scale, decimals) for each row of a workload."""
    if workload.get("kind") != "gbench":
        return workload["metrics"]
    names = []
    for runs in samples.values():
        for values in runs:
            for name in values:
                if name not in names:
                    names.append(name)
    unit = lambda n: "ns/iter, wall" if "real_time" in n else "ns/iter, CPU"
    return [(n, f"{n} ({unit(n)})", LOWER, 1, 1) for n in names]


def median_of(runs, key):
    values = [v[key] for v in runs if key in v]
    return statistics.median(values) if values else None


def spread_pct(runs, key):
    values = [v[key] for v in runs if key in v]
    if len(values) < 2:
        return 0.0
    med = statistics.median(values)
    return (max(values) - min(values)) / med * 100 if med else 0.0


def best_peer(medians, better):
    peers = {a: m for a, m in medians.items() if a != "hakmem" and m is not None}
    if not peers:
        return None, None
    pick = max if better == HIGHER else min
    name = pick(peers, key=peers.get)
    return name, peers[name]


def build_table(selected, allocs, samples):
    """Rows of the report: dicts with the medians, best peer and ratio."""
    table = []
    for w in selected:
        ws = samples[w["name"]]
        for key, label, better, scale, dec in rows_of(w, ws):
            medians = {a: median_of(ws[a], key) for a in allocs}
            peer, peer_value = best_peer(medians, better)
            ratio = None
            if peer_value and medians.get("hakmem") is not None:
                ratio = medians["hakmem"] / peer_value
            table.append({"workload": w["name"], "key": key, "label": label, "better": better,
                          "scale": scale, "dec": dec, "medians": medians, "best_peer": peer,
                          "ratio": ratio, "spread": {a: spread_pct(ws[a], key) for a in allocs}})
    return table


def verdict(ratio, better):
    if ratio is None:
        return ""
    wins = ratio >= 1 if better == HIGHER else ratio <= 1
    return "hakmem ahead" if wins else "hakmem behind"


def is_rss(key):
    return "rss" in key


def speed_metric(workload):
    """The metric a workload's speed is judged on: its first that is not a
    resident-set figure (None for memory-only workloads)."""
    return next((m for m in workload["metrics"] if not is_rss(m[0])), None)


def rss_metric(workload):
    """Its first resident-set figure (None for the start-up rows)."""
    return next((m for m in workload["metrics"] if is_rss(m[0]) and m[2] == LOWER), None)


def summarize(selected, table, samples):
    """One row per workload (the micro-benchmarks aside): speed as hakmem's
    advantage over the fastest peer (above 1: faster, whichever way the
    metric points), RSS as hakmem's over the leanest peer's (below 1: less),
    each against its own best peer, and hakmem's spread on the speed metric
    (slowest run over fastest; None from a single run). Returns (rows,
    geomean row)."""
    rows = []
    for w in selected:
        if w.get("kind") == "gbench":
            continue
        row = {"workload": w["name"], "speed": None, "speed_peer": None, "speed_label": "", "rss": None,
               "rss_peer": None, "spread": None}
        sm, rm = speed_metric(w), rss_metric(w)
        by_key = {r["key"]: r for r in table if r["workload"] == w["name"]}
        if sm and by_key.get(sm[0]) and by_key[sm[0]]["ratio"]:
            t = by_key[sm[0]]
            row["speed"] = t["ratio"] if t["better"] == HIGHER else 1 / t["ratio"]
            row["speed_peer"], row["speed_label"] = t["best_peer"], t["label"]
        if rm and by_key.get(rm[0]) and by_key[rm[0]]["ratio"]:
            row["rss"], row["rss_peer"] = by_key[rm[0]]["ratio"], by_key[rm[0]]["best_peer"]
        values = [v[sm[0]] for v in samples[w["name"]].get("hakmem", []) if sm and sm[0] in v]
        if len(values) >= 2 and min(values) > 0:
            row["spread"] = max(values) / min(values)
        if row["speed"] is not None or row["rss"] is not None:
            rows.append(row)

    def geomean(xs):
        xs = [x for x in xs if x]
        return (statistics.geometric_mean(xs), len(xs)) if xs else (None, 0)

    speed, n_speed = geomean(r["speed"] for r in rows)
    rss, n_rss = geomean(r["rss"] for r in rows)
    return rows, {"speed": speed, "rss": rss, "n_speed": n_speed, "n_rss": n_rss}


def ahead(row):
    """"ahead" only when hakmem is at least as fast and at most as big as the
    best peers (of the two figures, those the row has)."""
    checks = ([row["speed"] >= 1] if row["speed"] is not None else []) + \
             ([row["rss"] <= 1] if row["rss"] is not None else [])
    if not checks:
        return ""
    return "ahead" if all(checks) else "behind"


def summary_section(rows, mean):
    if not rows:
        return []
    fmt = lambda x: "" if x is None else f"{x:.2f}x"
    out = ["## hakmem against the best peer, per workload", "",
           "Speed: hakmem's advantage over the fastest peer on the workload's first speed figure (above 1: "
           "hakmem faster; for times, the peer's time over hakmem's). RSS: hakmem's resident set over the "
           "leanest peer's, on the first RSS figure (below 1: hakmem smaller). *ahead* only when speed >= 1 "
           "and RSS <= 1. Spread: hakmem's slowest run over its fastest.", "",
           "| workload | speed figure | speed | fastest peer | RSS | leanest peer | verdict | hakmem spread |",
           "|---|---|---:|---|---:|---|---|---:|"]
    for r in rows:
        out.append(f"| {r['workload']} | {r['speed_label']} | {fmt(r['speed'])} | {r['speed_peer'] or ''} | "
                   f"{fmt(r['rss'])} | {r['rss_peer'] or ''} | {ahead(r)} | {fmt(r['spread'])} |")
    out.append(f"| **geomean** | {mean['n_speed']} speed, {mean['n_rss']} RSS rows | **{fmt(mean['speed'])}** | | "
               f"**{fmt(mean['rss'])}** | | {ahead(mean)} | |")
    out.append("")
    return out


def target_rows(table, rows, mean):
    """The TARGETS lines of the report: (selector, measure, ratio, measured,
    bound, met)."""
    out = []
    for sel, measure, op, bound in TARGETS:
        met_of = (lambda x: x <= bound) if op == "<=" else (lambda x: x >= bound)
        if measure in ("speed", "rss", "spread"):
            what = {"speed": "speed vs fastest peer", "rss": "RSS vs leanest peer",
                    "spread": "hakmem slowest / fastest run"}[measure]
            if sel == "geomean":
                value, name = mean[measure], "geomean"
            elif sel == "every row":
                have = [r for r in rows if r[measure] is not None]
                if not have:
                    continue
                worst = (min if op == ">=" else max)(have, key=lambda r: r[measure])
                value, name = worst[measure], f"every row (worst: {worst['workload']})"
            else:
                row = next((r for r in rows if r["workload"] == sel), None)
                value, name = (row[measure] if row else None), sel
            if value is None:
                continue
            out.append((name, what, value, f"{op} {bound}x", met_of(value)))
        else:
            row = next((r for r in table if r["workload"] == sel and r["key"] == measure), None)
            if row is None or row["ratio"] is None:
                continue
            out.append((sel, f"{row['label']}, hakmem / {row['best_peer']}", row["ratio"], f"{op} {bound}x",
                        met_of(row["ratio"])))
    return out


def startup_section(selected, allocs, table, mode):
    """The start-up rows again, as each allocator's ratio to the run with no
    preload (the glibc column), which is what a preloaded allocator adds."""
    spawned = {w["name"] for w in selected if w.get("kind") == "spawn"}
    rows = [r for r in table if r["workload"] in spawned]
    if not rows or "glibc" not in allocs:
        return []
    out = ["## Start-up: time per execution relative to no preload", "",
           "Each command started " + "/".join(sorted({str(w["reps"][mode]) for w in selected
                                                      if w["name"] in spawned}))
           + " times in a row per run, with the allocator in `LD_PRELOAD` (for the pipeline, in every "
           "process of it); the glibc column runs with no preload and is the baseline (1.00). Above 1: "
           "slower than no preload.", ""]
    others = [a for a in allocs if a != "glibc"]
    out.append("| command | metric | no preload | " + " | ".join(others) + " |")
    out.append("|---|---|---:|" + "---:|" * len(others))
    for r in rows:
        base = r["medians"].get("glibc")
        cells = [r["workload"], r["label"], "n/a" if base is None else f"{base * r['scale']:,.{r['dec']}f}"]
        for a in others:
            m = r["medians"].get(a)
            cells.append("n/a" if m is None or not base else f"{m / base:.2f}x")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return out


def markdown(args, info, allocs, skipped, selected, samples, problems, table, started, load, chart_note,
             extra=(), skipped_rows=()):
    out = []
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    out.append(f"# hakmem benchmark report, {started:%Y-%m-%d %H:%M}")
    out.append("")
    out.append(f"- command: `{' '.join(shlex.quote(a) for a in sys.argv)}`")
    out.append(f"- mode: {mode}, {args.runs} interleaved runs per allocator, medians reported")
    out.append(f"- machine: {info['nproc']} CPUs ({info['usable_cpus']} usable), {info['model']}, "
               f"{info['memory']} memory, kernel {info['kernel']}")
    out.append(f"- transparent huge pages: {info['thp']}; reserved huge pages: {info['hugepages']}")
    out.append(f"- hakmem: commit {info['commit']}, build {info['build']}")
    peers = [f"{a} {peer_version(a)}".strip() for a in allocs if a not in ("hakmem", "glibc")]
    glibc = platform.libc_ver()[1]
    out.append(f"- peers: glibc {glibc}" + "".join(f", {p}" for p in peers))
    for a, why in skipped:
        out.append(f"- skipped: {a} ({why}; install with `{INSTALL_HINT}`)")
    for name, why in skipped_rows:
        out.append(f"- skipped row: {name} ({why})")
    if any(w.get("kind") == "program" for w in selected):
        out.append(f"- real programs (`prog_*`): the glibc column preloads `{programs.GLIBC}` itself, so a "
                   "program linked with another allocator (redis-server with libjemalloc) runs on glibc's malloc")
    hk = {k: v for k, v in os.environ.items() if k.startswith("HAKMEM_")}
    if hk:
        out.append("- environment: " + ", ".join(f"`{k}={v}`" for k, v in sorted(hk.items())))
    out.append(f"- load average at start: {load['load_start']}; at end: {loadavg()}")
    if load["other"]:
        o = load["other"]
        busy = sum(1 for x in o if x > 0.25)
        out.append(f"- other processes' CPU use during the runs: median {statistics.median(o):.2f}, "
                   f"max {max(o):.2f} CPUs; {busy} of {len(o)} runs shared the machine with more than "
                   f"0.25 CPU of other work")
    if args.max_busy is not None:
        out.append(f"- waited before each run for other processes to use at most {args.max_busy} CPUs; "
                   f"{load['not_quiet']} runs started after {args.max_wait:.0f} s without it")
    out.append("")
    out.append("Each cell is the median over the runs. *Best peer* is the best median among the "
               "other allocators; *ratio* is hakmem's median divided by it. For rows where higher "
               "is better a ratio above 1 means hakmem is ahead; where lower is better (memory, "
               "time), a ratio below 1 means hakmem is ahead.")
    out.append("")
    head = ["workload", "metric", "better"] + allocs + ["best peer", "hakmem / best", "verdict"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] * 3 + ["---:"] * len(allocs) + ["---", "---:", "---"]) + "|")
    for r in table:
        cells = [r["workload"], r["label"], r["better"]]
        for a in allocs:
            m = r["medians"][a]
            cells.append("n/a" if m is None else f"{m * r['scale']:,.{r['dec']}f}")
        cells.append(r["best_peer"] or "")
        cells.append("" if r["ratio"] is None else f"{r['ratio']:.2f}x")
        cells.append(verdict(r["ratio"], r["better"]))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")

    rows, mean = summarize(selected, table, samples)
    out.extend(summary_section(rows, mean))
    out.extend(startup_section(selected, allocs, table, mode))
    out.extend(extra)  # the callgrind, strace and madvise tables, when counted

    targets = target_rows(table, rows, mean)
    if targets:
        out.append("## Targets")
        out.append("")
        out.append("| workload | ratio | measured | target | |")
        out.append("|---|---|---:|---|---|")
        for name, what, value, bound, met in targets:
            out.append(f"| {name} | {what} | {value:.3f}x | {bound} | {'met' if met else 'MISSED'} |")
        out.append("")

    noisy = []
    for r in table:
        wide = [f"{a} {r['spread'][a]:.0f}%" for a in allocs if r["spread"].get(a, 0) > 10]
        if wide:
            noisy.append(f"- {r['workload']}, {r['label']}: " + ", ".join(wide))
    out.append("## Noise")
    out.append("")
    if noisy:
        out.append("Cells whose runs spread over more than 10% of their median (max - min, in % of the median):")
        out.append("")
        out.extend(noisy)
    else:
        out.append("Every cell's runs lie within 10% of its median (max - min).")
    out.append("")
    out.append("## Problems")
    out.append("")
    out.extend([f"- {p}" for p in problems] or ["None: every run finished and printed its figures."])
    out.append("")
    if chart_note:
        out.append(chart_note)
        out.append("")
    out.append("## Samples")
    out.append("")
    out.append("Every run's figure, in run order (for the micro-benchmarks, the first row only; "
               "the JSON file beside this report holds them all).")
    out.append("")
    for w in selected:
        rows = rows_of(w, samples[w["name"]])
        for key, label, _, scale, dec in rows[:1] if w.get("kind") == "gbench" else rows:
            out.append(f"- {w['name']}, {label}:")
            for a in allocs:
                vals = ", ".join(f"{v[key] * scale:.{dec}f}" for v in samples[w["name"]][a] if key in v)
                out.append(f"  - {a}: {vals or 'none'}")
    out.append("")
    return "\n".join(out)


# Debian's package serves /usr/bin/python3 only: another interpreter first on
# PATH (a pyenv or venv one) needs its own copy.
CHART_HINT = (f"apt-get install -y python3-matplotlib and run this with /usr/bin/python3, or "
              f"{os.path.basename(sys.executable)} -m pip install matplotlib (this is {sys.executable})")


def chart_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw_chart(table, path):
    """A bar per row: hakmem's advantage over the best peer (above 1 = ahead).
    Returns a note for the report."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return f"Chart skipped: matplotlib is not importable; {CHART_HINT}."
    rows = [r for r in table if r["ratio"]]
    if not rows:
        return "Chart skipped: no ratios to draw."
    labels = [f"{r['workload']}: {r['label']}" for r in rows]
    adv = [r["ratio"] if r["better"] == HIGHER else 1 / r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    # Bars start at 1 (even) on a log axis, so 2x ahead and 2x behind are
    # the same length and one far-off row does not flatten the rest.
    ax.barh(labels, [a - 1 for a in adv], left=1, color=["tab:green" if a >= 1 else "tab:red" for a in adv])
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("hakmem advantage over the best peer, log scale (above 1: hakmem ahead)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"![hakmem advantage over the best peer]({os.path.basename(path)})"


def chart_from(json_path):
    """Draws the chart of a finished run from its samples: for a report made
    where matplotlib was missing. Prints the line that shows it in the report."""
    with open(json_path) as f:
        data = json.load(f)
    samples = data["samples"]
    selected = [w for w in WORKLOADS if w["name"] in samples]
    table = build_table(selected, data["allocators"], samples)
    note = draw_chart(table, os.path.splitext(json_path)[0] + ".png")
    print(note)
    return 0 if note.startswith("![") else 1


def report_path(out_dir, started, mode):
    # A quick run's figures are not comparable with a full run's: say so in the name.
    base = os.path.join(out_dir, f"report-{started:%Y-%m-%d}" + ("-quick" if mode == "quick" else ""))
    path, n = base + ".md", 2
    while os.path.exists(path):
        path, n = f"{base}-{n}.md", n + 1
    return path


# --- main ------------------------------------------------------------------------

def resolve_allocators(build, wanted_csv, lib_args, default):
    """The allocators to run and their libraries. wanted_csv: --allocators
    (None: default); lib_args: the --lib NAME=PATH items. Returns (libs,
    allocs, skipped, error): a missing peer is skipped with a note, a missing
    hakmem or an unknown name is an error. Shared with callgrind.py and
    syscalls.py."""
    libs = dict(ALLOCATORS)
    for item in lib_args:
        name, _, path = item.partition("=")
        libs[name] = path or None
    wanted = wanted_csv.split(",") if wanted_csv else default
    allocs, skipped = [], []
    for a in wanted:
        if a not in libs:
            return None, None, None, f"unknown allocator {a}; known: {', '.join(libs)}"
        lib = libs[a]
        if a == "hakmem":
            lib = os.path.join(build, lib) if not os.path.isabs(lib) else lib
            if not os.path.exists(lib):
                return None, None, None, f"{lib} not found: build first (cmake -S . -B build -G Ninja && ninja -C build)"
            libs[a] = lib
        elif lib and not os.path.exists(lib):
            print(f"{a}: {lib} not found, skipping its column (install the peers with: {INSTALL_HINT})")
            skipped.append((a, f"{lib} not found"))
            continue
        allocs.append(a)
    return libs, allocs, skipped, None


def run_count_tool(args, prefix, measure, section):
    """The shared body of callgrind.py and syscalls.py: resolves the
    allocators from their --build/--allocators/--lib, calls measure(build,
    libs, allocs), prints section(result) and writes it to
    OUT/PREFIX-YYYY-MM-DD.md with the result as .json beside it. Returns the
    exit status: 2 for bad arguments, 1 if the result lists problems."""
    build = os.path.abspath(args.build)
    libs, allocs, _, error = resolve_allocators(build, args.allocators, args.lib, list(ALLOCATORS))
    if error:
        print(error, file=sys.stderr)
        return 2
    result = measure(build, libs, allocs)
    text = "\n".join(section(result))
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"{prefix}-{datetime.date.today():%Y-%m-%d}")
    with open(base + ".md", "w") as f:
        f.write(text + "\n")
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1)
    print(f"written to {base}.md")
    return 1 if result["problems"] else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="workloads: " + ", ".join(w["name"] for w in WORKLOADS))
    p.add_argument("build", nargs="?", default="build", help="the build directory (default ./build)")
    p.add_argument("--only", help="comma-separated workloads to run (default: all)")
    p.add_argument("--allocators", help="comma-separated allocators (default: " + ",".join(ALLOCATORS) + ")")
    p.add_argument("--runs", type=int, help="runs per allocator and workload (default 5; 1 with --smoke)")
    p.add_argument("--quick", action="store_true", help="small sizes: check that everything works")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes under hakmem only, one run, no report; fails if a workload fails")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="report directory (default bench/results): report-YYYY-MM-DD.md (-quick.md for --quick), "
                        "with the raw samples in a .json beside it")
    p.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                   help="preload PATH for allocator NAME (overrides the default path; may repeat)")
    p.add_argument("--timeout", type=float, default=600, help="seconds before one run counts as hung (default 600)")
    p.add_argument("--max-busy", type=float, metavar="CPUS",
                   help="before each run, wait until other processes use at most CPUS CPUs")
    p.add_argument("--max-wait", type=float, default=120,
                   help="longest wait for --max-busy, in seconds, before running anyway (default 120)")
    p.add_argument("--counts", action=argparse.BooleanOptionalAction,
                   help="also count instructions per malloc+free (callgrind.py) and memory system calls "
                        "(syscalls.py) and put both tables in the report (default: on, unless --only or --smoke)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--chart-from", metavar="JSON",
                   help="draw the PNG chart of an earlier report from its .json (the chart goes beside it) and exit")
    args = p.parse_args()

    if args.chart_from:
        return chart_from(args.chart_from)

    if args.list:
        for w in WORKLOADS:
            if w.get("kind") == "program":
                print(f"{w['name']:24} {programs.describe(w, 'full')}")
                continue
            cmd = " ".join(shlex.quote(a) for a in [w["program"]] + w["args"]["full"])
            reps = f" (started {w['reps']['full']} times per run)" if w.get("kind") == "spawn" else ""
            print(f"{w['name']:24} {cmd}{reps}")
        return 0
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    args.runs = args.runs or (1 if args.smoke else 5)
    build = os.path.abspath(args.build)

    names = [w["name"] for w in WORKLOADS]
    only = args.only.split(",") if args.only else names
    unknown = [n for n in only if n not in names]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    selected = [w for w in WORKLOADS if w["name"] in only]

    default = ["hakmem"] if args.smoke else list(ALLOCATORS)
    libs, allocs, skipped, error = resolve_allocators(build, args.allocators, args.lib, default)
    if error:
        print(error, file=sys.stderr)
        return 2

    runnable = []
    skipped_rows = []  # (workload, why): a program row whose program is not installed
    for w in selected:
        exe = os.path.join(build, "bench", w["program"])
        if w.get("kind") == "program":
            absent = programs.missing(w)
            if absent:
                why = f"{', '.join(absent)} not found (apt-get install -y {w['package']})"
                print(f"skipping {w['name']}: {why}")
                skipped_rows.append((w["name"], why))
            else:
                runnable.append(w)
        elif w.get("kind") == "spawn":
            if shutil.which(w["program"]):
                runnable.append(w)
            else:
                print(f"{w['program']} not found on PATH, skipping {w['name']}")
        elif os.access(exe, os.X_OK):
            runnable.append(w)
        elif w.get("kind") == "gbench":
            print(f"{exe} not built (google-benchmark missing?), skipping {w['name']}")
        else:
            print(f"{exe} not found: build first (ninja -C {args.build})", file=sys.stderr)
            return 2
    selected = runnable

    counts = (not args.only and not args.smoke) if args.counts is None else (args.counts and not args.smoke)
    if not args.smoke and not chart_available():
        print(f"note: matplotlib is not importable, so the report gets no PNG chart; {CHART_HINT}")

    started = datetime.datetime.now()
    load_start = loadavg()
    print(f"{mode} run: {len(selected)} workloads x {allocs} x {args.runs} runs, build {build}")
    samples = {w["name"]: {a: [] for a in allocs} for w in selected}
    other = []  # CPUs used by other processes during each run
    not_quiet = 0
    problems = []
    for w in selected:
        for r in range(args.runs):
            for a in allocs:
                if args.max_busy is not None and not wait_for_quiet(args.max_busy, args.max_wait):
                    not_quiet += 1
                t0 = time.monotonic()
                meter = OtherLoad()
                values, problem = run_once(w, mode, build, libs[a], args.timeout)
                took = time.monotonic() - t0
                used = meter.cpus()
                if used is not None:
                    other.append(used)
                if problem:
                    problems.append(f"{w['name']} under {a}, run {r + 1}: {problem}")
                    print(f"  {w['name']:22} run {r + 1}/{args.runs} {a:9} FAILED: {problem}", flush=True)
                else:
                    samples[w["name"]][a].append(values)
                    print(f"  {w['name']:22} run {r + 1}/{args.runs} {a:9} {short(values, w)}  ({took:.1f} s)",
                          flush=True)

    if args.smoke:
        for p_ in problems:
            print(f"FAILED: {p_}", file=sys.stderr)
        print("smoke: " + ("every workload ran and printed its figures" if not problems
                           else f"{len(problems)} failure(s)"))
        return 1 if problems else 0

    extra, counted = [], {}
    if counts:
        # Imported here: both import this file for the allocator table.
        import callgrind
        import syscalls
        print("instruction counts (callgrind):", flush=True)
        counted["callgrind"] = callgrind.measure(build, libs, allocs,
                                                iters=callgrind.ITERS if mode == "full" else 50_000)
        print("memory system calls (strace):", flush=True)
        counted["syscalls"] = syscalls.measure(build, libs, allocs, runs=3 if mode == "full" else 1,
                                               quick=mode == "quick", timeout=args.timeout)
        extra = callgrind.section(counted["callgrind"]) + syscalls.section(counted["syscalls"])
        # The real programs and the compiled workloads (not the micro-benchmarks
        # or the start-up rows, which time many processes).
        traced = [w for w in selected if w.get("kind") in ("program", None)]
        if traced:
            print("madvise calls (strace):", flush=True)
            counted["madvise"] = programs.measure_madvise(traced, allocs, libs, build, mode, args.timeout, samples)
            extra += programs.madvise_section(counted["madvise"])
        for tool, result in counted.items():
            problems.extend(f"{tool}: {p_}" for p_ in result["problems"])

    info = machine_info(build)
    table = build_table(selected, allocs, samples)
    os.makedirs(args.out, exist_ok=True)
    path = report_path(args.out, started, mode)
    chart_note = draw_chart(table, path[:-3] + ".png")
    load = {"load_start": load_start, "other": other, "not_quiet": not_quiet}
    text = markdown(args, info, allocs, skipped, selected, samples, problems, table, started, load, chart_note,
                    extra, skipped_rows)
    with open(path, "w") as f:
        f.write(text)
    with open(path[:-3] + ".json", "w") as f:
        json.dump({"machine": info, "mode": mode, "runs": args.runs, "allocators": allocs,
                   "samples": samples, "problems": problems, "load": load, **counted}, f, indent=1)
    print()
    print(text)
    print(f"report written to {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
