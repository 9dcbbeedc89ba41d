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

import math
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
    child_delta: Optional[dict] = None   # own-tape change with one child joint alone, by
                                     #   the child's key (_own_delta; None: unmeasured)
    plain: float = 0.0           # the plain-run part of extra (planner.py caps it)
    nested: Optional[float] = None   # extra when the parent site is joint too (None: extra)
    fine: bool = False           # called per cell: its profiled time is mostly the timer's
    held: Optional[float] = None     # recording pushed back during a joint adjoint, measured
                                     #   with the whole subtree joint (_held; None: unmeasured)
    nested_snapshot: Optional[float] = None  # snapshot when the parent site is joint too
                                     #   (None: snapshot; _snapshot)
    under_joint_only: bool = False   # snapshot measured only under a joint parent: not
                                     #   offered joint under a split one (_snapshot)
    kids_split_snapshot: Optional[float] = None   # snapshot when some child site is split
                                     #   (None: as with them joint, or see joint_kids_only;
                                     #   _snapshot)
    nested_kids_split_snapshot: Optional[float] = None  # the same under a joint parent
                                     #   (None: kids_split_snapshot)
    joint_kids_only: bool = False    # snapshot measured only with every child site joint:
                                     #   not offered joint with one split (_snapshot)
    loops: list["LoopNode"] = field(default_factory=list)   # counted loops of its body
                                     #   that may be binomial (LoopNode)
    scale: float = 1.0               # the calibration factor applied to extra (planner.py)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class LoopNode:
    """A counted loop of a node's routine that may be checkpointed
    binomially: a node whose snapshot count is also a choice
    (checkpointing.md, "Binomial checkpointing of a time loop").

    members: the indices, in the owning node's children, of the call
    sites inside the loop body (consecutive); trip: iterations per run of
    the routine; snapshot: bytes of one snapshot; fixed: bytes the loop
    keeps besides them while binomial (its recording around the whole loop
    and the schedule's counters); step_time: one iteration's plain run;
    runs: how many times the loop runs along this path in one adjoint;
    candidates: the snapshot counts offered (planner.py picks them).

    Binomial with s snapshots, the loop leaves s snapshots, fixed, and one
    iteration's tape (each member's contribution count/trip times rounded
    up, per_step, in its own mode: calls inside keep their modes) where it left every
    iteration's tape; the schedule re-runs binomial_steps(trip, s) plain
    iterations.  The routine's own recording inside the loop body is not
    told apart from the rest of its own tape (Node.own), so it is counted
    whole, erring high."""
    key: str
    members: list[int]
    trip: int
    snapshot: float
    candidates: list[int]
    fixed: float = 0.0
    step_time: float = 0.0
    runs: float = 1.0

    def time(self, s: int) -> float:
        """The extra time of the plain re-runs with s snapshots."""
        return self.runs * binomial_steps(self.trip, s) * self.step_time

    def bytes(self, s: int) -> float:
        """What the loop keeps besides one iteration's tape."""
        return s * self.snapshot + self.fixed


def per_step(c: Node, lp: LoopNode) -> float:
    """How many calls of c one iteration's tape may hold: count/trip,
    rounded up (a call under an IF inside the loop runs in some
    iterations only; the step whose tape peaks may be one that runs it).
    Never more than count: the MILP's W rows rely on it (_milp)."""
    return min(c.count, float(math.ceil(c.count / lp.trip - 1e-9)))   # never above count


def loop_keys(root: Node) -> dict[str, list[int]]:
    """loop key -> its candidate snapshot counts (nodes sharing a routine
    share its loops' decisions)."""
    out: dict[str, list[int]] = {}
    for n in root.walk():
        for lp in n.loops:
            out.setdefault(lp.key, lp.candidates)
    return out


def _loop_at(v: Node, j: int) -> Optional[LoopNode]:
    for lp in v.loops:
        if j in lp.members:
            return lp
    return None


def _active(lp: Optional[LoopNode], bino: Optional[dict]) -> int:
    """The snapshot count chosen for lp (0: not binomial)."""
    return (bino or {}).get(lp.key, 0) if lp is not None else 0


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
    if v.child_delta is not None and v.children:
        # measured with each child joint alone too: those add up, and
        # what all joint together differs by is counted when all are
        # (exact at no child, one child and all children joint)
        keys = {c.key for c in v.children}
        on = {k for k in keys if k in joint}
        d = sum(v.child_delta[k] for k in on)
        if on == keys:
            d += v.delta - sum(v.child_delta[k] for k in keys)
        return d
    if not v.delta or not v.children:
        return 0.0
    on = [c.key in joint for c in v.children]
    return v.delta if (any(on) if v.delta > 0 else all(on)) else 0.0


def _tape(v: Node, joint: set[str], memo: dict, bino: Optional[dict] = None) -> float:
    """Own tape plus each call's contribution; a binomial loop's members
    count once per iteration (count/trip), plus the loop's snapshots."""
    if id(v) not in memo:
        t = sum(v.own) + _own_delta(v, joint)
        for j, c in enumerate(v.children):
            lp = _loop_at(v, j)
            s = _active(lp, bino)
            k = per_step(c, lp) if s else c.count
            t += k * _contrib(c, joint, memo, v.key in joint, bino)
        for lp in v.loops:
            if _active(lp, bino):
                t += lp.bytes(_active(lp, bino))
        memo[id(v)] = t
    return memo[id(v)]


def _snapshot(c: Node, parent_joint: bool, kids_joint: bool = True) -> float:
    """A joint call's snapshot (with the parent's recording around it) is
    what c's adjoint reads that the parent overwrites after the call: the
    parent's split forward sweep runs all of its body, where a joint
    parent's adjoint re-runs only what its backward sweep reads (dead-work
    removal), which may leave c's inputs alone.  So it depends on the
    parent's mode: nested_snapshot, measured under a joint parent (the
    all-joint run), snapshot under a split one (planner.py).  When no run
    measured it under a split parent (under_joint_only) it is unknown
    there, and may be much more than under a joint one: the model does not
    offer c joint under a split parent (infinite here, x_c <= x_p in the
    MILP).

    What c's adjoint reads depends on the modes below it too: c_b re-runs
    c's body, and a split child's forward sweep there records what the
    child's adjoint reads, where a joint child's plain re-run may need
    nothing kept (heat2d.c: step joint snapshots nothing with laplace
    joint, all of u with laplace split).  kids_joint: every child site of
    c joint.  With one split, kids_split_snapshot (under a split parent)
    or nested_kids_split_snapshot (under a joint one): the largest measured
    with any mix of split children (planner.py), erring high for the other
    mixes.  When no run measured c joint with a child split
    (joint_kids_only) it is unknown, and c is not offered joint unless all
    its child sites are (infinite here, x_c <= x_k in the MILP).  Where a
    mix was measured under one parent mode only, the other parent mode is
    filled as planner.py says (a split parent's snapshot stands for a
    joint parent's, never the reverse).  Linear in the choices through
    AND variables of x_c, x_p and the children's x (_milp)."""
    if not kids_joint and c.children:
        if c.joint_kids_only:
            return float("inf")
        if c.kids_split_snapshot is not None or c.nested_kids_split_snapshot is not None:
            if parent_joint and c.nested_kids_split_snapshot is not None:
                return c.nested_kids_split_snapshot
            if c.kids_split_snapshot is None:        # measured under a joint parent only
                return float("inf")
            return c.kids_split_snapshot
    if not parent_joint and c.under_joint_only:
        return float("inf")
    if parent_joint and c.nested_snapshot is not None:
        return c.nested_snapshot
    return c.snapshot


def snapshot_cells(c: Node) -> dict[tuple[bool, bool], float]:
    """(parent site joint, every child site joint) -> c's snapshot bytes
    (_snapshot; infinite: not offered)."""
    return {(p, k): _snapshot(c, p, k) for p in (False, True) for k in (False, True)}


def _kids_joint(c: Node, joint: set[str]) -> bool:
    return all(d.key in joint for d in c.children)


def _contrib(c: Node, joint: set[str], memo: dict, parent_joint: bool = False,
             bino: Optional[dict] = None) -> float:
    """What one call of c leaves on the stack between its forward sweep
    and its adjoint: when joint the snapshot (with the parent's recording
    around it), when split the parent's recording plus c's tape."""
    return _snapshot(c, parent_joint, _kids_joint(c, joint)) if c.key in joint \
        else c.record + _tape(c, joint, memo, bino)


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
    """The recording at most the snapshot: the largest snapshot any
    modes around c give it (_snapshot), so that it does not depend on
    them."""
    return min(c.record, _largest_snapshot(c))


def _largest_snapshot(c: Node) -> float:
    return max((v for v in snapshot_cells(c).values() if v < float("inf")), default=0.0)


def _held_low(c: Node) -> float:
    """held when c's subtree is all joint (never above the bound)."""
    return _held_high(c) if c.held is None else min(c.held, _held_high(c))


def _held_saving(c: Node) -> float:
    """held_j = record - s1 x_j - s2 y_j (y_j: all of c's subtree joint)."""
    return c.record - _held_high(c)


def _held_saving_subtree(c: Node) -> float:
    return _held_high(c) - _held_low(c)


def peak(v: Node, joint: set[str], memo: Optional[dict] = None,
         bino: Optional[dict] = None) -> float:
    """Peak(v) = max(Tape(v), max_j [Σ_{i<=j} m^i + Σ_{l<j} count_l contrib(c_l)
    + (count_j - 1) contrib(c_j) + held(c_j) + Peak(c_j)]): memory is
    max-plus.  (Plus the repeated siblings that may interleave with a
    repeated c_j.)  bino: loop key -> snapshots of the binomial loops.  In
    a binomial loop the adjoint of c_j runs with the loop's snapshots
    (at most s: erring high when fewer are held then) and one iteration's
    tape on the stack: count/trip in place of count."""
    memo = {} if memo is None else memo
    best = _tape(v, joint, memo, bino)
    prefix = _own_delta(v, joint)
    vj = v.key in joint
    for j, c in enumerate(v.children):
        prefix += v.own[j]
        cj = _contrib(c, joint, memo, vj, bino)
        lp = _loop_at(v, j)
        s = _active(lp, bino)
        if s:
            if j == lp.members[0]:
                prefix += lp.bytes(s)
            k = per_step(c, lp)
            later = sum(per_step(v.children[i], lp) * _contrib(v.children[i], joint, memo, vj, bino)
                        for i in _interleaved_in(v, lp, j))
        else:
            k = c.count
            later = sum(e.count * _contrib(e, joint, memo, vj, bino) for e in _interleaved(v, j))
        repeat = (k - 1) * cj if k > 1 else 0.0    # (never 0 * inf)
        best = max(best, prefix + later + repeat + _held(c, joint)
                   + peak(c, joint, memo, bino))
        prefix += k * cj
    return best


def _interleaved_in(v: Node, lp: LoopNode, j: int) -> list[int]:
    """In a binomial loop, the later members repeated within one iteration
    when c_j is too (_interleaved, per iteration)."""
    if per_step(v.children[j], lp) <= 1:
        return []
    return [i for i in lp.members if i > j and per_step(v.children[i], lp) > 1]


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


def predicted_time(root: Node, joint: set[str], base: float = 0.0,
                   bino: Optional[dict] = None) -> float:
    """T = T_split + Σ_{c joint} extra(c), where a joint site under a joint
    parent costs nested(c) instead: inside the parent's adjoint the
    generated code skips what of c's plain run the backward sweep never
    reads; plus each binomial loop's plain re-runs (LoopNode.time).
    Linear in the choices and their pairwise products."""
    t = base + sum(n.extra for n in root.walk() if n is not root and n.key in joint)
    for n in root.walk():
        for lp in n.loops:
            if _active(lp, bino):
                t += lp.time(_active(lp, bino))
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
    loops: dict = field(default_factory=dict)   # loop key -> snapshots (binomial)


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


def _milp(root: Node, budget: Optional[float], minimise_peak: bool = False
          ) -> Optional[tuple[set[str], dict[str, int]]]:
    """One binary per site key; per node continuous tape T, contrib C and
    peak P with C >= x snapshot(x_p, children's x) (_snapshot_rows, which
    also forbids the mode mixes no run measured), C >= record + T - M x
    (M: record plus the largest tape any choice gives the node), P >= T,
    P >= prefix_j +
    (count_j - 1) C_j + held_j + P_j (held_j = record_j - s_j x_j - s'_j y_j,
    linear, y_j <= x_d for every site d below c_j: _held).
    The constraints only bound T, C, P from below, so a feasible point
    exists exactly when the true peak of the chosen x fits the budget.

    A loop that may be binomial has one binary b_s per candidate snapshot
    count s (Σ_s b_s <= 1, B = Σ_s b_s: binomial at all) and a continuous
    W, its members' contribution to the routine's tape: W >= Σ count C - U B
    and W >= Σ_s b_s bytes(s) + Σ (count/trip) C (without B the second is
    below the first, so no big-M is needed there).  Each member's peak row
    is written twice, as without the loop relaxed by + U B and as within it
    relaxed by - U (1 - B); U bounds every row's right side at every
    choice (the largest peak: _bounds), so each pair is exact for binary
    b.  Returns (joint keys, loop key -> snapshots), or None when no choice
    fits."""
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
    # the binomial loops: one binary per (loop, candidate)
    lcost: dict[tuple, float] = {}
    for n in root.walk():
        for lp in n.loops:
            for s in lp.candidates:
                lcost[(lp.key, s)] = lcost.get((lp.key, s), 0.0) + lp.time(s)
    bcol: dict[str, dict[int, int]] = {}
    for (lk, s), t in lcost.items():
        bcol.setdefault(lk, {})[s] = add_col(0.0 if minimise_peak else t, 0.0, 1.0, integer=True)
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
    most, U = _bounds(root)
    T, C, P = {}, {}, {}
    for n in root.walk():
        T[id(n)] = add_col(0.0, 0.0, inf)
        P[id(n)] = add_col(1.0 if (minimise_peak and n is root) else 0.0, 0.0, inf)
        if n is not root:
            C[id(n)] = add_col(0.0, 0.0, inf)

    def row(lo, hi, terms):
        # one coefficient per column: HiGHS refuses a row naming a column
        # twice (a member row's b_s appear in its snapshots and in U B)
        merged: dict[int, float] = {}
        for i, v in terms:
            merged[i] = merged.get(i, 0.0) + v
        st = h.addRow(lo, hi, len(merged), list(merged), list(merged.values()))
        if st != highspy.HighsStatus.kOk:
            raise RuntimeError(f"HiGHS refused a row of the planner's MILP ({st})")
    for cols in bcol.values():
        row(-inf, 1.0, [(i, 1.0) for i in cols.values()])

    def big(lp: LoopNode, f: float) -> list:      # f U B
        return [(i, f) for i in bcol[lp.key].values()]

    def snaps(lp: LoopNode) -> list:              # -Σ_s b_s bytes(s)
        return [(i, -lp.bytes(s)) for s, i in bcol[lp.key].items()]
    for n in root.walk():
        # T_v - Σ count C_c - delta y = Σ own, y = max (delta > 0) or min
        # (delta < 0) of the children's x: the bounds below let the solver
        # take y no further than that, and it gains nothing by less
        dy = []
        if n.child_delta is not None and n.children:
            # Σ_c δ_c x_c + rest y, y = AND of the children's x (y <= x_c,
            # y >= Σ x_c - (k - 1): exact whichever the sign of rest)
            ks = sorted({c.key for c in n.children})
            dy = [(col[k], -n.child_delta[k]) for k in ks if n.child_delta[k]]
            rest = n.delta - sum(n.child_delta[k] for k in ks)
            if rest:
                y = add_col(0.0, 0.0, 1.0)
                for k in ks:
                    row(-inf, 0.0, [(y, 1.0), (col[k], -1.0)])
                row(1.0 - len(ks), inf, [(y, 1.0)] + [(col[k], -1.0) for k in ks])
                dy.append((y, -rest))
        elif n.delta and n.children:
            y = add_col(0.0, 0.0, 1.0)
            dy = [(y, -n.delta)]
            for k in {c.key for c in n.children}:
                row(0.0, inf, [(y, 1.0), (col[k], -1.0)] if n.delta > 0
                    else [(col[k], 1.0), (y, -1.0)])
        W = {}
        for lp in n.loops:
            W[lp.key] = w = add_col(0.0, 0.0, inf)
            ms = [n.children[i] for i in lp.members]
            row(0.0, inf, [(w, 1.0)] + [(C[id(c)], -c.count) for c in ms] + big(lp, U))
            row(0.0, inf, [(w, 1.0)] + [(C[id(c)], -per_step(c, lp)) for c in ms] + snaps(lp))

        def earlier(j: int, own_loop: Optional[LoopNode]) -> list:
            """-contributions of the siblings before c_j outside its loop."""
            out = []
            for lp in n.loops:
                if lp is not own_loop and lp.members[-1] < j:
                    out.append((W[lp.key], -1.0))
            for i, e in enumerate(n.children[:j]):
                if _loop_at(n, i) is None:
                    out.append((C[id(e)], -e.count))
            return out
        row(sum(n.own), inf, [(T[id(n)], 1.0)]
            + [(C[id(c)], -c.count) for i, c in enumerate(n.children) if _loop_at(n, i) is None]
            + [(w, -1.0) for w in W.values()] + dy)
        row(0.0, inf, [(P[id(n)], 1.0), (T[id(n)], -1.0)])
        prefix_own = 0.0
        for j, c in enumerate(n.children):
            prefix_own += n.own[j]
            base = [(P[id(n)], 1.0), (P[id(c)], -1.0)] + dy
            if _held_saving(c):
                base.append((col[c.key], _held_saving(c)))
            if _held_saving_subtree(c):
                # y <= x_d for every site d of c's subtree: y = 1 only when
                # all are joint (the solver gains by taking it as large as
                # it may)
                y = add_col(0.0, 0.0, 1.0)
                for k in {d.key for d in c.walk()}:
                    row(0.0, inf, [(col[k], 1.0), (y, -1.0)])
                base.append((y, _held_saving_subtree(c)))
            lp = _loop_at(n, j)
            terms = list(base)
            if c.count > 1:
                terms.append((C[id(c)], -(c.count - 1)))
            inside = [n.children[i] for i in lp.members if i < j] if lp else []
            terms += earlier(j, lp) + [(C[id(e)], -e.count) for e in inside + _interleaved(n, j)]
            if lp is None:
                row(prefix_own + c.record, inf, terms)
                continue
            row(prefix_own + c.record, inf, terms + big(lp, U))
            k = per_step(c, lp)
            terms = list(base)
            if k > 1:
                terms.append((C[id(c)], -(k - 1)))
            terms += earlier(j, lp) + snaps(lp) + big(lp, -U)
            terms += [(C[id(e)], -per_step(e, lp)) for e in inside]
            terms += [(C[id(n.children[i])], -per_step(n.children[i], lp))
                      for i in _interleaved_in(n, lp, j)]
            row(prefix_own + c.record - U, inf, terms)
    ands: dict[frozenset, int] = {}

    def both(cols: list[int]) -> int:
        """A column equal to the product of binary columns (v <= each,
        v >= Σ - (k - 1): exact for binaries, whichever the sign of its
        coefficient), one per set of columns."""
        key = frozenset(cols)
        if len(key) == 1:
            return next(iter(key))
        if key not in ands:
            v = ands[key] = add_col(0.0, 0.0, 1.0)
            for i in key:
                row(-inf, 0.0, [(v, 1.0), (i, -1.0)])
            row(1.0 - len(key), inf, [(v, 1.0)] + [(i, -1.0) for i in key])
        return ands[key]
    for p, n in ((p, n) for p in root.walk() for n in p.children):
        _snapshot_rows(n, None if p is root else col[p.key], col, C[id(n)], row, both, inf)
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
    bino = {lk: s for lk, cols in bcol.items() for s, i in cols.items() if sol[i] > 0.5}
    return {k for k in keys if sol[col[k]] > 0.5}, bino


def _snapshot_rows(n: Node, xp: Optional[int], col: dict, c: int, row, both, inf) -> None:
    """C_n >= x_n snapshot(x_p, y) (_snapshot; y: every child site of n
    joint), written as the multilinear
    x (g00 + (g01 - g00) y + (g10 - g00) x_p + (g11 - g10 - g01 + g00) x_p y)
    with g_ab the snapshot under parent mode a and children b, each
    product of binaries one column (both): exact for binaries.  A mode
    mix that was never measured (infinite) is forbidden by a row instead:
    x_n <= x_k for each child site k when no mix with a split child was
    measured, x_n <= x_p when no split parent was, otherwise
    x_n + [x_p] + [y] <= 2 with the literals of that mix; in the
    multilinear form its g is then a measured neighbour's, which no
    feasible choice sees.  xp: the parent's column, None under the head
    (never joint)."""
    x = col[n.key]
    kids = sorted({d.key for d in n.children})
    cells = snapshot_cells(n)
    ps = (False,) if xp is None else (True,) if xp == x else (False, True)
    ks = (False, True) if kids else (True,)
    live = {(a, b): cells[(a, b)] for a in ps for b in ks}
    bad = {m for m, v in live.items() if v == inf}
    if bad == set(live):
        row(-inf, 0.0, [(x, 1.0)])
        return
    done = set()
    if kids and all((a, False) in bad for a in ps):
        for k in kids:
            row(-inf, 0.0, [(x, 1.0), (col[k], -1.0)])
        done |= {(a, False) for a in ps}
    if len(ps) == 2 and all((False, b) in bad for b in ks):
        row(-inf, 0.0, [(x, 1.0), (xp, -1.0)])
        done |= {(False, b) for b in ks}
    kid_cols = [col[k] for k in kids]
    for a, b in sorted(bad - done):
        # not x = 1 with x_p = a and y = b: the sum of those literals
        # (v, or 1 - v) stays below their number
        lits = [(x, True)] + ([(xp, a)] if len(ps) == 2 else []) \
            + ([(both(kid_cols), b)] if len(ks) == 2 else [])
        row(-inf, len(lits) - 1.0 - sum(1 for _, on in lits if not on),
            [(v, 1.0 if on else -1.0) for v, on in lits])
    g = {}
    for a in (False, True):
        for b in (False, True):
            # a mix that cannot occur (no parent, no children) is its
            # neighbour's; a forbidden one a measured neighbour's
            m = (a if a in ps else ps[0], b if b in ks else ks[0])
            if m in bad:
                m = next(o for o in ((m[0], not m[1]), (not m[0], m[1])) + tuple(live)
                         if o in live and o not in bad)
            g[(a, b)] = live[m]
    # (differences of differences: exactly 0 where a row or column of g
    # is a copy of the other)
    products = [(g[(False, True)] - g[(False, False)], [x] + kid_cols)]
    if len(ps) == 2:
        d0 = g[(False, True)] - g[(False, False)]
        d1 = g[(True, True)] - g[(True, False)]
        products += [(g[(True, False)] - g[(False, False)], [x, xp]),
                     (d1 - d0, [x, xp] + kid_cols)]
    terms = [(c, 1.0), (x, -g[(False, False)])]
    for w, cols in products:
        if w:
            terms.append((both(cols), -w))
    row(0.0, inf, terms)


def _largest_delta(v: Node) -> float:
    if v.child_delta is not None and v.children:
        ks = {c.key for c in v.children}
        return sum(max(0.0, v.child_delta[k]) for k in ks) \
            + max(0.0, v.delta - sum(v.child_delta[k] for k in ks))
    return max(0.0, v.delta)


def _bounds(root: Node) -> tuple[dict, float]:
    """(largest tape of each node over every choice, by id; a bound on
    every peak row's right side at every choice).  largest(v) = own +
    max(0, delta) + Σ count × the largest contribution + each loop's
    largest snapshots (a binomial member counts count/trip times, less);
    a row of v sums at most largest(v), one record and its child's peak,
    so U = max over paths of Σ (largest + record) bounds them all."""
    most: dict = {}

    def largest(v: Node) -> float:
        if id(v) not in most:
            most[id(v)] = sum(v.own) + _largest_delta(v) \
                + sum(c.count * max(_largest_snapshot(c), c.record + largest(c))
                      for c in v.children) \
                + sum(max((lp.bytes(s) for s in lp.candidates), default=0.0) for lp in v.loops)
        return most[id(v)]

    def bound(v: Node) -> float:
        return largest(v) + max((c.record + bound(c) for c in v.children), default=0.0)
    return most, bound(root) + 1.0


def _needs(root: Node) -> dict[str, set[str]]:
    """site key -> the sites that must be joint when it is: its child sites
    when its snapshot was only measured with them all joint, its parent
    when only under a joint parent (_snapshot).  Any one path's need counts."""
    out: dict[str, set[str]] = {}
    for p in root.walk():
        for n in p.children:
            cells = snapshot_cells(n)
            if n.children and cells[(False, False)] == cells[(True, False)] == float("inf"):
                out.setdefault(n.key, set()).update(d.key for d in n.children)
            if p is not root and cells[(False, False)] == cells[(False, True)] == float("inf"):
                out.setdefault(n.key, set()).add(p.key)
    return out


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for k in edges.get(todo.pop(), ()):
            if k not in seen:
                seen.add(k)
                todo.append(k)
    return seen


def _moves(root: Node, joint: set[str], bino: dict, down: bool):
    """The plans one step from (joint, bino).  down: towards less memory
    (a site made joint; a loop made binomial, or given fewer snapshots:
    each smaller candidate count is its own move, so that a loop can stop
    at any of them); otherwise back (a site split again; a loop given more
    snapshots, or made plain).  A site that is offered joint only with
    other sites joint (_needs) is also moved together with them (made
    joint with the sites it needs, split with the sites that need it):
    alone the move's peak is infinite, and the greedy could never pass it."""
    needs = _needs(root)
    needed_by: dict[str, set[str]] = {}
    for k, ks in needs.items():
        for d in ks:
            needed_by.setdefault(d, set()).add(k)
    for k in site_keys(root):
        if (k in joint) != down:
            yield (joint | {k} if down else joint - {k}), bino
            tied = _closure(k, needs if down else needed_by)
            if (tied - joint if down else tied & joint) - {k}:
                yield (joint | tied if down else joint - tied), bino
    for lk, cands in loop_keys(root).items():
        s = bino.get(lk, 0)
        if not down and s:
            yield joint, {x: n for x, n in bino.items() if x != lk}
        for c in cands:
            if (down and (not s or c < s)) or (not down and s and c > s):
                yield joint, {**bino, lk: c}


def _descend(root: Node, budget: float) -> tuple[float, list]:
    """From all split and no binomial loop, take the move with the most
    peak saved per time paid (the model's own peak and predicted_time, so
    max-plus memory and the nested terms count as for the MILP) until the
    peak fits or no move lowers it.  The best rate may save far more
    memory than is missing, at a price (a binomial loop where one joint
    call would do), so at each step the fastest move that fits at once is
    kept too.  Returns the lowest peak reached and the plans found that
    fit, as (time, joint, bino).  The path does not depend on the budget,
    only where it stops."""
    joint: set[str] = set()
    bino: dict = {}
    cur, now = peak(root, joint), predicted_time(root, joint)
    fits = []
    while cur > budget:
        best = fit = None
        for j, b in _moves(root, joint, bino, down=True):
            p = peak(root, j, bino=b)
            if p < cur:
                t = predicted_time(root, j, 0.0, b)
                rate = (cur - p) / max(t - now, 1e-30)
                if best is None or rate > best[0]:
                    best = (rate, j, b, p, t)
                if p <= budget and (fit is None or t < fit[0]):
                    fit = (t, j, b)
        if best is None:
            break
        if fit is not None:
            fits.append(fit)
        _, joint, bino, cur, now = best
    if cur <= budget:
        fits.append((now, joint, bino))
    return cur, fits


def _extremes(root: Node) -> list[tuple[set[str], dict]]:
    """All split and all joint, each with no loop binomial and with every
    loop on its fewest snapshots: the plans the greedy falls back on when
    its path stalls above the budget."""
    keys = set(site_keys(root))
    low = {lk: min(c) for lk, c in loop_keys(root).items() if c}
    return [(set(), {}), (keys, {}), (set(), low), (keys, low)]


def _give_back(root: Node, budget: float, joint: set[str], bino: dict
               ) -> tuple[float, set[str], dict]:
    """While some move back saves time and keeps the peak within the
    budget, the one saving most: an early move may have been made
    redundant by a later one (a loop's snapshots by a joint call inside
    it, say)."""
    now = predicted_time(root, joint, 0.0, bino)
    while True:
        best = None
        for j, b in _moves(root, joint, bino, down=False):
            t = predicted_time(root, j, 0.0, b)
            if t < now and (best is None or t < best[0]) and peak(root, j, bino=b) <= budget:
                best = (t, j, b)
        if best is None:
            return now, joint, bino
        now, joint, bino = best


GIVE_BACK = 3           # the greedy's fastest plans found that it tries to improve


def greedy(root: Node, budget: float) -> Optional[tuple[set[str], dict]]:
    """(joint keys, loop key -> snapshots) whose peak fits the budget, or
    None: the fallback beyond EXACT_LIMIT nodes, where the MILP would take
    too long.  Down (_descend) by the best peak saved per time paid, call
    sites and binomial loops alike; if that stalls above the budget, the
    extreme plans that fit (_extremes).  Then back (_give_back) from the
    fastest few plans found, keeping the fastest result."""
    _, fits = _descend(root, budget)
    if not fits:
        fits = [(predicted_time(root, j, 0.0, b), j, b) for j, b in _extremes(root)
                if peak(root, j, bino=b) <= budget]
    if not fits:
        return None
    fits.sort(key=lambda f: f[0])
    best = min((_give_back(root, budget, j, b) for _, j, b in fits[:GIVE_BACK]),
               key=lambda f: f[0])
    return best[1], best[2]


EXACT_LIMIT = 400       # nodes; beyond, the greedy answers


def minimum_peak(root: Node) -> tuple[float, str]:
    nodes = sum(1 for _ in root.walk())
    if nodes <= EXACT_LIMIT:
        j, b = _milp(root, None, minimise_peak=True)
        return peak(root, j, bino=b), "exact (MILP, HiGHS)"
    # where the greedy's path ends, or an extreme plan if lower: optimise
    # (greedy) finds a plan at any budget from there up
    return min([_descend(root, float("-inf"))[0]]
               + [peak(root, j, bino=b) for j, b in _extremes(root)]), "greedy"


def optimise(root: Node, budget: float, base_time: float = 0.0) -> Optional[Choice]:
    """The plan with the least predicted time whose predicted peak fits the
    budget: exact through a MILP for trees up to EXACT_LIMIT nodes, greedy
    beyond.  None when no plan fits."""
    if sum(1 for _ in root.walk()) <= EXACT_LIMIT:
        got, method = _milp(root, budget), "exact (MILP, HiGHS)"
    else:
        got, method = greedy(root, budget), "greedy"
    if got is None:
        return None
    j, bino = got
    return Choice(j, peak(root, j, bino=bino), predicted_time(root, j, base_time, bino),
                  method, bino)


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
