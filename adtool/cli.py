"""Command-line parsing only; the work happens in pipeline.py."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from . import __version__
from .diagnostics import AdError, bad_input


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with our message style
        self.print_usage(sys.stderr)
        sys.stderr.write(f"adtool: error: {message}\n")
        raise SystemExit(2)


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.replace(" ", ",").split(",") if n.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--head", required=True, metavar="SPEC",
                   help="head routine(s): f or 'f(dep ...)/(indep ...)'")
    p.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VAL]")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adtool", description="Source-to-source automatic differentiation "
                "of Fortran and C with user-controlled checkpointing.")
    p.add_argument("--version", action="version", version=f"adtool {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    d = sub.add_parser("differentiate", help="generate adjoint (f_b) or tangent (f_d) code")
    _common(d)
    d.add_argument("--mode", default="reverse", choices=["reverse", "tangent"])
    d.add_argument("--checkpoint-file", metavar="PLAN.toml")
    d.add_argument("--split", type=_names, action="append", default=[], metavar="NAMES",
                   help="split: routines (every call) or call sites caller/callee[#k], comma-separated")
    d.add_argument("--joint", type=_names, action="append", default=[], metavar="NAMES",
                   help="joint (checkpointed): routines or call sites caller/callee[#k]")
    d.add_argument("--default-mode", choices=["joint", "split"])
    d.add_argument("--default-real-kind", type=int, choices=[4, 8], default=4,
                   help="byte size of a Fortran REAL written without a kind (8 for code "
                        "built with -fdefault-real-8; Tapenade's -r8)")
    d.add_argument("--profile", action="store_true",
                   help="instrument call sites for the runtime's per-site profile "
                        "(compile the runtime with -DADSTACK_PROFILE); writes <output>.sites.json")
    d.add_argument("--no-primal-outputs", action="store_true",
                   help="the head's f_b computes only the gradient: its primal outputs (arguments, "
                        "module and COMMON variables it writes) are left unspecified; for callers "
                        "that run the primal separately")
    cache = d.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR",
                       help="keep parse trees here by content hash, so a re-run re-parses only "
                            "changed files (default: $XDG_CACHE_HOME/adtool or ~/.cache/adtool)")
    cache.add_argument("--no-cache", action="store_true", help="parse every file, keep nothing")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--output-dir", metavar="DIR")
    out.add_argument("-o", dest="output", metavar="FILE")

    r = sub.add_parser("runtime", help="copy the runtime library sources into DIR")
    r.add_argument("dir", metavar="DIR")
    r.add_argument("--debug", action="store_true")

    c = sub.add_parser("callgraph", help="print the call tree from the head")
    _common(c)
    c.add_argument("--dot", metavar="PATH", help="also write the tree as Graphviz")

    pl = sub.add_parser("plan", help="checkpoint plans")
    plsub = pl.add_subparsers(dest="plan_command", parser_class=_Parser)
    show = plsub.add_parser("show", help="the call tree with each call site's mode and why")
    _common(show)
    show.add_argument("--checkpoint-file", metavar="PLAN.toml")
    show.add_argument("--split", type=_names, action="append", default=[], metavar="NAMES",
                      help="routines or call sites (caller/callee[#k]) to split")
    show.add_argument("--joint", type=_names, action="append", default=[], metavar="NAMES",
                      help="routines or call sites (caller/callee[#k]) to checkpoint")
    show.add_argument("--default-mode", choices=["joint", "split"])
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.add_argument("--dot", metavar="PATH",
                      help="also write the tree as Graphviz (split calls dashed)")
    return p


def _run(args) -> int:
    from . import pipeline
    from .frontend.parse_cache import default_cache_dir
    if args.command == "differentiate":
        opts = pipeline.Options(
            files=args.files, head=args.head, mode=args.mode,
            checkpoint_file=args.checkpoint_file, split=sum(args.split, []),
            joint=sum(args.joint, []), default_mode=args.default_mode,
            output_dir=args.output_dir, output=args.output,
            include_dirs=args.include_dirs, defines=args.defines, profile=args.profile,
            default_real_kind=args.default_real_kind,
            cache_dir=None if args.no_cache else (args.cache_dir or default_cache_dir()),
            primal_outputs=not args.no_primal_outputs)
        path = pipeline.differentiate(opts)
        print(f"adtool: wrote {path}")
        return 0
    if args.command == "runtime":
        from .runtime_files import install_runtime
        for f in install_runtime(args.dir):
            print(f"adtool: wrote {f}")
        return 0
    if args.command == "callgraph":
        from . import callgraph
        tu = pipeline.read_sources(args.files, args.include_dirs, args.defines)
        heads, g = pipeline.resolve_heads(tu, args.head)
        for h in heads:
            print("\n".join(callgraph.tree_lines(g, h.name)))
            if args.dot:
                callgraph.write_dot(g, h.name, args.dot)
        return 0
    if args.command == "plan":
        if args.plan_command != "show":
            raise bad_input("usage: adtool plan show FILE... --head SPEC")
        from .checkpoint.show import show
        sys.stdout.write(show(args.files, args.head, args.include_dirs, args.defines,
                              args.checkpoint_file, sum(args.split, []), sum(args.joint, []),
                              args.default_mode, args.format, args.dot))
        return 0
    raise bad_input("no command given; see adtool --help")


def main(argv: Optional[list[str]] = None) -> int:
    parser = make_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("ADTOOL_DEBUG") == "1"
    try:
        return _run(args)
    except AdError as exc:
        if debug:
            raise
        sys.stderr.write(str(exc) + "\n")
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: say so without a traceback
        if debug:
            raise
        sys.stderr.write(f"adtool: internal error: {type(exc).__name__}: {exc} "
                         "(run again with --debug for a traceback, and please report it)\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
