"""Real programs for run.py's rows of kind "program": the inputs they are
given, and how one run of them is measured.

Every input is generated here, from a fixed seed, into a temporary directory
that lives as long as the runner, so a row needs only its Debian package
and reads the same bytes under every allocator. Sizes come from the row's
"input" entry per mode (full, quick, smoke).

A plain program row runs its command through the launcher
BUILD/bench/probes/measure_tree with the allocator in LD_PRELOAD; the
launcher reports the wall time, the CPU time and the largest peak resident
set among the processes of the tree (the compiler driver, cc1plus and as;
see measure_tree.cpp for why it is not started from here). A server row
(redis) starts the server with the allocator preloaded, drives it with its
own benchmark client, which runs without the preload, and reads the
server's resident set from /proc before shutting it down.

The glibc column preloads the C library itself (GLIBC below): that keeps
the figures of a program linked with another allocator (Debian's
redis-server links libjemalloc) on glibc's malloc, and changes nothing for
the others.

With run.py --counts, count_madvise() runs each command once more under
strace -f --seccomp-bpf -c -e trace=madvise, which stops the program only on
the counted calls.
"""

import atexit
import os
import random
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

GLIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LAUNCHER = os.path.join("bench", "probes", "measure_tree")  # under the build directory


def preload_for(lib):
    return lib or GLIBC


# --- inputs ------------------------------------------------------------------

# The standard headers of the compiler row: the ones a large C++ program
# includes between them.
CXX_HEADERS = """algorithm any array atomic bitset chrono complex deque filesystem functional iomanip
iostream iterator list locale map memory mutex numeric optional queue random ranges regex set
sstream stack string string_view thread tuple type_traits unordered_map unordered_set utility
valarray variant vector""".split()


def cxx_source(functions):
    """A translation unit: every header of CXX_HEADERS (all of them from one
    function up; <vector> alone for 0, the smoke size) and `functions`
    functions, each with its own record type, so that every one
    instantiates the containers, algorithms and views anew."""
    headers = CXX_HEADERS if functions else ["vector"]
    out = [f"#include <{h}>" for h in headers]
    if not functions:
        out.append("int main() { std::vector<int> v(3); return static_cast<int>(v.size()) - 3; }")
        return "\n".join(out) + "\n"
    out.append("namespace gen {")
    for i in range(functions):
        out.append(f"""
struct Rec{i} {{
  int id;
  std::string name;
  std::vector<double> values;
  std::optional<std::map<std::string, int>> tags;
  auto operator<=>(const Rec{i}&) const = default;
}};

std::map<std::string, std::vector<Rec{i}>> build{i}(int n) {{
  std::map<std::string, std::vector<Rec{i}>> out;
  std::unordered_map<int, std::string> names;
  for (int k = 0; k < n; ++k) {{
    names[k] = std::to_string(k * {i + 1});
    Rec{i} r{{k, names[k], std::vector<double>(k % 7, k * 0.5), std::nullopt}};
    out[names[k].substr(0, 2)].push_back(std::move(r));
  }}
  for (auto& [key, recs] : out) {{
    std::sort(recs.begin(), recs.end());
    recs.erase(std::unique(recs.begin(), recs.end()), recs.end());
  }}
  std::variant<int, std::string, Rec{i}> v = std::string("x");
  std::visit([&](auto&& x) {{
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, int>) out.clear();
  }}, v);
  std::ostringstream os;
  os << std::setw(8) << out.size();
  std::set<std::tuple<int, std::string>> seen;
  for (const auto& [key, recs] : out)
    for (const auto& r : recs) seen.emplace(r.id, r.name);
  for (const auto& t : seen | std::views::filter([](const auto& t) {{ return std::get<0>(t) % 2 == 0; }}))
    os << std::get<1>(t);
  return out;
}}""")
    out.append("}  // namespace gen")
    total = " + ".join(f"gen::build{i}(3).size()" for i in range(functions))
    out.append(f"int main() {{ return static_cast<int>({total}); }}")
    return "\n".join(out) + "\n"


def smt_problem(problems):
    """SMT-LIB 2: `problems` bit-vector problems one after another, each
    between push and pop (a*a + b*c = K, with bounds on b and c), so the
    solver builds and drops its terms and clauses once per problem."""
    rng = random.Random(12345)
    out = ["(set-logic QF_BV)"] + [f"(declare-fun {v} () (_ BitVec 32))" for v in "abc"]
    for _ in range(problems):
        out += ["(push 1)",
                f"(assert (= (bvadd (bvmul a a) (bvmul b c)) #x{rng.getrandbits(32):08x}))",
                f"(assert (bvult b #x{rng.getrandbits(24) | 1:08x}))",
                f"(assert (bvugt c #x{rng.getrandbits(16) | 1:08x}))",
                "(check-sat)", "(pop 1)"]
    return "\n".join(out) + "\n"


def postscript(pages):
    """`pages` pages of 400 random Bezier shapes, filled or stroked, in
    random colours, with a line of text and a freshly built array of
    strings every tenth shape."""
    rng = random.Random(12345)
    out = ["%!PS-Adobe-3.0", "/Times-Roman findfont 14 scalefont setfont",
           "/strings { 2 dict begin /n exch def /a n array def "
           "0 1 n 1 sub { a exch dup 3 string cvs put } for a end } def"]
    for page in range(pages):
        for s in range(400):
            x, y = rng.uniform(0, 612), rng.uniform(0, 792)
            curve = " ".join(f"{rng.uniform(0, 612):.1f} {rng.uniform(0, 792):.1f}" for _ in range(3))
            paint = "fill" if s % 2 else f"{rng.uniform(0.5, 4):.1f} setlinewidth stroke"
            out.append(f"{rng.random():.2f} {rng.random():.2f} {rng.random():.2f} setrgbcolor "
                       f"newpath {x:.1f} {y:.1f} moveto {curve} curveto closepath {paint}")
            if s % 10 == 0:
                out.append(f"{x:.1f} {y:.1f} moveto (shape {s} of page {page}) show {rng.randint(10, 200)} strings pop")
        out.append("showpage")
    return "\n".join(out) + "\n"


def sql_script(rows):
    """SQL for sqlite3 :memory:: `rows` rows inserted, indexed, grouped,
    updated to larger blobs and half of them deleted."""
    return f"""CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v REAL, pad BLOB);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
INSERT INTO t SELECT x, printf('%08x', (x * 2654435761) % 4294967296), x * 0.5, zeroblob(x % 200) FROM n;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(length(pad)) FROM t WHERE k BETWEEN '10000000' AND '7fffffff';
SELECT substr(k, 1, 2) AS p, count(*), avg(v) FROM t GROUP BY p ORDER BY 2 DESC LIMIT 3;
SELECT count(DISTINCT substr(k, 3, 3)) FROM t;
UPDATE t SET pad = zeroblob(300) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 2 = 0;
SELECT count(*), max(length(pad)) FROM t;
"""


# The three interpreter scripts do the same work: ROUNDS times, a table of
# ITEMS records (a key, a repeated string of up to 40 keys, a list of up to
# 29 numbers, a buffer of 64 B to 4 KiB), sorted by string length, sampled,
# the first 5000 strings joined and split again, then all of it dropped.
# ROUNDS and ITEMS are the script's two arguments.

PYTHON_SCRIPT = """import sys
rounds, items = int(sys.argv[1]), int(sys.argv[2])
total = 0
for r in range(rounds):
    table = {}
    for i in range(items):
        key = f"k{i}:{r}"
        table[key] = (i, key * (1 + i % 40), [i] * (i % 30), bytearray(64 + (i * 37) % 4000))
    rows = sorted(table.values(), key=lambda t: len(t[1]))
    total += sum(len(t[3]) for t in rows[::100])
    total += len("|".join(t[1] for t in rows[:5000]).split("|"))
    del table, rows
print(total)
"""

PERL_SCRIPT = """use strict; use warnings;
my ($rounds, $items) = @ARGV;
my $total = 0;
for my $r (1 .. $rounds) {
    my %table;
    for my $i (0 .. $items - 1) {
        my $key = "k$i:$r";
        $table{$key} = [$i, $key x (1 + $i % 40), [($i) x ($i % 30)], "x" x (64 + ($i * 37) % 4000)];
    }
    my @rows = sort { length($a->[1]) <=> length($b->[1]) } values %table;
    $total += length($rows[$_ * 100][3]) for 0 .. $#rows / 100;
    my $last = $#rows < 4999 ? $#rows : 4999;
    my @parts = split /\\|/, join "|", map { $_->[1] } @rows[0 .. $last];
    $total += scalar @parts;
}
print "$total\\n";
"""

LUA_SCRIPT = """local rounds, items = tonumber(arg[1]), tonumber(arg[2])
local total = 0
for r = 1, rounds do
  local t = {}
  for i = 0, items - 1 do
    local key = "k" .. i .. ":" .. r
    local list = {}
    for j = 1, i % 30 do list[j] = i end
    t[#t + 1] = {i, string.rep(key, 1 + i % 40), list, string.rep("x", 64 + (i * 37) % 4000)}
  end
  table.sort(t, function(a, b) return #a[2] < #b[2] end)
  for k = 1, #t, 100 do total = total + #t[k][4] end
  local parts = {}
  for k = 1, math.min(5000, #t) do parts[k] = t[k][2] end
  for _ in table.concat(parts, "|"):gmatch("[^|]+") do total = total + 1 end
end
print(total)
"""


def fixed(text):
    """An input generator for a file that does not depend on the mode."""
    return lambda _size: text


# --- running -----------------------------------------------------------------

_workdir = None
_prepared = {}


def workdir():
    global _workdir
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="hakmem-bench-programs-")
        atexit.register(shutil.rmtree, _workdir, True)
    return _workdir


def find(program):
    """The program's path: as given when absolute, else from PATH; None if missing."""
    if os.path.isabs(program):
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program)


def missing(workload):
    """The programs a row needs that are not installed."""
    return [p for p in [workload["program"]] + workload.get("needs", []) if find(p) is None]


def argv_of(workload, mode, port=None):
    """The command of one run: the program's path and its arguments, with
    {input} replaced by the generated input file (made on first use) and
    {port} by the server's port."""
    inp = workload.get("input")
    path = None
    if inp:
        key = (workload["name"], mode)
        path = _prepared.get(key)
        if path is None:
            name, make, sizes = inp
            path = os.path.join(workdir(), f"{workload['name']}-{mode}-{name}")
            with open(path, "w") as f:
                f.write(make(sizes.get(mode) if sizes else None))
            _prepared[key] = path
    return [find(workload["program"])] + [a.replace("{input}", path or "").replace("{port}", str(port))
                                          for a in workload["args"][mode]]


def describe(workload, mode):
    """The command as --list shows it."""
    inp = workload.get("input")
    size = f" ({inp[0]}, size {inp[2][mode]})" if inp and inp[2] else (f" ({inp[0]})" if inp else "")
    cmd = " ".join(shlex.quote(a) for a in [workload["program"]] + workload["args"][mode])
    if "client" in workload:
        cmd += " | driven by: " + " ".join(shlex.quote(a) for a in workload["client"][mode])
    return cmd + size


def _env_without_preload():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def _tail(text, lines=5):
    return "\n".join(text.strip().splitlines()[-lines:])


def _parse_result(stdout):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(item.partition("=")[::2] for item in line.split()[1:])
    return None


def run_program(workload, mode, build, lib, timeout):
    """One sample of a program row. Returns (metrics, None) or (None, problem)."""
    if "client" in workload:
        return run_server(workload, mode, lib, timeout)
    launcher = os.path.join(build, LAUNCHER)
    if not os.access(launcher, os.X_OK):
        return None, f"{launcher} not built"
    argv = argv_of(workload, mode)
    cmd = [launcher, f"--preload={preload_for(lib)}", "--"] + argv
    repro = f"LD_PRELOAD={preload_for(lib)} " + " ".join(shlex.quote(a) for a in argv)
    try:
        proc = subprocess.run(cmd, env=_env_without_preload(), capture_output=True, text=True, timeout=timeout,
                              cwd=workdir())
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s: {repro}"
    fields = _parse_result(proc.stdout)
    if proc.returncode != 0 or fields is None:
        err = _tail(proc.stderr)
        return None, f"exit status {proc.returncode}: {repro}" + (f"\n    stderr: {err}" if err else "")
    return {"wall_s": float(fields["wall_s"]), "cpu_s": float(fields["cpu_s"]),
            "peak_rss_kb": float(fields["peak_rss_kb"])}, None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _shutdown_redis(port, proc, seconds=20):
    """SHUTDOWN NOSAVE over the wire, then wait for the process (or kill it)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
            s.recv(64)
    except OSError:
        pass
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _rps(csv_text):
    """Requests per second from redis-benchmark --csv ("LPUSH","123.45",...)."""
    for line in csv_text.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0] != "test":
            try:
                return float(cells[1])
            except ValueError:
                continue
    return None


def run_server(workload, mode, lib, timeout, wrap=None):
    """One sample of the redis row: the server under the allocator, the
    client without it. wrap: a command prefix for the server (the strace of
    count_madvise), which also leaves /proc unread. Returns (metrics, None)
    or (None, problem)."""
    port = free_port()
    argv = argv_of(workload, mode, port)
    client = [find(workload["client"][mode][0])] + [a.replace("{port}", str(port))
                                                   for a in workload["client"][mode][1:]]
    env = _env_without_preload()
    if wrap is None:
        env["LD_PRELOAD"] = preload_for(lib)
    log_path = os.path.join(workdir(), f"{workload['name']}.log")
    repro = f"LD_PRELOAD={preload_for(lib)} " + " ".join(shlex.quote(a) for a in argv)
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen((wrap or []) + argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir())
    try:
        if not _wait_for_port(port, proc, 20):
            with open(log_path) as log:
                return None, f"server did not listen on port {port}: {repro}\n    log: {_tail(log.read())}"
        try:
            out = subprocess.run(client, env=_env_without_preload(), capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"client timed out after {timeout} s: {' '.join(client)}"
        rps = _rps(out.stdout)
        if out.returncode != 0 or rps is None:
            return None, f"client failed ({out.returncode}): {' '.join(client)}\n    {_tail(out.stdout + out.stderr)}"
        values = {"requests_per_sec": rps}
        if wrap is None:
            values["rss_after_kb"] = _status_kb(proc.pid, "VmRSS")
            values["peak_rss_kb"] = _status_kb(proc.pid, "VmHWM")
            if None in values.values():
                return None, f"could not read /proc/{proc.pid}/status: {repro}"
    finally:
        _shutdown_redis(port, proc)
    values["wall_s"] = time.monotonic() - start
    return values, None


def count_madvise(workload, mode, build, lib, timeout):
    """madvise calls of one whole run under strace (every process and thread
    of it). Returns (calls, None) or (None, problem)."""
    if shutil.which("strace") is None:
        return None, "strace not found (apt-get install -y strace)"
    out = os.path.join(workdir(), "strace-summary")
    wrap = ["strace", "-f", "--seccomp-bpf", "-c", "-e", "trace=madvise", "-o", out,
            "-E", f"LD_PRELOAD={preload_for(lib)}"]
    if "client" in workload:
        _, problem = run_server(workload, mode, lib, timeout, wrap=wrap)
    else:
        # A compiled workload of bench/ (no kind) runs from the build.
        argv = (argv_of(workload, mode) if workload.get("kind") == "program"
                else [os.path.join(build, "bench", workload["program"])] + list(workload["args"][mode]))
        try:
            proc = subprocess.run(wrap + argv, env=_env_without_preload(), capture_output=True,
                                  text=True, timeout=timeout, cwd=workdir())
            problem = None if proc.returncode == 0 else f"exit status {proc.returncode}: {_tail(proc.stderr)}"
        except subprocess.TimeoutExpired:
            problem = f"timed out after {timeout} s under strace"
    if problem:
        return None, problem
    # strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall"; no
    # madvise line when there was no call.
    with open(out) as f:
        for line in f:
            cells = line.split()
            if cells and cells[-1] == "madvise":
                return int(cells[3]), None
    return 0, None


def measure_madvise(workloads, allocs, libs, build, mode, timeout, samples):
    """One strace run per row and allocator. The rate divides the calls by
    the median wall time of the row's timed runs under that allocator (for
    the server, its whole life: start, benchmark, shutdown), since strace
    slows the counted calls down. Returns {"rows": {row: {alloc: {"calls",
    "per_s"}}}, "problems": [...]}."""
    result = {"rows": {}, "problems": []}
    for w in workloads:
        cells = result["rows"].setdefault(w["name"], {})
        for a in allocs:
            calls, problem = count_madvise(w, mode, build, libs[a], timeout)
            if problem:
                result["problems"].append(f"{w['name']} under {a}: {problem}")
                print(f"  {w['name']:22} {a:9} FAILED: {problem}", flush=True)
                continue
            # A program's whole run; a workload's timed window (its RESULT
            # line's elapsed_s), which leaves out its start-up and teardown.
            key = "wall_s" if w.get("kind") == "program" else "elapsed_s"
            walls = sorted(v[key] for v in samples.get(w["name"], {}).get(a, []) if key in v)
            wall = walls[len(walls) // 2] if walls else None
            cells[a] = {"calls": calls, "per_s": calls / wall if wall else None}
            rate = f"{calls / wall:,.0f}/s" if wall else "no timed run"
            print(f"  {w['name']:22} {a:9} {calls} madvise calls, {rate}", flush=True)
    return result


def madvise_section(result):
    rows = result["rows"]
    allocs = []
    for cells in rows.values():
        allocs += [a for a in cells if a not in allocs]
    if not allocs:
        return []
    out = ["## madvise calls per second (strace)", "",
           "One run per cell under `strace -f --seccomp-bpf -c -e trace=madvise` (every process and thread): "
           "the calls of the whole run over the median timed run's wall time (a real program's whole run, a "
           "workload's timed window, so a workload's start-up and exit count against that window), and the "
           "call count.", "",
           "| row | " + " | ".join(allocs) + " |", "|---|" + "---:|" * len(allocs)]
    for name, cells in rows.items():
        out.append(f"| {name} | " + " | ".join(
            "n/a" if a not in cells else
            (f"{cells[a]['per_s']:,.0f}/s ({cells[a]['calls']:,})" if cells[a]["per_s"] is not None
             else f"({cells[a]['calls']:,})") for a in allocs) + " |")
    out.append("")
    return out
