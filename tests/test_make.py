"""adtool in a Makefile (examples/make): -MD dependency files make the
derivative depend on everything it was made from, so `make -q` is up to date
after a build, and touching the plan regenerates the derivative and nothing
else; `make check` runs adtool check against the committed reference."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "make"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _env(tmp_path: Path) -> dict:
    """`adtool` on PATH as this checkout's module."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "adtool").write_text(f"#!/bin/sh\nexec {sys.executable} -m adtool \"$@\"\n")
    (bindir / "adtool").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def make(tmp_path, env, *args):
    return subprocess.run(["make", "-f", str(EXAMPLE / "Makefile"), *args], cwd=tmp_path / "w",
                          env=env, capture_output=True, text=True)


def test_make_builds_tracks_the_plan_and_checks(tmp_path):
    env = _env(tmp_path)
    (tmp_path / "w").mkdir()
    plan = tmp_path / "w" / "plan.toml"
    shutil.copy(EXAMPLE / "plan.toml", plan)
    var = f"PLAN={plan}"
    p = make(tmp_path, env, var)
    assert p.returncode == 0, p.stdout + p.stderr
    dep = (tmp_path / "w" / "build" / "model_b.d").read_text()
    assert dep.startswith("build/model_b.f90:") and str(plan) in dep and "model.f90" in dep
    assert make(tmp_path, env, "-q", var).returncode == 0, "not up to date after a build"
    # "touch plan.toml" without waiting out the file system's clock: age
    # the build by a minute, then touch the plan.
    for f in (tmp_path / "w").rglob("*"):
        if f.is_file():
            st = f.stat()
            os.utime(f, (st.st_atime - 60, st.st_mtime - 60))
    plan.touch()
    assert make(tmp_path, env, "-q", var).returncode == 1, "touching the plan went unnoticed"
    p = make(tmp_path, env, var)
    assert p.returncode == 0, p.stdout + p.stderr
    ran = p.stdout
    assert "adtool differentiate" in ran and "model_b.o" in ran
    compiled = [l for l in ran.splitlines() if " -c " in l]
    assert len(compiled) == 1 and "model_b.f90" in compiled[0], ran   # only the derivative
    assert "-c " + str(EXAMPLE / ".." / "heat2d" / "model.f90") not in ran
    assert "adtool runtime" not in ran
    assert make(tmp_path, env, "-q", var).returncode == 0
    run = subprocess.run([str(tmp_path / "w" / "heat2d")], capture_output=True, text=True)
    assert run.returncode == 0 and "d cost / d kappa" in run.stdout
    p = make(tmp_path, env, "check", var)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reference" in p.stdout and "all checks passed" in p.stdout
