"""Differential testing with random Fortran programs (tests/progen.py).

Many independent generated programs (prefixes p000_, p001_, ...) share one
source file per batch; adtool differentiates all their heads at once
(tangent, reverse joint, reverse split), a driver written from the known
head signatures runs, for each program, the tangent, the adjoint and central
finite differences on one point, and the checks are, in both modes:
adjoint vs FD (rel < 1e-6), tangent vs adjoint dot products (rel < 1e-10),
nothing left on the stack; and joint vs split gradients (rel < 1e-12).

Seeds are fixed per batch and program (program k of batch b has seed
BASE * 1_000_000 + b * 1000 + k, BASE from $ADTOOL_RANDOM_SEED, default 0),
so a failure reproduces with `python tests/progen.py SEED --prefix pNNN_`,
and `python tests/test_random_programs.py SEED --prefix pNNN_` shrinks it
(removes statements while it keeps failing the same way).  When a batch fails
to build or to run, its programs are rebuilt one by one so the failure lands
on the program that causes it.  The batches are built and run by a pool of
processes, one per core in all: under pytest-xdist the test workers' pools
claim batches in one shared directory, so each batch is built once.

Environment: ADTOOL_RANDOM_SEED (base seed, 0), ADTOOL_RANDOM_BATCHES (10),
ADTOOL_RANDOM_PER_BATCH (20), ADTOOL_RANDOM_SIZE (small|normal|large),
ADTOOL_RANDOM_WORKERS (cores), ADTOOL_RANDOM_NOCACHE (parse each file once
per generate() call instead of once per batch).

Shrunk programs that exposed adtool bugs are kept in fixtures/random/ and
checked by test_kept_case.
"""
from __future__ import annotations

import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import progen
from adcheck import FFLAGS, build_runtime
from adtool.pipeline import Options, generate

BASE = int(os.environ.get("ADTOOL_RANDOM_SEED", "0"))
NBATCH = int(os.environ.get("ADTOOL_RANDOM_BATCHES", "10"))
PER_BATCH = int(os.environ.get("ADTOOL_RANDOM_PER_BATCH", "20"))
SIZE = os.environ.get("ADTOOL_RANDOM_SIZE", "normal")     # small | normal | large
# "mixed": every call joint except those of a seeded half of the helpers
# (joint parents around split children is where adjoint liveness and
# snapshots meet: a dropped global assignment a split callee reads was
# found there).
MODES = ("joint", "split", "mixed")


def split_helpers(p: progen.Program) -> list[str]:
    rng = random.Random(p.seed)
    return [r.sig.name for r in p.routines[:-1] if rng.random() < 0.5]
FD_TOL = 1e-6
# Central differences with h = 1e-6 carry a rounding error of about
# eps * |<W, f>| / h ~ 1e-10 (values are bounded by 2): a gradient that
# nearly vanishes along D is held to that, not to 1e-6 of itself (as in
# test_c_random_programs.py).  Seed 9101001008: adjoint 3.96151205e-6,
# tangent equal to 1e-12, FD 3.96152555e-6 (off by 1.4e-11).
FD_FLOOR = 1e-10


def fd_ok(fd: float, adj: float) -> bool:
    return abs(fd - adj) <= max(FD_TOL * max(abs(fd), abs(adj)), FD_FLOOR)
DOT_TOL = 1e-10
MODE_TOL = 1e-12
CHECKS = ["-fcheck=bounds", "-ffpe-trap=invalid,zero,overflow"]
# The generated programs and the drivers: relaxed warnings.
FLAGS = [f for f in FFLAGS if not f.startswith("-O")] + ["-O0"] + CHECKS
# What adtool generates must compile warning-free (adcheck.STRICT), built at
# -O1: at -O0 gfortran reorders nothing, so an adjoint call given one
# element's adjoint as two dummies (f(x(i), x(1)), i = 1) came out right
# there and wrong at -O1 (fixtures/fortran/alias_elements.f90; progen's
# aliased_elements).  -Wmaybe-uninitialized, which optimisation turns on,
# is off: gfortran raises it, falsely, on the generated programs themselves
# (3 of 200 at -O1).  -Winteger-division included: the
# trip count of a stepped loop over PARAMETER bounds ("do i = 1, n, 2",
# n = 5) was written "max(0, (n - 1 + 2) / 2)", a truncating constant
# division; it is a number now (fixtures/fortran/stepped_params.f90).
GEN_FLAGS = ["-O1", "-Wall", "-Wno-unused-dummy-argument", "-Wno-maybe-uninitialized", "-Werror"] + CHECKS


def seed_of(batch: int, k: int) -> int:
    return BASE * 1_000_000 + batch * 1000 + k


def programs(batch: int) -> list[progen.Program]:
    return [progen.generate(seed_of(batch, k), prefix=f"p{batch * PER_BATCH + k:03d}_", size=SIZE)
            for k in range(PER_BATCH)]


@dataclass
class Res:
    tangent_dot: float
    adjoint_dot: float
    fd: float
    grad_norm2: float
    left: int


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _run(cmd, cwd, timeout=300):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                           f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def _head_args(unit, heads: list[str], suffix: str) -> dict:
    rs = {r.name: r.args for r in unit.all_routines()}
    return {h: rs[h + suffix] for h in heads}


def _build_and_run(progs: list[progen.Program], work: Path, rt) -> dict:
    """{prefix: {mode: Res}} for programs sharing one file."""
    objs, rtdir = rt
    work.mkdir(parents=True, exist_ok=True)
    src = work / "progs.f90"
    src.write_text("\n".join(p.text for p in progs) + "\n" + progen.main_program(progs))
    (work / "primal.f90").write_text("\n".join(p.text for p in progs))
    spec = " ".join(p.spec for p in progs)
    heads = [p.head.name for p in progs]
    text_d, unit_d = generate(Options(files=[str(src)], head=spec, mode="tangent"))
    (work / "deriv_d.f90").write_text(text_d)
    d_args = _head_args(unit_d, heads, "_d")
    sources = ["primal.f90", "deriv_d.f90"]
    drivers = {}
    for mode in MODES:
        split = [n for p in progs for n in split_helpers(p)] if mode == "mixed" else []
        text_b, unit_b = generate(Options(files=[str(src)], head=spec, mode="reverse",
                                          default_mode="joint" if mode == "mixed" else mode,
                                          split=split))
        (work / f"deriv_b_{mode}.f90").write_text(text_b)
        b_args = _head_args(unit_b, heads, "_b")
        (work / f"driver_{mode}.f90").write_text(progen.driver(progs, b_args, d_args))
        sources += [f"deriv_b_{mode}.f90", f"driver_{mode}.f90"]

    def compile_one(f):
        flags = GEN_FLAGS if f.startswith("deriv") else FLAGS
        # each adjoint file declares the same derivative-type modules
        # (p_types_diff): their .mod files go apart, or parallel compiles race
        mods = []
        if f.startswith("deriv_b_"):
            (work / f"mod_{f[:-4]}").mkdir(exist_ok=True)
            mods = ["-J", f"mod_{f[:-4]}"]
        return _run(["gfortran", *flags, *mods, "-I", rtdir, "-c", f, "-o", f[:-4] + ".o"], work)
    compile_one(sources[0])      # the programs' modules (record types, p_mod) come first
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        list(ex.map(compile_one, sources[1:]))
    out: dict = {p.prefix: {} for p in progs}
    for mode in MODES:
        exe = f"check_{mode}"
        _run(["gfortran", "-o", exe, "primal.o", "deriv_d.o", f"deriv_b_{mode}.o",
              f"driver_{mode}.o", *objs], work)
        stdout = _run([f"./{exe}"], work, timeout=120)
        for m in re.finditer(r"ADCHECK\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)", stdout):
            pre, *vals = m.groups()
            out[pre][mode] = Res(*(float(v) for v in vals[:4]), int(vals[4]))
    missing = [p for p, r in out.items() if len(r) != len(MODES)]
    if missing:
        raise RuntimeError(f"no ADCHECK line for {missing}")
    return out


def run_isolating(progs, work: Path, rt) -> dict:
    """Like _build_and_run, but a failure is pinned on single programs:
    {prefix: {mode: Res}} or {prefix: exception text}."""
    try:
        return _build_and_run(progs, work, rt)
    except Exception as e:            # noqa: BLE001 - reported per program below
        if len(progs) == 1:
            return {progs[0].prefix: f"{type(e).__name__}: {e}"}
    out = {}
    for p in progs:
        out.update(run_isolating([p], work / p.prefix.rstrip("_"), rt))
    return out


def _cached_parsing():
    """Parse each source file once per process: generate() is called three
    times on the same file (tangent, joint, split) and parsing is half of
    its time.  Each call still gets its own fresh copy of the parsed unit
    (adtool's own structural copy: copy.deepcopy took as long as a
    transform)."""
    import hashlib
    from adtool import pipeline
    from adtool.ir.clone import clone
    orig = pipeline.read_sources
    if getattr(orig, "_random_cache", False):
        return
    memo: dict = {}

    def read_sources(files, include_dirs, defines, *more):
        key = (tuple(files), tuple(include_dirs), tuple(defines), *more,
               tuple(hashlib.sha1(Path(f).read_bytes()).hexdigest() for f in files))
        if key not in memo:
            memo.clear()
            memo[key] = orig(files, include_dirs, defines, *more)
        return clone(memo[key])
    read_sources._random_cache = True
    pipeline.read_sources = read_sources


def run_batch(batch: int, work: str, rt) -> dict:
    """Build and run one batch; {prefix: {mode: Res} | error text}."""
    if not os.environ.get("ADTOOL_RANDOM_NOCACHE"):
        _cached_parsing()
    return run_isolating(programs(batch), Path(work), rt)


def _result_file(shared: Path, batch: int) -> Path:
    return shared / f"b{batch:02d}.pickle"


def claim_batches(shared: str, rt) -> None:
    """Worker process: build and run every batch no other process has
    claimed.  Under pytest-xdist each test worker starts such processes on
    one shared directory, so every batch is built once per run, by whichever
    process reaches it first, and a worker waiting for a batch another
    worker builds costs no core."""
    import pickle
    root = Path(shared)
    for b in range(NBATCH):
        try:
            (root / f"b{b:02d}.claim").mkdir()
        except FileExistsError:
            continue
        try:
            res = run_batch(b, str(root / f"b{b:02d}"), rt)
        except Exception as e:        # noqa: BLE001 - every program of the batch fails with it
            res = {f"p{b * PER_BATCH + k:03d}_": f"{type(e).__name__}: {e}" for k in range(PER_BATCH)}
        tmp = root / f"b{b:02d}.tmp"
        tmp.write_bytes(pickle.dumps(res))
        tmp.rename(_result_file(root, b))


@pytest.fixture(scope="session")
def batch_futures(tmp_path_factory):
    """All batches, built and run in the background as soon as the first
    test asks for one: by a pool of processes (one per core, shared among
    the xdist workers) claiming batches in a directory all workers share."""
    from concurrent.futures import ProcessPoolExecutor
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "random"
    shared.mkdir(exist_ok=True)
    rt = build_runtime(tmp_path_factory.mktemp("random_rt"))
    n_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    procs = int(os.environ.get("ADTOOL_RANDOM_WORKERS",
                               max(1, (os.cpu_count() or 2) // n_workers)))
    ex = ProcessPoolExecutor(max_workers=max(1, procs))
    claims = [ex.submit(claim_batches, str(shared), rt) for _ in range(max(1, procs))]
    yield shared, claims
    ex.shutdown(cancel_futures=True)


_progs: dict = {}
_results: dict = {}


@pytest.fixture
def batch_results(batch_futures):
    import pickle
    import time
    shared, claims = batch_futures

    def get(batch):
        if batch not in _progs:
            _progs[batch] = {p.prefix: p for p in programs(batch)}
        if batch not in _results:
            f = _result_file(shared, batch)
            deadline = time.monotonic() + 3600
            while not f.exists():
                for c in claims:
                    if c.done() and c.exception() is not None:
                        raise c.exception()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"batch {batch} not built within an hour ({shared})")
                time.sleep(0.5)
            _results[batch] = pickle.loads(f.read_bytes())
        return shared / f"b{batch:02d}", _progs[batch], _results[batch]
    return get


CASES = [(b, k) for b in range(NBATCH) for k in range(PER_BATCH)]


def _case(batch_results, b, k):
    work, progs, res = batch_results(b)
    pre = f"p{b * PER_BATCH + k:03d}_"
    p = progs[pre]
    size = f" --size {SIZE}" if SIZE != "normal" else ""
    how = (f"program seed {p.seed}: python tests/progen.py {p.seed} --prefix {pre}{size}\n"
           f"shrink it: python tests/test_random_programs.py {p.seed} --prefix {pre}{size}\n"
           f"batch files in {work}")
    r = res[pre]
    if isinstance(r, str):
        pytest.fail(f"{how}\n{r}")
    return p, r, how


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("b,k", CASES, ids=[f"p{b * PER_BATCH + k:03d}" for b, k in CASES])
def test_adjoint_matches_fd_and_tangent(b, k, mode, batch_results):
    p, r, how = _case(batch_results, b, k)
    x = r[mode]
    assert x.left == 0, f"{how}\nthe adjoint left {x.left} bytes on the stack"
    assert rel(x.tangent_dot, x.adjoint_dot) < DOT_TOL, f"{how}\ndot test: {x}"
    assert fd_ok(x.fd, x.adjoint_dot), f"{how}\nadjoint vs FD: {x}"


@pytest.mark.parametrize("b,k", CASES, ids=[f"p{b * PER_BATCH + k:03d}" for b, k in CASES])
def test_joint_and_split_agree(b, k, batch_results):
    p, r, how = _case(batch_results, b, k)
    j = r["joint"]
    for s in (r["split"], r["mixed"]):
        assert rel(j.adjoint_dot, s.adjoint_dot) < MODE_TOL, f"{how}\n{j}\n{s}"
        assert rel(j.grad_norm2, s.grad_norm2) < MODE_TOL, f"{how}\n{j}\n{s}"


KEPT = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "random").glob("*.f90"))


@pytest.mark.parametrize("mode", ("joint", "split"))
@pytest.mark.parametrize("path", KEPT, ids=[p.stem for p in KEPT])
def test_kept_case(path, mode, tmp_path):
    """Shrunk programs that exposed a bug (fixtures/random/*.f90, each saying
    what it exercises and its head spec) stay fixed.  Every one is checked:
    a bug not fixed yet is kept out of the suite by switching its construct
    off in progen.Features, not by skipping its case here."""
    import adcheck
    m = re.search(r"head spec: (\w+)\((.*?)\)/\((.*?)\)", path.read_text())
    assert m, f"{path.name}: no '! head spec: h(deps)/(indeps)' comment"
    r = adcheck.check(path.stem, tmp_path, default_mode=mode,
                      fix=dict(files=[path.name], base=str(path.parent), head=m.group(1),
                               dependents=m.group(2).split(), independents=m.group(3).split()))
    assert r.stack_left == 0, r.output
    assert r.rel(r.tangent_dot, r.adjoint_dot) < DOT_TOL, r.output
    assert r.rel(r.fd, r.adjoint_dot) < FD_TOL, r.output



# ----------------------------------------------------------------------------
# shrinking a failing program (python tests/test_random_programs.py SEED)


def failure_kind(res) -> str | None:
    """A short tag for how a program's result fails, None if it passes."""
    if isinstance(res, str):
        return "error:" + re.sub(r"\d+", "N", res.splitlines()[0])[:60]
    tags = []
    for mode in MODES:
        x = res[mode]
        if x.left:
            tags.append(f"{mode}:stack")
        if rel(x.tangent_dot, x.adjoint_dot) >= DOT_TOL:
            tags.append(f"{mode}:dot")
        if not fd_ok(x.fd, x.adjoint_dot):
            tags.append(f"{mode}:fd")
    j = res["joint"]
    for other in ("split", "mixed"):
        s = res[other]
        if rel(j.adjoint_dot, s.adjoint_dot) >= MODE_TOL or rel(j.grad_norm2, s.grad_norm2) >= MODE_TOL:
            tags.append(f"modes:{other}")
    return " ".join(tags) or None


def _prologue(lines: list[str]) -> set:
    """Indices of the lines that give every local and output its first value
    (right after the declarations): removing them would leave reads of
    undefined values, so the shrinker only simplifies them."""
    out = set()
    state = "out"
    seen: set = set()
    for i, ln in enumerate(lines):
        s = ln.strip()
        if re.match(r"(subroutine|function|real\(8\) function)\b", s):
            state, seen = "decl", set()
            continue
        if state == "decl":
            if re.match(r"(implicit|integer|real|double|logical|common)\b", s):
                continue
            state = "prologue"
        if state == "prologue":
            m = re.match(r"(\w+) = ", s)
            if m and m.group(1) not in seen and not s.endswith("&"):
                seen.add(m.group(1))
                out.add(i)
                continue
            state = "body"
    return out


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Removable spans [i, j): single executable lines and whole
    do/if constructs, inside routine bodies (not declarations)."""
    spans = []
    keep = _prologue(lines)
    opener = re.compile(r"\s*(\w+:\s*)?(do\b|if\s*\(.*\)\s*then\s*$|select case\b)")
    decl = re.compile(r"\s*(implicit|integer|real|double|logical|common|end\b|subroutine|"
                      r"function|program|else|case|!|$)")
    for i, ln in enumerate(lines):
        if decl.match(ln) or re.match(r"\s*(real\(8\)\s+)?function\b", ln) or i in keep:
            continue
        if "&" in ln.rstrip()[-1:]:
            continue
        if opener.match(ln):
            depth, j = 0, i
            while j < len(lines):
                if opener.match(lines[j]):
                    depth += 1
                elif re.match(r"\s*end\s*(do|if|select)\b", lines[j]):
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            spans.append((i, j + 1))
        elif not ln.lstrip().startswith("&"):
            j = i + 1
            while lines[j - 1].rstrip().endswith("&"):
                j += 1
            spans.append((i, j))
    return spans


def shrink(p: progen.Program, work: Path, rt, log=print) -> progen.Program:
    """Remove statements while the program keeps failing the same way.
    The lines that give locals and outputs their first value are only
    simplified (right side 0.5d0), never removed; the program's locals are
    also zero-initialised by the compiler meanwhile, so the shrunk program
    stays deterministic."""
    import copy
    global FLAGS, GEN_FLAGS
    saved = FLAGS, GEN_FLAGS
    FLAGS = FLAGS + ["-finit-local-zero"]       # not GEN_FLAGS: keep adtool's warnings
    try:
        def kind(text):
            q = copy.copy(p)
            q.routines = [progen.Routine(p.head, text)]
            q.module = None                 # text holds the program's module already
            res = run_isolating([q], work / f"s{kind.count}", rt)[q.prefix]
            kind.count += 1
            return failure_kind(res)
        kind.count = 0
        text = p.text
        want = kind(text)
        log(f"failure: {want}")
        if want is None:
            return p
        changed = True
        while changed:
            changed = False
            lines = text.split("\n")
            cands = ["\n".join(lines[:i] + lines[j:])
                     for i, j in sorted(_blocks(lines), key=lambda s: s[0] - s[1])]
            for i in sorted(_prologue(lines)):
                lhs, rhs = lines[i].split(" = ", 1)
                if rhs not in ("0.5d0",) and not rhs.strip().isdigit():
                    cands.append("\n".join(lines[:i] + [lhs + " = 0.5d0"] + lines[i + 1:]))
            for cand in cands:
                try:
                    k = kind(cand)
                except Exception:       # noqa: BLE001
                    k = None
                if k == want:
                    text = cand
                    changed = True
                    log(f"simplified: {len(text.splitlines())} lines left")
                    break
        q = copy.copy(p)
        q.routines = [progen.Routine(p.head, text)]
        q.module = None
        return q
    finally:
        FLAGS, GEN_FLAGS = saved


if __name__ == "__main__":
    import argparse
    import sys
    import tempfile
    ap = argparse.ArgumentParser(description="Shrink a failing random program; prints "
                                 "the shrunk program (with its head spec) on stdout.")
    ap.add_argument("seed", type=int)
    ap.add_argument("--prefix", default="p_")
    ap.add_argument("--size", default="normal", choices=["small", "normal", "large"])
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shrink"))
    rt = build_runtime(tmp / "rt")
    q = shrink(progen.generate(a.seed, a.prefix, size=a.size), tmp, rt,
               log=lambda m: print(m, file=sys.stderr))
    print(f"! head spec: {q.spec}\n" + q.text + "\n" + progen.main_program([q]))
