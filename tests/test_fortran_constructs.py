"""Fortran constructs checked through the command line: messages, warnings
and options (derivatives of the constructs are checked on
fixtures/fortran/real by test_fortran_real.py)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRUCTS = ROOT / "fixtures" / "fortran" / "constructs"


def adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_openmp_directives_warned_not_dropped_silently(tmp_path):
    out = tmp_path / "omp_b.f90"
    p = adtool("differentiate", CONSTRUCTS / "omp.f90", "--head", "f(y)/(x)", "-o", out)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if ": warning: " in ln]
    assert [w.split(":")[1] for w in warnings] == ["9", "13"], p.stderr
    assert "!$omp parallel do" in warnings[0]
    assert out.exists()
