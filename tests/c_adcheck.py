"""Build-and-run helpers for end-to-end derivative checks of the C fixtures:
the tangent and adjoint files are compiled apart with the strict flags users
are promised; the check driver lives in the user's own file (see
adtool/check/c_driver.py), which is compiled with the fixture's flags."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from adcheck import PARSE_CACHE, CheckResult, run
from adtool.check.c_driver import c_check_program
from adtool.frontend.c import read_c
from adtool.pipeline import Options, generate
from adtool.runtime_files import install_runtime

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "c"
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
USER = ["-std=c99", "-O1", "-Wno-unknown-pragmas"]
# Many plans of one fixture (the random mixed plans): the same warnings,
# without the optimiser's time (the fixtures' joint and split adjoints are
# compiled with STRICT).
QUICK = ["-std=c99", "-O0", "-Wall", "-Wextra", "-Werror"]


def fixture_table() -> dict:
    with open(FIXTURES / "fixtures.toml", "rb") as fh:
        return tomllib.load(fh)


def head_spec(fix: dict) -> str:
    return f"{fix['head']}({' '.join(fix['dependents'])})/({' '.join(fix['independents'])})"


class CHarness:
    """One fixture: runtime, tangent and driver built once; each reverse
    plan then costs one generation, one strict compile and one run."""

    def __init__(self, name: str, work: Path, fix: dict | None = None):
        self.fix = fix or fixture_table()[name]
        base = Path(self.fix.get("base", FIXTURES))
        self.files = [str(base / f) for f in self.fix["files"]]
        self.head = self.fix["head"]
        self.spec = head_spec(self.fix)
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.tu = read_c(self.files)
        rt = work / "rt"
        install_runtime(str(rt))
        self.rt = str(rt)
        run(["gcc", "-O2", "-c", "adstack.c", "-o", "adstack.o"], rt)
        text_d, out_d = generate(Options(files=self.files, head=self.spec, mode="tangent",
                                         cache_dir=PARSE_CACHE))
        (work / "deriv_d.c").write_text(text_d)
        run(["gcc", *STRICT, "-I", self.rt, "-c", "deriv_d.c"], work)
        self.rd = next(r for r in out_d.all_routines() if r.name == self.head + "_d")
        self.count = 0
        self.driver = False

    def plan(self, default_mode: str = "joint", split=(), joint=(), checkpoint_file=None,
             profile: bool = False, strict: bool = True) -> CheckResult:
        """profile: generate with --profile and link the runtime built with
        -DADSTACK_PROFILE; the driver calls the adjoint once, so the
        profile it writes at exit (result.run, for plan optimize's
        --profile-data) is that call's."""
        self.count += 1
        tag = f"b{self.count}"
        text_b, out_b = generate(Options(files=self.files, head=self.spec, mode="reverse",
                                         default_mode=default_mode, split=list(split),
                                         joint=list(joint), checkpoint_file=checkpoint_file,
                                         profile=profile, cache_dir=PARSE_CACHE))
        (self.work / f"{tag}.c").write_text(text_b)
        run(["gcc", *(STRICT if strict else QUICK), "-I", self.rt, "-c", f"{tag}.c"], self.work)
        if not self.driver:
            rb = next(r for r in out_b.all_routines() if r.name == self.head + "_b")
            text = c_check_program(self.tu, self.head, rb, self.rd, h=self.fix.get("fd_step", 1e-6))
            (self.work / "driver.c").write_text(text)
            run(["gcc", *USER, "-I", self.rt, "-c", "driver.c"], self.work)
            self.driver = True
        rt_obj = str(Path(self.rt) / "adstack.o")
        env = None
        if profile:
            import json
            import os
            from adtool.check.profile import IDS, call_site_table
            rt_obj = str(Path(self.rt) / "adstack_prof.o")
            if not Path(rt_obj).exists():
                run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "adstack.c", "-o", "adstack_prof.o"],
                    self.rt)
            (self.work / f"{tag}.sites.json").write_text(json.dumps(
                {"ids": IDS, "sites": call_site_table(out_b.profile_sites)}))
            env = dict(os.environ, ADTOOL_PROFILE=str(self.work / f"{tag}.prof.json"))
        run(["gcc", "-o", tag, "driver.o", "deriv_d.o", f"{tag}.o", rt_obj, "-lm"], self.work)
        p = run([f"./{tag}"], self.work, timeout=60, env=env)
        m = re.search(r"ADCHECK\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", p.stdout)
        st = re.search(r"ADSTACK\s+\S+\s+(\d+)\s+(-?\d+)", p.stdout)
        assert m and st, p.stdout
        res = CheckResult(*(float(x) for x in m.groups()), int(st.group(1)), int(st.group(2)),
                          p.stdout)
        if profile:
            res.run = {"sites": str(self.work / f"{tag}.sites.json"),
                       "profile": str(self.work / f"{tag}.prof.json")}
        return res


_SINGLE = re.compile(r"\bad_(push|pop)_(?!record\b)\w+\(([^;]*)\);")
_RECORD = re.compile(r"char ad_rec\[\d+\];\n(.*?)\n\s*\}", re.S)
_GATHER = re.compile(r"memcpy\(ad_rec \+ \d+, ([^;]*), \d+\);")
_SCATTER = re.compile(r"memcpy\((.*), ad_rec \+ \d+, \d+\);")


def _what(arg: str) -> str:
    """`&x[i]` -> `x[i]`, `(double *)pt` -> `pt`, `proj, 2` -> `proj`."""
    depth = 0
    for k, ch in enumerate(arg):
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if ch == "," and depth == 0:
            arg = arg[:k]
            break
    arg = re.sub(r"^\((?:const )?\w+ \*\)", "", arg.strip())
    return arg[1:] if arg.startswith("&") else arg


def recorded(text: str, kind: str = "push") -> list[str]:
    """What generated C pushes (kind "push") or pops, one entry per value
    in text order, whether by a single call (`ad_push_real8(s)`: `s`) or
    gathered into a record (backend/c_records.py: `memcpy(ad_rec + 8,
    &s, 8)`: `s`).  Control records are left out: they are bits, never
    grouped."""
    out: list[tuple[int, str]] = []
    for m in _SINGLE.finditer(text):
        if m.group(1) == kind and not m.group(0).startswith(f"ad_{kind}_control"):
            out.append((m.start(), _what(m.group(2))))
    for m in _RECORD.finditer(text):
        body = m.group(1)
        if f"ad_{kind}_record(" not in body:
            continue
        pat = _GATHER if kind == "push" else _SCATTER
        out.extend((m.start(1) + g.start(), _what(g.group(1))) for g in pat.finditer(body))
    return [w for _, w in sorted(out)]
