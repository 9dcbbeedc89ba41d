"""Reference adjoints: the gradient at the program's point, kept in a JSON
file that CI compares against on every change.

File format (`adtool_reference` = 1):

    {"adtool_reference": 1,
     "head": "simulate(cost)/(t0 kappa qsrc)",   # --head as given
     "routine": "simulate", "dependents": [...], "independents": [...],
     "plan": {"default_mode": ..., "split": [...], "joint": [...], "checkpoint_file": ...},
     "adtool_version": "...", "compiler": "gfortran ... (first line of --version)",
     "flags": "-O2",
     "gradient": {"t0": [v1, v2, ...], "kappa": [v]}}

The gradient is every independent's adjoint after one adjoint call with
seed 1 on every dependent, in storage order, written with Python's
round-trip float repr (full precision).  The comparison is entry by entry,
relative to the largest reference entry, so that tiny entries do not fail on
rounding noise.
"""
from __future__ import annotations

import json
import math
import shlex
import subprocess
from typing import Optional

from .. import __version__
from ..diagnostics import bad_input
from ..ir.nodes import Span

FORMAT = 1
WORST = 8       # entries shown when a comparison fails


def _where(path: str) -> Span:
    return Span(path, 0, 0)


def load_reference(path: str) -> dict:
    """The reference file, or exit 2 saying what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise bad_input("no such reference file", _where(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad_input(f"malformed reference file (JSON expected): {e}", _where(path)) from None
    if not isinstance(doc, dict) or doc.get("adtool_reference") != FORMAT:
        raise bad_input("not an adtool reference file (no \"adtool_reference\": 1; make one "
                        "with adtool check --save-reference)", _where(path))
    grad = doc.get("gradient")
    if not isinstance(doc.get("routine"), str) or not isinstance(grad, dict) or not grad \
            or not all(isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
                       for v in grad.values()):
        raise bad_input("malformed reference file: needs \"routine\" and a \"gradient\" table of "
                        "number lists, one per independent", _where(path))
    return doc


def _compiler(opts) -> str:
    cmd = opts.fc if opts.diff.files and not opts.diff.files[0].endswith(".c") else opts.cc
    try:
        p = subprocess.run([*shlex.split(cmd), "--version"], capture_output=True, text=True)
        first = (p.stdout or p.stderr).splitlines()
        return first[0].strip() if first else cmd
    except OSError:
        return cmd


def save_reference(path: str, gradient: Optional[dict], diff, opts, head: str, roles) -> None:
    from ..output import write_atomic
    if not gradient:
        raise bad_input("the check printed no gradient to save (the head has no active independent)")
    deps, indeps = roles
    doc = {
        "adtool_reference": FORMAT,
        "head": diff.head,
        "routine": head,
        "dependents": list(deps),
        "independents": [n for n in indeps if n in gradient],
        "plan": {"default_mode": diff.default_mode, "split": diff.split, "joint": diff.joint,
                 "checkpoint_file": diff.checkpoint_file, "externals": diff.externals},
        "adtool_version": __version__,
        "compiler": _compiler(opts),
        "flags": opts.flags if opts.flags is not None else "-O2",
        "gradient": gradient,
    }
    write_atomic(path, json.dumps(doc, indent=1) + "\n")


def compare_reference(path: str, gradient: Optional[dict], head: str, roles, rtol: float):
    """A Check: passed when every entry is within rtol * (largest |entry|)."""
    from .command import Check
    doc = load_reference(path)
    if doc["routine"] != head:
        raise bad_input(f"the reference was made for head '{doc['routine']}', this check's head "
                        f"is '{head}'", _where(path))
    gradient = gradient or {}
    ref = doc["gradient"]
    if sorted(ref) != sorted(gradient):
        raise bad_input(f"the reference has independents {', '.join(sorted(ref))}; this check has "
                        f"{', '.join(sorted(gradient)) or 'none'}", _where(path))
    for name in ref:
        if len(ref[name]) != len(gradient[name]):
            raise bad_input(f"independent '{name}' has {len(ref[name])} entries in the reference "
                            f"and {len(gradient[name])} now (another problem size?)", _where(path))
    scale = max((abs(x) for v in ref.values() for x in v), default=0.0) or 1.0
    rows = []
    for name in ref:
        for k, (r, n) in enumerate(zip(ref[name], gradient[name]), start=1):
            d = abs(n - r) / scale if not math.isnan(n) else math.inf
            rows.append((d, name, k, r, n))
    rows.sort(key=lambda t: -t[0])
    worst = rows[0][0] if rows else 0.0
    ok = worst <= rtol
    total = len(rows)
    bad = sum(1 for r in rows if r[0] > rtol)
    summary = (f"reference {path}: {total} entries, largest rel. difference {worst:.2e} "
               f"(tolerance {rtol:.0e}, relative to the largest entry {scale:.6e})"
               + ("" if ok else f"; {bad} entries differ"))
    details = []
    if not ok:
        details.append(f"{'entry':<20} {'reference':>25} {'now':>25} {'rel. diff':>10}")
        for d, name, k, r, n in rows[:WORST]:
            if d <= rtol:
                break
            details.append(f"{name + '(' + str(k) + ')':<20} {r:>25.17e} {n:>25.17e} {d:>10.2e}")
    return Check("reference", ok, summary,
                 dict(file=path, rtol=rtol, max_rel=worst, entries=total, differing=bad,
                      worst=[dict(independent=name, entry=k, reference=r, now=n, rel=d)
                             for d, name, k, r, n in rows[:WORST]]), details)
