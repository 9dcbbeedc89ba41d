"""C statements to IR statements.

A `for` whose shape is a counted loop (one integer variable, a fixed bound
and step the body cannot change) becomes an IR Loop with Fortran's inclusive
bound; any other `for` becomes its initialisation and a While.  `break`
and `continue` map to Exit and Cycle, which the IR defines for loops only,
so a `break` that leaves a switch is accepted only as the last statement of
a case, where Select already ends.
"""
from __future__ import annotations

from typing import Optional

from pycparser import c_ast

from ..diagnostics import AdError, bad_input, unsupported, warn
from ..ir.nodes import (INT4, INT8, LOGICAL, Assign, Bin, Call, CallStmt, Case, Cast, Continue, Cycle,
                        Directive, Exit, Expr, If, Lit, Loop, Print, Ref, Return,
                        Select, Stmt, Stop, Un, While)
from ..ir.clone import clone
from ..ir.visit import calls_in, child_blocks, map_blocks, refs_in, stmt_exprs, walk_stmts
from .c_expr import c_string, is_pointer
from .c_swap import swap_at
from .c_types import span_of

_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}


def parse_pragma(text: str, span) -> Optional[Directive]:
    """`#pragma ad X` as a Directive; any other pragma (OpenMP, `scop`, ...)
    is ignored with a warning naming it (None): the adjoint is serial."""
    words = text.split()
    if not words or words[0].lower() != "ad":
        shown = " ".join(words[:3]) if words else ""
        warn(f"ignored '#pragma {shown}' (adtool reads only '#pragma ad' directives)", span)
        return None
    if len(words) < 2:
        raise bad_input("empty $AD directive", span)
    return Directive(words[1].upper(), words[2:], span)


def _pragma_span(n, fallback):
    s = span_of(n, fallback)
    return type(s)(s.file, s.line, 1)


class StmtLowering:
    """Mixed into the function lowering (see c.py for the state it keeps)."""

    def block(self, items: list, pending: Optional[list[Directive]] = None) -> list[Stmt]:
        out: list[Stmt] = []
        pending = list(pending or [])
        self.push_scope()
        try:
            items = list(items or [])
            k = 0
            while k < len(items):
                n = items[k]
                k += 1
                swap = swap_at(items, k - 1)
                if swap is None and isinstance(n, c_ast.Pragma):
                    d = parse_pragma(n.string, _pragma_span(n, self.span))
                    if d is not None:
                        pending.append(d)
                    continue
                try:
                    if swap is not None:
                        k += 2
                        stmts = self.swap(swap[1], swap[2], span_of(n, self.span))
                    else:
                        stmts = self.stmt(n)
                except AdError as exc:
                    # Go on to report every error of the function at once;
                    # a declaration refused still declares its name, so that
                    # its uses do not add "'m' is not declared" to the report.
                    self.errors.append(exc)
                    if isinstance(n, c_ast.Decl) and n.name and \
                            all(n.name not in sc for sc in self.scopes[-1:]):
                        self.declare_local(n.name, INT4, span_of(n, self.span), False)
                    continue
                if stmts and pending:
                    stmts[0].directives = pending + stmts[0].directives
                    pending = []
                out.extend(stmts)
        finally:
            self.pop_scope()
        if pending:
            out.append(Continue(span=pending[0].span, directives=pending))
        return out

    def body_of(self, n) -> list[Stmt]:
        if isinstance(n, c_ast.Compound):
            return self.block(n.block_items)
        return self.block([n])

    def stmt(self, n) -> list[Stmt]:
        span = span_of(n, self.span)
        self.span = span
        split = _hoisted_increments(n) if isinstance(n, (c_ast.Assignment, c_ast.FuncCall)) else None
        if split is not None and not all(self._own_scalar(x.lvalue.name, span) for x in split[0] + split[2]):
            split = None     # a global: a function the statement calls would see it move
        if split is not None:
            before, plain, after = split
            return [s for x in before + [plain] + after for s in self.stmt(x)]
        if isinstance(n, c_ast.Decl):
            return self.local_decl(n, span)
        if isinstance(n, c_ast.Assignment):
            return self.assignments(n, span)
        if isinstance(n, c_ast.UnaryOp) and n.op in ("p++", "++", "p--", "--"):
            return [self.increment(n, span)]
        if isinstance(n, c_ast.FuncCall):
            return [self.call_stmt(n, span)]
        if isinstance(n, c_ast.Compound):
            return self.block(n.block_items)
        if isinstance(n, c_ast.If):
            return [self.if_(n, span)]
        if isinstance(n, c_ast.For):
            return self.for_(n, span)
        if isinstance(n, c_ast.While):
            test = self.test_with_increments(n.cond, span)
            if test is not None:
                return self.while_counting(n, test, span)
            return [self.loop_body(While(self.cond(n.cond), span=span), n.stmt)]
        if isinstance(n, c_ast.DoWhile):
            test = self.test_with_increments(n.cond, span)
            w = self.loop_body(While(None, span=span, post_test=True), n.stmt)
            if test is not None:
                w.body = _before_cycles(w.body, test[1]) + test[1]
                w.cond = test[0]
                return [w]
            w.cond = self.cond(n.cond)
            return [w]
        if isinstance(n, c_ast.Switch):
            return [self.switch(n, span)]
        if isinstance(n, c_ast.Break):
            if self.ctx and self.ctx[-1] == "switch":
                raise unsupported("break out of a switch from inside a nested statement", span,
                                  "only a break ending a case is supported")
            if not self.ctx:
                raise bad_input("break outside a loop or switch", span)
            return [Exit(span=span)]
        if isinstance(n, c_ast.Continue):
            if "loop" not in self.ctx:
                raise bad_input("continue outside a loop", span)
            return [Cycle(span=span)]
        if isinstance(n, c_ast.Return):
            return self.return_(n, span)
        if isinstance(n, c_ast.EmptyStatement):
            return []
        if isinstance(n, c_ast.Cast) and isinstance(n.expr, (c_ast.ID, c_ast.Constant)) \
                and getattr(getattr(n.to_type.type, "type", None), "names", None) == ["void"]:
            if isinstance(n.expr, c_ast.ID):
                self.resolve(n.expr.name, span)
            return []             # `(void)x;` marks x used; `((void)0);` is assert under NDEBUG
        if isinstance(n, c_ast.Goto):
            return [self.goto(n, span)]
        if isinstance(n, c_ast.Label):
            return self.labelled(n, span)
        if isinstance(n, c_ast.DeclList):
            return [s for d in n.decls for s in self.local_decl(d, span)]
        if isinstance(n, (c_ast.Case, c_ast.Default)):
            raise unsupported("case label outside the top level of a switch body", span)
        if isinstance(n, c_ast.Typedef):
            from .c_pre import EXTENT_PREFIX
            if n.name.startswith(EXTENT_PREFIX):
                self.declare_extent(n)
                return []
            raise unsupported("typedef inside a function", span)
        raise unsupported(f"expression statement ({type(n).__name__})", span,
                          "its value would be discarded")

    # -------------------------------------------------------------- simple

    def lvalue(self, n, span) -> Ref:
        if isinstance(n, c_ast.ID):
            sym = self.resolve(n.name, span)
            if sym.rank:
                raise unsupported("assignment to a whole array", span, n.name)
            if is_pointer(sym):
                raise unsupported("pointer assignment", span,
                                  f"'{n.name}' is a pointer; assign through it (*{n.name})")
            return Ref(sym.name, span=span)
        if isinstance(n, c_ast.ArrayRef):
            return self.element(n, span, partial=False)
        if isinstance(n, c_ast.StructRef):
            ref = self.member(n, span, whole=True)
            comp = self.ref_component(ref)[1]
            if comp.shape and not comp.pointer:
                raise unsupported("assignment to a whole array member", span, comp.name)
            return ref
        if isinstance(n, c_ast.UnaryOp) and n.op == "*":
            return self.deref(n, span)
        if isinstance(n, c_ast.UnaryOp) and n.op in ("p++", "p--", "++", "--"):
            raise unsupported("increment inside an expression", span)
        raise unsupported(f"assignment to {type(n).__name__}", span)

    def assignments(self, n, span) -> list[Stmt]:
        """`a = b = e` is `b = e; a = b`: the value of an assignment is its
        left side's new value, converted to that side's type."""
        if isinstance(n.rvalue, c_ast.Assignment):
            inner = n.rvalue
            outer = c_ast.Assignment(n.op, n.lvalue, inner.lvalue, coord=n.coord)
            return self.assignments(inner, span) + self.assignments(outer, span)
        if isinstance(n.lvalue, c_ast.ID):
            sym = self.resolve(n.lvalue.name, span)
            if sym.allocatable:
                return self.heap_assign(n, sym, span)
            if self.is_alias(sym):
                return self.alias_set(sym, n.rvalue, span, n.op)
        a = self.assignment(n, span)
        return a if isinstance(a, list) else [a]

    def assignment(self, n, span):
        lhs = self.lvalue(n.lvalue, span)
        comp = self.ref_component(lhs)[1]
        self.through_copy(lhs, span)
        if comp is not None and comp.pointer and lhs.path[-1].subs is None:
            return self.member_pointer(lhs, n, span)
        if self.ref_type(lhs).base == "derived":
            if n.op != "=":
                raise bad_input(f"'{n.op}' on a struct", span)
            return self.struct_assign(lhs, self.value(n.rvalue), span)
        if n.op == "=":
            rhs = self.value(n.rvalue)
        elif n.op in _COMPOUND:
            rhs = Bin(_COMPOUND[n.op], lhs, self.value(n.rvalue), span=span)
        elif n.op == "%=":
            rhs = Call("mod", [lhs, self.value(n.rvalue)], intrinsic=True, span=span)
        elif n.op[:-1] in ("&", "|", "^", "<<", ">>"):
            rhs = self.bitwise(n.op[:-1], lhs, self.value(n.rvalue), span)
        else:
            raise unsupported(f"compound assignment '{n.op}'", span)
        return Assign(lhs, rhs, span=span)

    def increment(self, n, span) -> Assign:
        if isinstance(n.expr, c_ast.ID) and self.is_alias(self.resolve(n.expr.name, span)):
            one = c_ast.Constant("int", "1", coord=n.coord)
            return self.alias_set(self.resolve(n.expr.name, span), one, span,
                                  "+=" if "++" in n.op else "-=")[0]
        lhs = self.lvalue(n.expr, span)
        op = "+" if "++" in n.op else "-"
        return Assign(lhs, Bin(op, lhs, Lit("1", INT4), span=span), span=span)

    def _own_scalar(self, name: str, span) -> bool:
        """A local variable or a by-value parameter: nothing but this
        function's statements can see its value."""
        try:
            sym = self.resolve(name, span)
        except AdError:
            return False
        return sym.storage == "local" or (sym.storage == "arg" and sym.by_value)

    def stream_output(self, name: str, args: list, span) -> Print:
        """fprintf(stderr, "...", ...), fputs("...", stdout), puts("..."):
        messages in error paths and progress lines of differentiated
        functions, kept in the primal parts like printf (the stream is a
        name the output spells again)."""
        def literal(a) -> bool:
            return isinstance(a, c_ast.Constant) and a.type == "string"

        def stream(a) -> Lit:
            if not (isinstance(a, c_ast.ID) and a.name in ("stderr", "stdout")):
                raise unsupported(f"{name} to a stream other than stderr or stdout", span)
            return Lit(a.name, INT4, span=span)
        if name == "fprintf":
            if len(args) < 2 or not literal(args[1]):
                raise unsupported("fprintf without a literal format", span)
            return Print([self.value(a) for a in args[2:]], stream(args[0]),
                         c_string(args[1].value, span), span=span)
        text_arg = args[0] if args else None
        if not literal(text_arg) or len(args) != (2 if name == "fputs" else 1):
            raise unsupported(f"{name} of something other than a string literal", span)
        text = c_string(text_arg.value, span).replace("%", "%%") + ("\n" if name == "puts" else "")
        return Print([], stream(args[1]) if name == "fputs" else None, text, span=span)

    def call_stmt(self, n, span) -> Stmt:
        name = self.call_name(n, span)
        args = self.call_args(n)
        if name in self.funcs:
            f = self.funcs[name]
            if f.result.base != "void":
                raise unsupported("call whose result is discarded", span, name)
            return CallStmt(name, self.user_args(f, args, span), span=span)
        if name == "printf":
            if not args or not (isinstance(args[0], c_ast.Constant) and args[0].type == "string"):
                raise unsupported("printf without a literal format", span)
            return Print([self.value(a) for a in args[1:]], None, c_string(args[0].value, span), span=span)
        if name in ("fprintf", "fputs", "puts"):
            return self.stream_output(name, args, span)
        if name == "free":
            return self.heap_free(args, span)
        if name == "exit":
            if len(args) != 1:
                raise bad_input("exit takes one argument", span)
            return Stop(self.value(args[0]), span=span)
        if name in ("memset", "memcpy"):
            return self.mem_call(name, args, span)
        if name == "__adtool_assert":         # assert(e) (frontend/libc_overlay/assert.h)
            text = c_string(args[1].value, span)
            where = f"{span.file}:{span.line}: {self.routine.name}: Assertion `{text}' failed.\n"
            return If([(Un("not", self.cond(_drop_messages(args[0])), span=span),
                        [Print([], Lit("stderr", INT4), where.replace("%", "%%"), span=span),
                         Stop(Lit("1", INT4), span=span)])], span=span)
        raise unsupported(f"call of '{name}' as a statement", span,
                          "not a function defined in the input files, printf, fprintf, puts, exit, "
                          "memset or memcpy")

    def return_(self, n, span) -> list[Stmt]:
        if self.is_main:
            return [Stop(self.value(n.expr) if n.expr is not None else Lit("0", INT4), span=span)]
        r = self.routine
        if n.expr is None:
            if r.kind == "function":
                raise bad_input("return without a value in a function returning a value", span)
            return [Return(span=span)]
        if r.kind != "function":
            raise bad_input("return with a value in a void function", span)
        return [Assign(Ref(r.result, span=span), self.value(n.expr), span=span), Return(span=span)]

    # -------------------------------------------------------------- control

    def if_(self, n, span) -> If:
        branches = [(self.cond(n.cond), self.body_of(n.iftrue))]
        other = n.iffalse
        while isinstance(other, c_ast.If):
            self.span = span_of(other, span)
            branches.append((self.cond(other.cond), self.body_of(other.iftrue)))
            other = other.iffalse
        else_ = self.body_of(other) if other is not None else None
        return If(branches, else_, span=span)

    def loop_body(self, loop, body_node):
        self.ctx.append("loop")
        try:
            loop.body = self.body_of(body_node)
        finally:
            self.ctx.pop()
        return loop

    def switch(self, n, span) -> Select:
        items = n.stmt.block_items if isinstance(n.stmt, c_ast.Compound) else [n.stmt]
        expr = self.value(n.cond)
        cases: list[Case] = []
        default = None
        values: list[Expr] = []
        self.ctx.append("switch")
        try:
            for k, it in enumerate(items or []):
                if not isinstance(it, (c_ast.Case, c_ast.Default)):
                    raise unsupported("statement before the first case of a switch", span_of(it, span))
                stmts = list(it.stmts or [])
                if len(stmts) == 1 and isinstance(stmts[0], c_ast.Compound):
                    stmts = list(stmts[0].block_items or [])
                if isinstance(it, c_ast.Case):
                    values.append(self.value(it.expr))
                    if not stmts:
                        continue
                elif values:
                    raise unsupported("default label sharing statements with a case", span_of(it, span))
                last = k == len(items) - 1
                if stmts and isinstance(stmts[-1], c_ast.Break):
                    stmts = stmts[:-1]
                elif not last and not (stmts and isinstance(stmts[-1], c_ast.Return)):
                    raise unsupported("switch fall-through", span_of(it, span),
                                      "end each case with break or return")
                body = self.block(stmts)
                if isinstance(it, c_ast.Default):
                    default = body
                else:
                    cases.append(Case(values, body))
                    values = []
        finally:
            self.ctx.pop()
        if values:
            cases.append(Case(values, []))
        return Select(expr, cases, default, span=span)

    # -------------------------------------------------------------- counting tests

    def test_with_increments(self, cond, span):
        """`while (i-- > 0)`, `while (n--)`, `do ... while (++k < n)`: the
        loop test as (Ref to a truth value, the statements that compute it)
        when it increments or decrements a variable, else None.  C applies
        the side effect at every test, the last (failing) one included, so
        the statements store the test's value in a local of their own and
        step the variable next to it: a pre-increment before the test, a
        post-increment after it."""
        wrapped = c_ast.ExprList([cond], coord=cond.coord)
        split = _hoisted_increments(wrapped)
        if split is None:
            return None
        before, plain, after = split
        for x in before + after:
            if not self._own_scalar(x.lvalue.name, span):
                raise unsupported("increment of a variable other than a local inside a loop test",
                                  span, x.lvalue.name)
        value = self.cond(plain.exprs[0])
        more = self.hidden_local("more", LOGICAL, span)
        stmts = [s for x in before for s in self.stmt(x)]
        stmts.append(Assign(Ref(more.name, span=span), value, span=span))
        stmts += [s for x in after for s in self.stmt(x)]
        return Ref(more.name, span=span), stmts

    def while_counting(self, n, test, span) -> list[Stmt]:
        """`while (i-- > 0) body` as `more = i > 0; i -= 1; while (more) {
        body; more = i > 0; i -= 1; }`: the test runs where C runs it,
        before the first trip and after each (and before a `continue`'s
        next trip)."""
        more, stmts = test
        w = self.loop_body(While(more, span=span), n.stmt)
        again = [clone(x) for x in stmts]
        w.body = _before_cycles(w.body, again) + again
        return stmts + [w]

    # -------------------------------------------------------------- for

    def for_(self, n, span) -> list[Stmt]:
        self.push_scope()
        try:
            init = self._for_init(n.init, span)
            counted = self._counted(n, init, span)
            if counted is not None:
                var, lo, hi, step = counted
                loop = self.loop_body(Loop(var, lo, hi, step, span=span), n.stmt)
                if not self._modifies(loop.body, var, [hi] + ([step] if step else [])):
                    return [loop]
            cond = self.cond(n.cond) if n.cond is not None else Lit("true", LOGICAL)
            w = self.loop_body(While(cond, span=span), n.stmt)
            nxt = self._for_next(n.next, span)
            # `continue` runs the increment first, as C's for does
            w.body = _before_cycles(w.body, nxt) + nxt
            return init + [w]
        finally:
            self.pop_scope()

    def _for_init(self, init, span) -> list[Stmt]:
        if init is None:
            return []
        if isinstance(init, c_ast.DeclList):
            return [s for d in init.decls for s in self.local_decl(d, span)]
        if isinstance(init, c_ast.ExprList):
            return [s for e in init.exprs for s in self.stmt(e)]
        return self.stmt(init)

    def _for_next(self, nxt, span) -> list[Stmt]:
        if nxt is None:
            return []
        if isinstance(nxt, c_ast.ExprList):
            return [s for e in nxt.exprs for s in self.stmt(e)]
        return self.stmt(nxt)

    def _counted(self, n, init: list[Stmt], span):
        """(var, lo, hi, step) when the loop is `v = lo; v op b; v += c`
        with an integer v and a constant step of the right sign."""
        if len(init) != 1 or not isinstance(init[0], Assign) or init[0].lhs.subs is not None:
            return None
        var = init[0].lhs.name
        sym = self.symbol(var)
        if sym is None or sym.type.base != "integer" or sym.storage not in ("local",) or sym.save:
            return None
        c, nx = n.cond, n.next
        if not (isinstance(c, c_ast.BinaryOp) and c.op in ("<", "<=", ">", ">=")
                and isinstance(c.left, c_ast.ID) and self.resolve(c.left.name, span).name == var):
            return None
        step = self._step(nx, var, span)
        if step is None or (step > 0) != (c.op in ("<", "<=")):
            return None
        bound = self._signed(self.value(c.right))
        if any(isinstance(x, Call) and not x.intrinsic for x in calls_in(bound)):
            return None
        hi = bound
        if c.op in ("<", ">"):
            delta = -1 if c.op == "<" else 1
            if isinstance(bound, Lit) and bound.type.base == "integer":
                hi = Lit(str(int(bound.text) + delta), bound.type, span=bound.span)
            else:
                hi = Bin("-" if delta < 0 else "+", bound, Lit("1", INT4), span=bound.span)
        return var, self._signed(init[0].rhs), hi, (None if step == 1 else Lit(str(step), INT4))

    def _signed(self, e: Expr) -> Expr:
        """A bound of unsigned type, as a long: the trip counts the adjoint
        computes from it (hi - lo + 1, a count-down's last value) must not
        wrap around.  The loop runs the same for values below LONG_MAX (the
        adjoint's reversed loops count with an int of their own and set an
        unsigned counter from it; the C back end drops the cast again when
        it writes the loop over an unsigned counter)."""
        if self.type_of(e).unsigned:
            return Cast(INT8, e, span=e.span) if not isinstance(e, Lit) else Lit(e.text, INT8, span=e.span)
        return e

    def _step(self, nx, var: str, span) -> Optional[int]:
        if isinstance(nx, c_ast.UnaryOp) and nx.op in ("p++", "++", "p--", "--") \
                and isinstance(nx.expr, c_ast.ID) and self.resolve(nx.expr.name, span).name == var:
            return 1 if "++" in nx.op else -1
        if isinstance(nx, c_ast.Assignment) and isinstance(nx.lvalue, c_ast.ID) \
                and self.resolve(nx.lvalue.name, span).name == var and nx.op in ("+=", "-=") \
                and isinstance(nx.rvalue, c_ast.Constant) and nx.rvalue.type == "int":
            v = int(self.value(nx.rvalue).text)
            return (v if nx.op == "+=" else -v) or None
        return None

    def _modifies(self, body: list[Stmt], var: str, exprs: list[Expr]) -> bool:
        """Could body change the loop variable or a variable of the bound?"""
        names = {var} | {r.name for e in exprs for r in refs_in(e)}
        calls = False
        for s in walk_stmts(body):
            if isinstance(s, Assign) and s.lhs.name in names:
                return True
            user_calls = [s] if isinstance(s, CallStmt) else []
            user_calls += [c for e in stmt_exprs(s) for c in calls_in(e) if not c.intrinsic]
            for c in user_calls:
                calls = True
                f = self.funcs.get(c.name)
                kinds = f.params if f is not None else []
                # an argument passed by value cannot be changed by the callee
                if any(isinstance(a, Ref) and a.name in names
                       and not (k < len(kinds) and kinds[k] == "value")
                       for k, a in enumerate(c.args)):
                    return True
        if calls and any(self.symbol(nm) is not None and self.symbol(nm).storage == "global"
                         for nm in names):
            return True
        return False


def _before_cycles(body: list[Stmt], nxt: list[Stmt]) -> list[Stmt]:
    """body with a copy of nxt before each `continue` of this loop (those
    of nested loops are theirs)."""
    out: list[Stmt] = []
    for s in body:
        if isinstance(s, Cycle) and nxt:
            out += [clone(x) for x in nxt] + [s]
            continue
        if isinstance(s, (If, Select)):
            map_blocks(s, lambda b: _before_cycles(b, nxt))
        elif not isinstance(s, (Loop, While)) and child_blocks(s):
            raise unsupported("continue inside this statement in a for loop that is not counted",
                              s.span)
        out.append(s)
    return out



def _drop_messages(n):
    """`assert(n > 1 && "n too small")`: a string literal is true; the
    message is in the assertion's text already."""
    if isinstance(n, c_ast.BinaryOp) and n.op == "&&":
        sides = [x for x in (n.left, n.right)
                 if not (isinstance(x, c_ast.Constant) and x.type == "string")]
        if len(sides) == 1:
            return _drop_messages(sides[0])
        return c_ast.BinaryOp("&&", _drop_messages(n.left), _drop_messages(n.right), n.coord)
    return n


_INCREMENTS = ("p++", "++", "p--", "--")


def _hoisted_increments(n):
    """`y[k++] = e;`, `s += x[++k];`, `f(&a[k++]);`: (statements before,
    the statement with the variable in place of each increment, statements
    after), or None when n has no increment inside or one this cannot move
    out.  A pre-increment runs before the statement, a post-increment
    after it: the statement reads the value C gives it.  Each incremented
    variable must be a plain name that appears once in the statement (C
    leaves two unsequenced uses undefined) and not under `?:`, `&&` or
    `||`, which may not evaluate it, nor under sizeof, which does not."""
    found: list = []
    names: dict[str, int] = {}

    def visit(x, conditional: bool) -> bool:
        if isinstance(x, c_ast.ID):
            names[x.name] = names.get(x.name, 0) + 1
        if isinstance(x, c_ast.UnaryOp) and x.op in _INCREMENTS and x is not n:
            if conditional or not isinstance(x.expr, c_ast.ID):
                return False
            found.append(x)
        cond_kids = set()
        if isinstance(x, c_ast.UnaryOp) and x.op == "sizeof":
            cond_kids = {id(x.expr)}           # not evaluated at all
        elif isinstance(x, c_ast.TernaryOp):
            cond_kids = {id(x.iftrue), id(x.iffalse)}
        elif isinstance(x, c_ast.BinaryOp) and x.op in ("&&", "||"):
            cond_kids = {id(x.right)}
        for _, c in x.children():
            if isinstance(x, c_ast.FuncCall) and c is x.name:
                continue
            if not visit(c, conditional or id(c) in cond_kids):
                return False
        return True
    if not visit(n, False) or not found:
        return None
    if any(names.get(u.expr.name, 0) != 1 for u in found):
        return None
    import copy as _copy
    before, after = [], []
    for u in found:
        step = c_ast.Assignment("+=" if "++" in u.op else "-=", c_ast.ID(u.expr.name, coord=u.coord),
                                c_ast.Constant("int", "1", coord=u.coord), coord=n.coord)
        (after if u.op.startswith("p") else before).append(step)
    plain = _copy.deepcopy(n)
    _replace_increments(plain)
    return before, plain, after


def _replace_increments(x) -> None:
    """Each increment under x (not x itself) becomes its variable."""
    for attr in getattr(x, "__slots__", ()):
        if attr in ("coord", "__weakref__"):
            continue
        c = getattr(x, attr, None)
        if isinstance(c, c_ast.UnaryOp) and c.op in _INCREMENTS:
            setattr(x, attr, c.expr)
        elif isinstance(c, list):
            for k, y in enumerate(c):
                if isinstance(y, c_ast.UnaryOp) and y.op in _INCREMENTS:
                    c[k] = y.expr
                elif isinstance(y, c_ast.Node):
                    _replace_increments(y)
            continue
        if isinstance(getattr(x, attr, None), c_ast.Node):
            _replace_increments(getattr(x, attr))
