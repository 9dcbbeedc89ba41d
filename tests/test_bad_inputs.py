"""Every bad-input fixture fails the way interface.md says: the right exit
code, a `file:line:col: error:` message naming the problem, no traceback,
and no output file left behind."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "fixtures" / "bad"
with open(BAD / "bad.toml", "rb") as fh:
    CASES = tomllib.load(fh)


def adtool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adtool", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path):
    case = CASES[name]
    files = [BAD / f for f in case["files"]]
    out = tmp_path / "out.f90"
    p = adtool("differentiate", *files, "--head", case["head"], "-o", out)
    msg = p.stderr
    assert p.returncode == case["exit"], msg
    assert "Traceback" not in msg
    assert case["message"] in msg.lower(), msg
    for extra in case.get("also", []):
        assert extra in msg, msg
    if "line" in case:
        m = re.search(r"^(\S+?):(\d+):(\d+): error: ", msg, re.M)
        assert m, msg
        assert int(m.group(2)) == case["line"], msg
        assert Path(m.group(1)).name in [f.name for f in files] + ["params.h"]
    else:
        assert "error:" in msg
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
