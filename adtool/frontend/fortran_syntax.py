"""Say what was expected where fparser only says which line it could not
match ("at line 7").  A few line-level checks cover the mistakes people
make by hand (unbalanced parentheses, unterminated strings, an IF without
THEN or statement, a DO without its bounds); anything else names the
statement that no Fortran statement form matches."""
from __future__ import annotations

import re


def _code(line: str) -> str:
    """The line without a trailing comment (outside strings)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "!":
            return line[:i]
    return line


def explain(lines: list[str], k: int) -> tuple[int, int, str]:
    """(0-based line, 1-based column, what is wrong) for the statement on
    line k (0-based) of lines, which may be any line of a free-form
    statement continued with a trailing &: the whole statement is read,
    from its first line, and a column past that line is reported as 1."""
    while k > 0 and _code(lines[k - 1]).rstrip().endswith("&"):
        k -= 1
    start = k
    code = _code(lines[k]).rstrip()
    width = len(code)
    while code.endswith("&") and k + 1 < len(lines):
        k += 1
        code = code[:-1] + " " + _code(lines[k]).strip().lstrip("&")
    col, what = _explain(code)
    return start, (col if col <= width + 1 else 1), what


def _explain(code: str) -> tuple[int, str]:
    first = len(code) - len(code.lstrip()) + 1
    depth: list[int] = []
    quote = None
    qcol = 0
    for i, ch in enumerate(code, start=1):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote, qcol = ch, i
        elif ch == "(":
            depth.append(i)
        elif ch == ")":
            if not depth:
                return i, "')' has no matching '('"
            depth.pop()
    if quote:
        return qcol, f"character string opened here is never closed (expected {quote})"
    if depth:
        return depth[-1], "'(' opened here is never closed (expected ')' before the end of the statement)"
    low = code.strip().lower()
    if re.match(r"end\b", low):
        return first, (f"unexpected '{code.strip()}': expected the end of a block opened "
                       "before it (an IF, DO, SELECT CASE or WHERE is not closed)")
    if re.match(r"(\w+\s*:\s*)?if\s*\(.*\)\s*$", low):
        return len(code) + 1, "expected THEN or a statement after IF (...)"
    m = re.match(r"(\w+\s*:\s*)?do\s+(\d+\s*,?\s*)?\w+\s*=\s*([^,]*)$", low)
    if m:
        return len(code) + 1, "expected ', upper bound' in the DO statement"
    stmt = code.strip()
    return first, f"no Fortran statement form matches '{stmt[:60]}{'...' if len(stmt) > 60 else ''}'"
