"""Reading user source files into text that a parser can take, while keeping
the map back to the user's own file and line.

Compilers preprocess capitalised extensions (.F, .F90) and inline `include`
lines; both shift line numbers, so every produced line carries its origin and
diagnostics still point at what the user wrote.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..diagnostics import bad_input
from ..ir.nodes import Span

FIXED_EXT = {".f", ".for", ".F", ".FOR", ".ftn"}
FREE_EXT = {".f90", ".f95", ".f03", ".f08", ".F90", ".F95", ".F03", ".F08"}
C_EXT = {".c", ".h"}
CPP_EXT = {".F", ".FOR", ".F90", ".F95", ".F03", ".F08"}


def language_of(path: str) -> str:
    ext = os.path.splitext(path)[1]
    if ext in FIXED_EXT or ext in FREE_EXT:
        return "fortran"
    if ext in C_EXT:
        return "c"
    raise bad_input(f"unknown source file extension '{ext or '(none)'}'; expected "
                    ".f .for .F (fixed form), .f90 .F90 .f95 .f03 .f08 (free form) or .c .h",
                    Span(path, 0, 0))


def is_fixed_form(path: str) -> bool:
    return os.path.splitext(path)[1] in FIXED_EXT


@dataclass
class SourceText:
    """Text ready for a parser plus, for each of its lines, where it came from."""
    path: str
    text: str
    origin: list[tuple[str, int]] = field(default_factory=list)   # index = line-1

    def span(self, line: int, col: int = 1) -> Span:
        if 1 <= line <= len(self.origin):
            f, l = self.origin[line - 1]
            return Span(f, l, col)
        return Span(self.path, line, col)

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        return lines[line - 1] if 1 <= line <= len(lines) else ""


def read_user_file(path: str) -> str:
    if not os.path.isfile(path):
        raise bad_input("no such file", Span(path, 0, 0))
    from .. import deps
    deps.note(path)      # a prerequisite of the output for -MD
    with open(path, "rb") as fh:
        data = fh.read()
    if b"\x00" in data:
        raise bad_input("binary file, not source text", Span(path, 0, 0))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            raise bad_input("binary file, not source text", Span(path, 0, 0))
        if sum(1 for ch in text if ord(ch) < 9 or 13 < ord(ch) < 32) > 0:
            raise bad_input("binary file, not source text", Span(path, 0, 0))
    if not text.strip():
        raise bad_input("empty source file: no routine to read", Span(path, 0, 0))
    return text.replace("\r\n", "\n")


_LINE_MARKER = re.compile(r'^#\s*(?:line\s+)?(\d+)\s+"([^"]*)"')


def preprocess(path: str, text: str, include_dirs: list[str],
               defines: list[str], language: str) -> SourceText:
    """Run cpp as the compilers do, replacing its line markers by blank lines
    so that the parser's line numbers index our origin table."""
    if language == "fortran":
        exe = shutil.which("gfortran") or shutil.which("cpp")
        if exe is None:
            raise bad_input("gfortran (or cpp) is needed to preprocess " + path)
        if exe.endswith("gfortran"):
            cmd = [exe, "-E", "-cpp"]
        else:
            cmd = [exe, "-traditional-cpp"]
        if is_fixed_form(path) and exe.endswith("gfortran"):
            cmd.append("-ffixed-form")
    else:
        exe = shutil.which("gcc") or shutil.which("cpp")
        if exe is None:
            raise bad_input("gcc (or cpp) is needed to preprocess " + path)
        cmd = [exe, "-E"] if exe.endswith("gcc") else [exe]
    for d in include_dirs:
        cmd += ["-I", d]
    for d in defines:
        cmd += ["-D" + d]
    cmd.append(path)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()
        first = next((m for m in msg if "error" in m), msg[0] if msg else "preprocessing failed")
        raise bad_input("preprocessor: " + first, Span(path, 0, 0))
    from .. import deps
    deps.note_cpp_markers(proc.stdout)   # files cpp included, for -MD
    out_lines: list[str] = []
    origin: list[tuple[str, int]] = []
    cur_file, cur_line = path, 1
    for line in proc.stdout.split("\n"):
        m = _LINE_MARKER.match(line)
        if m:
            cur_line, cur_file = int(m.group(1)), m.group(2)
            if cur_file == os.path.abspath(path) or os.path.basename(cur_file) == os.path.basename(path):
                cur_file = path
            out_lines.append("")
            origin.append((cur_file, cur_line))
            continue
        out_lines.append(line)
        origin.append((cur_file, cur_line))
        cur_line += 1
    return SourceText(path, "\n".join(out_lines), origin)


_INCLUDE = re.compile(r"""^\s*include\s*(['"])([^'"]+)\1\s*(!.*)?$""", re.IGNORECASE)


def expand_includes(src: SourceText, include_dirs: list[str], fixed: bool,
                    depth: int = 0) -> SourceText:
    """Inline Fortran `include 'file'` lines; a missing file is an error at the
    include line (fparser would silently keep it as a statement)."""
    out_lines: list[str] = []
    origin: list[tuple[str, int]] = []
    for i, line in enumerate(src.text.split("\n")):
        body = line[6:] if fixed and len(line) > 6 and not line[:1].strip() else line
        m = _INCLUDE.match(body) if not (fixed and line[:1] in "cC*!") else None
        where = src.origin[i] if i < len(src.origin) else (src.path, i + 1)
        if m is None:
            out_lines.append(line)
            origin.append(where)
            continue
        name = m.group(2)
        here = os.path.dirname(where[0]) or "."
        found = None
        for d in [here] + list(include_dirs):
            cand = os.path.join(d, name)
            if os.path.isfile(cand):
                found = cand
                break
        col = line.lower().find("include") + 1
        if found is None:
            raise bad_input(f"include file '{name}' not found (searched: "
                            + ", ".join([here] + list(include_dirs)) + ")",
                            Span(where[0], where[1], col))
        if depth > 20:
            raise bad_input(f"include nesting too deep at '{name}'", Span(where[0], where[1], col))
        inner_text = read_user_file(found)
        inner = SourceText(found, inner_text,
                           [(found, k + 1) for k in range(inner_text.count("\n") + 1)])
        inner = expand_includes(inner, include_dirs, fixed, depth + 1)
        out_lines.extend(inner.text.split("\n"))
        origin.extend(inner.origin)
    return SourceText(src.path, "\n".join(out_lines), origin)


def load(path: str, include_dirs: list[str], defines: list[str]) -> SourceText:
    """The text of one Fortran or C input file, preprocessed as a compiler would."""
    language = language_of(path)
    text = read_user_file(path)
    ext = os.path.splitext(path)[1]
    if language == "c" or ext in CPP_EXT:
        src = preprocess(path, text, include_dirs, defines, language)
    else:
        src = SourceText(path, text, [(path, k + 1) for k in range(text.count("\n") + 1)])
    if language == "fortran":
        src = expand_includes(src, include_dirs, is_fixed_form(path))
        if is_fixed_form(path):
            check_fixed_columns(src)
    return src


def check_fixed_columns(src: SourceText) -> None:
    """Fixed form reserves columns 1-5 for labels; fparser silently accepts
    statements typed there, compilers do not."""
    for i, line in enumerate(src.text.split("\n"), start=1):
        if not line.strip() or line[:1] in "cC*!#dD":
            continue
        if "\t" in line[:6]:
            continue
        head = line[:5]
        if any(not (ch.isdigit() or ch == " ") for ch in head):
            col = next(k for k, ch in enumerate(head) if not (ch.isdigit() or ch == " ")) + 1
            raise bad_input("syntax error: fixed-form statement starts in the label field "
                            "(columns 1-5); statements begin in column 7", src.span(i, col))
