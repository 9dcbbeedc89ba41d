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
- and on its child sites' modes: its adjoint re-runs its body, where a
  split child's forward sweep records what the child's adjoint reads
  (heat2d.c: step joint keeps nothing with laplace joint, all of u with
  laplace split).  It is measured with a child split in a run with the
  site joint and some child site split (the levels runs and the runs with
  one child joint alone of bench/planner.py, or --default-mode split with
  the site joint), with all joint in the all-joint run; with only the
  latter, the site is offered joint only with all its child sites joint,
  and the report says which sites that holds for;
- a routine's recording away from its calls may change when its callees
  are joint (delta): measured when some run has the site split and all its
  child sites joint (bench/planner.py adds two runs with the call tree's
  levels alternately joint); counted when any child is joint (all, when it
  saves).  Without such a run, delta is 0.  With runs where each child is
  joint alone (the site split, its other children split: bench/planner.py
  adds them), the change is taken per child and counted exactly when no
  child, one child or all children are joint (child_delta).

A counted loop that holds call sites may be checkpointed binomially, its
snapshot count a choice too (costmodel.LoopNode): a run whose plan has the
loop binomial (`[loops]`, any snapshot count) measures its trip count and
the bytes of one snapshot; that run is used for the loop only.  Loops no
run had binomial are not offered, and the report says so.  A loop with
`$AD BINOMIAL-CKP` in the source is binomial in every run unless the run's
plan sets it `"plain"` (plan file over directives): runs with it plain are
the ordinary runs, one with the directive in force is its loop run, and
the plan written names every such loop (binomial with the chosen count, or
"plain"), so that the directive never decides in the planner's place.

All of it stays linear in the choices, so the MILP is exact for the model.
The model does not know where between its calls a routine pushes the rest
of its own tape (it counts it as pushed before them), how delta splits
among several children, nor that a joint routine's forward sweep may
record less than its split one: docs/strategies.md, "Planner", measures
how far off that is.  Times: the profile's timer cost per region is taken
out, callees' plain-run times are capped by their caller's, and the
extras are scaled so that all-joint is predicted at its measured time.
A site with no per-cell (fine) site at or below it takes its extra as its
own time joint minus its own time split (_own_difference): joint mode's
f_b may record less than the split forward sweep, which a plain re-run
plus a snapshot does not see.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
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
    notes: list = field(default_factory=list)   # the loops offered binomial, and why not others
    directive_loops: list = field(default_factory=list)  # "routine:line" of the loops with
                                     #   $AD BINOMIAL-CKP in the head's call tree

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
    profile of `adtool check --profile` or a {"runs": [...]} document.
    Runs with binomial loops only measure those loops (trip count, bytes
    of a snapshot, the run's peak): they go to runs[0]["loop_runs"], apart,
    since the rest of the model reads whole-run peaks and times of runs
    without them."""
    if isinstance(paths, str):
        paths = [paths]
    runs = []
    loop_runs: list[dict] = []
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
        loops = {t["key"]: t for t in table if t.get("mode") == "binomial"}
        if loops:
            # a run with binomial loops measures them (LOOP_RUNS); its
            # calls' tapes and times are the other runs' business
            loop_runs.append({"loops": loops,
                              "table": {t["key"]: t for t in table if t.get("mode") != "binomial"},
                              "sites": {s["site"]: s for s in prof.get("sites", [])},
                              "binomial": {b["site"]: b for b in prof.get("binomial", [])},
                              "peak": prof.get("peak_bytes", 0)})
            continue
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
    if not runs:
        keys = sorted({k for lr in loop_runs for k in lr["loops"]})
        plain = "\n".join(f'"{k}" = "plain"' for k in keys)
        raise bad_input("--profile-data: every run has binomial loops ("
                        + ", ".join(keys) + "), and such a run measures only its loops; "
                        "profile one run with --default-mode split and one with "
                        "--default-mode joint, each with a plan file (--checkpoint-file) "
                        "that turns them off:\n[loops]\n" + plain)
    runs[0]["loop_runs"] = loop_runs
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

    def snapshots(key: str, parent: Optional[str], kids: list) -> dict:
        """Bytes of one snapshot of the site in the runs that have it
        joint, by (parent site joint, every child site joint), the largest
        of each mix: several runs may have the site joint under a split
        parent with some child split (the levels runs and the runs with
        one child joint alone of bench/planner.py, other children split in
        each), and the model takes one number for all such mixes
        (costmodel._snapshot), erring high.  A run whose table lacks the
        parent or a child says nothing."""
        cells: dict = {}
        for r in runs:
            t = r["table"].get(key)
            around = ([parent] if parent is not None else []) + [c.key for c in kids]
            if t is None or t.get("mode") != "joint" or t["id"] not in r["sites"] \
                    or any(k not in r["table"] for k in around):
                continue
            mix = (parent is not None and r["table"][parent].get("mode") == "joint",
                   all(r["table"][c.key].get("mode") == "joint" for c in kids))
            sn = r["sites"].get(t["id"] + 1, {"left_bytes": 0})
            v = sn["left_bytes"] / max(r["sites"][t["id"]]["count"], 1)
            cells[mix] = max(cells.get(mix, 0.0), v)
        return cells

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
        fine = False
        nested = held = nested_snap = kids_split = nested_kids_split = None
        under_joint_only = joint_kids_only = False
        cells = snapshots(s.key, parent, children) if jn is not None else {}
        if jn is not None and not cells:
            missing["joint"].append(s.key)
            jn = None
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
            # The snapshot depends on the parent's mode (a joint parent's
            # adjoint re-runs only what its backward sweep reads, and may
            # leave c's inputs alone) and on the children's (a split
            # child's forward sweep inside c_b records what its adjoint
            # reads): costmodel._snapshot.  A mix no run measured is
            # taken from one that keeps at least as much, under a split
            # parent (more is overwritten after the call) or with a child
            # split (more is read), never the reverse; with none such it
            # is not offered (under_joint_only, joint_kids_only).
            split_parent = cells.get((False, True), cells.get((False, False)))
            joint_parent = cells.get((True, True))
            under_joint_only = parent is not None and split_parent is None
            snap = next(v for v in (split_parent, joint_parent, cells.get((True, False)))
                        if v is not None)
            nested_snap = joint_parent if parent is not None else None
            if children:
                kids_split, nested_kids_split = cells.get((False, False)), cells.get((True, False))
                joint_kids_only = kids_split is None and nested_kids_split is None
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
            if top is not None and r["all"] == "joint":
                nested = extra
                plain, extra = joint_time(top, record_time)
            fine = n_calls > 0 and extra * paths[s.key] / n_calls < 1e-6
            if OWN_TIMES and not fine and not any(d.fine for c in children for d in c.walk()):
                d = _own_difference(s.key, [(c.key, paths[c.key]) for c in children], jn, top,
                                    runs)
                if d is not None:
                    extra, nested = d[0] / paths[s.key], \
                        (None if d[1] is None else d[1] / paths[s.key])
        own = max(0.0, tape - sum(c.count * _split_contrib(c) for c in children))
        delta = 0.0
        child_delta = None
        if children and sp is not None:
            base_own = tape - sum(c.count * _split_contrib(c) for c in children)
            jc = _own_with_joint_children(s.key, children, runs)
            if jc is not None:
                delta = jc - base_own
                # each child joint alone (the others split): the own
                # tape's change may depend on the mix (chem_column's
                # column_step records 1,920 B more per step with
                # vertical_mix joint and chemistry split, none with both)
                one = {c.key: _own_with_joint_children(s.key, children, runs, {c.key})
                       for c in children}
                if len(one) > 1 and all(v is not None for v in one.values()):
                    child_delta = {k: v - base_own for k, v in one.items()}
        n = cm.Node(s.key, [own] + [0.0] * len(children), children, per_parent, snap, extra,
                    split_tape=tape, record=record, delta=delta, child_delta=child_delta,
                    plain=plain, nested=nested,
                    held=held, nested_snapshot=nested_snap,
                    under_joint_only=under_joint_only, kids_split_snapshot=kids_split,
                    nested_kids_split_snapshot=nested_kids_split,
                    joint_kids_only=joint_kids_only)
        n.fine = fine if jn is not None else False
        return n
    kids = [node(s, k) for s, k in tree]
    for what, keys in missing.items():
        if keys:
            # a run with the site in that mode may be there, set apart as a
            # loop run (a binomial loop, e.g. a directive's): say so
            inloop = sorted({k for lr in runs[0].get("loop_runs", []) for k in lr["loops"]
                             if any(lr["table"].get(x, {}).get("mode") == what for x in keys)})
            hint = ""
            if inloop:
                hint = (f"; the runs that have them {what} also have binomial loops ("
                        + ", ".join(inloop) + ") and measure only those: profile them with a "
                        "plan file that turns the loops off:\n[loops]\n"
                        + "\n".join(f'"{k}" = "plain"' for k in inloop))
            raise bad_input(f"--profile-data: no profiled run has {', '.join(sorted(set(keys)))} "
                            f"{what} (profile one run with --default-mode split and one with "
                            "--default-mode joint)" + hint)
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
    notes = _attach_loops(plan, head, root, runs[0].get("loop_runs", []))
    tied = sorted({n.key for n in root.walk() if n.joint_kids_only})
    if tied:
        notes.append("offered joint only with all their child sites joint (no profiled run "
                     "has them joint with a child site split, where their snapshot may be "
                     "larger; profile one with --default-mode split --joint SITE): "
                     + ", ".join(tied))
    return Model(root, base_time, primal, notes)


CAP_ALL = 64            # every snapshot count up to this is a candidate
GROWTH = 1.25           # beyond, a geometric sequence up to trip - 1


def candidates(trip: int) -> list[int]:
    """The snapshot counts offered for a loop of `trip` iterations: 1 to
    CAP_ALL, then every GROWTH-fold up to trip - 1 (more re-runs nothing
    less: t(l, s) = l - 1 from s = l - 1 on), keeping only those that
    re-run fewer steps than the one before (a count re-running as many
    steps as a smaller one only costs memory).  One binary each in the
    MILP: a few dozen at most, for any trip count."""
    top = trip - 1
    out, s = [], 1
    while s <= top:
        out.append(s)
        s = s + 1 if s < CAP_ALL else max(s + 1, int(s * GROWTH))
    if top >= 1 and out[-1] != top:
        out.append(top)
    kept, last = [], None
    for s in out:
        t = cm.binomial_steps(trip, s)
        if last is None or t < last:
            kept.append(s)
            last = t
    return kept


def _loop_sites(r, loop) -> set[str]:
    """The call-site keys ("caller/callee#k", numbered as callgraph does:
    plan.site_directives' walk) of the calls inside loop's body."""
    from ..ir.nodes import CallStmt
    from ..ir.visit import calls_in, stmt_exprs, walk_stmts
    inside = {id(x) for x in walk_stmts(loop.body)}
    counts: dict[str, int] = {}
    out: set[str] = set()
    for x in walk_stmts(r.body):
        names = [c.name for e in stmt_exprs(x) for c in calls_in(e) if not c.intrinsic]
        if isinstance(x, CallStmt):
            names.append(x.name)
        for n in names:
            counts[n] = counts.get(n, 0) + 1
            if id(x) in inside:
                out.add(f"{r.name}/{n}#{counts[n]}")
    return out


def _attach_loops(plan, head: str, root: cm.Node, loop_runs: list[dict]) -> list[str]:
    """Offer each counted loop that holds call sites of the tree binomial
    checkpointing (a cm.LoopNode on every node of its routine) when a
    profiled run had it binomial: that run gives its trip count (per run
    of the routine) and the bytes of one snapshot (both independent of the
    snapshot count and of the calls' modes).  One iteration's plain run is
    its calls' plain runs (profiled when joint, calibrated as their extras;
    the body's statements outside calls are not timed, erring low), and
    `fixed` (the loop's recording around it and the schedule's counters)
    is what that run's measured peak exceeds the model's prediction of it
    by (0 when the model errs high there, or the run has several loops).
    Loops without such a run are not offered, and the notes say so: the
    planner never guesses a loop's snapshot size."""
    from ..diagnostics import AdError
    from ..ir.nodes import Loop
    from ..ir.visit import walk_stmts
    from ..transform.binomial import check_binomial_loop
    tu = plan.tu
    nodes: dict[str, list[tuple[cm.Node, float]]] = {}

    def visit(n: cm.Node, routine: str, calls: float) -> None:
        nodes.setdefault(routine, []).append((n, calls))
        for c in n.children:
            visit(c, c.key.split("/", 1)[1].split("#", 1)[0], calls * c.count)
    visit(root, head, 1.0)
    data: dict[str, tuple[dict, dict]] = {}
    for lr in loop_runs:
        for key, t in lr["loops"].items():
            b = lr["binomial"].get(t["id"])
            if b is not None and b.get("count", 0) > 0 and key not in data:
                data[key] = (b, lr)
    offered, without, notes = [], [], []
    for routine in sorted(nodes):
        r = tu.routine(routine)
        if r is None:
            continue
        for loop in (x for x in walk_stmts(r.body) if isinstance(x, Loop)):
            key = f"{routine}:{loop.span.line}"
            sites = _loop_sites(r, loop)
            kids = [c.key for c in nodes[routine][0][0].children]
            members = [i for i, k in enumerate(kids) if k in sites]
            if not members:
                continue
            if key not in data:
                without.append(key)
                continue
            try:
                check_binomial_loop(loop, loop.span)
            except AdError as e:
                notes.append(f"loop {key}: not offered binomial: {e.message}")
                continue
            b, lr = data[key]
            trip = b["trip_count"] // b["count"]
            if trip * b["count"] != b["trip_count"]:
                notes.append(f"loop {key}: not offered binomial: its trip count varies between "
                             f"runs ({b['trip_count']} iterations in {b['count']} runs)")
                continue
            if trip < 2:
                notes.append(f"loop {key}: not offered binomial: {trip} iteration(s), "
                             "nothing to save")
                continue
            if members != list(range(members[0], members[-1] + 1)):
                notes.append(f"loop {key}: not offered binomial: other calls of {routine} "
                             "fall between its calls (the model keeps a loop's calls together)")
                continue
            if any(_loop_overlaps(n, members) for n, _ in nodes[routine]):
                notes.append(f"loop {key}: not offered binomial: inside another offered loop")
                continue
            cand = candidates(trip)
            for n, calls in nodes[routine]:
                per_step = sum(n.children[i].plain * n.children[i].scale for i in members)
                n.loops.append(cm.LoopNode(key, members, trip, float(b["snapshot_bytes"]), cand,
                                           step_time=per_step / max(calls * trip, 1.0),
                                           runs=calls))
            offered.append((key, b, lr, trip, cand))
    for key, b, lr, trip, cand in offered:
        if len(lr["loops"]) == 1:
            joint = {k for k, t in lr["table"].items() if t.get("mode") == "joint"}
            pred = cm.peak(root, joint & set(cm.site_keys(root)),
                           bino={key: max(1, b["peak_snapshots"])})
            if pred < float("inf"):
                fixed = max(0.0, lr["peak"] - pred)
                for n in root.walk():
                    for lp in n.loops:
                        if lp.key == key:
                            lp.fixed = fixed
        notes.insert(0, f"loop {key}: offered binomial: {trip} iterations, "
                        f"{show_size(b['snapshot_bytes'])} per snapshot, "
                        f"{len(cand)} snapshot counts from {cand[0]} to {cand[-1]}")
    if without:
        notes.append("not offered binomial (no profiled run has them binomial; profile one "
                     "with [loops] \"routine:line\" = { binomial = { snapshots = N } }): "
                     + ", ".join(without))
    return notes


def _loop_overlaps(n: cm.Node, members: list[int]) -> bool:
    return any(set(lp.members) & set(members) for lp in n.loops)


OWN_TIMES = True


def _region_time(r: dict, key: str) -> float:
    t = r["table"].get(key)
    if t is None:
        return 0.0
    return sum(r["sites"].get(t["id"] + k, {}).get("time_s", 0.0) for k in range(3))


def _own_difference(key: str, kids: list[tuple[str, int]], jn, top, runs: list[dict]):
    """(extra, nested) of a site as its own time joint minus its own time
    split: a site's own time in a run is the time of its three regions
    (forward call, recording or snapshot, adjoint call) less its child
    sites' regions inside them.  Joint, that is its plain run, snapshot and
    f_b's own recording and backward sweep; split, its forward sweep's own
    recording and its backward sweep.  The difference sees what a plain
    re-run plus a snapshot does not: f_b after dead-forward-work removal
    records less than the split forward sweep (implicit_heat's
    add_diffusion joint is 11-13 ms cheaper than split, not 0.5-6 ms
    dearer), and split recordings cost push and pop time.  Child sites
    are subtracted, so the children's own modes in the two runs do not
    matter, and their timer overhead (the same number of regions either
    way) cancels.  The split side comes from a run other than all-split
    when one has the site split (the levels runs of bench/planner.py):
    the all-split run's single profiled call fills hundreds of megabytes of
    fresh stack, and its page faults land in the split forward sweeps.
    Joint under a split parent (the levels run) gives extra, under a joint
    parent (the all-joint run) nested; None without a split run of the
    site, or when an own time comes out negative (extra then stays the
    plain re-run and the snapshot).  Not used for fine sites or sites
    with fine sites below (build_model): there the profile's timers
    around per-cell calls are most of every region's time, and the
    difference of two such times is their noise (reaction_diffusion's
    pm_divergence: -2.0 s, for an adjoint of 1 s unprofiled)."""
    cands = [r for r in runs if r["table"].get(key, {}).get("mode") == "split"
             and r["table"][key]["id"] in r["sites"]]
    if not cands or jn is None:
        return None
    sp = sorted(cands, key=lambda r: r["all"] == "split")[0]

    def own(r: dict) -> float:
        # a child site reached along several paths (its routine called
        # from several sites) runs under each: its share here
        return _region_time(r, key) - sum(_region_time(r, k) / n for k, n in kids)
    base = own(sp)
    if base < 0 or own(jn[1]) < 0 or (top is not None and own(top[1]) < 0):
        return None      # the children's regions outweigh the site's: timer noise
    if top is not None:
        return own(top[1]) - base, (own(jn[1]) - base if jn[1]["all"] == "joint" else None)
    return own(jn[1]) - base, None


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
    """Profiling inflates the measured extra times of the sites called per
    cell (fine: under a microsecond per call), where the timer costs more
    than the call (_timer_cost takes out an estimate only).  Runs with a
    measured (unprofiled) adjoint time besides all-split's fit one factor
    for those sites, by least squares on what the other sites leave of each
    run's extra time.  The other sites' profiled times stand as measured:
    their timers are a small part of them.  Scaling them too (a second
    factor fitted alongside, as this did before) spread over every
    prediction the misfit of the plans the model describes least well:
    on bench/planner.py's interleaved timings the chosen plans' mean
    error was 16.5% on reaction_diffusion with it, 5.0% without
    (docs/strategies.md).  No fine site, or no timed run: nothing to fit."""
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
    # least squares for d - C = a F over the runs with fine sites joint
    sff = sum(f * f for _, (f, _c) in pts)
    if base_time <= 0 or not fine or sff <= 0:
        return
    a = max(0.0, sum((d - c) * f for d, (f, c) in pts) / sff)
    for n in root.walk():
        if id(n) in fine:
            n.scale = a
            n.extra *= a
            if n.nested is not None:
                n.nested *= a


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


def _own_with_joint_children(key: str, kids: list[cm.Node], runs: list[dict],
                             joint: Optional[set] = None) -> Optional[float]:
    """A split site's own tape per call (its callee's pushes away from its
    calls) in a run where every child site is joint (joint: only those,
    the other children split): `bench/planner.py` profiles two runs with
    the call-tree levels alternately joint for it, and runs with one child
    of each site joint alone.  None when no run has that."""
    want = {c.key for c in kids} if joint is None else joint
    for r in runs:
        t = r["table"].get(key)
        if t is None or t.get("mode") != "split" or t["id"] not in r["sites"]:
            continue
        ts = [r["table"].get(c.key) for c in kids]
        if any(c is None or c["id"] not in r["sites"]
               or c.get("mode") != ("joint" if n.key in want else "split")
               for n, c in zip(kids, ts)):
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
    model = build_model(plan, heads[0].name, runs, base, primal)
    from .show import loops
    model.directive_loops = [f"{lp.routine}:{lp.line}" for lp in loops(plan, heads[0].name)]
    return model, heads[0].name


def optimize(files, head_spec, include_dirs, defines, profile_data: str, memory: str,
             output: Optional[str]) -> str:
    budget = parse_size(memory)
    model, head = _model(files, head_spec, include_dirs, defines, profile_data)
    root = model.root
    keys = cm.site_keys(root)
    try:
        choice = cm.optimise(root, budget, model.base_time)
        # (the smallest peak only for the message: beyond EXACT_LIMIT
        # it is a greedy descent of its own)
        low, how = cm.minimum_peak(root) if choice is None else (0.0, "")
    except cm.NoHighs as e:
        if sum(1 for _ in root.walk()) > cm.EXACT_LIMIT:
            raise
        raise AdError(str(e), None, 1) from None
    if choice is None:
        raise AdError(f"no plan fits in {show_size(budget)} ({budget} B): the smallest "
                      f"predicted peak is {show_size(low)} ({low:.0f} B), {how}", None, 1)
    rows = [("all-split", set(), {}), ("all-joint", set(keys), {}),
            ("chosen", choice.joint, choice.loops)]
    lines = [f"{'plan':<10} {'predicted peak':>22} {'predicted time':>24}"]
    for name, j, b in rows:
        p = cm.peak(root, j, bino=b)
        t = cm.predicted_time(root, j, model.base_time, b)
        lines.append(f"{name:<10} {show_size(p):>12} {p:>9.0f} B {model.time_text(t):>24}")
    lines.append(f"method: {choice.method}; budget {show_size(budget)} ({budget} B); "
                 f"{len(choice.joint)} of {len(keys)} call sites joint"
                 + "".join(f"; loop {k} binomial, {n} snapshot{'s' if n != 1 else ''}"
                           for k, n in sorted(choice.loops.items()))
                 + "".join(f"; loop {k} plain (over its $AD BINOMIAL-CKP)"
                           for k in model.directive_loops if k not in choice.loops))
    lines += model.notes
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
    # interface.md's [loops] syntax: the loop by its routine and the line
    # of its header.  A loop with a directive is named either way: the
    # plan chose for it, and the directive must not decide instead.
    named = sorted(set(choice.loops) | set(model.directive_loops))
    if named:
        out += ["", "[loops]"]
        for k in named:
            n = choice.loops.get(k)
            out.append(f'"{k}" = {{ binomial = {{ snapshots = {n} }} }}' if n
                       else f'"{k}" = "plain"')
    return "\n".join(out) + "\n"


def pareto(files, head_spec, include_dirs, defines, profile_data: str, png: Optional[str],
           measured: Optional[str]) -> tuple[str, str]:
    """(CSV on stdout, message on stderr)."""
    model, head = _model(files, head_spec, include_dirs, defines, profile_data)
    try:
        pts = cm.frontier(model.root, model.base_time)
    except cm.NoHighs as e:
        raise AdError(str(e), None, 1) from None
    csv = ["peak_bytes,predicted_time,joint_sites,method"
           + (",binomial_loops" if cm.loop_keys(model.root) else "")]
    for c in pts:
        csv.append(f"{c.peak:.0f},{c.time:.6g},{' '.join(sorted(c.joint))},{c.method}"
                   + (("," + " ".join(f"{k}={n}" for k, n in sorted(c.loops.items())))
                      if cm.loop_keys(model.root) else ""))
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
