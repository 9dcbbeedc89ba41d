"""Buffer swaps between time steps: `tmp = a; a = b; b = tmp;`.

The IR has no pointers, and a local pointer may point into one array only
(c_alias.py).  Swapping which buffer two names denote is the same, seen
through the names, as swapping the buffers' contents, so the swap becomes
an element-by-element exchange of a and b, and a parity flag: where the
routine returns after an odd number of swaps, the contents are exchanged
back, which leaves the caller's memory as the pointer swaps would have.
Both arrays need a known extent (a heap array's length, a declared size or
`$AD EXTENT`).
"""
from __future__ import annotations

from typing import Optional

from pycparser import c_ast

from ..diagnostics import unsupported
from ..ir.nodes import (INT4, Assign, Bin, Dim, If, Lit, Loop, Ref, Return, Stmt, Symbol)
from ..ir.visit import child_blocks
from .c_types import span_of


def _ids(n) -> Optional[tuple[str, str]]:
    if isinstance(n, c_ast.Assignment) and n.op == "=" and isinstance(n.lvalue, c_ast.ID) \
            and isinstance(n.rvalue, c_ast.ID):
        return n.lvalue.name, n.rvalue.name
    if isinstance(n, c_ast.Decl) and isinstance(n.type, c_ast.PtrDecl) and isinstance(n.init, c_ast.ID):
        return n.name, n.init.name
    return None


def swap_at(items: list, k: int) -> Optional[tuple[str, str, str]]:
    """(tmp, a, b) if items[k:k+3] is `tmp = a; a = b; b = tmp;`."""
    if k + 2 >= len(items):
        return None
    p = [_ids(items[k + j]) for j in range(3)]
    if None in p:
        return None
    (t, a), (a2, b), (b2, t2) = p
    if a2 == a and b2 == b and t2 == t and len({t, a, b}) == 3 and not isinstance(items[k + 1], c_ast.Decl) \
            and not isinstance(items[k + 2], c_ast.Decl):
        return t, a, b
    return None


class SwapLowering:
    """Mixed into the function lowering."""

    def swap(self, a_name: str, b_name: str, span) -> list[Stmt]:
        a, b = self.resolve(a_name, span), self.resolve(b_name, span)
        for s in (a, b):
            if s.rank != 1 or (s.storage != "arg" and not s.allocatable):
                raise unsupported("pointer swap", span, f"'{s.name}' is not a one-dimensional array "
                                  "argument or malloc'd array")
            if s.shape[0].ub is None:
                raise unsupported("pointer swap of an array whose extent adtool does not know", span,
                                  f"state it: // $AD EXTENT {s.name} <count>")
        if a.type != b.type:
            raise unsupported("pointer swap of arrays of different types", span)
        k = self.hidden_local("ad_swap_k", INT4, span)
        t = self.hidden_local("ad_swap_v", a.type, span)
        body = [Assign(Ref(t.name, span=span), Ref(a.name, [Ref(k.name)], span=span), span=span),
                Assign(Ref(a.name, [Ref(k.name)], span=span), Ref(b.name, [Ref(k.name)], span=span), span=span),
                Assign(Ref(b.name, [Ref(k.name)], span=span), Ref(t.name, span=span), span=span)]
        loop = Loop(k.name, Lit("0", INT4), a.shape[0].ub, body=body, span=span)
        if self.swap_parity is None:
            self.swap_parity = self.hidden_local("ad_swapped", INT4, span)
        par = self.swap_parity.name
        self.swaps.append((loop, a.name, b.name))
        flip = Assign(Ref(par, span=span), Bin("-", Lit("1", INT4), Ref(par, span=span), span=span), span=span)
        return [loop, flip]

    def undo_swaps(self, body: list[Stmt]) -> list[Stmt]:
        """Parity 0 at entry; before every return (and at the end) swap
        back what an odd number of swaps left exchanged."""
        if self.swap_parity is None:
            return body
        import copy
        par = self.swap_parity.name
        # one exchange per distinct pair of arrays
        seen, loops = set(), []
        for (loop, a, b) in self.swaps:
            key = frozenset((a, b))
            if key not in seen:
                seen.add(key)
                loops.append(copy.deepcopy(loop))
        if len(loops) > 1:
            raise unsupported("pointer swaps of more than one pair of arrays", self.swaps[1][0].span)

        def back() -> If:
            return If([(Bin("==", Ref(par), Lit("1", INT4)), copy.deepcopy(loops))])

        def fix(stmts: list[Stmt]) -> list[Stmt]:
            out: list[Stmt] = []
            for s in stmts:
                for blk in child_blocks(s):
                    blk[:] = fix(blk)
                if isinstance(s, Return):
                    out.append(back())
                out.append(s)
            return out
        body = fix(body)
        if not (body and isinstance(body[-1], Return)):
            body.append(back())
        return [Assign(Ref(par), Lit("0", INT4))] + body
