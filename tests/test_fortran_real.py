"""Programs in the style of real Fortran codes (fixtures/fortran/real/):
tangent, adjoint in joint and in split mode, each checked against central
finite differences and the dot-product test; the modes agree to 1e-12."""
import tomllib

import pytest

from adcheck import FIXTURES, check

BASE = FIXTURES / "real"
with open(BASE / "real.toml", "rb") as fh:
    TABLE = tomllib.load(fh)
for _fix in TABLE.values():
    _fix["base"] = str(BASE)
NAMES = sorted(TABLE)

_cache = {}


def _result(name, mode, tmp_path_factory):
    if (name, mode) not in _cache:
        _cache[name, mode] = check(name, tmp_path_factory.mktemp(f"{name}_{mode}"),
                                   default_mode=mode, fix=TABLE[name])
    return _cache[name, mode]


@pytest.mark.parametrize("mode", ["joint", "split"])
@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_fd_and_tangent(name, mode, tmp_path_factory):
    fix = TABLE[name]
    res = _result(name, mode, tmp_path_factory)
    assert res.adjoint_dot != 0.0, "gradient along the test direction is exactly zero"
    assert res.rel(res.tangent_dot, res.adjoint_dot) < fix.get("dot_tolerance", 1e-11), res.output
    assert res.rel(res.fd, res.adjoint_dot) < fix.get("fd_tolerance", 1e-6), res.output
    assert res.stack_left == 0, "the adjoint left values on the stack"


@pytest.mark.parametrize("name", NAMES)
def test_joint_and_split_agree(name, tmp_path_factory):
    j = _result(name, "joint", tmp_path_factory)
    s = _result(name, "split", tmp_path_factory)
    assert j.rel(j.adjoint_dot, s.adjoint_dot) < 1e-12
    assert j.rel(j.grad_norm2, s.grad_norm2) < 1e-12
