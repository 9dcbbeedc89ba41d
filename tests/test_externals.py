"""External routines (no source given), declared in TOML: the user's
hand-written adjoints and tangents are called by the generated code, whose
gradient is checked against finite differences and the tangent (dot-product
test) with `adtool check`, in joint and split; declarations in the plan
file; an undeclared routine is an error showing the declaration to paste;
malformed declarations are bad input."""
import subprocess
from pathlib import Path

import pytest

from test_cli import adtool

ROOT = Path(__file__).resolve().parent.parent
EXT = ROOT / "fixtures" / "externals"
HEAD = "model(cost)/(x p)"
STRICT_F = ["-O2", "-Wall", "-Wno-unused-dummy-argument", "-Werror"]
STRICT_C = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]

CASES = {
    "fortran": (EXT / "model.f90", EXT / "ext.toml", EXT / "ext_lib.f90"),
    "c": (EXT / "c" / "model.c", EXT / "c" / "ext.toml", EXT / "c" / "ext_lib.c"),
    # the same library called through explicit interfaces (a module of them, a block)
    "fortran-interfaces": (EXT / "model_iface.f90", EXT / "ext.toml", EXT / "ext_lib.f90"),
}


@pytest.mark.parametrize("mode", ["joint", "split"])
@pytest.mark.parametrize("lang", sorted(CASES))
def test_hand_written_derivatives_of_externals_check(lang, mode, tmp_path):
    model, decl, lib = CASES[lang]
    p = adtool("check", model, "--head", HEAD, "--externals", decl, "--with", lib,
               "--default-mode", mode, "--json", "r.json", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    import json
    checks = {c["name"]: c for c in json.loads((tmp_path / "r.json").read_text())["checks"]}
    assert checks["dot-product test"]["values"]["rel"] < 1e-12
    assert checks["finite differences"]["values"]["rel"] < 1e-7
    assert checks["stack"]["values"]["left_bytes"] == 0


@pytest.mark.parametrize("lang", sorted(CASES))
def test_generated_code_calls_the_users_derivatives_and_compiles_strictly(lang, tmp_path):
    model, decl, _ = CASES[lang]
    ext = ".f90" if lang.startswith("fortran") else ".c"
    adtool("runtime", tmp_path / "rt")
    for mode in ("reverse", "tangent"):
        out = tmp_path / f"m_{mode}{ext}"
        p = adtool("differentiate", model, "--head", HEAD, "--externals", decl, "--mode", mode,
                   "--default-mode", "split", "-o", out)
        assert p.returncode == 0, p.stderr
        text = out.read_text()
        suffix = "_b" if mode == "reverse" else "_d"
        assert f"squash{suffix}(" in text and f"sfun{suffix}(" in text
        # no body is generated for an external, only calls (and C prototypes)
        assert f"subroutine squash{suffix}" not in text.lower()
        if lang.startswith("fortran"):
            subprocess.run(["gfortran", "-c", str(tmp_path / "rt" / "adstack_mod.f90"), "-o",
                            str(tmp_path / "adstack_mod.o"), f"-J{tmp_path}"], check=True)
            # the user's modules (the generated code uses them)
            subprocess.run(["gfortran", "-c", str(model), "-o", str(tmp_path / "model.o"),
                            f"-J{tmp_path}"], check=True)
            cmd = ["gfortran", *STRICT_F, f"-I{tmp_path}", "-c", str(out), "-o", str(out) + ".o"]
        else:
            cmd = ["gcc", *STRICT_C, f"-I{tmp_path / 'rt'}", "-c", str(out), "-o", str(out) + ".o"]
        c = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
        assert c.returncode == 0, c.stderr


def test_c_prototype_gives_parameter_types_of_the_users_adjoint(tmp_path):
    model, decl, _ = CASES["c"]
    out = tmp_path / "m_b.c"
    assert adtool("differentiate", model, "--head", HEAD, "--externals", decl, "-o", out,
                  "-MD", "-MP").returncode == 0
    dep = (tmp_path / "m_b.d").read_text()
    assert str(model) in dep and str(EXT / "c" / "ext.h") in dep and str(decl) in dep
    assert "fake_libc" not in dep and "stdio.h" not in dep
    text = out.read_text()
    assert "void squash_b(const double *x, double *xb, double *y, double *yb, int n);" in text
    assert "void scale_b(double a, double *ab, double *s, double *sb);" in text


def test_declarations_in_the_plan_file_and_custom_names(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('default = "joint"\n\n' + (EXT / "ext.toml").read_text()
                    .replace('args = ["in", "out", "in"]',
                             'args = ["in", "out", "in"]\nadjoint = "my_squash_adj"'))
    out = tmp_path / "m_b.f90"
    p = adtool("differentiate", EXT / "model.f90", "--head", HEAD, "--checkpoint-file", plan,
               "-o", out, "-MD")
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "call my_squash_adj(" in text and "squash_b(" not in text
    assert str(plan) in (tmp_path / "m_b.d").read_text()


def test_undeclared_routine_shows_the_declaration_to_paste(tmp_path):
    p = adtool("differentiate", EXT / "model.f90", "--head", HEAD, "-o", tmp_path / "o.f90")
    assert p.returncode == 2
    assert "unknown routine 'squash'" in p.stderr and "model.f90:" in p.stderr
    assert "[externals.squash]" in p.stderr and 'args = ["inout", "inout", "inout"]' in p.stderr
    assert not (tmp_path / "o.f90").exists()


def test_undeclared_c_routine_with_a_prototype(tmp_path):
    decl = tmp_path / "ext.toml"
    decl.write_text((EXT / "c" / "ext.toml").read_text().split("[externals.sfun]")[0])
    p = adtool("differentiate", EXT / "c" / "model.c", "--head", HEAD, "--externals", decl,
               "-o", tmp_path / "o.c")
    assert p.returncode == 2 and "unknown routine 'sfun'" in p.stderr
    assert "[externals.sfun]" in p.stderr and 'result = "real(8)"' in p.stderr


@pytest.mark.parametrize("text, message", [
    ('[externals.squash]\nargs = ["in", "out", "in"]\nadjiont = "x"\n', "unknown key 'adjiont'"),
    ('[externals.squash]\nargs = ["in", "up", "in"]\n', "args must list the intent"),
    ('[externals.squash]\nargs = ["in", "out"]\n', "declared with 2 arguments"),
    ('[externals.squash]\nargs = ["in", "out", "in"]\ndepends = { 1 = [2] }\n', "not an output"),
    ('[extern.squash]\nargs = ["in", "out", "in"]\n', "unknown key 'extern'"),
    ('[externals.squash\n', "malformed externals file"),
])
def test_bad_externals_files(tmp_path, text, message):
    decl = tmp_path / "bad.toml"
    decl.write_text(text + '\n[externals.blend]\nargs = ["inout", "in", "in", "in"]\n'
                    '\n[externals.sfun]\nargs = ["in", "in"]\nresult = "real(8)"\n'
                    if "malformed" not in message else text)
    p = adtool("differentiate", EXT / "model.f90", "--head", HEAD, "--externals", decl,
               "-o", tmp_path / "o.f90")
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and ("bad.toml" in p.stderr or "model.f90" in p.stderr)
    assert "Traceback" not in p.stderr


def test_plan_show_reads_plan_externals_and_says_joint(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('default = "split"\n\n' + (EXT / "ext.toml").read_text())
    p = adtool("plan", "show", EXT / "model.f90", "--head", HEAD, "--checkpoint-file", plan)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any("model/step#1" in l and "split" in l for l in lines)
    assert any("step/squash#1" in l and "joint  (external routine, always joint)" in l
               for l in lines)


@pytest.mark.parametrize("mode", ["joint", "split"])
def test_assumed_shape_library_routine_through_its_interface(mode, tmp_path):
    """The INTERFACE gives the arguments' shapes; the generated code gets
    interface bodies for the user's derivatives (assumed-shape dummies need
    one) and compiles strictly."""
    model, decl, lib = EXT / "model_shape.f90", EXT / "shape.toml", EXT / "shape_lib.f90"
    p = adtool("check", model, "--head", "model(cost)/(x)", "--externals", decl, "--with", lib,
               "--default-mode", mode, "--json", "r.json", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    import json
    checks = {c["name"]: c for c in json.loads((tmp_path / "r.json").read_text())["checks"]}
    assert checks["dot-product test"]["values"]["rel"] < 1e-12
    assert checks["finite differences"]["values"]["rel"] < 1e-7
    adtool("runtime", tmp_path / "rt")
    subprocess.run(["gfortran", "-c", str(tmp_path / "rt" / "adstack_mod.f90"), "-o",
                    str(tmp_path / "adstack_mod.o"), f"-J{tmp_path}"], check=True)
    subprocess.run(["gfortran", "-c", str(model), "-o", str(tmp_path / "model.o"),
                    f"-J{tmp_path}"], check=True)
    for m in ("reverse", "tangent"):
        out = tmp_path / f"m_{m}.f90"
        assert adtool("differentiate", model, "--head", "model(cost)/(x)", "--externals", decl,
                      "--mode", m, "--default-mode", mode, "-o", out).returncode == 0
        c = subprocess.run(["gfortran", *STRICT_F, f"-I{tmp_path}", "-c", str(out), "-o",
                            str(out) + ".o"], capture_output=True, text=True, cwd=tmp_path)
        assert c.returncode == 0, c.stderr
