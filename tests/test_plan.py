"""Checkpoint plans (interface.md, "Checkpoint plan file" and "Source
directives"): which rule wins for a call site, that every name is checked
against the program, and what `adtool plan show` prints.

fixtures/plans/model.f90 is the test program (model -> advance x2 -> flux ->
limiter, model -> diag): NOCHECKPOINT before advance's header (line 22),
CHECKPOINT before model's second call of advance (line 52).  The line
numbers below are that file's.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adtool.checkpoint.plan import resolve_plan
from adtool.diagnostics import AdError
from adtool.ir.nodes import CallStmt
from adtool.pipeline import read_sources

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "fixtures" / "plans"
MODEL = PLANS / "model.f90"
ORBIT = ROOT / "fixtures" / "fortran" / "orbit.f"
MODEL_TU = read_sources([str(MODEL)], [], [])


def adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def plan_of(tmp_path, toml=None, split=(), joint=(), default=None):
    path = None
    if toml is not None:
        path = tmp_path / "plan.toml"
        path.write_text(toml)
    return resolve_plan(MODEL_TU, ["model"], str(path) if path else None,
                        list(split), list(joint), default)


def got(plan, key):
    s = plan.site(key)
    return s.mode, s.origin


def directive(line):
    return f"directive at {MODEL_TU.routine('model').span.file}:{line}"


# ---------------------------------------------------------------- precedence

def test_without_rules_every_site_is_joint_by_default(tmp_path):
    p = plan_of(tmp_path)
    assert got(p, "flux/limiter#1") == ("joint", "default")
    assert got(p, "model/diag#1") == ("joint", "default")


def test_sites_cover_the_reachable_tree_once_each_in_tree_order(tmp_path):
    p = plan_of(tmp_path)
    assert [s.key for s in p.sites] == ["model/advance#1", "advance/flux#1", "flux/limiter#1",
                                        "model/advance#2", "model/diag#1"]
    s = p.site("model/advance#2")
    assert (s.caller, s.callee, s.index, s.span.line) == ("model", "advance", 2, 53)


def test_directive_beats_default(tmp_path):
    p = plan_of(tmp_path, default="joint")
    assert got(p, "model/advance#1") == ("split", directive(22))      # before the header
    p = plan_of(tmp_path, default="split")
    assert got(p, "model/advance#2") == ("joint", directive(52))      # before the call


def test_directive_before_the_call_beats_the_one_before_the_header(tmp_path):
    p = plan_of(tmp_path)
    assert got(p, "model/advance#1") == ("split", directive(22))
    assert got(p, "model/advance#2") == ("joint", directive(52))


def test_plan_routines_beat_directives(tmp_path):
    p = plan_of(tmp_path, '[routines]\nadvance = "joint"\n')
    assert got(p, "model/advance#1") == ("joint", f"plan file {tmp_path}/plan.toml:2")
    assert got(p, "model/advance#2") == ("joint", f"plan file {tmp_path}/plan.toml:2")


def test_plan_calls_beat_plan_routines(tmp_path):
    p = plan_of(tmp_path, '[routines]\nflux = "split"\nlimiter = "split"\n'
                          '[calls]\n"advance/flux" = "joint"\n')
    assert got(p, "advance/flux#1") == ("joint", f"plan file {tmp_path}/plan.toml:5")
    assert got(p, "flux/limiter#1") == ("split", f"plan file {tmp_path}/plan.toml:3")


def test_call_number_beats_caller_callee_inside_calls(tmp_path):
    p = plan_of(tmp_path, '[calls]\n"model/advance#2" = "split"\n"model/advance" = "joint"\n')
    assert got(p, "model/advance#1") == ("joint", f"plan file {tmp_path}/plan.toml:3")
    assert got(p, "model/advance#2") == ("split", f"plan file {tmp_path}/plan.toml:2")


def test_command_line_beats_plan_calls(tmp_path):
    p = plan_of(tmp_path, '[calls]\n"advance/flux#1" = "joint"\n"model/advance#1" = "split"\n',
                split=["flux"], joint=["model/advance"])
    assert got(p, "advance/flux#1") == ("split", "command line")
    assert got(p, "model/advance#1") == ("joint", "command line")
    assert got(p, "model/advance#2") == ("joint", "command line")


def test_command_line_call_number(tmp_path):
    p = plan_of(tmp_path, joint=["advance"], split=["model/advance#2"])
    assert got(p, "model/advance#1") == ("joint", "command line")
    assert got(p, "model/advance#2") == ("split", "command line")


def test_plan_default_then_default_mode_over_it(tmp_path):
    p = plan_of(tmp_path, 'default = "split"\n')
    assert got(p, "flux/limiter#1") == ("split", f"plan file {tmp_path}/plan.toml:1")
    p = plan_of(tmp_path, 'default = "split"\n', default="joint")
    assert got(p, "flux/limiter#1") == ("joint", "command line")
    assert got(p, "model/advance#1") == ("split", directive(22))   # the directive still wins


def test_names_are_case_insensitive(tmp_path):
    p = plan_of(tmp_path, '[Routines]\nFLUX = "split"\n[calls]\n"Model/ADVANCE#1" = "joint"\n',
                split=["Limiter"])
    assert got(p, "advance/flux#1")[0] == "split"
    assert got(p, "model/advance#1")[0] == "joint"
    assert got(p, "flux/limiter#1") == ("split", "command line")


def test_mode_of_site_by_key_and_by_name(tmp_path):
    p = plan_of(tmp_path, '[calls]\n"model/advance#2" = "split"\n"advance/flux" = "split"\n')
    node = CallStmt("advance", [])
    node.site_key = "model/advance#2"
    assert p.mode_of_site("model", node, MODEL_TU) == "split"
    node.site_key = "model/advance#1"
    assert p.mode_of_site("model", node, MODEL_TU) == "split"      # header directive
    untagged = CallStmt("flux", [])                                 # no key: resolved by name
    assert p.mode_of_site("advance", untagged, MODEL_TU) == "split"
    assert p.mode_of_site("model", CallStmt("diag", []), MODEL_TU) == "joint"


def test_contradicting_directives_on_one_call(tmp_path):
    src = tmp_path / "two.f90"
    src.write_text("subroutine g(x)\n  real(8) :: x\n  x = x * x\nend subroutine g\n"
                   "subroutine f(x)\n  real(8) :: x\n  !$AD CHECKPOINT\n  !$AD NOCHECKPOINT\n"
                   "  call g(x)\nend subroutine f\n")
    tu = read_sources([str(src)], [], [])
    with pytest.raises(AdError) as e:
        resolve_plan(tu, ["f"], None, [], [], None)
    assert e.value.code == 2 and "contradicting" in e.value.message


# ---------------------------------------------------------------- errors

BAD_PLANS = [
    # (plan text, exit, line, substrings of the message)
    ('[routines]\nadvnce = "split"\n', 2, 2, ["unknown routine 'advnce'", "'advance'"]),
    ('[calls]\n"model/advnce" = "split"\n', 2, 2, ["unknown routine 'advnce'", "'advance'"]),
    ('[calls]\n"model/advance#3" = "joint"\n', 2, 2,
     ["model/advance#3", "only 2 times", "'model/advance#1'", "'model/advance#2'"]),
    ('[calls]\n"model/advance#0" = "joint"\n', 2, 2, ["model/advance#0", "positive integer"]),
    ('default = "joint"\n[calls]\n"model/flux" = "split"\n', 2, 3,
     ["'model' never calls 'flux'", "'model/advance'", "'advance/flux'"]),
    ('[calls]\nflux = "split"\n', 2, 2, ["'flux' is not a call site"]),
    ('[routines]\nflux = "splitt"\n', 2, 2, ["flux", "\"joint\" or \"split\"", "'split'"]),
    ('[routines]\nflux = true\n', 2, 2, ["flux", "\"joint\" or \"split\""]),
    ('default = "checkpoint"\n', 2, 1, ["checkpoint", "\"joint\" or \"split\""]),
    ('default = "joint"\n\n[routine]\nflux = "split"\n', 2, 3,
     ["unknown section 'routine'", "'routines'"]),
    ('defualt = "split"\n', 2, 1, ["unknown key 'defualt'", "'default'"]),
    ('[routines]\nflux = "split"\nFlux = "joint"\n', 2, 3, ["'flux' twice"]),
    ('[routines]\nflux = "split"\nlimiter = \n', 2, 3, ["malformed plan file", "invalid value"]),
    ('[loops]\n"model:50" = { binomial = { snapshots = 0 } }\n', 2, 2,
     ["model:50", "positive integer"]),
    ('[loops]\n"model:51" = { binomial = { snapshots = 3 } }\n', 2, 2,
     ["model:51", "no do loop", "'model:50'"]),
    ('[loops]\n"modl:50" = { binomial = { snapshots = 3 } }\n', 2, 2,
     ["unknown routine 'modl'", "'model'"]),
    ('[loops]\n"model:50" = { binomial = { snapshot = 3 } }\n', 2, 2, ["snapshots = n"]),
    ('[loops]\n"model:50" = "plane"\n', 2, 2,
     ["model:50", 'expected "plain"', "snapshots = n", 'did you mean "plain"']),
    ('[loops]\n"model:50" = { binomial = 3 }\n', 2, 2, ["model:50", '"plain"']),
    ('[loops]\n"model:51" = "plain"\n', 2, 2, ["model:51", "no do loop", "'model:50'"]),
    ('[loops]\n"modl:50" = "plain"\n', 2, 2, ["unknown routine 'modl'", "'model'"]),
]


@pytest.mark.parametrize("toml,code,line,parts", BAD_PLANS,
                         ids=[f"{i}-{b[3][0][:24]}" for i, b in enumerate(BAD_PLANS)])
def test_bad_plan_file(tmp_path, toml, code, line, parts):
    plan = tmp_path / "plan.toml"
    plan.write_text(toml)
    p = adtool("plan", "show", MODEL, "--head", "model", "--checkpoint-file", plan)
    assert p.returncode == code, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith(f"{plan}:{line}:"), p.stderr
    assert "Traceback" not in p.stderr
    for part in parts:
        assert part.lower() in p.stderr.lower(), (part, p.stderr)


def test_malformed_toml_gives_tomllib_line_and_column(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('default = "joint"\n[calls\n')
    p = adtool("plan", "show", MODEL, "--head", "model", "--checkpoint-file", plan)
    assert p.returncode == 2
    assert p.stderr.startswith(f"{plan}:2:7: error: malformed plan file"), p.stderr


def test_missing_plan_file(tmp_path):
    p = adtool("plan", "show", MODEL, "--head", "model", "--checkpoint-file", tmp_path / "no.toml")
    assert p.returncode == 2 and "no such plan file" in p.stderr


@pytest.mark.parametrize("args,parts", [
    (["--split", "advnce"], ["--split", "unknown routine 'advnce'", "'advance'"]),
    (["--joint", "model/advance#3"], ["--joint", "only 2 times"]),
    (["--split", "model/limiter"], ["'model' never calls 'limiter'", "'flux/limiter'"]),
    (["--split", "modl/advance"], ["unknown routine 'modl'", "'model'"]),
    (["--split", "flux", "--joint", "FLUX"], ["both --split and --joint", "flux"]),
])
def test_bad_command_line_names(args, parts):
    p = adtool("plan", "show", MODEL, "--head", "model", *args)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("adtool: error: ")
    for part in parts:
        assert part in p.stderr, (part, p.stderr)


def test_bad_plan_writes_no_output(tmp_path):
    plan = tmp_path / "plan.toml"
    for text, code in (('[routines]\nnosuch = "split"\n', 2),
                       ('[loops]\n"orbit:30" = { binomial = { snapshots = 4 } }\n', 1)):
        plan.write_text(text)
        p = adtool("differentiate", ORBIT, "--head", "orbit", "--checkpoint-file", plan,
                   "-o", tmp_path / "out.f90")
        assert p.returncode == code, p.stderr
        assert not (tmp_path / "out.f90").exists()


# ---------------------------------------------------------------- plan show

def test_plan_show_text(tmp_path):
    p = adtool("plan", "show", "model.f90", "--head", "model", "--checkpoint-file",
               "model_plan.toml", "--split", "model/diag", cwd=PLANS)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "model",
        "|-- model/advance#1  line 51  split  (directive at model.f90:22)",
        "|   `-- advance/flux#1  line 31  joint  (plan file model_plan.toml:6)",
        "|       `-- flux/limiter#1  line 18  joint  (plan file model_plan.toml:2)",
        "|-- model/advance#2  line 53  split  (plan file model_plan.toml:7)",
        "|   `-- advance/flux#1  line 31  joint  (plan file model_plan.toml:6)",
        "|       `-- flux/limiter#1  line 18  joint  (plan file model_plan.toml:2)",
        "`-- model/diag#1  line 55  split  (command line)",
    ]


def test_plan_show_json_and_dot(tmp_path):
    dot = tmp_path / "plan.dot"
    p = adtool("plan", "show", MODEL, "--head", "model", "--format", "json", "--dot", dot)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["head"] == "model"
    rows = [(s["key"], s["depth"], s["mode"]) for s in doc["sites"]]
    assert rows == [("model/advance#1", 1, "split"), ("advance/flux#1", 2, "joint"),
                    ("flux/limiter#1", 3, "joint"), ("model/advance#2", 1, "joint"),
                    ("advance/flux#1", 2, "joint"), ("flux/limiter#1", 3, "joint"),
                    ("model/diag#1", 1, "joint")]
    first = doc["sites"][0]
    assert first["caller"] == "model" and first["callee"] == "advance" and first["index"] == 1
    assert first["file"] == str(MODEL) and first["line"] == 51
    assert first["origin"] == f"directive at {MODEL}:22"
    text = dot.read_text()
    assert text.startswith("digraph")
    split_edge = next(l for l in text.splitlines() if "model/advance#1" in l)
    joint_edge = next(l for l in text.splitlines() if "model/advance#2" in l)
    assert "dashed" in split_edge and "solid" in joint_edge
    assert "legend" in text


# ---------------------------------------------------------------- end to end

def test_differentiate_follows_the_plan_file(tmp_path):
    out = tmp_path / "orbit_b.f90"
    p = adtool("differentiate", ORBIT, "--head", "orbit", "--checkpoint-file",
               PLANS / "orbit_plan.toml", "-o", out)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "subroutine accel_fwd(" in text and "subroutine accel_bwd(" in text
    assert "subroutine accel_b(" not in text
    assert "subroutine kick_b(" in text and "call kick_b(" in text


def test_differentiate_one_call_site_split(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('[calls]\n"orbit/accel#2" = "split"\n')
    out = tmp_path / "orbit_b.f90"
    p = adtool("differentiate", ORBIT, "--head", "orbit", "--checkpoint-file", plan, "-o", out)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    for name in ("accel_b", "accel_fwd", "accel_bwd", "kick_b"):
        assert f"subroutine {name}(" in text, name
