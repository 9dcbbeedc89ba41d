"""C declarators to IR types and shapes.

C arrays are row-major and 0-based; the IR's shape and subscripts follow
Fortran's column-major order, so the C front end stores dimensions (and the
C backend reads them) in reverse: `double a[n][m]` is shape [(0, m-1),
(0, n-1)] and `a[i][j]` is Ref a(j, i).  Memory layout, sequence
association (`&a[i][0]` passed as `double *`) and an assumed-size leading C
dimension (`double a[][m]`, the IR's assumed-size last dimension) then mean
the same thing in both languages, with no C-specific field in the IR.
"""
from __future__ import annotations

from typing import Callable, Optional

from pycparser import c_ast

from ..diagnostics import unsupported
from ..ir.nodes import (CHAR, INT2, INT4, INT8, REAL4, REAL8, SCHAR, UCHAR, UINT2, UINT4, UINT8, Bin, Dim,
                        Expr, Lit, Span, Type)

_SCALARS: dict[tuple[str, ...], Type] = {
    ("double",): REAL8, ("float",): REAL4,
    ("int",): INT4, ("signed",): INT4, ("signed", "int"): INT4,
    ("long",): INT8, ("long", "int"): INT8, ("signed", "long"): INT8,
    ("long", "long"): INT8, ("long", "long", "int"): INT8,
    ("void",): Type("void", 0),
    # sizes and index differences: as long (their values in such codes fit)
    ("size_t",): INT8, ("ptrdiff_t",): INT8,
    # <stdint.h>'s exact widths (pycparser's fake headers make them all int)
    ("int32_t",): INT4, ("int64_t",): INT8, ("uint32_t",): UINT4, ("uint64_t",): UINT8,
    # small integers (counters, flags, characters compared with 'a'): each
    # keeps its C type in the output, so stores truncate as the user's do
    ("short",): INT2, ("short", "int"): INT2, ("signed", "short"): INT2,
    ("signed", "short", "int"): INT2, ("int16_t",): INT2, ("uint16_t",): UINT2,
    ("char",): CHAR, ("signed", "char"): SCHAR, ("unsigned", "char"): UCHAR,
    ("int8_t",): SCHAR, ("uint8_t",): UCHAR,
}

ZERO = Lit("0", INT4)


def zero_of(t: Type) -> Lit:
    """C's zero of type t (a struct member, an array element, a value
    tested for truth): `0.0` for a floating type, `0` otherwise, so the
    literal carries the type its context needs."""
    return Lit("0.0", t) if t.base == "real" else Lit("0", t)

# C99's bool (_Bool): an integer of one byte that the output declares as
# _Bool again, so every store still converts to 0 or 1 as the user's code
# does; recording one is refused by name (snapshots.py).
BOOL = Type("integer", 1)


def span_of(node, fallback: Optional[Span] = None) -> Span:
    c = getattr(node, "coord", None)
    if c is None or not c.line:
        return fallback or Span("<unknown>", 0, 0)
    return Span(c.file or "<unknown>", c.line, c.column or 1)


def scalar_type(names: list[str], span: Span, typedefs: dict[str, Type]) -> Type:
    key = tuple(names)
    if key in _SCALARS:
        return _SCALARS[key]
    if len(names) == 1 and names[0] in typedefs:
        t = typedefs[names[0]]
        if isinstance(t, Exception):     # a typedef the front end could not read
            raise t
        return t
    if key in (("_Bool",), ("bool",)):   # (stdbool.h's typedef sits in a system header)
        return BOOL
    if "unsigned" in names:
        # Unsigned integers keep their type in the output, so the copied
        # code wraps around as the user's does (loop bounds: c_stmt._signed).
        rest = tuple(w for w in names if w != "unsigned") or ("int",)
        if rest in (("int",), ("long",), ("long", "int"), ("long", "long"), ("long", "long", "int")):
            return UINT4 if rest == ("int",) else UINT8
        if rest in (("short",), ("short", "int")):
            return UINT2
    raise unsupported(f"type '{' '.join(names)}'", span)


class TypeNames(dict):
    """Typedef names to types, and (struct_type) the reader of struct
    specifiers, which the front end sets: every declarator reaches structs
    through the one table it already passes around.  enum_consts: the
    values of the enumeration constants defined at file scope."""
    struct_type = None
    enum_consts: Optional[dict] = None
    # set while a function body is lowered: an enumeration defined there
    # gives it its constants, which are block-scoped (c_func.local_enum)
    local_enum: Optional[Callable] = None


def enum_type(t, span: Span, typedefs: dict) -> Type:
    """An enumeration is an int; its constants (`enum { NX = 64, NY = 2 *
    NX };`, a common way to name array sizes in C) are integer values the
    front end substitutes where they are used, as the preprocessor does
    for #define'd ones."""
    consts = getattr(typedefs, "enum_consts", None)
    if t.values is not None and getattr(typedefs, "local_enum", None) is not None:
        typedefs.local_enum(t, span)
    elif t.values is not None:
        if consts is None:
            raise unsupported("enum", span)
        value = -1
        for e in t.values.enumerators:
            value = value + 1 if e.value is None else enum_value(e.value, consts, span_of(e, span))
            if consts.get(e.name, value) != value:
                # Two files' enums share one table (functions are read after
                # all files): a name with two values is an error where used.
                consts[e.name] = unsupported("enumeration constant defined again with another value",
                                             span_of(e, span), e.name)
                continue
            consts[e.name] = value
    return INT4


def enum_value(n, consts: dict, span: Span) -> int:
    """An integer constant expression of C (literals, earlier enumeration
    constants, + - * / % << >> & | ^ ~), evaluated as C does for int."""
    if isinstance(n, c_ast.Constant) and n.type.endswith("int"):
        from .c_expr import parse_int      # (c_expr imports this module)
        return int(parse_int(n.value, span).text)
    if isinstance(n, c_ast.ID) and n.name in consts:
        if isinstance(consts[n.name], Exception):
            raise consts[n.name]
        return consts[n.name]
    if isinstance(n, c_ast.UnaryOp) and n.op in ("-", "+", "~"):
        v = enum_value(n.expr, consts, span)
        return -v if n.op == "-" else ~v if n.op == "~" else v
    if isinstance(n, c_ast.BinaryOp) and n.op in ("+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^"):
        a, b = enum_value(n.left, consts, span), enum_value(n.right, consts, span)
        if n.op in ("/", "%") and b == 0:
            raise unsupported("division by zero in an enumeration constant", span)
        if n.op == "/":
            return abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)      # C truncates
        if n.op == "%":
            return a - b * (abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1))
        return {"+": a + b, "-": a - b, "*": a * b, "<<": a << b, ">>": a >> b,
                "&": a & b, "|": a | b, "^": a ^ b}[n.op]
    raise unsupported("enumeration constant whose value is not an integer constant expression", span)


def base_type(node, span: Span, typedefs: dict[str, Type]) -> Type:
    """The element type under a TypeDecl (union and enum rejected; a struct
    through typedefs.struct_type)."""
    t = node.type
    if isinstance(t, c_ast.IdentifierType):
        return scalar_type(t.names, span, typedefs)
    if isinstance(t, c_ast.Union):
        raise unsupported("union", span)
    if isinstance(t, c_ast.Struct):
        structs = getattr(typedefs, "struct_type", None)
        if structs is None:
            raise unsupported("struct", span)
        return structs(t, span)
    if isinstance(t, c_ast.Enum):
        return enum_type(t, span, typedefs)
    raise unsupported(f"type {type(t).__name__}", span)


def extent_to_ub(extent: Expr) -> Expr:
    if isinstance(extent, Lit) and extent.type.base == "integer":
        return Lit(str(int(extent.text) - 1), extent.type)
    return Bin("-", extent, Lit("1", INT4))


class Declarator:
    """What one C declarator says: the element type, the dimensions in C
    order (None for `[]`), how many `*` lead to the element, and const."""

    def __init__(self, decl_type, span: Span, typedefs: dict[str, Type],
                 dim_expr: Callable[[object], Expr]) -> None:
        self.dims_c: list[Optional[Expr]] = []
        self.pointers = 0
        self.const = False
        t = decl_type
        while True:
            if isinstance(t, c_ast.ArrayDecl):
                if self.pointers:
                    raise unsupported("array of pointers", span)
                self.dims_c.append(dim_expr(t.dim) if t.dim is not None else None)
                t = t.type
            elif isinstance(t, c_ast.PtrDecl):
                if isinstance(t.type, c_ast.FuncDecl):
                    raise unsupported("function pointer", span)
                if self.dims_c:
                    raise unsupported("pointer to array", span)
                self.pointers += 1
                t = t.type
            elif isinstance(t, c_ast.FuncDecl):
                raise unsupported("function pointer", span)
            elif isinstance(t, c_ast.TypeDecl):
                self.const = "const" in (t.quals or [])
                self.type = base_type(t, span, typedefs)
                break
            else:
                raise unsupported(f"declarator {type(t).__name__}", span)
        if self.pointers > 1:
            raise unsupported("pointer to pointer", span)
        if self.pointers and self.dims_c:
            raise unsupported("array of pointers", span)
        for k, d in enumerate(self.dims_c):
            if d is None and k > 0:
                raise unsupported("array with an unknown inner dimension", span)

    def shape(self) -> list[Dim]:
        """IR dimensions: reversed C order, lower bound 0."""
        dims = [Dim(lb=Lit("0", INT4), ub=None if d is None else extent_to_ub(d))
                for d in self.dims_c]
        return list(reversed(dims))
