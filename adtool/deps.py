"""Make dependency files: `-MD -MF -MT -MP` with gcc's meaning.

A run records every file it reads (sources, files they include, plan and
externals files) while `recording()` is active; the front ends call
`note()` for what they open and `note_cpp_markers()` for what the
preprocessor pulled in.  The dependency file then names the output as
target and those files as prerequisites, so `-include *.d` in a Makefile
regenerates a derivative whenever anything it was made from changes.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Iterator, Optional

_files: Optional[list[str]] = None
_MARKER = re.compile(r'^#\s*(?:line\s+)?\d+\s+"([^"]*)"', re.MULTILINE)


@contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the files read inside the block (in first-read order)."""
    global _files
    saved, _files = _files, []
    try:
        yield _files
    finally:
        _files = saved


def note(path: Optional[str]) -> None:
    if _files is not None and path and os.path.isfile(path) and path not in _files:
        _files.append(path)


def note_cpp_markers(text: str, *skip_dirs: str) -> None:
    """Files named by the line markers of cpp output (`# 12 "file.h"`),
    except the preprocessor's pseudo-files and headers under skip_dirs (the
    front end's stand-in libc, which is part of adtool, not of the user's
    build)."""
    if _files is None:
        return
    skip = tuple(os.path.abspath(d) + os.sep for d in skip_dirs)
    for name in _MARKER.findall(text):
        if name.startswith("<") or (skip and os.path.abspath(name).startswith(skip)):
            continue
        note(name)


def _escape(path: str) -> str:
    return re.sub(r"([ #])", r"\\\1", path).replace("$", "$$")


def depfile_text(target: str, prerequisites: list[str], phony: bool) -> str:
    """gcc's layout: `target: prereq ...` (wrapped; target already escaped), then with -MP one empty
    rule per prerequisite other than the first so that a deleted header does
    not break the build."""
    lines = [target + ":"]
    for p in prerequisites:
        lines[-1] += " \\"
        lines.append(" " + _escape(p))
    out = "\n".join(lines) + "\n"
    if phony:
        out += "".join(f"\n{_escape(p)}:\n" for p in prerequisites[1:])
    return out


def write_depfile(output: str, prerequisites: list[str], md: bool, mf: Optional[str],
                  mt: Optional[list[str]], mp: bool) -> Optional[str]:
    """Write the dependency file the flags ask for (None when they ask for
    none).  -MF alone implies -MD, as adtool has no -M mode that would
    print the rules instead of producing the output."""
    if not (md or mf):
        return None
    path = mf or os.path.splitext(output)[0] + ".d"
    target = " ".join(mt) if mt else _escape(output)     # -MT is taken literally, as by gcc
    from .output import write_atomic
    write_atomic(path, depfile_text(target, prerequisites, mp))
    return path
