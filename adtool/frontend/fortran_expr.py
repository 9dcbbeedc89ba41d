"""Fortran expressions -> IR expressions: literals and kinds, array element vs call."""
from __future__ import annotations

import copy
import re
from typing import Optional

from fparser.two import Fortran2003 as F
from fparser.two.utils import Base

from ..diagnostics import bad_input, unsupported
from ..ir import intrinsics
from ..ir.nodes import (INT4, INT8, LOGICAL, ArrayCtor, Bin, Call, Cast, Expr, ImpliedDo, Lit, ProcRef, Ref,
                        Section, Span, Symbol, Type, Un)
from ..ir.visit import map_expr
from .fortran_tree import _name

_REL_OPS = {".eq.": "==", "==": "==", ".ne.": "!=", "/=": "!=", ".lt.": "<", "<": "<",
            ".le.": "<=", "<=": "<=", ".gt.": ">", ">": ">", ".ge.": ">=", ">=": ">="}
_LOG_OPS = {".and.": "and", ".or.": "or", ".eqv.": "eqv", ".neqv.": "neqv"}


class Expressions:
    """Expression lowering and typing in the scope of the unit being lowered."""

    # -------------------------------------------------------------- expressions

    def expr(self, n) -> Expr:
        span = self.span
        if isinstance(n, F.Name):
            name = _name(n)
            sym = self.lookup(name)
            if sym is None:
                if self.callable_routine(name) is not None:
                    raise unsupported(f"procedure '{name}' passed as an argument", span)
                if self.cur is not None and self.cur.routine.kind != "module":
                    sym = self._implicit_local(name)
                else:
                    raise bad_input(f"symbol '{name}' has no IMPLICIT type", span)
            if sym.external and not sym.shape:
                raise unsupported(f"procedure '{name}' passed as an argument", span)
            return Ref(name, span=span)
        if isinstance(n, (F.Signed_Int_Literal_Constant, F.Signed_Real_Literal_Constant)):
            text = str(n).strip()
            if text.startswith(("-", "+")):
                inner = (F.Int_Literal_Constant if isinstance(n, F.Signed_Int_Literal_Constant)
                         else F.Real_Literal_Constant)(text[1:].strip())
                val = self.expr(inner)
                return Un("-", val, span=span) if text.startswith("-") else val
        if isinstance(n, F.Int_Literal_Constant):
            val, kind = n.items
            return Lit(str(val), INT8 if kind is not None and self._kind_of(kind) == 8 else INT4, span=span)
        if isinstance(n, F.Real_Literal_Constant):
            val, kind = n.items
            text = str(val).lower()
            k, default = self.default_real_kind, True
            if "d" in text:
                k, default = 8, False
                text = text.replace("d", "e")
            if kind is not None:
                k, default = self._kind_of(kind), False
            return Lit(text, Type("real", k, default=default), span=span)
        if isinstance(n, F.Logical_Literal_Constant):
            return Lit("true" if "TRUE" in str(n.items[0]).upper() else "false", LOGICAL, span=span)
        if isinstance(n, F.Char_Literal_Constant):
            s = str(n.items[0])
            q = s[0]
            return Lit(s[1:-1].replace(q + q, q), Type("character", 1, Lit(str(len(s) - 2), INT4)), span=span)
        if isinstance(n, F.Parenthesis):
            return self.expr(n.items[1])
        if isinstance(n, (F.Level_2_Unary_Expr,)):
            op, x = n.items
            val = self.expr(x)
            if self.type_of(val).base == "derived":
                return self.defined_operation(op, [val], span)
            return Un(op.strip(), val, span=span)
        if isinstance(n, F.Level_1_Expr):               # .neg. a: a defined unary operator
            op, x = n.items
            return self.defined_operation(op, [self.expr(x)], span)
        if type(n) is F.Expr:                           # a .dot. b: a defined binary operator
            left, op, right = n.items
            return self.defined_operation(op, [self.expr(left), self.expr(right)], span)
        if isinstance(n, F.And_Operand):
            op, x = n.items
            return Un("not", self.expr(x), span=span)
        if isinstance(n, (F.Level_2_Expr, F.Add_Operand, F.Mult_Operand, F.Level_3_Expr,
                          F.Level_4_Expr, F.Or_Operand, F.Equiv_Operand, F.Level_5_Expr)):
            left, op, right = n.items
            op = op.strip().lower()
            if op in _REL_OPS:
                op = _REL_OPS[op]
            elif op in _LOG_OPS:
                op = _LOG_OPS[op]
            elif op == "//":
                op = "concat"
            elif op not in ("+", "-", "*", "/", "**"):
                raise unsupported(f"operator '{op}'", span)
            lv, rv = self.expr(left), self.expr(right)
            if "derived" in (self.type_of(lv).base, self.type_of(rv).base):
                return self.defined_operation(n.items[1], [lv, rv], span)
            return Bin(op, lv, rv, span=span)
        if isinstance(n, F.Structure_Constructor):
            return self._constructor(n, span)
        if isinstance(n, (F.Part_Ref, F.Function_Reference,
                          F.Intrinsic_Function_Reference)):
            return self._part_ref(n, span)
        if isinstance(n, F.Array_Constructor):
            vals = n.items[1]
            return ArrayCtor([self._ac_value(v) for v in (vals.children if vals is not None else [])],
                             span=span)
        if isinstance(n, F.Data_Ref):
            return self._data_ref(n, span)
        if isinstance(n, F.Proc_Component_Ref):     # `s%a` as an actual argument
            return self._data_ref(n, span, [n.children[0], n.children[2]])
        if isinstance(n, F.Complex_Literal_Constant):
            texts = [str(p).replace(" ", "").lower() for p in n.items]
            if any("_" in x or not re.fullmatch(r"[+-]?[\d.]+([ed][+-]?\d+)?", x) for x in texts):
                raise unsupported(f"complex literal '{n}'", span)
            double = any("d" in x for x in texts)
            kind = 8 if double else self.default_real_kind
            texts = [x.replace("d", "e") for x in texts]
            return Lit(f"({', '.join(texts)})", Type("complex", 2 * kind, default=not double),
                       span=span)
        if isinstance(n, F.Array_Section):        # names(i)(1:2)
            base = self.expr(n.children[0])
            rng = n.children[1]
            if not isinstance(base, Ref) or base.substring is not None or not isinstance(rng, F.Substring_Range):
                raise unsupported(f"expression '{n}'", span)
            lo, hi = rng.children
            base.substring = Section(self.expr(lo) if lo is not None else None,
                                     self.expr(hi) if hi is not None else None)
            return base
        if isinstance(n, F.Substring_Range):
            raise unsupported("character substring", span)
        raise unsupported(f"expression '{n}'", span)

    def defined_operation(self, op: str, operands: list[Expr], span: Span) -> Expr:
        """An operator on derived types, or a defined one (`a .dot. b`): a
        call of the specific procedure its `interface operator(op)` picks
        for the operands' types, printed back as the operation."""
        from .fortran_iface import operator_name
        generic = f"operator({operator_name(str(op))})"
        found = self._generic(generic)
        if found is None:
            raise bad_input(f"no interface {generic} for these operands", span)
        specifics, home = found
        name = self._pick_specific(generic, specifics, operands, [], span)
        self._bring_generic_into_scope(generic, home)
        return Call(name, operands, [], intrinsic=False, span=span, via=(name, generic))

    def actual_expr(self, n) -> Expr:
        """An actual argument: an expression, or a procedure passed by name
        (a routine, a procedure declared EXTERNAL, a dummy procedure passed
        on), which the front end later specialises the callee for."""
        if isinstance(n, F.Name):
            name = _name(n)
            sym = self.lookup(name)
            if sym is None and self.cur is not None and name in self.cur.intrinsic_names:
                raise unsupported(f"intrinsic procedure '{name}' passed as an argument "
                                  "(pass a routine of yours that calls it)", self.span)
            if (sym is None and self.callable_routine(name) is not None) or (
                    sym is not None and sym.external and not sym.shape):
                return ProcRef(name, span=self.span)
        return self.expr(n)

    def _constructor(self, n, span: Span) -> Expr:
        """`state(0d0, 1)`: a structure constructor, kept as a call of the
        type's name marked `constructor`, every component's value in order
        (defaults filled in); the assignment that receives it is split
        into one assignment per component (records.expand_assignment)."""
        tname = _name(n.items[0])
        if tname not in self.tu.types or self.lookup(tname) is not None:
            return self._part_ref(n, span)
        td = self.tu.types[tname]
        vals: list[Optional[Expr]] = [None] * len(td.components)
        names = list(td.components)
        for k, a in enumerate(n.items[1].children if n.items[1] is not None else []):
            if isinstance(a, (F.Component_Spec, F.Actual_Arg_Spec)):
                kw, val = a.children
                if kw is None:
                    vals[k] = self.expr(val)
                else:
                    vals[names.index(_name(kw))] = self.expr(val)
            else:
                vals[k] = self.expr(a)
        for k, v in enumerate(vals):
            if v is None:
                c = td.components[names[k]]
                if c.init is None:
                    raise bad_input(f"structure constructor '{tname}' lacks component '{names[k]}'", span)
                vals[k] = copy.deepcopy(c.init)
        call = Call(tname, vals, [], intrinsic=False, span=span)
        call.constructor = True      # type: ignore[attr-defined]
        return call

    def _data_ref(self, n, span: Span, items: Optional[list] = None) -> Ref:
        """`s(i)%a%b(j)` -> Ref('s', [i], path=[Part('a'), Part('b', [j])])."""
        from ..ir import records
        from ..ir.nodes import Part
        items = list(n.children) if items is None else items
        base = self.expr(items[0])
        if not isinstance(base, Ref) or base.substring is not None:
            raise unsupported(f"component reference '{n}'", span)
        sym = records.ref_symbol(base, self.lookup)
        td = records.typedef(sym.type) if sym is not None else None
        if td is not None and getattr(td, "error", None) is not None:
            raise td.error
        path: list[Part] = []
        for it in items[1:]:
            if sym is None or sym.type.base != "derived":
                raise bad_input(f"'{n}': component of something that is not a derived type", span)
            if isinstance(it, F.Name):
                cname, arglist = _name(it), None
            elif isinstance(it, F.Part_Ref):
                cname, arglist = _name(it.items[0]), it.items[1]
            else:
                raise unsupported(f"component reference '{n}'", span)
            comp = records.component(sym.type, cname)
            if comp is None and it is items[-1] and cname in getattr(
                    self.tu.types.get(sym.type.name), "bindings", {}):
                base.path = (base.path or []) + path      # `obj%method(args)`
                name, args = self.bound(base, cname, arglist, "function", span)
                return Call(name, args, [], intrinsic=False, span=span, via=self.resolved_via)
            if comp is None:
                raise bad_input(f"type '{sym.type.name}' has no component '{cname}'", span)
            subs = None
            if arglist is not None and not comp.shape:
                if comp.type.base != "character" or it is not items[-1]:
                    raise bad_input(f"component '{cname}' is not an array", span)
                sub = self._substring(cname, arglist, span).substring
                path.append(Part(cname))
                base.path = (base.path or []) + path
                base.substring = sub
                return base
            if arglist is not None:
                subs = self._subscripts(arglist)
                if len(subs) != len(comp.shape):
                    raise bad_input(f"component '{cname}' has rank {len(comp.shape)} but "
                                    f"{len(subs)} subscripts", span)
            path.append(Part(cname, subs))
            sym = comp
        base.path = (base.path or []) + path
        return base

    def _subscripts(self, arglist) -> list:
        subs = []
        for s in (arglist.children if arglist is not None else []):
            if isinstance(s, F.Subscript_Triplet):
                lo, hi, st = s.children
                subs.append(Section(self.expr(lo) if lo is not None else None,
                                    self.expr(hi) if hi is not None else None,
                                    self.expr(st) if st is not None else None))
            else:
                subs.append(self.expr(s))
        return subs

    def _ac_value(self, v) -> Expr:
        if isinstance(v, F.Ac_Implied_Do):
            vals, ctl = v.children
            var = _name(ctl.children[0])
            if self.lookup(var) is None:
                self._implicit_local(var)
            b = ctl.children[1]
            return ImpliedDo([self._ac_value(x) for x in vals.children], var, self.expr(b[0]),
                             self.expr(b[1]), self.expr(b[2]) if len(b) > 2 and b[2] is not None else None,
                             span=self.span)
        return self.expr(v)

    def _kind_of(self, kind) -> int:
        if isinstance(kind, Base):
            return self._const_int(self.expr(kind))
        s = str(kind)
        if s.isdigit():
            return int(s)
        return self._const_int(Ref(s.lower()))

    def _part_ref(self, n, span: Span) -> Expr:
        if isinstance(n.items[0], F.Procedure_Designator):
            name, args = self.bound_call(n.items[0], n.items[1] if len(n.items) > 1 else None,
                                         "function", span)
            return Call(name, args, [], intrinsic=False, span=span, via=self.resolved_via)
        name = _name(n.items[0])
        arglist = n.items[1] if len(n.items) > 1 else None
        if self.cur is not None and name in self.cur.stmt_funcs:
            return self._inline_statement_function(name, arglist, span)
        if name in self.tu.types and self.lookup(name) is None and not isinstance(
                n, F.Intrinsic_Function_Reference):
            return self._constructor(n, span)
        sym = self.lookup(name)
        if sym is not None and (sym.shape or (sym.type.base == "character" and not sym.external
                                              and self.callable_routine(name) is None)):
            if not sym.shape:
                return self._substring(name, arglist, span)
            subs = []
            for s in (arglist.children if arglist is not None else []):
                if isinstance(s, F.Subscript_Triplet):
                    lo, hi, st = s.children
                    subs.append(Section(self.expr(lo) if lo is not None else None,
                                        self.expr(hi) if hi is not None else None,
                                        self.expr(st) if st is not None else None))
                else:
                    subs.append(self.expr(s))
            if len(subs) != len(sym.shape):
                raise bad_input(f"'{name}' has rank {len(sym.shape)} but {len(subs)} subscripts", span)
            return Ref(name, subs, span=span)
        # A function reference: user routine first (it may shadow an intrinsic).
        args: list[Expr] = []
        kwargs: list[tuple[str, Expr]] = []
        for a in (arglist.children if arglist is not None else []):
            if isinstance(a, (F.Actual_Arg_Spec, F.Component_Spec)):
                kw, val = a.children
                if kw is None:
                    args.append(self.actual_expr(val))
                else:
                    kwargs.append((_name(kw), self.actual_expr(val)))
            elif isinstance(a, F.Subscript_Triplet):
                raise bad_input(f"'{name}' is not an array", span)
            else:
                args.append(self.actual_expr(a))
        if sym is not None and sym.storage == "arg" and sym.external and not sym.shape:
            # a dummy procedure: it hides any routine of its name
            if kwargs:
                raise unsupported(f"keyword arguments in a call of the dummy procedure '{name}'",
                                  span)
            return Call(name, args, [], intrinsic=False, span=span)
        specific = self.specific_function(name, args, kwargs, span)
        if specific is not None:
            name, args = specific
            return Call(name, args, [], intrinsic=False, span=span, via=self.resolved_via)
        target = self.callable_routine(name)
        if target is not None or (sym is not None and (sym.external or sym.storage != "arg")):
            if target is not None and target.kind != "function":
                raise bad_input(f"subroutine '{name}' used as a function", span)
            name, args = self.resolve_call(name, args, kwargs, span)
            if sym is None and target is None:
                pass
            if target is None and sym is not None and not sym.external:
                sym.external = True
            return Call(name, args, [], intrinsic=False, span=span, via=self.resolved_via)
        if name == "norm2" and args and len(args) + len(kwargs) <= 2:
            # F2008's Euclidean norm, as what it computes: sqrt(sum(x**2)),
            # whose derivative x / norm2(x) the rules give (dim= kept)
            x = args[0]
            sq = Bin("**", x, Lit("2", INT4), span=span)
            return Call("sqrt", [Call("sum", [sq] + args[1:], kwargs, intrinsic=True, span=span)],
                        intrinsic=True, span=span)
        spec = intrinsics.lookup(name)
        if spec is not None:
            generic = intrinsics.SPECIFIC.get(name, name)
            return Call(generic, args, kwargs, intrinsic=True, span=span)
        if sym is not None and sym.storage == "arg":
            raise unsupported(f"dummy procedure '{name}'", span)
        if self.explicit_interface(name) is not None:      # an INTERFACE body says what it is
            name, args = self.resolve_call(name, args, kwargs, span)
            return Call(name, args, [], intrinsic=False, span=span)
        # Undeclared, not intrinsic, not defined here: an implicit external function.
        t = self._implicit_type(name, span)
        sym = Symbol(name, t, storage="local", external=True, implicit=True, span=span)
        self.cur.routine.symbols[name] = sym
        return Call(name, args, [], intrinsic=False, span=span)

    def _substring(self, name: str, arglist, span: Span) -> Ref:
        """`task(1:2)`: a substring of a character scalar (passive data)."""
        items = arglist.children if arglist is not None else []
        if len(items) != 1 or not isinstance(items[0], (F.Subscript_Triplet, F.Substring_Range)) \
                or (isinstance(items[0], F.Subscript_Triplet) and items[0].children[2] is not None):
            raise bad_input(f"'{name}' is a character scalar: expected a substring ({name}(lo:hi))",
                            span)
        lo, hi = items[0].children[:2]
        return Ref(name, substring=Section(self.expr(lo) if lo is not None else None,
                                           self.expr(hi) if hi is not None else None), span=span)

    def _inline_statement_function(self, name: str, arglist, span: Span) -> Expr:
        """The statement function's expression with the actual arguments in
        place of its dummies (each actual is an expression: nothing is
        evaluated twice that has an effect, since statement functions may
        only reference functions without side effects)."""
        dummies, rtype, body = self.cur.stmt_funcs[name]
        actuals = [self.expr(a) for a in (arglist.children if arglist is not None else [])]
        if len(actuals) != len(dummies):
            raise bad_input(f"statement function '{name}' takes {len(dummies)} arguments, "
                            f"{len(actuals)} given", span)
        syms = self.cur.routine.symbols
        added = [d for d in dummies if d not in syms]
        for d in added:       # a dummy named like no variable: typed by IMPLICIT
            syms[d] = Symbol(d, self._implicit_type(d, span), storage="local", implicit=True, span=span)
        try:
            e = self.expr(body)
        finally:
            for d in added:
                del syms[d]
        by_name = dict(zip(dummies, actuals))
        e = map_expr(e, lambda x: copy.deepcopy(by_name[x.name])
                     if isinstance(x, Ref) and x.subs is None and x.name in by_name else None)
        if self.type_of(e) != rtype and rtype.base in ("real", "integer") and \
                self.type_of(e).base in ("real", "integer"):
            e = Cast(rtype, e, span=span)
        return e

    # -------------------------------------------------------------- typing

    def type_of(self, e: Expr) -> Type:
        from ..ir.typing import type_of
        return type_of(e, lambda n: self.lookup(n), self._fun_type)

    def _fun_type(self, name: str) -> Optional[Type]:
        r = self.callable_routine(name) or self.explicit_interface(name)
        if r is not None and r.result:
            return r.symbols[r.result].type if r.result in r.symbols else None
        sym = self.lookup(name)
        return sym.type if sym is not None else None


