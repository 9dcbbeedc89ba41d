"""Struct definitions at the top of a C file.

A generated file is compiled apart from the user's, so it defines again
every struct it uses (C99 6.2.7 makes same-tag, same-member definitions in
two translation units compatible), then the derivative types `T_diff`.
A type's IR name is its C spelling (frontend/c_struct.py): `struct tag`
is defined as such, any other name by a typedef.
"""
from __future__ import annotations

from ..diagnostics import unsupported
from ..ir.nodes import Symbol, TypeDef
from .c_expr import CExpr, ctype

__all__ = ["struct_definitions"]


def struct_definitions(types: dict[str, TypeDef], ex: CExpr) -> list[str]:
    out: list[str] = []
    tags: set[str] = set()
    for td in types.values():
        members = [f"    {_member(c, ex)};" for c in td.components.values()]
        if not members:
            raise unsupported(f"{td.name} with no members in C output", td.span)
        body = "{\n" + "\n".join(members) + "\n}"
        if td.name.startswith("struct "):
            tags.add(td.name[len("struct "):])
            out.append(f"{td.name} {body};")
            continue
        tag = td.c_tag if td.c_tag and td.c_typedef == td.name and td.c_tag not in tags else None
        if tag:
            tags.add(tag)
        out.append(f"typedef struct {tag + ' ' if tag else ''}{body} {td.name};")
    return out


def _member(c: Symbol, ex: CExpr) -> str:
    from .c import _extent
    if c.pointer:
        return f"{ctype(c.type)} *{c.name}"
    return f"{ctype(c.type)} {c.name}" + "".join(f"[{_extent(d, ex)}]" for d in reversed(c.shape))
