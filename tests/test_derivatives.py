"""End-to-end derivative checks on every differentiable fixture: generate
tangent and adjoint code, compile with gfortran and the runtime, run, and
compare the adjoint with central finite differences and with the tangent
(dot-product test), in joint and in split mode; the two modes must agree."""
import pytest

from adcheck import check, fixture_table

TABLE = fixture_table()
NAMES = sorted(TABLE)

_cache = {}


def _result(name, mode, tmp_path_factory):
    key = (name, mode)
    if key not in _cache:
        _cache[key] = check(name, tmp_path_factory.mktemp(f"{name}_{mode}"), default_mode=mode)
    return _cache[key]


@pytest.mark.parametrize("mode", ["joint", "split"])
@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_fd_and_tangent(name, mode, tmp_path_factory):
    fix = TABLE[name]
    res = _result(name, mode, tmp_path_factory)
    dot_tol = fix.get("dot_tolerance", 1e-11)
    fd_tol = fix.get("fd_tolerance", 1e-6)
    assert res.adjoint_dot != 0.0, "gradient along the test direction is exactly zero"
    assert res.rel(res.tangent_dot, res.adjoint_dot) < dot_tol, res.output
    assert res.rel(res.fd, res.adjoint_dot) < fd_tol, res.output
    assert res.stack_left == 0, "the adjoint left values on the stack"


@pytest.mark.parametrize("name", NAMES)
def test_joint_and_split_agree(name, tmp_path_factory):
    j = _result(name, "joint", tmp_path_factory)
    s = _result(name, "split", tmp_path_factory)
    tol = TABLE[name].get("dot_tolerance", 1e-12) if "dot_tolerance" in TABLE[name] else 1e-12
    assert j.rel(j.adjoint_dot, s.adjoint_dot) < tol
    assert j.rel(j.grad_norm2, s.grad_norm2) < tol
