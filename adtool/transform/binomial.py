"""Binomial (revolve) checkpointing of a counted loop.

A time loop reversed step by step keeps every step's tape (or, with the
step checkpointed, one snapshot per step) on the stack at once.  With
binomial checkpointing the forward sweep runs the iterations plainly and
keeps at most `snapshots` states; the backward sweep restores a state, runs
plainly up to the iteration whose adjoint is due, runs that one recording
and then its adjoint.  Which of these to do when is the runtime's business
(adstack.c, ad_binomial_next): the schedule depends on the trip count, known
only at run time, and the generated code is a dispatch loop over five
actions

    1 push a snapshot   2 one plain step   3 one recording step
    4 pop a snapshot    5 one step's adjoint

The forward sweep's dispatch ends after the first recording step (the last
iteration, so the loop leaves the state the rest of the routine expects);
the backward sweep's dispatch runs the schedule to its end.

A snapshot holds what the iterations read before writing it and the
iterations overwrite: use(body) ∩ out(body).  A value the body only reads
is, as any value the backward sweep reads, recorded by whoever overwrites
it later and restored before the loop's backward sweep runs.
"""
from __future__ import annotations

import copy
from typing import Optional

from ..diagnostics import bad_input, unsupported
from ..ir.build import integer, trip_count
from ..ir.nodes import (INT4, Assign, Bin, CallStmt, Exit, Goto, If, Loop, Ref, Return,
                        Stmt, While)
from ..ir.visit import child_blocks, walk_stmts

PUSH, PLAIN, RECORD, POP, ADJOINT = 1, 2, 3, 4, 5


def directive_snapshots(s: Stmt) -> Optional[int]:
    """The snapshot count of a `$AD BINOMIAL-CKP` standing before s, in
    either spelling: `nsnaps`, or Tapenade's `nsteps nsnaps first` (the trip
    count always comes from the loop at run time)."""
    ds = [d for d in s.directives if d.name == "BINOMIAL-CKP"]
    if not ds:
        return None
    d = ds[-1]
    if len(d.args) == 1:
        word = d.args[0]
    elif len(d.args) == 3:
        word = d.args[1]
    else:
        raise bad_input("$AD BINOMIAL-CKP takes the snapshot count (`nsnaps`, or Tapenade's "
                        "`nsteps nsnaps first`)", d.span)
    if not word.isdigit() or int(word) < 1:
        raise bad_input(f"$AD BINOMIAL-CKP: the snapshot count must be a positive integer, "
                        f"not '{word}'", d.span)
    return int(word)


def check_binomial_loop(s: Stmt, span) -> None:
    """A binomial loop is a counted loop whose iterations all run: the
    schedule replays them by number."""
    if not isinstance(s, Loop):
        raise bad_input("binomial checkpointing ($AD BINOMIAL-CKP, [loops]) applies to a "
                        "counted DO/for loop", span)
    _check_leaves(s.body, [])


def _check_leaves(stmts: list[Stmt], inner: list) -> None:
    """No statement of the body may leave the binomial loop (inner: the
    loops nested inside it around the statement, by name)."""
    for x in stmts:
        what = None
        if isinstance(x, Exit) and (not inner or (x.name is not None and x.name not in inner)):
            what = "EXIT/break"
        elif isinstance(x, Goto):
            what = "GOTO"
        elif isinstance(x, Return):
            what = "RETURN"
        if what:
            raise unsupported(f"{what} leaving a binomial-checkpointed loop (the schedule "
                              "replays a fixed number of iterations)", x.span)
        deeper = inner + [getattr(x, "name", None)] if isinstance(x, (Loop, While)) else inner
        for b in child_blocks(x):
            _check_leaves(b, deeper)


def snapshots_of(rev, s: Loop) -> Optional[int]:
    """The plan's [loops] entry for s (by routine and header line), else
    the directive before it; None when not binomial, also when the plan
    file sets the loop "plain" over its directive."""
    plan = getattr(rev, "binomial_loops", None)
    plan = {} if plan is None else plan       # (empty when every loop it names is plain)
    key = (rev.r.name, s.span.line)
    if key in getattr(plan, "modes", {}):
        return plan.get(key)
    n = plan.get(key)
    if n is not None:
        return n
    return directive_snapshots(s)


def binomial_loop(rev, s: Loop, snaps: int) -> Sweeps:
    from .reverse import Sweeps, _constant
    from ..analysis.readwrite import block_use, block_writes
    check_binomial_loop(s, s.span)
    r = rev.r
    push_v, pop_v, body, unreversed = rev.loop_body(s)
    if unreversed is not None:
        return unreversed     # nothing to reverse: the plain loop

    scopes, summ = rev.ctx.scopes, rev.rw.s
    use = block_use(s.body, r, scopes, summ)
    outs = block_writes(s.body, r, scopes, summ)
    by_var = {v: n for n, _, v in scopes.visible(r.name)}

    def ref_of(v):
        return Ref(by_var[v]) if v in by_var else rev._alias_global(v)
    snap: list[Ref] = []
    for v in sorted(use & outs, key=str):
        ref = ref_of(v)
        if ref is None or ref.name == s.var:
            continue
        sym = rev._sym(ref.name)
        if sym is None or sym.is_parameter or sym.type.base == "character":
            continue
        if rev._may_hold_value(ref.name):
            snap.append(ref)
    # What the routine's backward sweep reads after the loop's and the
    # iterations overwrite: the snapshot of iteration 0 and iteration 0's
    # own recording put back what the snapshot holds; the rest is recorded
    # around the whole loop.
    in_snap = {x.name for x in snap}
    written = [x for x in (ref_of(v) for v in sorted(outs, key=str)) if x is not None]
    push_t, pop_t = rev._record(r, [x for x in written if x.name not in in_snap
                                     and x.name != s.var])
    push_s, pop_s = rev._push_pop(r, snap)

    step = s.step if s.step is not None else integer(1)
    lo_e, step_e = copy.deepcopy(s.lo), copy.deepcopy(step)
    fwd: list[Stmt] = push_t + list(push_v)
    saved: list[str] = []
    if not _constant(s.lo):
        v = rev._tmp("ad_from", INT4)
        fwd.append(Assign(Ref(v), lo_e))
        saved.append(v)
        lo_e = Ref(v)
    if not _constant(step):
        v = rev._tmp("ad_step", INT4)
        fwd.append(Assign(Ref(v), step_e))
        saved.append(v)
        step_e = Ref(v)
    cnt = rev._tmp("ad_count", INT4)
    fwd.append(Assign(Ref(cnt), trip_count(copy.deepcopy(lo_e), copy.deepcopy(s.hi),
                                           copy.deepcopy(step_e), rev._constants(r))))
    h = rev._tmp("ad_sched", INT4)
    act = rev._tmp("ad_action", INT4)
    it = rev._tmp("ad_step_no", INT4)
    site = _profile_site(rev, s, snaps)
    fwd.append(CallStmt("ad_binomial_begin", [Ref(cnt), integer(snaps), integer(site), Ref(h)]))

    def at(k: str) -> Assign:
        a = Assign(Ref(s.var), Bin("+", copy.deepcopy(lo_e), Bin("*", Ref(k), copy.deepcopy(step_e))))
        a.sets_loop_index = True
        return a

    def one_step(stmts: list[Stmt]) -> Loop:
        # a one-trip loop whose first statement sets the primal index: the
        # backward sweep's read analysis then knows the index is set here
        k = rev._tmp("ad_k", INT4)
        return Loop(k, Ref(it), Ref(it), None, [at(k)] + stmts)

    plain = _plain(s.body)

    def dispatch(actions: dict) -> list[Stmt]:
        nxt = CallStmt("ad_binomial_next", [Ref(h), Ref(act), Ref(it)])
        branches = [(Bin("==", Ref(act), integer(a)), b) for a, b in actions.items()]
        return [copy.deepcopy(nxt),
                While(Bin("!=", Ref(act), integer(0)),
                      [If(branches, None), copy.deepcopy(nxt)], span=s.span)]

    fwd += dispatch({PUSH: copy.deepcopy(push_s),
                     PLAIN: [one_step(copy.deepcopy(plain))],
                     RECORD: [one_step(body.fwd)]})
    # the index after the loop, as the language leaves it
    fwd.append(Assign(Ref(s.var), Bin("+", copy.deepcopy(lo_e),
                                      Bin("*", Ref(cnt), copy.deepcopy(step_e)))))
    keep, restore = rev._push_pop(r, [Ref(x) for x in saved + [cnt, h]])
    fwd += keep
    bwd = restore + dispatch({PUSH: copy.deepcopy(push_s),
                              PLAIN: [one_step(copy.deepcopy(plain))],
                              RECORD: [one_step(copy.deepcopy(body.fwd))],
                              POP: pop_s,
                              ADJOINT: [one_step(body.bwd)]}) + pop_v + pop_t
    return Sweeps(fwd, bwd)


def _plain(stmts: list[Stmt]) -> list[Stmt]:
    """The primal body to re-run, without the directives (they are read
    here, not in the output)."""
    out = copy.deepcopy(stmts)
    for x in walk_stmts(out):
        x.directives = []
    return out


def _profile_site(rev, s: Loop, snaps: int) -> int:
    """The loop's id in the runtime's profile ("binomial" list), -1 when not
    profiling; the sites table maps it back to routine:line."""
    if rev.profile is None or rev.needed is None:
        return -1
    key = f"{rev.r.name}:{s.span.line}"
    if key not in rev.profile:
        rev.profile[key] = {"id": 4 * (len(rev.profile) + 1), "mode": "binomial",
                            "caller": rev.r.name, "line": s.span.line, "snapshots": snaps}
    return rev.profile[key]["id"]
