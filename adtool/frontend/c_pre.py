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
from dataclasses import dataclass

import pycparser_fake_libc

from ..diagnostics import bad_input, unsupported
from ..ir.nodes import Span

FAKE_LIBC = pycparser_fake_libc.directory

_AD_LINE = re.compile(r"^(\s*)(?://\s*\$AD\b(.*)|/\*\s*\$AD\b(.*?)\*/\s*)$", re.IGNORECASE)
_AD_ANY = re.compile(r"(//|/\*)\s*\$AD\b", re.IGNORECASE)
_INCLUDE = re.compile(r"^\s*#\s*include\s*<([^>]+)>")


@dataclass
class Preprocessed:
    path: str
    text: str               # gcc -E output, line markers kept
    includes: list[str]     # the user's system #include lines, to re-emit


def rewrite_directives(path: str, text: str) -> str:
    """`// $AD X` alone on a line -> `#pragma ad X` on the same line."""
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        m = _AD_LINE.match(line)
        if m:
            words = (m.group(2) if m.group(2) is not None else m.group(3)).strip()
            out.append(f"{m.group(1)}#pragma ad {words}")
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
    cmd = [gcc, "-E", "-std=c99", "-nostdinc", "-I", FAKE_LIBC, "-iquote", here]
    for d in include_dirs:
        cmd += ["-I", d]
    cmd += ["-D" + d for d in defines]
    cmd += ["-x", "c", "-"]
    marker = '# 1 "' + path.replace("\\", "\\\\").replace('"', '\\"') + '"\n'
    proc = subprocess.run(cmd, input=marker + body, capture_output=True, text=True)
    if proc.returncode != 0:
        raise _cpp_error(path, proc.stderr)
    from .. import deps
    deps.note_cpp_markers(proc.stdout, FAKE_LIBC)   # the user's headers, for -MD
    return Preprocessed(path, proc.stdout, system_includes(text))


def _cpp_error(path: str, stderr: str):
    for line in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$", line)
        if m:
            return bad_input("preprocessor: " + m.group(4), Span(m.group(1), int(m.group(2)), int(m.group(3))))
    first = stderr.strip().splitlines()[:1]
    return bad_input("preprocessor: " + (first[0] if first else "failed"), Span(path, 0, 0))
