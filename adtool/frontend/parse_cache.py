"""Parse trees kept on disk by content hash, so that re-differentiating
after editing one file of many re-parses only that file.

Parsing is about half of a run on large sources (fparser2 is slow), and
it is the one stage that is per file: everything after it looks across
files.  The key is a hash of what the parser saw (the preprocessed text, so
a changed include file or -D is a different key), the form, the -I/-D
options, for C the file's path (pycparser trees record it; fparser trees
do not, so a Fortran file named by another path still hits) and the
versions of adtool, the parser and Python.  An entry is written to a temporary file in the same
directory and then renamed into place (os.replace is atomic), so two runs
sharing a cache see either no entry or a whole one; an entry that cannot be
read (truncated by a full disk, another pickle format) is parsed again and
rewritten.  Entries are pickles: the cache directory must be writable only
by its user (the default one is).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tempfile
from typing import Callable, Optional

from .. import __version__

_RECURSION = 20000       # parse trees of long expressions nest deeply (C stack stays safe)
_FORMAT = "1"            # bump when what a front end asks the parser for changes


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/adtool, else ~/.cache/adtool."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "adtool")


def _parser_version(language: str) -> str:
    try:
        if language == "fortran":
            import fparser
            return getattr(fparser, "__version__", "?")
        import pycparser
        return pycparser.__version__
    except Exception:  # pragma: no cover - version unknown: still a valid key part
        return "?"


def cache_key(language: str, path: str, text: str, options: tuple) -> str:
    h = hashlib.sha256()
    where = path if language == "c" else ""
    for part in (_FORMAT, language, __version__, _parser_version(language), sys.version, where,
                 repr(options), text):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _deep(fn, *args):
    """Pickling recurses once per tree level (and a few times per node):
    allow deeper trees than Python's default 1000 frames, but only around
    pickle, not around the parser."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _RECURSION))
    try:
        return fn(*args)
    finally:
        sys.setrecursionlimit(old)


PARALLEL_LINES = 100     # below, forking a worker costs more than it saves


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # pragma: no cover - not Linux
        return os.cpu_count() or 1


_JOBS: list = []         # the parse functions, inherited by the forked workers


def _work(k: int) -> Optional[bytes]:
    try:
        tree = _JOBS[k]()
        buf = io.BytesIO()
        _deep(_Pickler(buf, _LANGUAGE[0]).dump, tree)
        return buf.getvalue()
    except BaseException:           # the parent parses it again and reports
        return None


_LANGUAGE = ["fortran"]


def parse_in_parallel(language: str, files: list[tuple[str, Callable[[], object]]]) -> dict:
    """Trees by index of (text, parse) pairs, of the files worker processes
    parsed: when at least two files of PARALLEL_LINES lines or more are to
    be parsed and the process may use more than one core, those files are
    parsed by forked workers (they inherit the parse functions and the
    parser already built).  The caller parses the others, and any whose
    parse failed in a worker, itself."""
    big = [k for k, (text, _) in enumerate(files) if text.count("\n") >= PARALLEL_LINES]
    cores = _cores()
    if len(big) < 2 or cores < 2:
        return {}
    import multiprocessing
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:              # pragma: no cover - no fork on this platform
        return {}
    _JOBS[:] = [parse for _, parse in files]
    _LANGUAGE[0] = language
    order = sorted(big, key=lambda k: -len(files[k][0]))     # longest first: balanced
    got: dict = {}
    try:
        with ctx.Pool(min(cores, len(big))) as pool:
            for k, data in zip(order, pool.imap(_work, order)):
                if data is not None:
                    got[k] = _deep(pickle.loads, data)
    finally:
        _JOBS.clear()
    return got


def _blank(cls):
    return object.__new__(cls)


class _Pickler(pickle.Pickler):
    """fparser2 nodes pickle by re-parsing their text (their
    __getnewargs__): store their attributes instead."""

    def __init__(self, fh, language: str):
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.base = None
        if language == "fortran":
            from fparser.two.utils import Base
            self.base = Base

    def reducer_override(self, obj):
        if self.base is not None and isinstance(obj, self.base):
            return (_blank, (type(obj),), obj.__dict__)
        return NotImplemented


class ParseCache:
    """cache_dir None: no cache (every file parsed)."""

    def __init__(self, cache_dir: Optional[str]):
        self.dir = cache_dir
        self.hits = 0
        self.misses = 0

    def parse(self, language: str, path: str, text: str, options: tuple, parse: Callable[[], object]):
        return self.parse_all(language, [(path, text, options, parse)])[0]

    def parse_all(self, language: str, files: list[tuple[str, str, tuple, Callable[[], object]]]):
        """The trees of files (path, text, options, parse), in order.  Those
        the cache does not hold are parsed by worker processes when there
        are several large ones and more than one core (parse_in_parallel):
        files parse independently, and fparser2 parses about a thousand
        lines a second.  A file that fails is parsed again here, so its
        error is raised as if parsed alone, the first failing file's first."""
        trees: list = [None] * len(files)
        entries: list = [None] * len(files)
        todo = []
        for k, (path, text, options, _) in enumerate(files):
            if self.dir:
                key = cache_key(language, path, text, options)
                entries[k] = os.path.join(self.dir, language, key[:2], key + ".pickle")
                trees[k] = _deep(self._load, entries[k])
            if trees[k] is None:
                todo.append(k)
            else:
                self.hits += 1
        self.misses += len(todo)
        done = parse_in_parallel(language, [(files[k][1], files[k][3]) for k in todo])
        for j, k in enumerate(todo):
            # what no worker parsed (small, or failed there): parse here,
            # raising the first failing file's error first
            trees[k] = done[j] if j in done else files[k][3]()
            if entries[k] is not None:
                _deep(self._store, entries[k], trees[k], language)
        return trees

    @staticmethod
    def _load(entry: str):
        try:
            with open(entry, "rb") as fh:
                return pickle.load(fh)
        except FileNotFoundError:
            return None
        except Exception:           # unreadable entry: parse again, rewrite it
            return None

    @staticmethod
    def _store(entry: str, tree, language: str) -> None:
        """Best effort: a cache that cannot be written only costs time."""
        try:
            buf = io.BytesIO()
            _Pickler(buf, language).dump(tree)
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(entry), suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(buf.getvalue())
                os.replace(tmp, entry)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except (OSError, RecursionError, pickle.PicklingError):
            pass
