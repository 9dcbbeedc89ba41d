"""End-to-end derivative checks on every C fixture: the tangent and the
adjoint (joint and split) are generated, compiled apart with
gcc -std=c99 -Wall -Wextra -Werror, linked with the runtime and a check
driver made from the fixture's own main, and run: adjoint vs central
finite differences, tangent vs adjoint (dot-product test), an empty stack
at the end, and the two modes giving the same gradient."""
import pytest

from c_adcheck import CHarness, fixture_table

TABLE = fixture_table()
NAMES = sorted(TABLE)

_cache = {}


def _result(name, mode, tmp_path_factory):
    key = (name, mode)
    if key not in _cache:
        _cache[key] = CHarness(name, tmp_path_factory.mktemp(f"c_{name}_{mode}")).plan(mode)
    return _cache[key]


@pytest.mark.parametrize("mode", ["joint", "split"])
@pytest.mark.parametrize("name", NAMES)
def test_c_gradient_matches_fd_and_tangent(name, mode, tmp_path_factory):
    fix = TABLE[name]
    res = _result(name, mode, tmp_path_factory)
    assert res.adjoint_dot != 0.0, "gradient along the test direction is exactly zero"
    assert res.rel(res.tangent_dot, res.adjoint_dot) < fix.get("dot_tolerance", 1e-11), res.output
    assert res.rel(res.fd, res.adjoint_dot) < fix.get("fd_tolerance", 1e-6), res.output
    assert res.stack_left == 0, "the adjoint left values on the stack"


@pytest.mark.parametrize("name", NAMES)
def test_c_joint_and_split_agree(name, tmp_path_factory):
    j = _result(name, "joint", tmp_path_factory)
    s = _result(name, "split", tmp_path_factory)
    assert j.rel(j.adjoint_dot, s.adjoint_dot) < 1e-12
    assert j.rel(j.grad_norm2, s.grad_norm2) < 1e-12


PLANS = 20


def _site_keys(h: CHarness) -> list[str]:
    """Every call site in the head's call tree, as caller/callee#k."""
    import networkx as nx
    from adtool import callgraph
    g = callgraph.build(h.tu)
    reach = {h.head} | nx.descendants(g, h.head)
    return sorted(d["site"].key for u, _, d in g.edges(data=True) if u in reach)


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n].get("depth", 1) > 1])
def test_c_random_mixed_plans_agree(name, tmp_path_factory):
    """As for Fortran (test_strategies.py): random per-call-site joint/split
    plans give all-joint's gradient to 1e-12 and pass FD and the dot test."""
    import random
    fix = TABLE[name]
    h = CHarness(name, tmp_path_factory.mktemp(f"cmix_{name}"))
    keys = _site_keys(h)
    assert keys, "fixture has no call site"
    ref = h.plan("joint")
    rng = random.Random(name)
    seen = {()}                   # (a plan drawn again is not built and run again)
    for _ in range(PLANS):
        split = [k for k in keys if rng.random() < 0.5]
        if tuple(split) in seen:
            continue
        seen.add(tuple(split))
        res = h.plan("joint", split=split, strict=False)
        msg = f"plan --split {','.join(split) or '(none)'}"
        assert res.stack_left == 0, msg
        assert res.rel(ref.adjoint_dot, res.adjoint_dot) < 1e-12, msg
        assert res.rel(ref.grad_norm2, res.grad_norm2) < 1e-12, msg
        assert res.rel(res.tangent_dot, res.adjoint_dot) < fix.get("dot_tolerance", 1e-11), msg
        assert res.rel(res.fd, res.adjoint_dot) < fix.get("fd_tolerance", 1e-6), msg


def test_static_head_gets_a_linkable_derivative(tmp_path):
    """The head's f_b / f_d are what the user calls from another file: not
    static even when the head is; its static callees' variants stay private."""
    from adtool.pipeline import Options, generate
    src = tmp_path / "m.c"
    src.write_text("static double sq(double x) { return x * x; }\n"
                   "static void head(double *x, double *y) { *y = sq(*x) + 3.0 * (*x); }\n")
    for mode, suffix in (("reverse", "b"), ("tangent", "d")):
        text, _ = generate(Options(files=[str(src)], head="head(y)/(x)", mode=mode))
        assert f"\nvoid head_{suffix}(" in text and f"static void head_{suffix}(" not in text
        assert f"static void sq_{suffix}(" in text
