"""C source to preprocessed text that pycparser takes, keeping the user's
file and line for every node.

The text goes to `gcc -E` on stdin behind a `# 1 "file"` line marker, so the
markers gcc writes (and pycparser reads) name the user's files and lines;
pycparser's fake libc headers stand in for the system ones because the
real ones are full of GNU extensions pycparser cannot parse.  Comments are
gone after cpp, so `// $AD X` directives are first rewritten in place into
`#pragma ad X`, which survives as a node on the same line.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import pycparser_fake_libc

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import Span

FAKE_LIBC = pycparser_fake_libc.directory

_AD_LINE = re.compile(r"^(\s*)(?://\s*\$AD\b(.*)|/\*\s*\$AD\b(.*?)\*/\s*)$", re.IGNORECASE)
_AD_ANY = re.compile(r"(//|/\*)\s*\$AD\b", re.IGNORECASE)
_INCLUDE = re.compile(r"^\s*#\s*include\s*<([^>]+)>")

# System headers pycparser's fake libc lacks stand in as these stubs (empty
# unless named here): the code using them is outside what adtool
# differentiates (OpenMP runtime calls, timers), or is refused where it is.
_STUBS = {"omp.h": "typedef int omp_lock_t;\ntypedef int omp_nest_lock_t;\n"
                   "typedef int omp_sched_t;\n"}


# What the fake libc leaves out of the headers numerical codes include
# (math.h's M_PI..., INFINITY, NAN, HUGE_VAL; float.h's DBL_EPSILON...;
# a real assert): headers of adtool's own searched before it, which add
# them to the fake one (#include_next), so only a file including the
# header sees them, as with the real one.  INFINITY and NAN expand to
# these names, which the front end reads as the values and the back end
# writes back as INFINITY and NAN.
OVERLAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libc_overlay")
SPECIAL_VALUES = {"__adtool_INFINITY": ("INFINITY", 8), "__adtool_NAN": ("NAN", 8),
                  "__adtool_INFINITYF": ("INFINITY", 4)}


@dataclass
class Preprocessed:
    path: str
    text: str               # gcc -E output, line markers kept
    includes: list[str]     # the user's system #include lines, to re-emit


_PRAGMA_AD = re.compile(r"^(\s*)#\s*pragma\s+ad\s+(.*)$", re.IGNORECASE)
_EXTENT = re.compile(r"^EXTENT\s*(?:\(\s*([A-Za-z_]\w*)\s*,(.*)\)|\s([A-Za-z_]\w*)\s+(.*?))\s*$",
                     re.IGNORECASE)
EXTENT_PREFIX = "__adtool_extent__"


def _extent_line(indent: str, words: str):
    """`EXTENT x n*d` / `extent(x, n*d)` as a typedef the preprocessor
    expands macros in and pycparser parses where it stands (file scope or
    a block); the front end turns it back into the extent of x."""
    m = _EXTENT.match(words.strip())
    if not m:
        return None
    name = m.group(1) or m.group(3)
    size = (m.group(2) if m.group(1) else m.group(4)).strip()
    if not size:
        return None
    return f"{indent}typedef char {EXTENT_PREFIX}{name}[{size}];"


def rewrite_directives(path: str, text: str) -> str:
    """`// $AD X` alone on a line -> `#pragma ad X` on the same line
    (`$AD EXTENT` -> a typedef, see _extent_line)."""
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        m = _AD_LINE.match(line)
        p = _PRAGMA_AD.match(line)
        if m or p:
            indent = (m or p).group(1)
            words = (p.group(2) if p else m.group(2) if m.group(2) is not None else m.group(3)).strip()
            ext = _extent_line(indent, words)
            if ext is None and words.upper().startswith("EXTENT"):
                raise bad_input("$AD EXTENT needs an array name and its element count: "
                                "'// $AD EXTENT x n*d' or '#pragma ad extent(x, n*d)'",
                                Span(path, n, len(indent) + 1))
            out.append(ext if ext is not None else f"{indent}#pragma ad {words}")
            continue
        a = _AD_ANY.search(line)
        if a and line[:a.start()].strip():
            raise unsupported("$AD directive after code on the same line", Span(path, n, a.start() + 1),
                              "put it on its own line before the statement")
        out.append(line)
    return "\n".join(out)


def system_includes(text: str) -> list[str]:
    """`#include <h>` lines of the user's file whose header is a libc one
    (re-emitted verbatim); other headers are the user's and are read."""
    out = []
    for line in text.split("\n"):
        m = _INCLUDE.match(line)
        if m and os.path.isfile(os.path.join(FAKE_LIBC, m.group(1))):
            out.append(f"#include <{m.group(1)}>")
    return out


def preprocess_c(path: str, text: str, include_dirs: list[str], defines: list[str]) -> Preprocessed:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise bad_input("gcc is needed to preprocess " + path)
    body = rewrite_directives(path, text)
    here = os.path.dirname(os.path.abspath(path))
    cmd = [gcc, "-E", "-std=c99", "-nostdinc", "-I", OVERLAY, "-I", FAKE_LIBC, "-iquote", here]
    for d in include_dirs:
        cmd += ["-I", d]
    cmd += ["-D" + d for d in defines]
    cmd += ["-x", "c", "-"]
    marker = '# 1 "' + path.replace("\\", "\\\\").replace('"', '\\"') + '"\n'
    with tempfile.TemporaryDirectory(prefix="adtool-h-") as stubs:
        _write_stubs(stubs, text, [here, *include_dirs])
        cmd[-3:-3] = ["-idirafter", stubs]
        proc = subprocess.run(cmd, input=marker + body, capture_output=True, text=True)
    if proc.returncode != 0:
        raise _cpp_error(path, proc.stderr)
    from .. import deps
    deps.note_cpp_markers(proc.stdout, FAKE_LIBC, OVERLAY)   # the user's headers, for -MD
    return Preprocessed(path, proc.stdout, system_includes(text))


def _write_stubs(where: str, text: str, dirs: list[str]) -> None:
    """A stub for each `#include <h>` of the file found neither in the fake
    libc nor in the user's include directories (`-idirafter`, so a real one
    the user passes with -I wins)."""
    for line in text.split("\n"):
        m = _INCLUDE.match(line)
        if not m:
            continue
        name = m.group(1).strip()
        if ".." in name or os.path.isabs(name):
            continue
        if any(os.path.isfile(os.path.join(d, name)) for d in [FAKE_LIBC, *dirs]):
            continue
        dest = os.path.join(where, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w") as fh:
            fh.write(_STUBS.get(name, ""))


def _cpp_error(path: str, stderr: str):
    for line in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$", line)
        if m:
            return bad_input("preprocessor: " + m.group(4), Span(m.group(1), int(m.group(2)), int(m.group(3))))
    first = stderr.strip().splitlines()[:1]
    return bad_input("preprocessor: " + (first[0] if first else "failed"), Span(path, 0, 0))
