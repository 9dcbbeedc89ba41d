"""Record types (Fortran derived types, C structs): what a component path
reaches, which components carry derivatives, and the derivative type.

Types live in one namespace per program (TranslationUnit.types).  Every
stage that meets a record asks the same questions with only a Type or a Ref
in hand, so the namespace of the program being processed is bound here once
by whoever owns the TranslationUnit (front end, Scopes, the transform),
instead of threading it through every type query.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional

from .clone import clone
from .nodes import Dim, Part, Ref, Symbol, Type, TypeDef  # noqa: F401  (Type re-exported)

_types: dict[str, TypeDef] = {}

DIFF_SUFFIX = "_diff"


def bind(types: dict[str, TypeDef]) -> None:
    """Make `types` the namespace every query below looks in."""
    global _types
    _types = types


def bound() -> dict[str, TypeDef]:
    return _types


def typedef(t: Type) -> Optional[TypeDef]:
    if t.base != "derived":
        return None
    return _types.get(t.name)


def component(t: Type, name: str) -> Optional[Symbol]:
    td = typedef(t)
    return td.components.get(name) if td is not None else None


def differentiable(t: Type, _seen: frozenset = frozenset()) -> bool:
    """Can a value of this type carry a derivative?  Reals and complexes;
    a record when one of its components can."""
    if t.base in ("real", "complex"):
        return True
    td = typedef(t)
    if td is None or t.name in _seen:
        return False
    return any(differentiable(c.type, _seen | {t.name}) for c in td.components.values())


def ref_symbol(ref: Ref, lookup: Callable[[str], Optional[Symbol]]) -> Optional[Symbol]:
    """The Symbol the reference ends on: the variable, or the last component
    of its path."""
    sym = lookup(ref.name)
    for part in ref.path or []:
        if sym is None:
            return None
        sym = component(sym.type, part.name)
    return sym


def ref_rank(ref: Ref, lookup: Callable[[str], Optional[Symbol]]) -> int:
    """Rank of a reference with a path: the one part that is an array (whole
    or section) gives it; Fortran allows at most one such part."""
    sym = lookup(ref.name)
    if sym is None:
        return 0
    rank = _part_rank(sym, ref.subs, lookup)
    for part in ref.path or []:
        sym = component(sym.type, part.name)
        if sym is None:
            return rank
        rank += _part_rank(sym, part.subs, lookup)
    return rank


def _part_rank(sym: Symbol, subs, lookup=None) -> int:
    """A section, or a vector subscript (an integer array: `s%a(idx)`),
    gives one dimension."""
    from .nodes import Section
    if subs is None:
        return sym.rank
    return sum(1 for s in subs if isinstance(s, Section) or _vector(s, lookup))


def _vector(s, lookup) -> bool:
    """Is the subscript s an integer array (idx, idx(1:3), t%idx)?"""
    if lookup is None or not isinstance(s, Ref):
        return False
    return ref_rank(s, lookup) > 0


def leaves(t: Type, real_only: bool) -> Iterator[tuple[list[Part], Symbol]]:
    """Every non-record component reachable from a record of type t, as a
    path of whole components and its Symbol (real_only: just those that
    carry derivatives).  Depth first, in declaration order."""
    td = typedef(t)
    if td is None:
        return
    for name, c in td.components.items():
        if c.type.base == "derived":
            if real_only and not differentiable(c.type):
                continue
            if c.shape:
                # an array of records inside a record: handled whole by callers
                yield [Part(name)], c
                continue
            for sub, leaf in leaves(c.type, real_only):
                yield [Part(name)] + sub, leaf
        elif not real_only or c.type.base in ("real", "complex"):
            yield [Part(name)], c


def diff_type(t: Type) -> Type:
    """The derivative type of a record type (T -> T_diff, created on first
    use next to T in the bound namespace, its `primal` attribute naming T);
    other types are their own."""
    if t.base != "derived":
        return t
    name = t.name + DIFF_SUFFIX
    if name not in _types:
        td = _types[t.name]
        comps: dict[str, Symbol] = {}
        for cname, c in td.components.items():
            if not differentiable(c.type):
                continue
            d = clone(c)
            d.type = diff_type(c.type)
            d.init = None if c.allocatable else zero_value(c.type)
            d.private = False
            comps[cname] = d
        _types[name] = TypeDef(name, comps, module=td.module, span=td.span)
        _types[name].primal = t.name          # type: ignore[attr-defined]
    return Type("derived", name=name)


def is_diff_type(td: TypeDef) -> bool:
    return getattr(td, "primal", None) is not None



def with_path(ref: Ref, more: list[Part]) -> Ref:
    """ref extended by more component steps (a new node)."""
    return Ref(ref.name, clone(ref.subs), (clone(ref.path) or []) + clone(more), span=ref.span)


def expand_assignment(lhs: Ref, rhs, lookup: Callable[[str], Optional[Symbol]], span,
                      fresh_index: Optional[Callable[[], str]] = None) -> Optional[list]:
    """A whole-record assignment `s = t` or `s = T(v1, v2)` as one assignment
    per component (records nest: `s%in%x = t%in%x`), so that every later
    stage sees only assignments of intrinsic types.  Whole arrays of
    records whose components are arrays or records go element by element
    in a loop (fresh_index names its counter).  None when lhs is not a
    record."""
    from .nodes import Assign, Call, Loop, Lit, INT4
    from ..diagnostics import unsupported
    sym = ref_symbol(lhs, lookup)
    if sym is None or sym.type.base != "derived":
        return None
    td = typedef(sym.type)
    ctor = isinstance(rhs, Call) and getattr(rhs, "constructor", False)
    if isinstance(rhs, Call) and not ctor and not rhs.intrinsic:
        return None          # a function returning a record: assigned whole
    if not ctor and not isinstance(rhs, Ref):
        raise unsupported("record assignment from an expression that is not a variable or "
                          "a structure constructor", span)
    many = ref_rank(lhs, lookup) > 0 or (not ctor and ref_rank(rhs, lookup) > 0)
    nested = any(c.shape or c.type.base == "derived" for c in td.components.values())
    if many and nested:
        whole = [x for x in (lhs, rhs) if isinstance(x, Ref)]
        if fresh_index is None or any(x.subs is not None or x.path or ref_rank(x, lookup) != 1
                                      or _lower(lookup(x.name)) != _lower(lookup(lhs.name))
                                      for x in whole):
            raise unsupported("whole assignment of arrays of records with array or record "
                              "components (other than whole one-dimensional arrays)", span)
        k = fresh_index()
        el_l = Ref(lhs.name, [Ref(k, span=span)], span=span)
        el_r = Ref(rhs.name, [Ref(k, span=span)], span=span) if isinstance(rhs, Ref) else rhs
        body = expand_assignment(el_l, el_r, lookup, span, fresh_index)
        return [Loop(k, Call("lbound", [Ref(lhs.name), Lit("1", INT4)], intrinsic=True),
                     Call("ubound", [Ref(lhs.name), Lit("1", INT4)], intrinsic=True),
                     None, body, span=span)]
    out: list = []
    for k, (cname, c) in enumerate(td.components.items()):
        l = with_path(lhs, [Part(cname)])
        r = rhs.args[k] if ctor else with_path(rhs, [Part(cname)])
        if c.type.base == "derived" and not c.shape:
            out.extend(expand_assignment(l, r, lookup, span, fresh_index))
        elif c.type.base == "derived":
            raise unsupported("assignment of an array of records inside a record", span, cname)
        else:
            out.append(Assign(l, r, span=span))
    return out


def _lower(sym: Optional[Symbol]):
    """Lower bound of a rank-1 array as written (None: 1)."""
    if sym is None or not sym.shape:
        return None
    lb = sym.shape[0].lb
    from .nodes import Lit
    if lb is None or (isinstance(lb, Lit) and lb.text == "1"):
        return "1"
    return repr(lb)


def constructors_in(e) -> bool:
    from .nodes import Call
    from .visit import walk_expr
    return any(isinstance(x, Call) and getattr(x, "constructor", False) for x in walk_expr(e))


def zero_value(t: Type):
    """The zero of a derivative of primal type t: a real literal, or for a
    record the derivative type's constructor with every component left to
    its default (zero) initialisation."""
    from .build import real
    from .nodes import Call
    if t.base == "derived":
        return Call(diff_type(t).name, [], intrinsic=False)
    return real(0, t.kind if t.base == "real" else 8)


def has_allocatable(t: Type, _seen: frozenset = frozenset()) -> bool:
    """Does a record of type t hold an allocatable component that carries
    derivatives (at any depth)?  Its derivative cannot be zeroed by the
    constructor: that would deallocate the component."""
    td = typedef(t)
    if td is None or t.name in _seen:
        return False
    return any((c.allocatable and differentiable(c.type))
               or has_allocatable(c.type, _seen | {t.name}) for c in td.components.values())


def zero_statement(target: Ref, t: Type, rank: int = 0):
    """target = 0 for a derivative of primal type t.  A record whose
    derivative has allocatable components is zeroed component by component,
    each allocatable one only where it is allocated (kept allocated); an
    array of them (rank > 0: a whole array) element by element, in loops
    inside a BLOCK that declares their indices (nothing added to the
    routine)."""
    from .nodes import Assign, Raw
    if not has_allocatable(t):
        return Assign(clone(target), zero_value(t))
    from ..backend.fortran_expr import fexpr
    lines: list[str] = []

    def walk(prefix: str, tt: Type) -> None:
        for cname, c in typedef(tt).components.items():
            if not differentiable(c.type):
                continue
            p = f"{prefix}%{cname}"
            if c.type.base == "derived" and has_allocatable(c.type):
                if c.shape or c.allocatable:
                    from ..diagnostics import unsupported
                    raise unsupported("an array or allocatable record component holding "
                                      "allocatable components, in a record that carries "
                                      "derivatives", c.span, p)
                walk(p, c.type)
            elif c.allocatable:
                lines.append(f"if (allocated({p})) {p} = {fexpr(zero_value(c.type))}")
            else:
                lines.append(f"{p} = {fexpr(zero_value(c.type))}")
    if rank == 0:
        walk(fexpr(target), t)
        return Raw("\n".join(lines))
    name = fexpr(target)
    idx = [f"ad_k{k + 1}" for k in range(rank)]
    walk(f"{name}({', '.join(idx)})", t)
    out = ["block", f"  integer :: {', '.join(idx)}"]
    for k in reversed(range(rank)):          # the first index innermost
        out.append("  " * (rank - k) + f"do {idx[k]} = 1, size({name}, {k + 1})")
    out += ["  " * (rank + 1) + x for x in lines]
    out += ["  " * (rank - k) + "end do" for k in range(rank)]
    return Raw("\n".join(out + ["end block"]))


def all_subs(ref: Ref) -> list:
    """The subscripts of a reference and of every component on its path
    (`s(i)%a(j)` -> [i, j]): whatever reads indices must see them all."""
    return list(ref.subs or []) + [x for p in ref.path or [] for x in p.subs or []]
