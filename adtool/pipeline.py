"""The stages in order: frontend -> IR -> call graph/analysis -> plan ->
transform -> backend.  Nothing else lives here."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from . import callgraph
from .diagnostics import bad_input, unsupported
from .frontend.source import language_of
from .headspec import Head, parse_heads
from .ir.nodes import Span, TranslationUnit


@dataclass
class Options:
    files: list[str]
    head: str
    mode: str = "reverse"
    checkpoint_file: Optional[str] = None
    split: list[str] = field(default_factory=list)
    joint: list[str] = field(default_factory=list)
    default_mode: Optional[str] = None
    output_dir: Optional[str] = None
    output: Optional[str] = None
    include_dirs: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)


def read_sources(files: list[str], include_dirs: list[str], defines: list[str]) -> TranslationUnit:
    if not files:
        raise bad_input("no input files")
    langs = {language_of(f) for f in files}
    if len(langs) > 1:
        raise bad_input("input files mix Fortran and C; differentiate them separately")
    lang = langs.pop()
    for f in files:
        if not os.path.isfile(f):
            raise bad_input("no such file", Span(f, 0, 0))
    if lang == "fortran":
        from .frontend.fortran import read_fortran
        return read_fortran(files, include_dirs, defines)
    raise unsupported("C input (the C front end is not available yet)", Span(files[0], 0, 0))


def resolve_heads(tu: TranslationUnit, spec: str):
    heads = parse_heads(spec)
    g = callgraph.build(tu)
    for h in heads:
        callgraph.check_head(g, h.name)
        _check_head_names(tu, h)
    return heads, g


def _check_head_names(tu: TranslationUnit, h: Head) -> None:
    r = tu.routine(h.name)
    assert r is not None
    allowed = set(r.args) | ({r.result, "result"} if r.result else set())
    for what, names in (("dependent", h.dependents), ("independent", h.independents)):
        for n in names or []:
            if n not in allowed:
                raise bad_input(f"{what} '{n}' is not an argument of '{h.name}' "
                                f"(arguments: {', '.join(r.args) or 'none'})", r.span)


def output_path(opts: Options) -> str:
    if opts.output:
        return opts.output
    stem, ext = os.path.splitext(os.path.basename(opts.files[0]))
    ext = {".F": ".f", ".FOR": ".f", ".F90": ".f90", ".F95": ".f95",
           ".F03": ".f03", ".F08": ".f08"}.get(ext, ext)
    if ext in (".f", ".for"):
        ext = ".f90"       # we always emit free form
    suffix = "_b" if opts.mode == "reverse" else "_d"
    return os.path.join(opts.output_dir or ".", stem + suffix + ext)


def differentiate(opts: Options) -> str:
    if opts.mode not in ("reverse", "tangent"):
        raise bad_input(f"--mode must be reverse or tangent, not '{opts.mode}'")
    if opts.default_mode not in (None, "joint", "split"):
        raise bad_input(f"--default-mode must be joint or split, not '{opts.default_mode}'")
    if opts.checkpoint_file and not os.path.isfile(opts.checkpoint_file):
        raise bad_input("no such plan file", Span(opts.checkpoint_file, 0, 0))
    tu = read_sources(opts.files, opts.include_dirs, opts.defines)
    heads, _ = resolve_heads(tu, opts.head)
    for h in heads:
        if tu.routine(h.name).kind == "program":
            raise bad_input(f"head '{h.name}' is the main program; name the routine to differentiate")
    raise unsupported(f"{opts.mode} mode differentiation (not yet implemented in this version)",
                      None)
