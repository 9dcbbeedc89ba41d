"""Tests for the value-stack runtime shipped to users (adtool/runtime).

The C library is driven by small programs in tests/runtime_drivers.  The
random tests generate the operation sequence here and predict every byte
counter with `Model`, an independent transcription of the accounting rules
in adstack.h; the drivers only execute the sequence and check that each pop
returns, bit for bit, what its push stored.  Several builds are exercised
because each takes different code paths: tiny blocks make every value
straddle block boundaries, ADSTACK_NO_INLINE uses the out-of-line entry
points (those Fortran calls), and ADSTACK_PROFILE routes every push through
the slow path.
"""

import json
import math
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "adtool" / "runtime"
DRIVERS = Path(__file__).resolve().parent / "runtime_drivers"

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
FFLAGS = ["-O2", "-Wall", "-Werror"]

# Bytes per element as the stack stores them (logicals shrink to one byte).
SIZES = {"d": 8, "f": 4, "i": 4, "k": 8, "l": 1}

TINY = "-DADSTACK_BLOCK_BYTES=61"   # prime, so alignment never hides a bug
PROFILE = "-DADSTACK_PROFILE"
NO_INLINE = "-DADSTACK_NO_INLINE"


def run(cmd, cwd=None, check=True, timeout=120):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def script_driver(tmp_path_factory):
    """Builds stack_script.c against adstack.c with the given -D flags
    (compiled once per flag set, warnings as errors) and returns its path."""
    root = tmp_path_factory.mktemp("script_builds")
    built = {}

    def get(*defines):
        if defines not in built:
            out = root / f"b{len(built)}"
            out.mkdir()
            run(["gcc", *CFLAGS, *defines, "-c", RUNTIME / "adstack.c",
                 "-o", out / "adstack.o"])
            run(["gcc", *CFLAGS, *defines, "-I", RUNTIME, "-c",
                 DRIVERS / "stack_script.c", "-o", out / "driver.o"])
            run(["gcc", out / "driver.o", out / "adstack.o", "-o", out / "driver"])
            built[defines] = out / "driver"
        return built[defines]

    return get


class Model:
    """Reference accounting: current = value bytes + ceil(control bits / 8),
    total likewise over everything pushed, peak = max of current, and per
    profiling site the peak seen inside, bytes left and bytes pushed."""

    def __init__(self):
        self.main = self.bits = self.tmain = self.tbits = self.peak = 0
        self.highest = 0           # never reset: describes the script itself
        self.frames = []
        self.sites = {}

    def cur(self):
        return self.main + (self.bits + 7) // 8

    def total(self):
        return self.tmain + (self.tbits + 7) // 8

    def push(self, t, n):
        if t == "c":
            self.bits += n
            self.tbits += n
        else:
            b = SIZES[t] * (1 if n < 0 else n)
            self.main += b
            self.tmain += b
        c = self.cur()
        self.peak = max(self.peak, c)
        self.highest = max(self.highest, c)
        if self.frames:
            self.frames[-1]["peak"] = max(self.frames[-1]["peak"], c)

    def pop(self, t, n):
        if t == "c":
            self.bits -= n
        else:
            self.main -= SIZES[t] * (1 if n < 0 else n)

    def reset_peak(self):
        self.peak = self.cur()

    def reset_counters(self):
        self.tmain = self.tbits = 0
        self.peak = self.cur()

    def enter(self, site):
        self.frames.append({"site": site, "cur0": self.cur(),
                            "total0": self.total(), "peak": self.cur()})

    def exit(self, site):
        f = self.frames.pop()
        assert f["site"] == site
        s = self.sites.setdefault(site, {"count": 0, "peak_bytes": 0,
                                         "left_bytes": 0, "pushed_bytes": 0})
        s["count"] += 1
        s["peak_bytes"] = max(s["peak_bytes"], f["peak"])
        s["left_bytes"] += self.cur() - f["cur0"]
        s["pushed_bytes"] += self.total() - f["total0"]
        if self.frames:
            self.frames[-1]["peak"] = max(self.frames[-1]["peak"], f["peak"])

    def query(self):
        c = self.cur()
        return f"q {c} {self.peak} {self.total()} {int(c == 0)}"


def random_script(seed, nops, max_array, big=(), sites=False):
    """A random walk of pushes and pops over all types, with occasional
    queries, resets, frees of the empty stack and (optionally) nested
    profiling sites, ending with everything popped.  `big` lists (type,
    length) arrays pushed at random points.  Returns the script, the query
    lines the driver must print, and the final model."""
    rng = random.Random(seed)
    m = Model()
    lines, want, live = [], [], []
    big_at = {rng.randrange(nops): spec for spec in big}
    floor = 0     # the walk never pops below a big array: they all coexist

    def push(t, n):
        lines.append(f"p {t} {n} {rng.getrandbits(63)}")
        live.append((t, n))
        m.push(t, n)

    def pop():
        t, n = live.pop()
        lines.append("o")
        m.pop(t, n)

    def query():
        lines.append("q")
        want.append(m.query())

    for step in range(nops):
        if step in big_at:
            push(*big_at[step])
            floor = len(live)
            continue
        r = rng.random()
        if r < 0.44:
            if len(live) > floor:
                pop()
        elif r < 0.46:
            query()
        elif r < 0.465:
            lines.append("r")
            m.reset_peak()
        elif r < 0.468:
            lines.append("z")
            m.reset_counters()
        elif sites and r < 0.50:
            if m.frames and rng.random() < 0.5:
                site = m.frames[-1]["site"]
                lines.append(f"E {site}")
                m.exit(site)
            else:
                site = rng.randrange(12)          # repeats give recursion
                lines.append(f"e {site}")
                m.enter(site)
        else:
            kind = rng.random()
            if kind < 0.3:
                push("c", rng.randint(1, 8))
            elif kind < 0.85:
                push(rng.choice("dfikl"), -1)
            else:
                push(rng.choice("dfikl"), rng.randint(0, max_array))
        if not live and rng.random() < 0.05:
            lines.append("f")
    query()
    while live:
        pop()
    while m.frames:
        site = m.frames[-1]["site"]
        lines.append(f"E {site}")
        m.exit(site)
    query()
    lines.append("f")
    push("d", -1)
    push("c", 5)
    query()
    pop()
    pop()
    query()
    return "\n".join(lines) + "\n", want, m


def run_script(driver, tmp_path, script, check=True):
    path = tmp_path / "ops.txt"
    path.write_text(script)
    return run([driver, path], cwd=tmp_path, check=check)


def queries(stdout):
    return [ln for ln in stdout.splitlines() if ln.startswith("q ")]


# ---------------------------------------------------------------- C, random

@pytest.mark.parametrize("seed, defines", [
    pytest.param(1, (TINY,), id="tiny"),
    pytest.param(2, (TINY, NO_INLINE), id="tiny-noinline"),
    pytest.param(3, (TINY, PROFILE), id="tiny-profile"),
    # one 64-bit control word per block: the bit stream changes block often
    pytest.param(4, ("-DADSTACK_BLOCK_BYTES=8", NO_INLINE), id="8-byte-blocks"),
])
def test_random_sequences_small_blocks(script_driver, tmp_path, seed, defines):
    script, want, _ = random_script(seed=seed, nops=120_000, max_array=300)
    out = run_script(script_driver(*defines), tmp_path, script).stdout
    assert "mismatch" not in out
    assert out.splitlines()[-1] == "done 0"
    assert queries(out) == want


def test_random_sequences_with_multimillion_arrays(script_driver, tmp_path):
    big = [("d", 3_000_000), ("i", 2_500_000), ("l", 2_000_000),
           ("k", 1_000_000), ("f", 1_500_000)]
    script, want, m = random_script(seed=2024, nops=40_000, max_array=5000,
                                    big=big)
    out = run_script(script_driver(), tmp_path, script).stdout
    assert out.splitlines()[-1] == "done 0"
    assert queries(out) == want
    assert m.highest >= sum(SIZES[t] * n for t, n in big)


def test_random_sequences_profile_sites(script_driver, tmp_path):
    script, want, m = random_script(seed=77, nops=60_000, max_array=200,
                                    sites=True)
    script += "J prof.json\n"
    out = run_script(script_driver(TINY, PROFILE), tmp_path, script).stdout
    assert out.splitlines()[-1] == "done 0"
    assert queries(out) == want
    prof = json.loads((tmp_path / "prof.json").read_text())
    assert prof["profiling"] is True
    got = {s["site"]: {k: s[k] for k in ("count", "peak_bytes", "left_bytes",
                                         "pushed_bytes")}
           for s in prof["sites"]}
    assert got == m.sites
    assert len(got) == 12
    assert all(s["time_s"] >= 0 for s in prof["sites"])


# ------------------------------------------------------------ C, by hand

def test_exact_counters_by_hand(script_driver, tmp_path):
    script = "\n".join([
        "q",
        "p d -1 1", "p f -1 2", "p i -1 3", "p k -1 4", "p l -1 5",  # 25
        "q",
        "p c 1 6", "q",        # 1 bit -> 1 byte
        "p c 7 7", "q",        # 8 bits -> still 1 byte
        "p c 1 8", "q",        # 9 bits -> 2 bytes
        "p l 10 9", "q",       # 10 one-byte logicals
        "o", "o", "q",         # back to 25 + ceil(8/8)
        "z", "q",              # total 0, peak := current
        "o", "o", "o", "q",    # both control records and the logical
        "R",
    ]) + "\n"
    out = run_script(script_driver(), tmp_path, script).stdout
    assert queries(out) == [
        "q 0 0 0 1",
        "q 25 25 25 0",
        "q 26 26 26 0",
        "q 26 26 26 0",
        "q 27 27 27 0",
        "q 37 37 37 0",
        "q 26 37 37 0",        # total never decreases
        "q 26 26 0 0",
        "q 24 26 0 0",
    ]
    assert "adstack: current 24 B, peak 26 B, pushed 0 B" in out.splitlines()


PROFILE_SCRIPT = """\
e 1
p d -1 1
p d -1 2
p d -1 3
e 2
p i -1 4
p i -1 5
p d 100 6
o
p f -1 7
E 2
e 2
p c 3 8
p c 7 9
e 3
p k -1 10
p l 10 11
o
E 3
E 2
o
o
o
E 1
e 3
o
o
o
o
o
o
E 3
e 4
e 4
p d -1 12
E 4
o
E 4
q
P
J prof.json
"""
# Stack bytes along the script: site 1 pushes 24; site 2 (1st) adds 8 + 800
# -> 832 (the peak), pops the array, adds 4 -> 36: left 12, pushed 812.
# Site 2 (2nd) adds 3 + 7 control bits -> 38: site 3 (1st) inside it adds
# 8 + 10 -> 56, pops 10: left 8, pushed 18; site 2 (2nd) left 38 - 36 = 2 +
# 8 = 10, pushed 2 + 18 = 20.  Back in site 1: pops to 36; site 1 left 36,
# pushed 24 + 812 + 20 = 856.  Site 3 (2nd) pops the remaining 36: left -36.
# Site 4 is recursive: inner pushes 8 (left 8), outer ends with 0 (left 0),
# each execution pushed 8.
PROFILE_EXPECTED = {
    1: {"count": 1, "peak_bytes": 832, "left_bytes": 36, "pushed_bytes": 856},
    2: {"count": 2, "peak_bytes": 832, "left_bytes": 22, "pushed_bytes": 832},
    3: {"count": 2, "peak_bytes": 56, "left_bytes": -28, "pushed_bytes": 18},
    4: {"count": 2, "peak_bytes": 8, "left_bytes": 8, "pushed_bytes": 16},
}


def test_profile_sites_by_hand(script_driver, tmp_path):
    out = run_script(script_driver(PROFILE), tmp_path, PROFILE_SCRIPT).stdout
    assert queries(out) == ["q 0 832 864 1"]
    prof = json.loads((tmp_path / "prof.json").read_text())
    assert prof["profiling"] is True
    assert (prof["current_bytes"], prof["peak_bytes"], prof["total_bytes"]) == (0, 832, 864)
    sites = {s.pop("site"): s for s in prof["sites"]}
    times = {k: s.pop("time_s") for k, s in sites.items()}
    assert sites == PROFILE_EXPECTED
    # every push happened inside some site, so the global peak is a site's
    assert prof["peak_bytes"] == max(s["peak_bytes"] for s in sites.values())
    assert all(t >= 0 for t in times.values())
    assert times[1] >= times[2]            # both runs of 2 lie inside 1
    report = [ln for ln in out.splitlines() if ln.startswith("adstack-prof:")]
    assert len(report) == 4
    assert re.fullmatch(r"adstack-prof: site 3: count 2, peak 56 B, left -28 B, "
                        r"pushed 18 B, time \d+\.\d{6} s", report[2])
    # the model agrees with the hand derivation
    m = Model()
    live = []
    for ln in PROFILE_SCRIPT.splitlines():
        op, *args = ln.split()
        if op == "p":
            m.push(args[0], int(args[1]))
            live.append((args[0], int(args[1])))
        elif op == "o":
            m.pop(*live.pop())
        elif op == "e":
            m.enter(int(args[0]))
        elif op == "E":
            m.exit(int(args[0]))
    assert m.sites == PROFILE_EXPECTED


def test_profile_recursive_site_time_counted_once(script_driver, tmp_path):
    # Site 4 recurses inside site 5, and nearly all of the work happens in
    # the inner activation: adding the inner time to the outer one would
    # make site 4 take about twice as long as site 5, which contains it.
    script = ("e 5\ne 4\ne 4\np d 400000 1\no\nE 4\nE 4\nE 5\n"
              "J prof.json\n")
    run_script(script_driver(PROFILE), tmp_path, script)
    prof = json.loads((tmp_path / "prof.json").read_text())
    times = {s["site"]: s["time_s"] for s in prof["sites"]}
    assert times[4] > 0
    assert times[5] + 1e-6 >= times[4]


def test_profiling_calls_are_inert_without_the_flag(script_driver, tmp_path):
    out = run_script(script_driver(), tmp_path, PROFILE_SCRIPT).stdout
    assert queries(out) == ["q 0 832 864 1"]
    assert "profiling not compiled in" in out
    prof = json.loads((tmp_path / "prof.json").read_text())
    assert prof == {"profiling": False, "current_bytes": 0, "peak_bytes": 832,
                    "total_bytes": 864, "sites": []}


# ------------------------------------------------------------ C, errors

def _misuse(id_, defines, script, message):
    return pytest.param(defines, script, message, id=id_)


@pytest.mark.parametrize("defines, script, message", [
    _misuse("empty-real8", (), "x d -1\n", "pop of 8 bytes from an empty stack"),
    _misuse("empty-logical", (), "x l -1\n", "pop of 1 bytes from an empty stack"),
    _misuse("wrong-type", (), "p f -1 1\nx d -1\n",
            "the stack holds only 4 value bytes"),
    _misuse("empty-after-blocks", (TINY,), "p d 100 7\no\nx i -1\n",
            "from an empty stack"),
    _misuse("empty-control", (), "x c 1\n", "control stream holds 0"),
    _misuse("short-control", (), "p c 3 1\nx c 4\n", "control stream holds 3"),
    _misuse("free-nonempty", (), "p d -1 1\nf\n",
            "ad_stack_free: the stack still holds 8 bytes"),
    _misuse("control-too-big", (), "y 8 3\n", "value 8 does not fit in 3 bits"),
    _misuse("control-negative", (), "y -1 3\n", "value -1 does not fit in 3 bits"),
    _misuse("nbits-9", (), "y 1 9\n", "nbits = 9 outside 1..8"),
    _misuse("nbits-0", (), "y 0 0\n", "nbits = 0 outside 1..8"),
    _misuse("exit-mismatch", (PROFILE,), "e 1\nE 2\n",
            "ad_prof_exit(2) does not match the innermost open site 1"),
    _misuse("exit-unopened", (PROFILE,), "E 1\n", "ad_prof_exit(1) with no site open"),
    _misuse("negative-site", (PROFILE,), "e -3\n", "negative site id -3"),
])
def test_misuse_aborts_with_message(script_driver, tmp_path, defines, script,
                                    message):
    proc = run_script(script_driver(*defines), tmp_path, "q\n" + script,
                      check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("adstack: error: ")
    assert message in proc.stderr
    assert proc.stdout.startswith("q 0 0 0 1\n")  # earlier output not lost


# ------------------------------------------------------------ C, blocks

def test_spare_block_policy(tmp_path):
    """Crossing a block boundary back and forth must not allocate; draining
    keeps every block for the next fill; free releases all."""
    flags = [*CFLAGS, "-DADSTACK_BLOCK_BYTES=64", "-I", RUNTIME]
    run(["gcc", *flags, "-include", DRIVERS / "count_alloc.h", "-c",
         RUNTIME / "adstack.c", "-o", tmp_path / "adstack.o"])
    run(["gcc", *flags, DRIVERS / "stack_blocks.c", tmp_path / "adstack.o",
         "-o", tmp_path / "blocks"])
    out = run([tmp_path / "blocks"]).stdout.split("\n")
    assert out[:6] == [
        "full 1 0",        # block 0, exactly full
        "oscillate 2 0",   # block 1 allocated once, then kept as the spare
        "grow 5 0",        # 8 + 192 bytes more: blocks 1..4
        "drain 5 0",       # down to block 0, blocks 1..4 kept for reuse
        "free 5 5",
        "reuse 6 5",
    ]


# ------------------------------------------------------------ compilers

def test_sources_compile_warning_free(tmp_path):
    for defines in ([], [PROFILE], [TINY, PROFILE]):
        run(["gcc", *CFLAGS, "-Wpedantic", *defines, "-c",
             RUNTIME / "adstack.c", "-o", tmp_path / "a.o"])
    user = tmp_path / "user.c"
    user.write_text('#include "adstack.h"\n'
                    "double f(double x) { double y; ad_push_real8(x);"
                    " ad_pop_real8(&y); return y; }\n")
    for std, extra in (("-std=c99", []), ("-std=c99", [NO_INLINE]),
                       ("-std=c89", []), ("-std=c11", [])):
        run(["gcc", std, "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
             *extra, "-I", RUNTIME, "-c", user, "-o", tmp_path / "u.o"])
    if shutil.which("g++"):
        cpp = tmp_path / "user.cpp"
        cpp.write_text(user.read_text())
        run(["g++", "-O2", "-Wall", "-Wextra", "-Werror", "-I", RUNTIME, "-c",
             cpp, "-o", tmp_path / "u.o"])
    for std in ("-std=f2003", "-std=f2008"):
        run(["gfortran", std, "-Wall", "-Werror", "-J", tmp_path, "-c",
             RUNTIME / "adstack_mod.f90", "-o", tmp_path / "m.o"])


# ------------------------------------------------------------ Fortran

# Numbers printed by stack_fortran.f90 (see the comments there): 1000
# rounds of 8+4+4+8+1 bytes and 2 control bits, then 2e6 real(8), 10
# logicals, 5 integer(4), 3 real(4) and 3 more control bits.
F_PUSHED = 1000 * 25 + 2_000_000 * 8 + 10 + 5 * 4 + 3 * 4 + math.ceil(2003 / 8)
F_ROUNDS = 1000 * 25 + 2000 // 8


@pytest.mark.parametrize("profile", [False, True], ids=["plain", "profile"])
def test_fortran_module(tmp_path, profile):
    defines = [PROFILE] if profile else []
    run(["gcc", *CFLAGS, *defines, "-c", RUNTIME / "adstack.c",
         "-o", tmp_path / "adstack.o"])
    run(["gfortran", *FFLAGS, "-J", tmp_path, "-c", RUNTIME / "adstack_mod.f90",
         "-o", tmp_path / "adstack_mod.o"])
    run(["gfortran", *FFLAGS, "-I", tmp_path, DRIVERS / "stack_fortran.f90",
         tmp_path / "adstack_mod.o", tmp_path / "adstack.o",
         "-o", tmp_path / "prog"])
    out = run([tmp_path / "prog"], cwd=tmp_path).stdout.splitlines()
    assert out == [
        f"after_push {F_PUSHED} {F_PUSHED} {F_PUSHED}",
        f"mid {F_ROUNDS} {F_PUSHED} {F_PUSHED}",
        f"reset {F_ROUNDS} {F_ROUNDS} 0",
        f"end 0 {F_ROUNDS + 8} 8",
        "empty 1",
        "before_report",
        f"adstack: current 0 B, peak {F_ROUNDS + 8} B, pushed 8 B",
        "after_report",
        "bad 0",
    ]
    prof = json.loads((tmp_path / "prof.json").read_text())
    assert prof["profiling"] is profile
    if profile:
        (site,) = prof["sites"]
        assert (site["site"], site["count"], site["peak_bytes"],
                site["left_bytes"], site["pushed_bytes"]) == \
            (5, 1, F_PUSHED, F_PUSHED, F_PUSHED)
    else:
        assert prof["sites"] == []
