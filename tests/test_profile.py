"""The per-call-site profile adds up: generated code instrumented with
--profile, the runtime built with -DADSTACK_PROFILE."""
import json
import subprocess
import sys
from pathlib import Path

from adtool.backend.fortran import emit_unit
from adtool.check.driver import primal_unit
from adtool.frontend.fortran import read_fortran

ROOT = Path(__file__).resolve().parent.parent
ORBIT = ROOT / "fixtures" / "fortran" / "orbit.f"

DRIVER = """\
program prof
  use adstack
  implicit none
  real(8) :: x(2), v(2), gm, e, rmin, xb(2), vb(2), gmb, eb, rminb
  x = (/ 1.0d0, 0.0d0 /)
  v = (/ 0.0d0, 0.9d0 /)
  gm = 1.0d0
  xb = 0.0d0
  vb = 0.0d0
  gmb = 0.0d0
  eb = 1.0d0
  rminb = 1.0d0
  call ad_prof_enter(1)
  call orbit_b(x, xb, v, vb, gm, gmb, e, eb, rmin, rminb)
  call ad_prof_exit(1)
  write(*, '(i0)') ad_stack_peak_bytes()
  call ad_prof_json('prof.json')
end program prof
"""


def run(cmd, cwd):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_site_profile_adds_up(tmp_path):
    run([sys.executable, "-m", "adtool", "differentiate", ORBIT, "--head", "orbit",
         "--split", "accel", "--profile", "-o", "orbit_b.f90"], tmp_path)
    run([sys.executable, "-m", "adtool", "runtime", "rt"], tmp_path)
    (tmp_path / "primal.f90").write_text(emit_unit(primal_unit(read_fortran([str(ORBIT)]))))
    (tmp_path / "prof.f90").write_text(DRIVER)
    run(["gcc", "-O2", "-DADSTACK_PROFILE", "-c", "rt/adstack.c"], tmp_path)
    run(["gfortran", "-c", "rt/adstack_mod.f90"], tmp_path)
    run(["gfortran", "-O1", "-o", "prof", "primal.f90", "orbit_b.f90", "prof.f90",
         "adstack.o", "adstack_mod.o"], tmp_path)
    peak = int(run(["./prof"], tmp_path).split()[0])
    prof = {s["site"]: s for s in json.loads((tmp_path / "prof.json").read_text())["sites"]}
    table = json.loads((tmp_path / "orbit_b.sites.json").read_text())["sites"]
    # Everything happens inside site 1: its peak is the global peak.
    assert prof[1]["peak_bytes"] == peak > 0
    assert prof[1]["left_bytes"] == 0
    split = [t for t in table if t["mode"] == "split"]
    joint = [t for t in table if t["mode"] == "joint"]
    assert split and joint
    none = {"left_bytes": 0}
    for t in split:
        fwd, bwd = prof[t["id"]], prof[t["id"] + 2]
        rec = prof.get(t["id"] + 1, none)                   # the caller's recording around it
        assert fwd["count"] == bwd["count"] > 0
        assert fwd["left_bytes"] > 0
        # _bwd and the caller's pops after it take what _fwd and the recording left
        assert fwd["left_bytes"] + rec["left_bytes"] == -bwd["left_bytes"]
    for t in joint:
        assert prof[t["id"]]["left_bytes"] == 0             # the plain primal records nothing
        snap = prof.get(t["id"] + 1, none)
        # the backward part restores exactly the snapshot (and recording) the forward part left
        assert prof[t["id"] + 2]["left_bytes"] == -snap["left_bytes"]
