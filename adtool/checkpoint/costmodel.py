"""The cost model of checkpointing.md, shared by the planner and the tests.

binomial_steps is the same function as the runtime's ad_binomial_cost: the
planner predicts what the runtime will do."""
from __future__ import annotations


def binomial_steps(steps: int, snapshots: int) -> int:
    """t(l, s) = r l - β(s+1, r-1), β(s, r) = C(s+r, s), r the smallest
    integer with β(s, r) >= l: the plain steps an optimal schedule runs to
    reverse l steps with s snapshots (the first forward run included)."""
    if steps <= 1:
        return 0
    if snapshots < 1:
        raise ValueError(f"{steps} steps need at least one snapshot")
    total, b, r = 0, 1, 0
    while b < steps:            # sum_{k<r} C(s+k, k) = C(s+r, r-1) = β(s+1, r-1)
        total += b
        r += 1
        b = b * (snapshots + r) // r
    return r * steps - total


# ---------------------------------------------------------------- call tree

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Node:
    """One call site on one path of the call tree (the root is the head).

    own: the bytes the node's own body pushes, as segments m^0..m^k around
    its k children (len(own) == len(children) + 1); count: how many times
    the site runs, one after the other, per run of its parent; tape: set by
    the model (own + children's contributions); snapshot: bytes of one
    snapshot when joint; extra: time added when joint (its subtree's plain
    primal run and the snapshot's push and pop, all calls together); key:
    the plan's name of the site (several nodes may share one, when a
    routine is reached along several paths: they get one decision);
    record: bytes the parent itself pushes around one call of a split site
    (what the call overwrites and the parent's backward sweep or the
    split callee's _bwd reads), held from before the call until after its
    adjoint.  When the site is joint the parent's recording around it is
    part of snapshot (the generated code merges the two), so the parent's
    own tape is own + Σ_split children record: it depends on the
    children's modes, linearly."""
    key: str
    own: list[float]
    children: list["Node"] = field(default_factory=list)
    count: float = 1.0
    snapshot: float = 0.0
    extra: float = 0.0
    split_tape: float = 0.0      # measured tape per call when split (planner.py)
    record: float = 0.0
    delta: float = 0.0           # own-tape change when the children are joint (_own_delta)
    plain: float = 0.0           # the plain-run part of extra (planner.py caps it)
    nested: Optional[float] = None   # extra when the parent site is joint too (None: extra)
    fine: bool = False           # called per cell: its profiled time is mostly the timer's
    held: Optional[float] = None     # recording pushed back during a joint adjoint, measured
                                     #   with the whole subtree joint (_held; None: unmeasured)
    nested_snapshot: Optional[float] = None  # snapshot when the parent site is joint too
                                     #   (None: snapshot; _snapshot)
    under_joint_only: bool = False   # snapshot measured only under a joint parent: not
                                     #   offered joint under a split one (_snapshot)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def site_keys(root: Node) -> list[str]:
    seen: dict[str, None] = {}
    for n in root.walk():
        if n is not root:
            seen.setdefault(n.key, None)
    return list(seen)


def _own_delta(v: Node, joint: set[str]) -> float:
    """A routine's own recording away from its calls may change with its
    callees' modes too (a joint callee's adjoint reads values a split one's
    _bwd restores itself): delta, measured with all the children joint,
    is counted when any child is joint if it adds (erring high when only
    some are), when all are if it saves.  Linear in the choices through one
    auxiliary variable per node (_milp)."""
    if not v.delta or not v.children:
        return 0.0
    on = [c.key in joint for c in v.children]
    return v.delta if (any(on) if v.delta > 0 else all(on)) else 0.0


def _tape(v: Node, joint: set[str], memo: dict) -> float:
    if id(v) not in memo:
        memo[id(v)] = sum(v.own) + _own_delta(v, joint) \
            + sum(c.count * _contrib(c, joint, memo, v.key in joint) for c in v.children)
    return memo[id(v)]


def _snapshot(c: Node, parent_joint: bool) -> float:
    """A joint call's snapshot (with the parent's recording around it) is
    what c's adjoint reads that the parent overwrites after the call: the
    parent's split forward sweep runs all of its body, where a joint
    parent's adjoint re-runs only what its backward sweep reads (dead-work
    removal), which may leave c's inputs alone.  So it depends on the
    parent's mode: nested_snapshot, measured under a joint parent (the
    all-joint run), snapshot under a split one (planner.py).  Linear in the
    choices through z = x_c x_p (_milp).  When no run measured it under a
    split parent (under_joint_only) it is unknown there, and may be much
    more than under a joint one: the model does not offer c joint under a
    split parent (infinite here, x_c <= x_p in the MILP)."""
    if not parent_joint and c.under_joint_only:
        return float("inf")
    if parent_joint and c.nested_snapshot is not None:
        return c.nested_snapshot
    return c.snapshot


def _contrib(c: Node, joint: set[str], memo: dict, parent_joint: bool = False) -> float:
    """What one call of c leaves on the stack between its forward sweep
    and its adjoint: when joint the snapshot (with the parent's recording
    around it), when split the parent's recording plus c's tape."""
    return _snapshot(c, parent_joint) if c.key in joint else c.record + _tape(c, joint, memo)


def _held(c: Node, joint: set[str]) -> float:
    """What the parent keeps on the stack while c's adjoint runs, besides
    the earlier calls' contributions: its recording around the call.
    Around a joint call the snapshot is popped before the adjoint; what it
    shares with the recording is pushed back for its duration only when
    c's adjoint may write it (otherwise one pop restores both and nothing
    is pushed back).  Whether c_b writes it depends on what dead-work
    removal leaves of c's re-run, so on the modes below c: held, measured
    in the all-joint run (the site's id+3, planner.py), is counted when
    c's whole subtree is joint as it was there; otherwise (or unmeasured)
    all of the shared part, the recording at most the snapshot, erring
    high.  Linear in the choices through one auxiliary variable per node
    (_milp)."""
    if c.key not in joint:
        return c.record
    if c.held is not None and all(d.key in joint for d in c.walk()):
        return _held_low(c)
    return _held_high(c)


def _held_high(c: Node) -> float:
    return min(c.record, c.snapshot)


def _held_low(c: Node) -> float:
    """held when c's subtree is all joint (never above the bound)."""
    return _held_high(c) if c.held is None else min(c.held, _held_high(c))


def _held_saving(c: Node) -> float:
    """held_j = record - s1 x_j - s2 y_j (y_j: all of c's subtree joint)."""
    return c.record - _held_high(c)


def _held_saving_subtree(c: Node) -> float:
    return _held_high(c) - _held_low(c)


def peak(v: Node, joint: set[str], memo: Optional[dict] = None) -> float:
    """Peak(v) = max(Tape(v), max_j [Σ_{i<=j} m^i + Σ_{l<j} count_l contrib(c_l)
    + (count_j - 1) contrib(c_j) + held(c_j) + Peak(c_j)]): memory is
    max-plus.  (Plus the repeated siblings that may interleave with a
    repeated c_j.)"""
    memo = {} if memo is None else memo
    best = _tape(v, joint, memo)
    prefix = _own_delta(v, joint)
    vj = v.key in joint
    for j, c in enumerate(v.children):
        prefix += v.own[j]
        cj = _contrib(c, joint, memo, vj)
        later = sum(e.count * _contrib(e, joint, memo, vj) for e in _interleaved(v, j))
        repeat = (c.count - 1) * cj if c.count > 1 else 0.0    # (never 0 * inf)
        best = max(best, prefix + later + repeat + _held(c, joint)
                   + peak(c, joint, memo))
        prefix += c.count * cj
    return best


def _interleaved(v: Node, j: int) -> list[Node]:
    """Later siblings of a repeated child that may run between its calls
    (two sites both repeated are taken to share a loop): the profile does
    not say how calls interleave, so their contributions are counted whole,
    erring high."""
    if v.children[j].count <= 1:
        return []
    return [e for e in v.children[j + 1:] if e.count > 1]


def _pairs(root: Node):
    """(node, parent) for every node below a call site."""
    for p in root.walk():
        if p is not root:
            for c in p.children:
                yield c, p


def predicted_time(root: Node, joint: set[str], base: float = 0.0) -> float:
    """T = T_split + Σ_{c joint} extra(c), where a joint site under a joint
    parent costs nested(c) instead: inside the parent's adjoint the
    generated code skips what of c's plain run the backward sweep never
    reads.  Linear in the choices and their pairwise products."""
    t = base + sum(n.extra for n in root.walk() if n is not root and n.key in joint)
    for c, p in _pairs(root):
        if c.nested is not None and c.key in joint and p.key in joint:
            t += c.nested - c.extra
    return t


# ---------------------------------------------------------------- choosing

@dataclass
class Choice:
    joint: set[str]
    peak: float
    time: float
    method: str          # 'exact (MILP, HiGHS)' | 'greedy' | ...


class NoHighs(Exception):
    pass


def _highs():
    try:
        import highspy
    except ImportError:
        raise NoHighs("the exact planner needs highspy (pip install highspy, or "
                      "pip install 'adtool[planner]')") from None
    return highspy


def _quiet(make):
    """HiGHS prints a banner on the process' stdout when created, before
    any option can silence it; our stdout is the user's report."""
    import os
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _milp(root: Node, budget: Optional[float], minimise_peak: bool = False) -> Optional[set[str]]:
    """One binary per site key; per node continuous tape T, contrib C and
    peak P with C >= snapshot x, C >= record + T - M x (M: record plus the
    largest tape any choice gives the node), P >= T, P >= prefix_j +
    (count_j - 1) C_j + held_j + P_j (held_j = record_j - s_j x_j - s'_j y_j,
    linear, y_j <= x_d for every site d below c_j: _held).
    The constraints only bound T, C, P from below, so a feasible point
    exists exactly when the true peak of the chosen x fits the budget.
    Returns the joint keys, or None when no choice fits."""
    highspy = _highs()
    h = _quiet(highspy.Highs)
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    keys = site_keys(root)
    col = {}

    def add_col(cost, lo, hi, integer=False):
        i = h.getNumCol()
        h.addVar(lo, hi)
        h.changeColCost(i, cost)
        if integer:
            h.changeColIntegrality(i, highspy.HighsVarType.kInteger)
        return i
    extra: dict[str, float] = {}
    for n in root.walk():
        if n is not root:
            extra[n.key] = extra.get(n.key, 0.0) + n.extra
    for k in keys:
        col[k] = add_col(0.0 if minimise_peak else extra[k], 0.0, 1.0, integer=True)
    if not minimise_peak:
        # z = x_c x_p where c's cost changes under a joint parent p
        pair: dict[tuple, float] = {}
        for c, p in _pairs(root):
            if c.nested is not None and c.nested != c.extra:
                pair[(c.key, p.key)] = pair.get((c.key, p.key), 0.0) + c.nested - c.extra
        for (kc, kp), d in pair.items():
            if kc == kp:
                h.changeColCost(col[kc], h.getLp().col_cost_[col[kc]] + d)
                continue
            z = add_col(d, 0.0, 1.0)
            for terms, lo in (([(z, 1.0), (col[kc], -1.0)], -inf), ([(z, 1.0), (col[kp], -1.0)], -inf),
                              ([(z, 1.0), (col[kc], -1.0), (col[kp], -1.0)], -1.0)):
                idx = [i for i, _ in terms]
                val = [v for _, v in terms]
                h.addRow(lo, 0.0 if lo == -inf else inf, len(idx), idx, val)
    most: dict = {}

    def largest(v: Node) -> float:     # the node's tape, maximised over the choices
        if id(v) not in most:
            most[id(v)] = sum(v.own) + max(0.0, v.delta) \
                + sum(c.count * max(c.snapshot, c.nested_snapshot or 0.0, c.record + largest(c))
                      for c in v.children)
        return most[id(v)]
    largest(root)
    T, C, P = {}, {}, {}
    for n in root.walk():
        T[id(n)] = add_col(0.0, 0.0, inf)
        P[id(n)] = add_col(1.0 if (minimise_peak and n is root) else 0.0, 0.0, inf)
        if n is not root:
            C[id(n)] = add_col(0.0, 0.0, inf)

    def row(lo, hi, terms):
        idx = [i for i, _ in terms]
        val = [v for _, v in terms]
        h.addRow(lo, hi, len(idx), idx, val)
    for n in root.walk():
        # T_v - Σ count C_c - delta y = Σ own, y = max (delta > 0) or min
        # (delta < 0) of the children's x: the bounds below let the solver
        # take y no further than that, and it gains nothing by less
        dy = []
        if n.delta and n.children:
            y = add_col(0.0, 0.0, 1.0)
            dy = [(y, -n.delta)]
            for k in {c.key for c in n.children}:
                row(0.0, inf, [(y, 1.0), (col[k], -1.0)] if n.delta > 0
                    else [(col[k], 1.0), (y, -1.0)])
        row(sum(n.own), inf, [(T[id(n)], 1.0)] + [(C[id(c)], -c.count) for c in n.children] + dy)
        row(0.0, inf, [(P[id(n)], 1.0), (T[id(n)], -1.0)])
        prefix_own = 0.0
        for j, c in enumerate(n.children):
            prefix_own += n.own[j]
            terms = [(P[id(n)], 1.0), (P[id(c)], -1.0)] + dy
            if c.count > 1:
                terms.append((C[id(c)], -(c.count - 1)))
            if _held_saving(c):
                terms.append((col[c.key], _held_saving(c)))
            if _held_saving_subtree(c):
                # y <= x_d for every site d of c's subtree: y = 1 only when
                # all are joint (the solver gains by taking it as large as
                # it may)
                y = add_col(0.0, 0.0, 1.0)
                for k in {d.key for d in c.walk()}:
                    row(0.0, inf, [(col[k], 1.0), (y, -1.0)])
                terms.append((y, _held_saving_subtree(c)))
            terms += [(C[id(e)], -e.count) for e in n.children[:j] + _interleaved(n, j)]
            row(prefix_own + c.record, inf, terms)
    for p, n in ((p, n) for p in root.walk() for n in p.children):
        x = col[n.key]
        ds = 0.0 if n.nested_snapshot is None or p is root else n.nested_snapshot - n.snapshot
        if ds and n.key != p.key:
            # C >= snapshot x + ds z, z = x x_p (exact for binaries)
            z = add_col(0.0, 0.0, 1.0)
            row(-inf, 0.0, [(z, 1.0), (x, -1.0)])
            row(-inf, 0.0, [(z, 1.0), (col[p.key], -1.0)])
            row(-1.0, inf, [(z, 1.0), (x, -1.0), (col[p.key], -1.0)])
            row(0.0, inf, [(C[id(n)], 1.0), (x, -n.snapshot), (z, -ds)])
        else:
            row(0.0, inf, [(C[id(n)], 1.0), (x, -(n.snapshot + ds))])
        if n.under_joint_only and p is not root and n.key != p.key:
            row(-inf, 0.0, [(x, 1.0), (col[p.key], -1.0)])
    for n in root.walk():
        if n is not root:
            x = col[n.key]
            m = n.record + most[id(n)]
            row(n.record, inf, [(C[id(n)], 1.0), (T[id(n)], -1.0), (x, m)])
    if budget is not None:
        h.changeColBounds(P[id(root)], 0.0, float(budget))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution().col_value
    return {k for k in keys if sol[col[k]] > 0.5}


def greedy(root: Node, budget: float) -> Optional[set[str]]:
    """All split, then add the checkpoint with the most peak saved per time
    paid until the peak fits; None when nothing more helps."""
    keys = site_keys(root)
    extra = {k: sum(n.extra for n in root.walk() if n is not root and n.key == k) for k in keys}
    joint: set[str] = set()
    cur = peak(root, joint)
    while cur > budget:
        best, best_rate, best_peak = None, 0.0, cur
        for k in keys:
            if k in joint:
                continue
            p = peak(root, joint | {k})
            if p < cur:
                rate = (cur - p) / max(extra[k], 1e-30)
                if best is None or rate > best_rate:
                    best, best_rate, best_peak = k, rate, p
        if best is None:
            return None
        joint.add(best)
        cur = best_peak
    return joint


EXACT_LIMIT = 400       # nodes; beyond, the greedy answers


def minimum_peak(root: Node) -> tuple[float, str]:
    nodes = sum(1 for _ in root.walk())
    if nodes <= EXACT_LIMIT:
        j = _milp(root, None, minimise_peak=True)
        return peak(root, j), "exact (MILP, HiGHS)"
    return min(peak(root, set()), peak(root, set(site_keys(root)))), "greedy"


def optimise(root: Node, budget: float, base_time: float = 0.0) -> Optional[Choice]:
    """The plan with the least predicted time whose predicted peak fits the
    budget: exact through a MILP for trees up to EXACT_LIMIT nodes, greedy
    beyond.  None when no plan fits."""
    nodes = sum(1 for _ in root.walk())
    if nodes <= EXACT_LIMIT:
        j, method = _milp(root, budget), "exact (MILP, HiGHS)"
    else:
        j, method = greedy(root, budget), "greedy"
    if j is None:
        return None
    return Choice(j, peak(root, j), predicted_time(root, j, base_time), method)


def frontier(root: Node, base_time: float = 0.0, most: int = 50) -> list[Choice]:
    """Predicted memory-time frontier: from all split (fastest) down to the
    smallest peak, each point the fastest plan under the last one's peak."""
    out: list[Choice] = []
    low, _ = minimum_peak(root)
    budget = peak(root, set())
    while len(out) < most:
        c = optimise(root, budget, base_time)
        if c is None:
            break
        out.append(c)
        if c.peak <= low:
            break
        budget = c.peak - max(1e-9 * c.peak, 0.5)
    return out
