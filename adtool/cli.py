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


def _mode_options(p: argparse.ArgumentParser) -> None:
    """How each call site's mode is chosen (differentiate, check, plan show)."""
    p.add_argument("--checkpoint-file", metavar="PLAN.toml")
    p.add_argument("--split", type=_names, action="append", default=[], metavar="NAMES",
                   help="split: routines (every call) or call sites caller/callee[#k], comma-separated")
    p.add_argument("--joint", type=_names, action="append", default=[], metavar="NAMES",
                   help="joint (checkpointed): routines or call sites caller/callee[#k]")
    p.add_argument("--default-mode", choices=["joint", "split"])


def _plan_options(p: argparse.ArgumentParser) -> None:
    """What differentiate and check share: the plan, externals, Make flags."""
    _mode_options(p)
    p.add_argument("--default-real-kind", type=int, choices=[4, 8], default=4,
                   help="byte size of a Fortran REAL written without a kind (8 for code "
                        "built with -fdefault-real-8; Tapenade's -r8)")
    p.add_argument("--externals", action="append", default=[], metavar="EXT.toml",
                   help="declarations of routines whose source is not given")
    p.add_argument("-MD", dest="make_deps", action="store_true",
                   help="write a Make dependency file next to the output (<output stem>.d)")
    p.add_argument("-MF", dest="dep_file", metavar="DEPFILE", help="name the dependency file")
    p.add_argument("-MT", dest="dep_targets", action="append", default=[], metavar="TARGET",
                   help="the target of the dependency rule (default: the output)")
    p.add_argument("-MP", dest="dep_phony", action="store_true",
                   help="add a phony target for each prerequisite")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR",
                       help="keep parse trees here by content hash, so a re-run re-parses only "
                            "changed files (default: $XDG_CACHE_HOME/adtool or ~/.cache/adtool)")
    cache.add_argument("--no-cache", action="store_true", help="parse every file, keep nothing")


def _diff_options(args, mode: str = "reverse", profile: bool = False):
    from . import pipeline
    from .frontend.parse_cache import default_cache_dir
    return pipeline.Options(
        files=args.files, head=args.head, mode=mode,
        checkpoint_file=args.checkpoint_file, split=sum(args.split, []),
        joint=sum(args.joint, []), default_mode=args.default_mode,
        output_dir=getattr(args, "output_dir", None), output=getattr(args, "output", None),
        include_dirs=args.include_dirs, defines=args.defines, profile=profile,
        externals=args.externals, make_deps=args.make_deps, dep_file=args.dep_file,
        dep_targets=args.dep_targets, dep_phony=args.dep_phony,
        default_real_kind=args.default_real_kind,
        cache_dir=None if args.no_cache else (args.cache_dir or default_cache_dir()),
        primal_outputs=not getattr(args, "no_primal_outputs", False))


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adtool", description="Source-to-source automatic differentiation "
                "of Fortran and C with user-controlled checkpointing.")
    p.add_argument("--version", action="version", version=f"adtool {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    d = sub.add_parser("differentiate", help="generate adjoint (f_b) or tangent (f_d) code")
    _common(d)
    d.add_argument("--mode", default="reverse", choices=["reverse", "tangent"])
    _plan_options(d)
    d.add_argument("--profile", action="store_true",
                   help="instrument call sites for the runtime's per-site profile "
                        "(compile the runtime with -DADSTACK_PROFILE); writes <output>.sites.json")
    d.add_argument("--no-primal-outputs", action="store_true",
                   help="the head's f_b computes only the gradient: its primal outputs (arguments, "
                        "module and COMMON variables it writes) are left unspecified; for callers "
                        "that run the primal separately")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--output-dir", metavar="DIR")
    out.add_argument("-o", dest="output", metavar="FILE")

    ck = sub.add_parser("check", help="check the head's adjoint inside your own program "
                        "(dot-product test, finite differences, reference adjoints)")
    _common(ck)
    _plan_options(ck)
    ck.add_argument("--with", dest="with_files", action="append", default=[], metavar="FILE",
                    help="compile and link FILE without differentiating it (libraries, "
                         "hand-written adjoints of externals)")
    ck.add_argument("--fc", default="gfortran", metavar="CMD", help="Fortran compiler (gfortran)")
    ck.add_argument("--cc", default="gcc", metavar="CMD", help="C compiler (gcc)")
    ck.add_argument("--flags", metavar='"..."', help="compiler flags (default -O2)")
    ck.add_argument("--rtol", type=float, default=1e-9, metavar="X",
                    help="tolerance of the reference comparison, relative to the largest entry")
    ck.add_argument("--dot-tol", type=float, default=None, metavar="X",
                    help="tolerance of the dot-product test (1e-10; 1e-5 for a head with float arguments)")
    ck.add_argument("--fd-tol", type=float, default=None, metavar="X",
                    help="tolerance of the finite-difference test (1e-5; 2e-3, with a step of 1e-3, for a head with float arguments)")
    ck.add_argument("--save-reference", metavar="REF.json")
    ck.add_argument("--reference", metavar="REF.json")
    ck.add_argument("--profile", metavar="PROFILE.json",
                    help="build with per-call-site profiling and write the profile here")
    ck.add_argument("--json", metavar="REPORT.json")
    ck.add_argument("--junit", metavar="REPORT.xml")
    ck.add_argument("--keep", action="store_true", help="keep the build directory")

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
    _mode_options(show)
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.add_argument("--dot", metavar="PATH",
                      help="also write the tree as Graphviz (split calls dashed)")
    opt = plsub.add_parser("optimize", help="the fastest plan whose predicted stack peak fits "
                           "a memory budget, from measured profiles")
    _common(opt)
    opt.add_argument("--profile-data", required=True, action="append", metavar="PROFILE.json",
                     help="profiled runs (repeatable): profiles of `adtool check --profile` "
                          "(one all-split, one all-joint run), or {\"runs\": [{\"sites\": "
                          "TABLE, \"profile\": PROF}, ...]} (see adtool/checkpoint/planner.py); "
                          "a run with a binomial loop ([loops], or $AD BINOMIAL-CKP) measures "
                          "only that loop, which is then offered binomial with the snapshot "
                          "count chosen (profile the other runs with [loops] \"routine:line\" "
                          "= \"plain\" for a directive's loop)")
    opt.add_argument("--memory", required=True, metavar="SIZE", help="like 64MB, 1.5GiB, 200000000")
    opt.add_argument("-o", "--output", metavar="PLAN.toml", help="write the chosen plan")
    par = plsub.add_parser("pareto", help="the predicted memory-time frontier")
    _common(par)
    par.add_argument("--profile-data", required=True, action="append", metavar="PROFILE.json")
    par.add_argument("--png", metavar="PATH", help="plot it (needs matplotlib: adtool[plot])")
    par.add_argument("--measured", metavar="RUNS.json",
                     help="[{\"peak_bytes\": N, \"time\": T}, ...] to overlay")
    return p


def _run(args) -> int:
    from . import pipeline
    if args.command == "differentiate":
        path = pipeline.differentiate(_diff_options(args, args.mode, args.profile))
        print(f"adtool: wrote {path}")
        return 0
    if args.command == "check":
        from .check.command import CheckOptions, run_check
        return run_check(CheckOptions(
            diff=_diff_options(args), with_files=args.with_files, fc=args.fc, cc=args.cc,
            flags=args.flags, rtol=args.rtol,
            dot_tol=args.dot_tol, fd_tol=args.fd_tol,
            save_reference=args.save_reference, reference=args.reference, profile=args.profile,
            json=args.json, junit=args.junit, keep=args.keep))
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
        if args.plan_command in ("optimize", "pareto"):
            from .checkpoint import planner
            if args.plan_command == "optimize":
                sys.stdout.write(planner.optimize(args.files, args.head, args.include_dirs,
                                                  args.defines, args.profile_data, args.memory,
                                                  args.output))
                return 0
            out, msg = planner.pareto(args.files, args.head, args.include_dirs, args.defines,
                                      args.profile_data, args.png, args.measured)
            sys.stdout.write(out)
            sys.stderr.write(msg)
            return 0
        if args.plan_command != "show":
            raise bad_input("usage: adtool plan show|optimize|pareto FILE... --head SPEC")
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
