"""README's examples run as a newcomer runs them (examples/*/run.sh), with
this checkout's adtool first on PATH: they differentiate, compile, and pass
their own gradient checks (FD and dot-product test, empty stack)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def path_with_adtool(tmp_path_factory):
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "adtool"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m adtool "$@"\n')
    exe.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.mark.parametrize("example,mode", [("heat2d", "joint"), ("heat2d", "split"),
                                          ("lorenz_c", "joint"), ("lorenz_c", "split")])
def test_example_runs_and_checks(example, mode, path_with_adtool):
    env = dict(os.environ, PATH=path_with_adtool, MODE=mode)
    p = subprocess.run(["bash", str(ROOT / "examples" / example / "run.sh")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "stack peak" in (p.stdout + p.stderr).lower()
