"""The two things the transform emits that C has no syntax for: calls of the
stack runtime (whose Fortran spelling passes arrays and sizes by
descriptor) and whole-array assignments (`xb = 0`, `ab = ab + tmp`).

Both are lowered here from the array's declared shape; an array whose
extent C cannot know (a pointer argument) is refused loudly rather than
guessed.
"""
from __future__ import annotations

from ..ir.clone import clone
from typing import Optional

from ..diagnostics import unsupported
from ..ir.intrinsics import lookup
from ..ir.nodes import Assign, Bin, Call, Expr, Ref, Symbol, INT4
from ..ir.visit import map_expr
from .c_expr import CExpr, is_zero_lb

IND = "    "


def element_count(sym: Optional[Symbol], ref: Ref, ex: CExpr) -> str:
    """Number of elements of a whole array, as C text."""
    from .c import _extent
    sec = _section(sym, ref)
    if sec is not None:
        from ..ir.nodes import INT4, Bin, Lit
        from ..transform.association import _minus
        hi = sec.hi
        if isinstance(hi, Bin) and hi.op == "+" and hi.left == sec.lo:
            n = hi.right                       # lo + (count - 1), as association.py makes it
        else:
            n = _minus(hi, sec.lo)
        if isinstance(n, Lit):
            return str(int(n.text) + 1)
        return ex(Bin("+", n, Lit("1", INT4)))
    if sym is None or ref.subs is not None or not sym.shape:
        raise unsupported("recording part of an array in C output", ref.span, ref.name)
    parts = []
    for d in sym.shape:
        if d.ub is None or d.assumed:
            raise unsupported("recording an array whose size C cannot know "
                              "(a pointer argument; declare it as an array with its size)",
                              sym.span, sym.name)
        parts.append(_extent(d, ex))
    return " * ".join(p if p.replace("_", "").isalnum() else f"({p})" for p in parts)


def _section(sym: Optional[Symbol], ref: Ref):
    """The lo:hi section of a one-dimensional array (contiguous), if ref is one."""
    from ..ir.nodes import Section
    if sym is not None and sym.rank == 1 and ref.subs is not None and len(ref.subs) == 1 \
            and isinstance(ref.subs[0], Section) and ref.subs[0].step is None \
            and ref.subs[0].lo is not None and ref.subs[0].hi is not None:
        return ref.subs[0]
    return None


def _base_address(sym: Optional[Symbol], ref: Ref, ex: Optional[CExpr] = None) -> str:
    sec = _section(sym, ref)
    if sec is not None and ex is not None:
        return f"&{ref.name}[{ex(sec.lo)}]"
    if sym is not None and sym.rank > 1:
        return f"&{ref.name}" + "[0]" * sym.rank
    return ref.name


# Runtime routines that answer through arguments: their positions.
RUNTIME_OUT_ARGS = {"ad_binomial_begin": {3}, "ad_binomial_next": {1, 2}}


def runtime_call(name: str, args: list[Expr], ex: CExpr, span) -> str:
    """ad_push_real8(x), ad_pop_real8(&x), ad_push_real8_array(a, n),
    ad_pop_control(&b, 1)...: pops take the address of their target."""
    if name in ("ad_push", "ad_pop"):
        name += "_logical"
    if name.endswith("_array"):
        if not args or not isinstance(args[0], Ref):
            raise unsupported(f"'{name}' of an expression in C output", span)
        sym = ex.symbol(args[0].name)
        n = element_count(sym, args[0], ex)
        return f"{name}({_base_address(sym, args[0], ex)}, {n});"
    out = []
    outs = RUNTIME_OUT_ARGS.get(name, {0} if name.startswith("ad_pop") else set())
    for k, a in enumerate(args):
        if k in outs:
            if not isinstance(a, Ref):
                raise unsupported(f"'{name}' into an expression in C output", span)
            out.append(ex.actual(a, Symbol("target", ex.type_of(a))))
        else:
            out.append(ex(a))
    return f"{name}({', '.join(out)});"


def array_assign(s: Assign, sym: Symbol, ex: CExpr, level: int) -> list[str]:
    """`a = expr` over a whole array: nested loops in C's row-major order,
    every whole array of the same rank in expr indexed alike."""
    rank = sym.rank
    idx = [f"ad_i{k}" for k in range(rank)]
    for d in sym.shape:
        if d.ub is None or d.assumed:
            raise unsupported("whole-array assignment to an array whose size C cannot know",
                              s.span, sym.name)
    from .c import _extent
    extents = [_extent(d, ex) for d in sym.shape]

    def subs(target: Symbol) -> list[Expr]:
        out = []
        for k, d in enumerate(target.shape):
            i = Ref(idx[k])
            out.append(i if is_zero_lb(d.lb) else Bin("+", clone(d.lb), i))
        return out

    def index(e: Expr):
        if isinstance(e, Ref) and e.subs is None:
            t = ex.symbol(e.name)
            if t is not None and t.shape:
                if t.rank != rank:
                    raise unsupported("whole-array expression of mismatched rank in C output", s.span)
                return Ref(e.name, subs(t), e.path, span=e.span)
        if isinstance(e, Call) and e.intrinsic:
            info = lookup(e.name)
            if info is not None and not info.elemental:
                raise unsupported(f"array intrinsic '{e.name}' in C output", s.span)
        return None

    lhs = Ref(s.lhs.name, subs(sym), span=s.lhs.span)
    rhs = map_expr(s.rhs, index)
    loop_ex = _with_indices(ex, idx)
    pad = IND * level
    lines = []
    # C order: the IR's last dimension is C's first, so it is the outer loop.
    for depth, k in enumerate(reversed(range(rank))):
        lines.append(f"{pad}{IND * depth}for (int {idx[k]} = 0; {idx[k]} < {extents[k]}; {idx[k]}++)")
    lines.append(f"{pad}{IND * rank}{loop_ex(lhs)} = {loop_ex(rhs)};")
    return lines


def _with_indices(ex: CExpr, idx: list[str]) -> CExpr:
    def symbol(n: str):
        if n in idx:
            return Symbol(n, INT4)
        return ex.symbol(n)
    return CExpr(symbol, ex.routine, ex.types)
