"""Mixed checkpointing strategies give the same gradient: on every fixture
with call sites, all-joint, all-split and 20 random mixed plans (each call
site joint or split at random) match each other to 1e-12 and finite
differences to the fixture's tolerance."""
import random

import pytest

from adcheck import Harness, call_site_keys, fixture_table

TABLE = fixture_table()
PLANS = 20
_harness = {}


def _h(name, tmp_path_factory):
    if name not in _harness:
        _harness[name] = Harness(name, tmp_path_factory.mktemp(f"strat_{name}"))
    return _harness[name]


def _with_sites():
    out = []
    for name in sorted(TABLE):
        fix = TABLE[name]
        if fix.get("depth", 1) > 1:
            out.append(name)
    return out


@pytest.mark.parametrize("name", _with_sites())
def test_random_mixed_plans_agree(name, tmp_path_factory):
    h = _h(name, tmp_path_factory)
    keys = call_site_keys(h)
    assert keys, "fixture has no call site"
    fix = TABLE[name]
    tol = fix.get("dot_tolerance", 1e-12) if "dot_tolerance" in fix else 1e-12
    fd_tol = fix.get("fd_tolerance", 1e-6)
    ref = h.plan("joint", strict=False)
    allsplit = h.plan("split", strict=False)
    assert ref.rel(ref.fd, ref.adjoint_dot) < fd_tol
    assert ref.rel(ref.adjoint_dot, allsplit.adjoint_dot) < tol
    rng = random.Random(name)
    # the same draws as ever; a plan drawn again (few sites: often), or one
    # checked above (all-joint, all-split), is not built and run again
    seen = {(), tuple(keys)}
    for _ in range(PLANS):
        split = tuple(k for k in keys if rng.random() < 0.5)
        if split in seen:
            continue
        seen.add(split)
        res = h.plan("joint", split=list(split), strict=False)
        msg = f"plan --split {','.join(split) or '(none)'}"
        assert res.stack_left == 0, msg
        assert res.rel(ref.adjoint_dot, res.adjoint_dot) < tol, msg
        assert res.rel(ref.grad_norm2, res.grad_norm2) < tol, msg
        assert res.rel(res.tangent_dot, res.adjoint_dot) < fix.get("dot_tolerance", 1e-11), msg
        assert res.rel(res.fd, res.adjoint_dot) < fd_tol, msg
