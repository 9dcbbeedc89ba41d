"""One error type for everything the user can get wrong or we cannot do.

Exit codes follow interface.md: 1 = valid input using something we do not
support, 2 = bad usage or bad input.  Messages use the compiler convention
`file:line:col: error: text` so editors can jump to them.
"""
from __future__ import annotations

from typing import Optional

from .ir.nodes import Span

UNSUPPORTED = 1
BAD_INPUT = 2


class AdError(Exception):
    def __init__(self, message: str, span: Optional[Span] = None,
                 code: int = BAD_INPUT):
        super().__init__(message)
        self.message = message
        self.span = span
        self.code = code

    def __str__(self) -> str:
        if self.span is not None and self.span.line > 0:
            return f"{self.span.file}:{self.span.line}:{self.span.col}: error: {self.message}"
        if self.span is not None:
            return f"{self.span.file}: error: {self.message}"
        return f"adtool: error: {self.message}"


class AdErrors(AdError):
    """Several errors of one run, reported together like a compiler does
    (one line each, in source order, at most LIMIT); the exit code is the
    first one's."""
    LIMIT = 20

    def __init__(self, errors: list[AdError]):
        flat: list[AdError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, AdErrors) else [e])
        first = flat[0]
        super().__init__(first.message, first.span, first.code)
        self.errors = flat
        self.args = (flat,)         # so that copy and pickle rebuild it

    def __str__(self) -> str:
        lines = [AdError.__str__(e) for e in self.errors[:self.LIMIT]]
        if len(self.errors) > self.LIMIT:
            lines.append(f"adtool: error: {len(self.errors) - self.LIMIT} more errors not shown")
        return "\n".join(lines)


def gather(errors: list[AdError]) -> AdError:
    return errors[0] if len(errors) == 1 else AdErrors(errors)


def raise_all(errors: list[AdError]) -> None:
    if errors:
        raise gather(errors)


def warn(message: str, span: Optional[Span] = None) -> None:
    """A warning on stderr in the compiler convention; the run goes on."""
    import sys
    where = f"{span.file}:{span.line}:{span.col}: " if span is not None and span.line > 0 else "adtool: "
    sys.stderr.write(f"{where}warning: {message}\n")


def unsupported(construct: str, span: Optional[Span], detail: str = "") -> AdError:
    """Valid input that adtool cannot handle: the construct is named."""
    msg = f"unsupported construct: {construct}"
    if detail:
        msg += f" ({detail})"
    return AdError(msg, span, UNSUPPORTED)


def bad_input(message: str, span: Optional[Span] = None) -> AdError:
    return AdError(message, span, BAD_INPUT)
