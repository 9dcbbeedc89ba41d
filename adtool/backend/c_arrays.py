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
from ..ir.nodes import Assign, Bin, Call, Expr, Lit, Part, Ref, Symbol, INT4
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


def as_signed(address: str, t) -> str:
    """The stack runtime moves signed integers; an unsigned one of the same
    size is the same bytes (C allows the access), seen through a cast; so
    is a plain char, another type than the runtime's int8_t (signed char)."""
    if getattr(t, "unsigned", False) or (getattr(t, "char", None) == "char" and t.kind == 1):
        return f"({_SIGNED[t.kind]} *){address}"
    return address


_SIGNED = {1: "signed char", 2: "short", 4: "int", 8: "long"}


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
        if args[0].path:
            return member_record(name, args[0], ex, span)
        sym = ex.symbol(args[0].name)
        n = element_count(sym, args[0], ex)
        return f"{name}({as_signed(_base_address(sym, args[0], ex), sym.type)}, {n});"
    out = []
    outs = RUNTIME_OUT_ARGS.get(name, {0} if name.startswith("ad_pop") else set())
    for k, a in enumerate(args):
        if k in outs:
            if not isinstance(a, Ref):
                raise unsupported(f"'{name}' into an expression in C output", span)
            t = ex.type_of(a)
            out.append(as_signed(ex.actual(a, Symbol("target", t)), t))
        else:
            out.append(ex(a))
    return f"{name}({', '.join(out)});"


def member_record(name: str, ref: Ref, ex: CExpr, span) -> str:
    """Push or pop a member path as a whole: an array member of one struct
    (`ad_push_real8_array(&s.x[0], 3)`), or a member of every struct of an
    array of structs (`ps[:].m`, Fortran's strided `ps%m`), one element
    after the other -- popped in the reverse order of the pushes."""
    from .c import _extent
    pop = name.startswith("ad_pop")
    scalar = name[:-len("_array")]
    sym = ex.symbol(ref.name)
    _, comp = ex.component(ref)
    where = ".".join([ref.name] + [p.name for p in ref.path])
    if span is None or not span.line:
        span = ref.span if ref.span.line else (sym.span if sym is not None else None)
    if comp is None or comp.pointer or any(d.ub is None or d.assumed for d in comp.shape):
        raise unsupported("recording a member whose size C cannot know", span, where)
    leaf_n = " * ".join(f"({_extent(d, ex)})" for d in comp.shape)

    def one(r: Ref, e: CExpr) -> str:
        if comp.shape and r.path[-1].subs is None:
            first = Ref(r.name, r.subs, r.path[:-1] + [Part(r.path[-1].name, [Lit("0", INT4)] * comp.rank)])
            return f"{name}({as_signed(e.actual(first, Symbol('target', comp.type)), comp.type)}, {leaf_n});"
        if pop:
            return f"{scalar}({as_signed(e.actual(r, Symbol('target', comp.type)), comp.type)});"
        return f"{scalar}({e(r)});"
    if any(p.subs is None for p in ref.path[:-1]):
        raise unsupported("recording a member of an array member in C output", span, where)
    if ref.subs is not None or sym is None or not sym.shape:
        return one(ref, ex)
    if sym.rank != 1:
        raise unsupported("recording a member of a multi-dimensional array of structs in C output",
                          span, where)
    n = element_count(sym, Ref(ref.name), ex)
    k = "ad_rk"
    body = one(Ref(ref.name, [Ref(k)], ref.path, span=ref.span), _with_indices(ex, [k]))
    if pop:
        return f"for (int {k} = {n} - 1; {k} >= 0; {k}--) {body}"
    return f"for (int {k} = 0; {k} < {n}; {k}++) {body}"


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
