"""The stages in order: frontend -> IR -> call graph/analysis -> plan ->
transform -> backend.  Nothing else lives here."""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

from . import callgraph
from .diagnostics import bad_input, raise_all, warn
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
    profile: bool = False
    default_real_kind: int = 4     # Fortran `real` without a kind (8: codes built with -fdefault-real-8)
    externals: list[str] = field(default_factory=list)   # --externals TOML files
    make_deps: bool = False                                 # -MD
    dep_file: Optional[str] = None                          # -MF
    dep_targets: list[str] = field(default_factory=list)   # -MT (repeatable)
    dep_phony: bool = False                                 # -MP
    cache_dir: Optional[str] = None  # parse trees kept here by content hash (None: no cache)
    primal_outputs: bool = True    # False: a head's f_b may leave its primal outputs unset


def read_sources(files: list[str], include_dirs: list[str], defines: list[str],
                 default_real_kind: int = 4, cache_dir: Optional[str] = None) -> TranslationUnit:
    if not files:
        raise bad_input("no input files")
    langs = {language_of(f) for f in files}
    if len(langs) > 1:
        raise bad_input("input files mix Fortran and C; differentiate them separately")
    lang = langs.pop()
    for f in files:
        if not os.path.isfile(f):
            raise bad_input("no such file", Span(f, 0, 0))
    from .frontend.parse_cache import ParseCache
    cache = ParseCache(cache_dir)
    if lang == "fortran":
        from .frontend.fortran import read_fortran
        return read_fortran(files, include_dirs, defines, default_real_kind, cache)
    from .frontend.c import read_c
    return read_c(files, include_dirs, defines, cache)


def resolve_heads(tu: TranslationUnit, spec: str):
    heads = parse_heads(spec, case_sensitive=tu.language == "c")
    g = callgraph.build(tu)
    _check_call_trees(tu, g, [h.name for h in heads])
    for h in heads:
        callgraph.check_head(g, h.name)
        _check_head_names(tu, h)
    return heads, g


def _check_call_trees(tu: TranslationUnit, g, heads: list[str]) -> None:
    """What the front end could not read stops the run only inside the
    call trees of the heads, and then every such error is reported: errors
    kept on routines (Fortran), and functions the C front end could not
    lower at all (tu.unread: their errors and the names they call).  Other
    tools' directives there (OpenMP) get a warning each."""
    import networkx as nx
    reach: list[str] = []
    todo = [n for h in heads for n in ([h] + (list(nx.descendants(g, h)) if h in g else []))]
    while todo:
        n = todo.pop(0)
        if n in reach:
            continue
        reach.append(n)
        if n in tu.unread:
            todo += tu.unread[n][1]
    errors = [e for r in tu.all_routines() if r.name in reach for e in r.errors]
    errors += [e for n in reach if n in tu.unread for e in tu.unread[n][0]]
    errors.sort(key=lambda e: (e.span.file, e.span.line, e.span.col) if e.span else ("", 0, 0))
    raise_all(errors)
    for r in tu.all_routines():
        if r.name in reach:
            for span, text in r.ignored_directives:
                warn(f"directive '{text}' is not in the derivative code, which runs serially",
                     span)


def _check_head_names(tu: TranslationUnit, h: Head) -> None:
    r = tu.routine(h.name)
    assert r is not None
    allowed = set(r.args) | ({r.result, "result"} if r.result else set())
    if r.result and h.dependents:
        h.dependents = [r.result if n == "result" else n for n in h.dependents]
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


def generate(opts: Options):
    """Differentiate in memory: (text of the derivative file, its IR)."""
    with _fewer_collections():
        return _generate(opts)


@contextmanager
def _fewer_collections():
    """The transform allocates millions of small IR nodes that live until
    the end of the run; with Python's default thresholds the cyclic
    collector keeps re-scanning them (8k lines of bench programs, warm
    cache: 20.2 s of CPU with the defaults, 16.2 s with these, peak memory
    127 -> 156 MB).  The caller's settings come back afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _generate(opts: Options):
    if opts.mode not in ("reverse", "tangent"):
        raise bad_input(f"--mode must be reverse or tangent, not '{opts.mode}'")
    if opts.default_mode not in (None, "joint", "split"):
        raise bad_input(f"--default-mode must be joint or split, not '{opts.default_mode}'")
    tu = read_sources(opts.files, opts.include_dirs, opts.defines, opts.default_real_kind,
                      opts.cache_dir)
    from .externals import install, read_externals
    install(tu, read_externals(opts.externals, opts.checkpoint_file))
    from . import deps
    for extra in [opts.checkpoint_file, *opts.externals]:
        deps.note(extra)          # prerequisites for -MD, after the sources as gcc lists them
    heads, g = resolve_heads(tu, opts.head)
    from .checkpoint.directives import check_directives
    check_directives(tu)
    for h in heads:
        if tu.routine(h.name).kind == "program":
            raise bad_input(f"head '{h.name}' is the main program; name the routine to differentiate")
    from .checkpoint.plan import resolve_plan
    from .transform.generate import differentiate_unit
    from .backend.fortran import emit_unit
    plan = resolve_plan(tu, [h.name for h in heads], opts.checkpoint_file,
                        opts.split, opts.joint, opts.default_mode)
    if opts.profile and opts.mode != "reverse":
        raise bad_input("--profile applies to reverse mode")
    if not opts.primal_outputs and opts.mode != "reverse":
        raise bad_input("--no-primal-outputs applies to reverse mode")
    out = differentiate_unit(tu, heads, opts.mode, plan, profile=opts.profile,
                             primal_outputs=opts.primal_outputs)
    from .transform.access import reach_private_entities
    from .transform.active_complex import refuse_active_complex
    refuse_active_complex(tu, out)
    reach_private_entities(tu, out)
    from .transform.interfaces import add_variant_interfaces
    from .transform.optional_args import guard_optional
    guard_optional(out, tu)
    add_variant_interfaces(out, tu)
    what = "adjoint" if opts.mode == "reverse" else "tangent"
    origin = f"{what} code generated by adtool from {', '.join(os.path.basename(f) for f in opts.files)}" \
             f" (head: {opts.head})"
    if tu.language == "c":
        from .backend.c_unit import emit_derivative_unit
        return f"/* {origin} */\n" + emit_derivative_unit(out, tu, opts.mode == "reverse"), out
    return f"! {origin}\n" + emit_unit(out, tu), out


def _check_output_target(opts: Options) -> None:
    """Refuse an output place we could not write to before doing the work,
    as bad input rather than an OSError at the final rename."""
    if opts.output and os.path.isdir(opts.output):
        raise bad_input(f"-o {opts.output}: is a directory (give a file name, or use "
                        f"--output-dir {opts.output})")
    if opts.output_dir and os.path.exists(opts.output_dir) and not os.path.isdir(opts.output_dir):
        raise bad_input(f"--output-dir {opts.output_dir}: exists and is not a directory")


def differentiate(opts: Options) -> str:
    from . import deps
    _check_output_target(opts)
    with deps.recording() as read:
        text, out = generate(opts)
    path = output_path(opts)
    from .output import write_atomic
    if opts.profile:
        import json
        from .check.profile import IDS, call_site_table
        doc = {"ids": IDS, "sites": call_site_table(out.profile_sites)}
        write_atomic(os.path.splitext(path)[0] + ".sites.json", json.dumps(doc, indent=1) + "\n")
    write_atomic(path, text)
    deps.write_depfile(path, read, opts.make_deps, opts.dep_file, opts.dep_targets, opts.dep_phony)
    return path
