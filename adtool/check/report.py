"""`adtool check --json/--junit`: the same checks, for machines (CI)."""
from __future__ import annotations

import json
import math
from xml.sax.saxutils import escape, quoteattr

from .. import __version__
from ..output import write_atomic


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def write_json(path: str, outcome, opts) -> None:
    doc = {"adtool_version": __version__, "head": opts.diff.head, "routine": outcome.head,
           "files": opts.diff.files, "passed": outcome.passed,
           "checks": [dict(name=c.name, passed=c.passed, summary=c.summary, values=_clean(c.values),
                           details=c.details) for c in outcome.checks]}
    write_atomic(path, json.dumps(doc, indent=1) + "\n")


def write_junit(path: str, outcome) -> None:
    fails = sum(1 for c in outcome.checks if not c.passed)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites><testsuite name={quoteattr("adtool check " + outcome.head)} '
             f'tests="{len(outcome.checks)}" failures="{fails}" errors="0">']
    for c in outcome.checks:
        head = f'  <testcase classname={quoteattr("adtool." + outcome.head)} name={quoteattr(c.name)}'
        if c.passed:
            lines.append(head + f'><system-out>{escape(c.summary)}</system-out></testcase>')
        else:
            body = escape("\n".join([c.summary, *c.details]))
            lines.append(head + f'><failure message={quoteattr(c.summary)}>{body}</failure></testcase>')
    lines.append("</testsuite></testsuites>")
    write_atomic(path, "\n".join(lines) + "\n")
