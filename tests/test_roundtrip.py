"""Proof that the IR holds the program: every fixture, parsed and printed
back, compiles and prints exactly what the original prints."""
import subprocess
from pathlib import Path

import pytest

from adtool.backend.fortran import emit_unit
from adtool.frontend.fortran import read_fortran

from adcheck import FIXTURES, fixture_table

TABLE = fixture_table()


def _compile_run(sources, work: Path, exe: str, extra=()) -> str:
    cmd = ["gfortran", "-Wall", "-Wno-unused-dummy-argument", *extra, "-o", exe, *map(str, sources)]
    p = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r = subprocess.run([str(work / exe)], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("name", sorted(TABLE))
def test_roundtrip_prints_the_same(name, tmp_path):
    fix = TABLE[name]
    files = [FIXTURES / f for f in fix["files"]]
    inc = [str(FIXTURES / d) for d in fix.get("include_dirs", [])]
    defs = list(fix.get("defines", []))
    extra = [f"-I{d}" for d in inc] + [f"-D{d}" for d in defs]
    if any(f.suffix in (".F", ".F90") for f in files):
        extra.append("-cpp")
    original = _compile_run(files, tmp_path, "orig", extra)
    tu = read_fortran([str(f) for f in files], inc, defs)
    text = emit_unit(tu)
    out = tmp_path / "roundtrip.f90"
    out.write_text(text)
    again = _compile_run([out], tmp_path, "rt", ["-Werror", "-Wno-unused-label"])
    assert again == original
    assert original.strip(), "fixture prints nothing"
