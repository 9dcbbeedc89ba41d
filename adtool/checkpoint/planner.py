"""`adtool plan optimize` and `adtool plan pareto`: the cost model of
checkpointing.md filled in from measured profiles, and the plan it picks.

Profile data (--profile-data P.json) records profiled runs of the head's
adjoint (code from `differentiate --profile`, runtime built with
-DADSTACK_PROFILE):

    {"runs": [
      {"sites": "model_b.sites.json" | [...],     # the table differentiate wrote
       "profile": "prof.json" | {...},            # what the runtime wrote (ad_prof_json)
       "adjoint_time_s": 0.12,                    # optional: the adjoint call's time,
                                                  #   measured without profiling; given for
                                                  #   all-split and all-joint runs, it
                                                  #   calibrates the profiled extra times
       "primal_time_s": 0.03},                    # optional: one primal run's time
      ...]}

Paths are relative to P.json.  Every call site must be split in some run
(its tape is measured there: bytes its forward sweep leaves) and joint in
some run (its snapshot's bytes and the time of its extra plain run); the
simplest is one run with `--default-mode split` and one with
`--default-mode joint`.  The caller's tape is not a constant:

- a caller's recording around each call site (what the call overwrites and
  its backward sweep or the split callee's _bwd reads; the site's id+1 in
  a split run, merged with the snapshot in a joint run) is a per-site term
  that depends on that site's mode; around a joint call, what of it is
  pushed back while f_b runs (id+3: only what f_b may write) is measured
  in a run with the site's subtree all joint and counted for plans where
  it is, the whole shared part otherwise;
- a joint call's snapshot may depend on its parent site's mode: a joint
  parent's adjoint re-runs only what its backward sweep reads (dead-work
  removal) and may no longer overwrite the callee's inputs after the call,
  where a split parent's forward sweep does.  It is measured under a split
  parent in a run with the site joint and its parent split (the levels runs
  of bench/planner.py), under a joint parent in the all-joint run; with
  only the latter, the site is not offered joint under a split parent;
- a routine's recording away from its calls may change when its callees
  are joint (delta): measured when some run has the site split and all its
  child sites joint (bench/planner.py adds two runs with the call tree's
  levels alternately joint); counted when any child is joint (all, when it
  saves).  Without such a run, delta is 0.

All of it stays linear in the choices, so the MILP is exact for the model.
The model does not know where between its calls a routine pushes the rest
of its own tape (it counts it as pushed before them), how delta splits
among several children, nor that a joint routine's forward sweep may
record less than its split one: docs/strategies.md, "Planner", measures
how far off that is.  Times: the profile's timer cost per region is taken
out, callees' plain-run times are capped by their caller's, and the
extras are scaled so that all-joint is predicted at its measured time.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Optional

from ..diagnostics import AdError, bad_input
from . import costmodel as cm

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6,
          "g": 10**9}


def parse_size(text: str) -> int:
    """64MB, 1.5GiB, 200000000 -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise bad_input(f"--memory '{text}': expected a size like 64MB, 1.5GiB or 200000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def show_size(n: float) -> str:
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= f:
            return f"{n / f:.2f} {unit}"
    return f"{n:.0f} B"


@dataclass
class Model:
    root: cm.Node
    base_time: float            # the all-split adjoint's time (0 if not measured)
    primal_time: float          # 0 if not measured

    def time_text(self, t: float) -> str:
        if self.primal_time > 0:
            return f"{t / self.primal_time:.2f}x primal"
        if self.base_time > 0:
            return f"{t:.4g} s"
        return f"+{t:.4g} s over all-split"


def _load(path: str, base: str, what: str):
    if isinstance(path, (dict, list)):
        return path
    full = os.path.join(base, path)
    try:
        with open(full, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as e:
        raise bad_input(f"--profile-data: cannot read {what} '{full}': {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise bad_input(f"--profile-data: {what} '{full}' is not JSON: {e}") from None


def _runs_of(path: str) -> list[dict]:
    """The runs one --profile-data file holds: a {"runs": [...]} document,
    or one profile written by `adtool check --profile` (its own call-site
    table and times inside)."""
    doc = _load(path, "", "profile data")
    if isinstance(doc, dict) and "call_sites" in doc:
        return [{"sites": doc["call_sites"], "profile": doc,
                 "adjoint_time_s": doc.get("adjoint_time_s", 0.0),
                 "primal_time_s": doc.get("primal_time_s", 0.0)}]
    runs_in = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(runs_in, list) or not runs_in:
        raise bad_input(f"{path}: profile data must be a profile from `adtool check --profile` "
                        "or {\"runs\": [{\"sites\": ..., \"profile\": ...}, ...]} "
                        "(see `adtool plan optimize --help`)")
    return runs_in


def read_runs(paths) -> tuple[list[dict], float, float]:
    """(runs as (table by key, profile by id, peak, mode, adjoint time)),
    all-split time, primal time.  paths: one file or several, each a
    profile of `adtool check --profile` or a {"runs": [...]} document."""
    if isinstance(paths, str):
        paths = [paths]
    runs = []
    base_time = primal = 0.0
    for path, k, r in ((p, k, r) for p in paths for k, r in enumerate(_runs_of(p), 1)):
        base = os.path.dirname(path)
        if not isinstance(r, dict) or "sites" not in r or "profile" not in r:
            raise bad_input(f"{path}: run {k} needs \"sites\" and \"profile\"")
        table = _load(r["sites"], base, "sites table")
        table = table["sites"] if isinstance(table, dict) else table
        prof = _load(r["profile"], base, "profile")
        if not prof.get("profiling"):
            raise bad_input(f"{path}: run {k}'s profile comes from a runtime built without "
                            "-DADSTACK_PROFILE (no per-site data)")
        modes = {t.get("mode") for t in table} & {"joint", "split"}
        runs.append({"table": {t["key"]: t for t in table},
                     "sites": {s["site"]: s for s in prof.get("sites", [])},
                     "peak": prof.get("peak_bytes", 0),
                     "total": prof.get("total_bytes", 0),
                     "timer": _timer_cost(prof.get("sites", [])),
                     "all": modes.pop() if len(modes) == 1 else None,
                     "time": float(r.get("adjoint_time_s", 0.0) or 0.0)})
        if runs[-1]["all"] == "split":
            base_time = runs[-1]["time"]
        primal = float(r.get("primal_time_s") or primal)
    return runs, base_time, primal


def build_model(plan, head: str, runs: list[dict], base_time: float, primal: float) -> Model:
    """The call tree of `head` (sites the profile tables know), each node
    filled from a run where it is split (tape) and one where it is joint
    (snapshot, extra time)."""
    from .plan import ordered_sites
    known = set().union(*(r["table"] for r in runs))

    def measured(key: str, mode: str) -> Optional[tuple[dict, dict]]:
        # the all-split (all-joint) run first: a site's tape is the one
        # with everything below it split
        for r in sorted(runs, key=lambda r: r["all"] != mode):
            t = r["table"].get(key)
            if t is not None and t.get("mode") == mode and t["id"] in r["sites"]:
                return t, r
        return None

    def calls_of(key: str) -> float:
        for r in runs:
            t = r["table"].get(key)
            if t is not None and t["id"] in r["sites"]:
                return float(r["sites"][t["id"]]["count"])
        return 0.0

    missing = {"split": [], "joint": []}
    paths: dict[str, int] = {}

    def visit(routine: str, stack: tuple) -> list:
        out = []
        for s in ordered_sites(plan.graph, routine):
            if s.key in known and s.callee not in stack:
                paths[s.key] = paths.get(s.key, 0) + 1
                out.append((s, visit(s.callee, stack + (s.callee,))))
        return out
    tree = visit(head, (head,))
    invoked: dict[str, float] = {head: 1.0}
    for key in known:
        callee = key.split("/", 1)[1].split("#", 1)[0]
        invoked[callee] = invoked.get(callee, 0.0) + calls_of(key)

    def under_split_parent(key: str, parent: Optional[str]):
        """A run where the site is joint and its parent site split (the
        levels runs of bench/planner.py): its extra plain run there is
        whole, where under a joint parent the generated code may skip part."""
        if parent is None:
            return None
        for r in runs:
            t, tp = r["table"].get(key), r["table"].get(parent)
            if t is not None and tp is not None and t.get("mode") == "joint" \
                    and tp.get("mode") == "split" and t["id"] in r["sites"]:
                return t, r
        return None

    def joint_time(jn, record_time: float) -> tuple[float, float]:
        """(plain run, extra) per path."""
        t, r = jn
        f = r["sites"][t["id"]]
        sn = r["sites"].get(t["id"] + 1, {"left_bytes": 0, "time_s": 0.0, "count": 0})
        # the caller records around a split call too: only the rest is
        # extra; the profile's own timer cost is not (_timer_cost)
        primal_s = max(0.0, f["time_s"] - r["timer"] * f["count"])
        snap_s = max(0.0, sn["time_s"] - r["timer"] * sn["count"] - record_time)
        return primal_s / paths[t["key"]], (primal_s + 2 * snap_s) / paths[t["key"]]

    def node(s, kids, parent: Optional[str] = None) -> cm.Node:
        sp, jn = measured(s.key, "split"), measured(s.key, "joint")
        if sp is None:
            missing["split"].append(s.key)
        if jn is None:
            missing["joint"].append(s.key)
        n_calls = calls_of(s.key)
        per_parent = n_calls / max(invoked.get(s.caller, 1.0), 1.0)
        children = [node(c, k, s.key) for c, k in kids]
        tape = snap = extra = record = record_time = plain = 0.0
        nested = held = nested_snap = None
        under_joint_only = False
        if sp is not None:
            t, r = sp
            f = r["sites"][t["id"]]
            tape = f["left_bytes"] / max(f["count"], 1)
            rec = r["sites"].get(t["id"] + 1, {"left_bytes": 0, "time_s": 0.0, "count": 0})
            record = rec["left_bytes"] / max(f["count"], 1)
            record_time = max(0.0, rec["time_s"] - r["timer"] * rec["count"])
        if jn is not None:
            t, r = jn
            f = r["sites"][t["id"]]
            sn = r["sites"].get(t["id"] + 1, {"left_bytes": 0, "time_s": 0.0, "count": 0})
            snap = sn["left_bytes"] / max(f["count"], 1)
            # what of the recording is pushed back while f_b runs (id+3;
            # absent: nothing is, every shared value popped once), kept
            # only from a run with the site's whole subtree joint: what
            # f_b writes depends on the modes below (costmodel._held)
            below = {d.key for c in children for d in c.walk()}
            # (a profile from before id+3, ids spaced by 3, has another
            # site there: unmeasured)
            spaced = all(u.get("id") != t["id"] + 3 for u in r["table"].values())
            if spaced and all(r["table"].get(k, {}).get("mode") == "joint" for k in below):
                held = r["sites"].get(t["id"] + 3, {"left_bytes": 0})["left_bytes"] \
                    / max(f["count"], 1)
            plain, extra = joint_time(jn, record_time)
            top = under_split_parent(s.key, parent)
            if top is not None and r["table"].get(parent, {}).get("mode") == "joint":
                # the snapshot too depends on the parent's mode: a joint
                # parent's adjoint re-runs only what its backward sweep
                # reads, and may leave c's inputs alone (costmodel._snapshot)
                tt, tr = top
                nested_snap = snap
                snap = tr["sites"].get(tt["id"] + 1, {"left_bytes": 0})["left_bytes"] \
                    / max(tr["sites"][tt["id"]]["count"], 1)
            elif top is None and parent is not None \
                    and r["table"].get(parent, {}).get("mode") == "joint":
                under_joint_only = True
            if top is not None and r["all"] == "joint":
                nested = extra
                plain, extra = joint_time(top, record_time)
        own = max(0.0, tape - sum(c.count * _split_contrib(c) for c in children))
        delta = 0.0
        if children and sp is not None:
            jc = _own_with_joint_children(s.key, children, runs)
            if jc is not None:
                delta = jc - (tape - sum(c.count * _split_contrib(c) for c in children))
        n = cm.Node(s.key, [own] + [0.0] * len(children), children, per_parent, snap, extra,
                    split_tape=tape, record=record, delta=delta, plain=plain, nested=nested,
                    held=held, nested_snapshot=nested_snap,
                    under_joint_only=under_joint_only)
        n.fine = n_calls > 0 and extra * paths[s.key] / n_calls < 1e-6
        return n
    kids = [node(s, k) for s, k in tree]
    for what, keys in missing.items():
        if keys:
            raise bad_input(f"--profile-data: no profiled run has {', '.join(sorted(set(keys)))} "
                            f"{what} (profile one run with --default-mode split and one with "
                            "--default-mode joint)")
    split_run = next((r for r in runs if all(t.get("mode") == "split"
                                             for t in r["table"].values()
                                             if t.get("mode") in ("joint", "split"))), None)
    root_tape = split_run["peak"] if split_run else sum(c.count * _split_contrib(c) for c in kids)
    own = max(0.0, root_tape - sum(c.count * _split_contrib(c) for c in kids))
    root = cm.Node(head, [own] + [0.0] * len(kids), kids)
    joint_run = next((r for r in runs if r["all"] == "joint"), None)
    if split_run is not None and joint_run is not None and kids:
        root.delta = _root_own(joint_run, kids) - _root_own(split_run, kids)
    _cap_plain(root, primal if primal > 0 else float("inf"))
    _calibrate(root, runs, base_time)
    return Model(root, base_time, primal)


def _cap_plain(v: cm.Node, most: float) -> None:
    """A call's plain run contains its callees' plain runs: their profiled
    times cannot add up to more than its own (the head's: the unprofiled
    primal time).  They do when the callees are tiny and called per cell,
    each timed by the profile (_timer_cost takes out an estimate only):
    those are scaled down to fit.  Top down, so each level fits in what its
    parent kept."""
    total = sum(c.plain for c in v.children)
    f = most / total if total > most else 1.0
    for c in v.children:
        if f < 1.0:
            cut = (1.0 - f) * c.plain
            if c.nested is not None and c.extra > 0:
                c.nested *= (c.extra - cut) / c.extra
            c.extra -= cut
            c.plain *= f
        # a call whose plain run was (nearly) all skipped bounds nothing
        _cap_plain(c, c.plain if c.plain > 0.01 * most else most)


def _calibrate(root: cm.Node, runs: list[dict], base_time: float) -> None:
    """Profiling inflates the measured extra times, most on the sites called
    per cell, where the timer costs more than the call (_timer_cost takes
    out an estimate only).  Runs with a measured (unprofiled) adjoint time
    besides all-split's fit two factors, one for these fine sites (less
    than a microsecond per call) and one for the others, by least squares;
    with one such run (all-joint), one factor for all; none without."""
    keys = set(cm.site_keys(root))
    fine = {id(n) for n in root.walk() if n is not root and n.fine}
    pts = []
    for r in runs:
        if r["time"] <= 0 or r["all"] == "split":
            continue
        joint = keys if r["all"] == "joint" else \
            {k for k, t in r.get("table", {}).items() if t.get("mode") == "joint"} & keys
        if joint:
            pts.append((r["time"] - base_time, _split_sum(root, joint, fine)))
    if base_time <= 0 or not pts:
        return
    a = b = None
    if len(pts) >= 2:
        # least squares for d = a F + b C
        sff = sum(f * f for _, (f, c) in pts)
        scc = sum(c * c for _, (f, c) in pts)
        sfc = sum(f * c for _, (f, c) in pts)
        sdf = sum(d * f for d, (f, c) in pts)
        sdc = sum(d * c for d, (f, c) in pts)
        det = sff * scc - sfc * sfc
        if det > 1e-12 * max(sff * scc, 1e-300):
            a = (sdf * scc - sdc * sfc) / det
            b = (sdc * sff - sdf * sfc) / det
            if a < 0 or b < 0:
                a = b = None
    if a is None:
        if not any(d > 0 for d, _ in pts):
            return
        d, (f, c) = next(p for p in pts if p[0] > 0)
        if f + c <= 0:
            return
        a = b = d / (f + c)
    for n in root.walk():
        k = a if id(n) in fine else b
        n.extra *= k
        if n.nested is not None:
            n.nested *= k


def _split_sum(root: cm.Node, joint: set, fine: set) -> tuple[float, float]:
    """The predicted extra time of a plan, as (fine sites' part, others')."""
    f = c = 0.0
    for n in root.walk():
        if n is not root and n.key in joint:
            if id(n) in fine:
                f += n.extra
            else:
                c += n.extra
    for n, p in cm._pairs(root):
        if n.nested is not None and n.key in joint and p.key in joint:
            if id(n) in fine:
                f += n.nested - n.extra
            else:
                c += n.nested - n.extra
    return f, c


def _timer_cost(sites: list[dict]) -> float:
    """What one profiled region costs by itself (the two clock readings
    and the bookkeeping around them), estimated as the smallest time per
    entry of the regions entered at least 1000 times: an upper bound,
    reached by a region around almost no work.  On a leaf called per cell
    (tens of nanoseconds of work) the timer is most of the measured time,
    and it is no part of what the unprofiled plan pays."""
    per = [s["time_s"] / s["count"] for s in sites
           if s.get("count", 0) >= 1000 and s.get("time_s", 0) > 0]
    return min(per, default=0.0)


def _own_with_joint_children(key: str, kids: list[cm.Node], runs: list[dict]) -> Optional[float]:
    """A split site's own tape per call (its callee's pushes away from its
    calls) in a run where every child site is joint: `bench/planner.py`
    profiles two runs with the call-tree levels alternately joint for it.
    None when no run has that."""
    for r in runs:
        t = r["table"].get(key)
        if t is None or t.get("mode") != "split" or t["id"] not in r["sites"]:
            continue
        ts = [r["table"].get(c.key) for c in kids]
        if any(c is None or c.get("mode") != "joint" or c["id"] not in r["sites"] for c in ts):
            continue
        f = r["sites"][t["id"]]
        own = f["left_bytes"] / max(f["count"], 1)
        for n, c in zip(kids, ts):
            per_call = sum(r["sites"].get(i, {"left_bytes": 0})["left_bytes"]
                           for i in (c["id"], c["id"] + 1))
            own -= n.count * per_call / max(r["sites"][c["id"]]["count"], 1)
        return own
    return None


def _root_own(run: dict, kids: list[cm.Node]) -> float:
    """The head's own pushes in a run: everything pushed but what its
    call sites push (forward call, recording or snapshot, adjoint)."""
    own = run["total"]
    for key in {c.key for c in kids}:
        t = run["table"].get(key)
        if t is not None:
            for i in (t["id"], t["id"] + 1, t["id"] + 2):
                own -= run["sites"].get(i, {"pushed_bytes": 0})["pushed_bytes"]
    return own


def _split_contrib(n: cm.Node) -> float:
    """What one split call of n leaves, as measured: its caller's recording
    around it (id+1 in a split run) and its tape (id)."""
    return n.record + n.split_tape


# ---------------------------------------------------------------- commands

def _model(files, head_spec, include_dirs, defines, profile_data) -> tuple[Model, str]:
    from .. import pipeline
    from .directives import check_directives
    from .plan import resolve_plan
    tu = pipeline.read_sources(files, include_dirs, defines)
    heads, _ = pipeline.resolve_heads(tu, head_spec)
    if len(heads) != 1:
        raise bad_input("plan optimize/pareto take one head")
    check_directives(tu)
    plan = resolve_plan(tu, [heads[0].name], None, [], [], None)
    runs, base, primal = read_runs(profile_data)
    return build_model(plan, heads[0].name, runs, base, primal), heads[0].name


def optimize(files, head_spec, include_dirs, defines, profile_data: str, memory: str,
             output: Optional[str]) -> str:
    budget = parse_size(memory)
    model, head = _model(files, head_spec, include_dirs, defines, profile_data)
    root = model.root
    keys = cm.site_keys(root)
    try:
        low, how = cm.minimum_peak(root)
        choice = cm.optimise(root, budget, model.base_time)
    except cm.NoHighs as e:
        if sum(1 for _ in root.walk()) > cm.EXACT_LIMIT:
            raise
        raise AdError(str(e), None, 1) from None
    if choice is None:
        raise AdError(f"no plan fits in {show_size(budget)} ({budget} B): the smallest "
                      f"predicted peak is {show_size(low)} ({low:.0f} B), {how}", None, 1)
    rows = [("all-split", set()), ("all-joint", set(keys)), ("chosen", choice.joint)]
    lines = [f"{'plan':<10} {'predicted peak':>22} {'predicted time':>24}"]
    for name, j in rows:
        p = cm.peak(root, j)
        t = cm.predicted_time(root, j, model.base_time)
        lines.append(f"{name:<10} {show_size(p):>12} {p:>9.0f} B {model.time_text(t):>24}")
    lines.append(f"method: {choice.method}; budget {show_size(budget)} ({budget} B); "
                 f"{len(choice.joint)} of {len(keys)} call sites joint")
    report = "\n".join(lines) + "\n"
    if output:
        from ..output import write_atomic
        write_atomic(output, plan_text(head, memory, budget, choice, model, keys))
        report += f"adtool: wrote {output}\n"
    return report


def plan_text(head, memory, budget, choice, model, keys) -> str:
    out = [f"# adtool plan optimize --head {head} --memory {memory}",
           f"# method: {choice.method}",
           f"# predicted peak {show_size(choice.peak)} ({choice.peak:.0f} B) within "
           f"{budget} B; predicted time {model.time_text(choice.time)}",
           'default = "split"', "", "[calls]"]
    for k in keys:
        if k in choice.joint:
            out.append(f'"{k}" = "joint"')
    return "\n".join(out) + "\n"


def pareto(files, head_spec, include_dirs, defines, profile_data: str, png: Optional[str],
           measured: Optional[str]) -> tuple[str, str]:
    """(CSV on stdout, message on stderr)."""
    model, head = _model(files, head_spec, include_dirs, defines, profile_data)
    try:
        pts = cm.frontier(model.root, model.base_time)
    except cm.NoHighs as e:
        raise AdError(str(e), None, 1) from None
    csv = ["peak_bytes,predicted_time,joint_sites,method"]
    for c in pts:
        csv.append(f"{c.peak:.0f},{c.time:.6g},{' '.join(sorted(c.joint))},{c.method}")
    text = "\n".join(csv) + "\n"
    msg = ""
    if png:
        meas = _load(measured, "", "measured runs") if measured else []
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            from ..output import write_atomic
            alt = os.path.splitext(png)[0] + ".csv"
            write_atomic(alt, text)
            return text, (f"adtool: matplotlib is not installed (pip install 'adtool[plot]'): "
                          f"no {png}; wrote the frontier as CSV to {alt}\n")
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.step([c.peak for c in pts], [c.time for c in pts], where="post", marker="o",
                label="predicted frontier")
        if meas:
            ax.scatter([m["peak_bytes"] for m in meas], [m["time"] for m in meas],
                       color="red", marker="x", label="measured")
        ax.set_xlabel("stack peak (bytes)")
        ax.set_ylabel("time" + (" (x primal)" if model.primal_time else ""))
        ax.set_title(f"{head}: memory-time frontier")
        ax.legend()
        fig.tight_layout()
        fig.savefig(png)
        msg = f"adtool: wrote {png}\n"
    return text, msg
