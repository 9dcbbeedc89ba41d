"""The command line as users and their Makefiles see it (interface.md)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "fortran"


def adtool(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_version():
    p = adtool("--version")
    assert p.returncode == 0
    assert p.stdout.startswith("adtool ")


def test_callgraph_prints_the_tree_from_another_directory(tmp_path):
    p = adtool("callgraph", FIX / "heat1d.f90", "--head", "simulate", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "simulate"
    assert any("step  [simulate/step#1" in l for l in lines)
    assert any("flux  [step/flux#1" in l for l in lines)
    assert any("limiter  [flux/limiter#" in l for l in lines)


def test_callgraph_dot(tmp_path):
    dot = tmp_path / "tree.dot"
    p = adtool("callgraph", FIX / "orbit.f", "--head", "orbit", "--dot", dot)
    assert p.returncode == 0, p.stderr
    text = dot.read_text()
    assert text.startswith("digraph")
    assert '"orbit" -> "accel"' in text and '"accel" -> "radius"' in text


def test_recursion_is_reported(tmp_path):
    src = tmp_path / "rec.f90"
    src.write_text("recursive subroutine f(x)\n  real(8) :: x\n  if (x > 1d0) then\n"
                   "    x = x / 2\n    call f(x)\n  end if\nend subroutine f\n")
    p = adtool("differentiate", src, "--head", "f", "-o", tmp_path / "out.f90")
    assert p.returncode == 1
    assert "recursion" in p.stderr and "f -> f" in p.stderr
    assert not (tmp_path / "out.f90").exists()


def test_output_place_that_cannot_be_written_is_bad_input(tmp_path):
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "-o", tmp_path)
    assert p.returncode == 2 and "is a directory" in p.stderr and "internal error" not in p.stderr
    (tmp_path / "f").write_text("")
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "--output-dir", tmp_path / "f")
    assert p.returncode == 2 and "not a directory" in p.stderr


def test_differentiate_writes_stem_b_in_output_dir(tmp_path):
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "orbit_b.f90"
    assert out.exists()
    text = out.read_text()
    assert "subroutine orbit_b(" in text and "subroutine accel_b(" in text
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "--mode", "tangent",
               "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "subroutine orbit_d(" in (tmp_path / "orbit_d.f90").read_text()


def test_split_names_routines(tmp_path):
    out = tmp_path / "o.f90"
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "--split", "accel,kick", "-o", out)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "subroutine accel_fwd(" in text and "subroutine accel_bwd(" in text
    assert "subroutine kick_fwd(" in text and "subroutine accel_b(" not in text


def test_split_naming_an_unknown_routine_is_an_error(tmp_path):
    p = adtool("differentiate", FIX / "orbit.f", "--head", "orbit", "--split", "acel",
               "-o", tmp_path / "o.f90")
    assert p.returncode == 2
    assert "acel" in p.stderr and "accel" in p.stderr
    assert not (tmp_path / "o.f90").exists()


def test_runtime_copies_sources(tmp_path):
    p = adtool("runtime", tmp_path / "rt")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "rt").iterdir()) == \
        ["adstack.c", "adstack.h", "adstack_mod.f90"]


def test_bad_option_exits_2_without_traceback():
    p = adtool("differentiate", "--bogus")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr


def test_non_editable_install_ships_templates_and_runtime(tmp_path):
    """A plain `pip install .` must carry templates/, grammars/ and the runtime."""
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                            "--target", str(target), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, PYTHONPATH=str(target))
    work = tmp_path / "elsewhere"
    work.mkdir()
    p = subprocess.run([sys.executable, "-c",
                        "import adtool, sys; print(adtool.__file__)"],
                       capture_output=True, text=True, cwd=work, env=env)
    assert str(target) in p.stdout, p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "adtool", "differentiate", str(FIX / "orbit.f"),
                        "--head", "orbit", "-o", "x_b.f90"], capture_output=True, text=True,
                       cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-m", "adtool", "runtime", "rt"], capture_output=True,
                       text=True, cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    assert (work / "rt" / "adstack.c").exists()
