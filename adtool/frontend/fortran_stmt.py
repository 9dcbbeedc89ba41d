"""Executable statements -> IR statements (pass 3), labels and `$AD` directives attached."""
from __future__ import annotations

import copy
import os
import re
from typing import Optional

from fparser.two import Fortran2003 as F
from fparser.two import Fortran2008 as F08
from fparser.two.utils import Base, BlockBase

from ..diagnostics import AdError, bad_input, unsupported
from ..ir.nodes import (INT4, LOGICAL, Allocate, Bin, Assign, Call, CallStmt, Case, Continue, Cycle,
                        Deallocate, Directive, Exit, Expr, Goto, If, ImpliedDo, Lit, Loop, Print, Read,
                        Ref, Return, Section, Select, Span, Stmt, Stop, Symbol, Type,
                        While, INQUIRE_INPUTS, IO_STORES)
from ..ir.visit import refs_in, stmt_exprs, walk_expr, walk_stmts
from .fortran_goto import exits_from_gotos, loops_from_backward_gotos
from .fortran_forall import keep_index_names, lower_forall
from .fortran_where import lower_where
from .fortran_tree import _UNSUPPORTED_STMTS, _Unit, _line_of, _name, _walk, parse_directive
from .source import is_fixed_form


_FOREIGN = re.compile(r"^\s*!\$(omp|acc)\b", re.IGNORECASE)


class Statements:
    """Pass 3 of FortranFrontend: bodies."""

    # -------------------------------------------------------------- pass 3: bodies

    def _lower_body(self, u: _Unit) -> None:
        self.cur = u
        r = u.routine
        r.directives = list(u.pre_directives)
        pending: list[Directive] = []
        first = True
        for c in u.node.children:
            if isinstance(c, F.Directive) and first:
                d = parse_directive(str(c), u.src.span(_line_of(c)))
                if d:
                    r.directives.append(d)
            if isinstance(c, (F.Subroutine_Stmt, F.Function_Stmt, F.Program_Stmt)):
                first = False
        spec = next((c for c in u.node.children if isinstance(c, F.Specification_Part)), None)
        if spec is not None:
            for st in spec.children:
                for x in ([st] if isinstance(st, F.Directive) else
                          [c for c in getattr(st, "children", []) if isinstance(c, F.Directive)]):
                    d = parse_directive(str(x), u.src.span(_line_of(x)))
                    if d:
                        pending.append(d)
        exe = next((c for c in u.node.children if isinstance(c, F.Execution_Part)), None)
        # FORMAT statements may sit anywhere; collect them first.
        if exe is not None:
            for node in _walk(exe):
                if isinstance(node, F.Format_Stmt):
                    u.formats[int(str(node.item.label))] = self._format_text(node)
        for part in u.node.children:
            if not isinstance(part, F.Internal_Subprogram_Part):
                r.ignored_directives.extend((u.src.span(_line_of(n)), str(n).strip()) for n in _walk(part)
                                            if isinstance(n, F.Directive) and _FOREIGN.match(str(n)))
        r.body = exits_from_gotos(loops_from_backward_gotos(
            self.block(list(exe.children) if exe is not None else [], pending)))
        self._drop_statement_function_dummies(u)
        keep_index_names(u)
        self._passed_on_externals(u)
        from ..ir import records
        for s in walk_stmts(r.body):
            if any(records.constructors_in(e) for e in stmt_exprs(s)):
                raise unsupported("structure constructor outside an assignment", s.span)
        self.resolve_pointers(r)
        self.host_pointers_unused(r)
        if r.kind == "function" and r.result not in r.symbols:
            raise bad_input(f"function '{r.name}' has no result", r.span)
        labels = {s.label for s in walk_stmts(r.body) if s.label is not None}
        for s in walk_stmts(r.body):
            if isinstance(s, Goto) and s.target not in labels:
                raise bad_input(f"GOTO to undefined label {s.target}", s.span)

    def block(self, nodes: list, pending: Optional[list[Directive]] = None) -> list[Stmt]:
        saved = self.span
        try:
            return self._block(nodes, pending)
        finally:
            self.span = saved

    def _block(self, nodes: list, pending: Optional[list[Directive]] = None) -> list[Stmt]:
        out: list[Stmt] = []
        pending = list(pending or [])
        for node in nodes:
            if isinstance(node, F.Comment):
                continue
            if isinstance(node, F.Directive):
                d = parse_directive(str(node), self.cur.src.span(_line_of(node)))
                if d:
                    pending.append(d)
                continue
            if isinstance(node, F.Format_Stmt):
                continue
            try:
                stmts = self.stmt(node)
            except AdError as err:       # keep going: report every error of the run
                self.cur.routine.errors.append(err)
                continue
            if stmts and pending:
                stmts[0].directives = pending + stmts[0].directives
                pending = []
            out.extend(stmts)
        if pending:
            out.append(Continue(span=pending[0].span, directives=pending))
        return out

    def _line_span(self, line: int) -> Span:
        """The place of the statement on a line: its first non-blank column
        (past column 6 in fixed form)."""
        span = self.cur.src.span(line, 1)
        text = self.cur.src.line_text(line)
        col = len(text) - len(text.lstrip()) + 1
        if is_fixed_form(self.cur.src.path) and len(text) > 6:
            body = text[6:]
            col = 7 + len(body) - len(body.lstrip())
        return Span(span.file, span.line, col)

    def stmt(self, node) -> list[Stmt]:
        line = _line_of(node)
        span = self._line_span(line)
        self.span = span
        item = getattr(node, "item", None)
        label = None
        if item is not None and getattr(item, "label", None) is not None:
            label = int(str(item.label))
        for cls, what in _UNSUPPORTED_STMTS.items():
            if isinstance(node, cls):
                raise unsupported(what, self._span_at(node, what))
        # fparser puts comments just before a construct inside it: peel them off.
        leading: list[Directive] = []
        if isinstance(node, BlockBase):
            kids = list(node.children)
            while kids and isinstance(kids[0], (F.Comment, F.Directive)):
                c = kids.pop(0)
                if isinstance(c, F.Directive):
                    d = parse_directive(str(c), self.cur.src.span(_line_of(c)))
                    if d:
                        leading.append(d)
            if len(kids) != len(node.children):
                node = copy.copy(node)
                node.content = kids
                line = _line_of(kids[0]) if kids else line
                span = self.cur.src.span(line, span.col)
                self.span = span
        if label is None and isinstance(node, BlockBase) and node.children:
            head_item = getattr(node.children[0], "item", None)
            if head_item is not None and getattr(head_item, "label", None) is not None:
                label = int(str(head_item.label))
        res = self._stmt(node, span)
        if leading and res:
            res[0].directives = leading + res[0].directives
        if label is not None:
            if not res:
                res = [Continue(span=span)]
            res[0].label = label
        return res

    def _stmt(self, node, span: Span) -> list[Stmt]:
        if isinstance(node, F.Assignment_Stmt):
            lhs_node, _, rhs_node = node.children
            if self._statement_function(lhs_node, rhs_node):
                return []
            lhs = self.expr(lhs_node)
            if not isinstance(lhs, Ref):
                if isinstance(lhs, Call) and not lhs.intrinsic:
                    raise unsupported("statement function", span)
                raise bad_input(f"cannot assign to '{lhs_node}'", span)
            sym = self.lookup(lhs.name)
            if sym is not None and sym.is_parameter:
                raise bad_input(f"assignment to PARAMETER '{lhs.name}'", span)
            rhs = self.expr(rhs_node)
            from ..ir import records
            parts = records.expand_assignment(lhs, rhs, self.lookup, span, self._fresh_index)
            if parts is not None:
                for a in walk_stmts(parts):
                    if isinstance(a, Assign) and records.constructors_in(a.rhs):
                        raise unsupported("structure constructor inside an expression", span)
                return parts
            if records.constructors_in(rhs):
                raise unsupported("structure constructor inside an expression", span)
            return [Assign(lhs, rhs, span=span)]
        if isinstance(node, F.Pointer_Assignment_Stmt):
            return self.pointer_assignment(node, span)
        if isinstance(node, F.Call_Stmt):
            if isinstance(node.children[0], F.Procedure_Designator):
                name, args = self.bound_call(node.children[0], node.children[1], "subroutine", span)
                return [CallStmt(name, args, span=span, via=self.resolved_via)]
            name = _name(node.children[0])
            sym = self.lookup(name)
            if sym is not None and sym.storage == "arg" and sym.external and not sym.shape:
                # a dummy procedure: it hides any routine of its name
                if sym.implicit:
                    sym.type = Type("void", 0)     # CALLed: a subroutine
                args, kwargs = self._written_actuals(node.children[1])
                if kwargs:
                    raise unsupported(f"keyword arguments in a call of the dummy procedure "
                                      f"'{name}'", span)
                return [CallStmt(name, args, span=span)]
            name, args = self._actual_args(node.children[1], name)
            sym = self.lookup(name)
            if sym is not None and not sym.external and sym.storage == "arg":
                raise unsupported("call of a dummy procedure argument", span)
            if sym is not None and sym.external and sym.implicit:
                sym.type = Type("void", 0)     # EXTERNAL under implicit typing, CALLed: a subroutine
            return [CallStmt(name, [a for a in args if not isinstance(a, tuple)], span=span,
                             via=self.resolved_via)]
        if isinstance(node, F.If_Stmt):
            cond = self.expr(node.children[0])
            inner = self.stmt(node.children[1])
            for s in inner:
                s.span = span
            return [If([(cond, inner)], span=span)]
        if isinstance(node, F.If_Construct):
            return [self._if_construct(node, span)]
        if isinstance(node, (F.Block_Nonlabel_Do_Construct, F.Block_Label_Do_Construct,
                             F.Action_Term_Do_Construct)):
            return [self._do(node, span)]
        if isinstance(node, (F.Outer_Shared_Do_Construct,)):
            return [self._shared_do(node, span)]
        if isinstance(node, F.Case_Construct):
            return [self._select(node, span)]
        if isinstance(node, F.Associate_Construct):
            return self.associate_construct(node, span)
        if type(node).__name__ == "Block_Construct":
            # its locals are the routine's (fortran_decl._block_declarations)
            name = node.children[0].get_name() if hasattr(node.children[0], "get_name") else None
            from fparser.two.utils import walk as _fwalk
            if name is not None and any(isinstance(x, F.Exit_Stmt) and x.children[1] is not None
                                        and str(x.children[1]).lower() == str(name).lower()
                                        for x in _fwalk(node)):
                raise unsupported("EXIT from a BLOCK construct", span, str(name))
            return self.block([c for c in node.children if type(c).__name__ not in
                               ("Block_Stmt", "Specification_Part", "End_Block_Stmt")])
        if isinstance(node, F.Exit_Stmt):
            nm = node.children[1]
            return [Exit(_name(nm) if nm is not None else None, span=span)]
        if isinstance(node, F.Cycle_Stmt):
            nm = node.children[1]
            return [Cycle(_name(nm) if nm is not None else None, span=span)]
        if isinstance(node, F.Return_Stmt):
            if node.children[0] is not None:
                raise unsupported("alternate return", span)
            return [Return(span=span)]
        if isinstance(node, (F.Stop_Stmt, F08.Error_Stop_Stmt)):
            code = node.children[1] if len(node.children) > 1 else None
            return [Stop(self.expr(code) if isinstance(code, Base) else None,
                         error=isinstance(node, F08.Error_Stop_Stmt), span=span)]
        if isinstance(node, F.Goto_Stmt):
            return [Goto(int(str(node.children[0])), span=span)]
        if isinstance(node, F.Where_Stmt):
            return lower_where(self, [(self.expr(node.children[0]),
                                       self._where_body([node.children[1]], span))], span)
        if isinstance(node, F.Where_Construct):
            return self._where_construct(node, span)
        if isinstance(node, F.Forall_Stmt):
            return lower_forall(self, node.children[0], [node.children[1]], span)
        if isinstance(node, F.Forall_Construct):
            head = node.children[0]
            return lower_forall(self, head.children[1], [c for c in node.children[1:-1]], span)
        if isinstance(node, F.Computed_Goto_Stmt):
            return [self._computed_goto(node, span)]
        if isinstance(node, F.Arithmetic_If_Stmt):
            return [self._arithmetic_if(node, span)]
        if isinstance(node, F.Continue_Stmt):
            return [Continue(span=span)]
        if isinstance(node, F.Print_Stmt):
            fmt_node, items = node.children
            return [Print(self._io_items(items), None, self._fmt(fmt_node), span=span)]
        if isinstance(node, F.Write_Stmt):
            ctl, items = node.children
            unit, fmt, extra = self._io_control(ctl, "WRITE", span)
            return self._io_jumps(Print(self._io_items(items), unit, fmt, specs=extra, span=span))
        if isinstance(node, F.Read_Stmt):
            return self._io_jumps(self._read(node, span))
        if isinstance(node, (F.Open_Stmt, F.Close_Stmt)):
            word = str(node.children[0]).lower()
            specs = [self._io_spec(word.upper(), str(kw).lower() if kw is not None else "unit", val, span)
                     for kw, val in (c.children for c in node.children[1].children)]
            return self._io_jumps(Print([], keyword=word, specs=specs, span=span))
        if isinstance(node, (F.Rewind_Stmt, F.Backspace_Stmt, F.Endfile_Stmt, F.Flush_Stmt)):
            word = type(node).__name__.split("_")[0].lower()
            unit, lst = node.children
            pairs = [(None, unit)] if unit is not None else [tuple(c.children) for c in lst.children]
            specs = [self._io_spec(word.upper(), str(kw).lower() if kw is not None else "unit", val, span)
                     for kw, val in pairs]
            return self._io_jumps(Print([], keyword=word, specs=specs, span=span))
        if isinstance(node, F.Inquire_Stmt):
            return self._io_jumps(self._inquire(node, span))
        if isinstance(node, F.Allocate_Stmt):
            if node.children[0] is not None or node.children[2] is not None:
                raise unsupported("ALLOCATE with type-spec or options", span)
            out = []
            for a in node.children[1].children:
                subs = []
                for sh in a.children[1].children:
                    lo, hi = sh.children
                    subs.append(Section(self.expr(lo), self.expr(hi)) if lo is not None else self.expr(hi))
                if isinstance(a.children[0], F.Data_Ref):
                    # allocate(s%u(n)): the bounds go on the component's part
                    ref = self._component_object(a.children[0], span, "ALLOCATE")
                    ref.path[-1].subs = subs
                    out.append(ref)
                else:
                    out.append(Ref(_name(a.children[0]), subs, span=span))
            return [Allocate(out, span=span)]
        if isinstance(node, F.Deallocate_Stmt):
            objs = node.children[0].children
            parts = [self._component_object(x, span, "DEALLOCATE") for x in objs
                     if isinstance(x, F.Data_Ref)]
            return [Deallocate([_name(x) for x in objs if not isinstance(x, F.Data_Ref)], parts,
                               span=span)]
        raise unsupported(type(node).__name__.replace("_", " ").lower(), span)

    def _fresh_index(self) -> str:
        """A new integer local (the counter of a loop the front end writes)."""
        return self._fresh_local("ad_i", INT4)

    def _statement_function(self, lhs_node, rhs_node) -> bool:
        """`SQ(T) = T*T + 1` where SQ is no array: fparser reads a statement
        function as an assignment to an array element.  Record it; every
        reference is inlined (fortran_expr), so later stages never see one."""
        if not isinstance(lhs_node, F.Part_Ref):
            return False
        name = _name(lhs_node.items[0])
        sym = self.cur.routine.symbols.get(name)
        if sym is None and self.lookup(name) is not None:
            return False
        if sym is not None and (sym.shape or sym.type.base == "character" or sym.storage != "local"):
            return False
        subs = lhs_node.items[1].children if lhs_node.items[1] is not None else []
        if not all(isinstance(s, F.Name) for s in subs):
            return False
        rtype = sym.type if sym is not None else self._implicit_type(name, self.span)
        if sym is not None:
            del self.cur.routine.symbols[name]
        self.cur.stmt_funcs[name] = ([_name(s) for s in subs], rtype, rhs_node)
        return True

    def _passed_on_externals(self, u: _Unit) -> None:
        """An EXTERNAL name under implicit typing that the routine only
        passes on may be a subroutine: it is declared without a type (its
        implicit type would make it a function for the compiler)."""
        r = u.routine
        called = {x.name for s in walk_stmts(r.body) for e in stmt_exprs(s)
                  for x in walk_expr(e) if isinstance(x, Call) and not x.intrinsic}
        for a, sym in r.symbols.items():
            if sym.external and sym.implicit and a not in called:
                sym.type = Type("void", 0)

    def _drop_statement_function_dummies(self, u: _Unit) -> None:
        """A local declared only to type a statement function's dummy is
        unused once every reference is inlined."""
        dummies = {d for ds, _, _ in u.stmt_funcs.values() for d in ds}
        if not dummies:
            return
        used = {x.name for s in walk_stmts(u.routine.body) for e in stmt_exprs(s)
                for x in refs_in(e)}
        used |= {s.var for s in walk_stmts(u.routine.body) if isinstance(s, Loop)}
        for d in dummies - used:
            sym = u.routine.symbols.get(d)
            if sym is not None and sym.storage == "local" and not sym.save and sym.init is None:
                del u.routine.symbols[d]

    def _where_construct(self, node, span: Span) -> list[Stmt]:
        arms: list = []
        for c in node.children:
            if isinstance(c, F.Where_Construct_Stmt):
                arms.append((self.expr(c.children[0]), []))
            elif isinstance(c, F.Masked_Elsewhere_Stmt):
                arms.append((self.expr(c.children[0]), []))
            elif isinstance(c, F.Elsewhere_Stmt):
                arms.append((None, []))
            elif isinstance(c, F.End_Where_Stmt) or isinstance(c, F.Comment):
                continue
            else:
                arms[-1][1].extend(self._where_body([c], span))
        return lower_where(self, arms, span)

    def _where_body(self, nodes: list, span: Span) -> list[Assign]:
        out = []
        for n in nodes:
            if not isinstance(n, F.Assignment_Stmt):
                raise unsupported(f"{type(n).__name__.replace('_', ' ').lower()} inside WHERE", span)
            out.extend(self.stmt(n))
        return out

    def _computed_goto(self, node, span: Span) -> If:
        """`GO TO (l1, l2, ...), i` is a branch on i with a GOTO in each arm
        (i outside 1..n falls through, as the standard says)."""
        labels, sel = node.children
        i = self.expr(sel)
        return If([(Bin("==", copy.deepcopy(i), Lit(str(k + 1), INT4)), [Goto(int(str(lab)), span=span)])
                   for k, lab in enumerate(labels.children)], span=span)

    def _arithmetic_if(self, node, span: Span) -> If:
        """`IF (e) l1, l2, l3`: GOTO l1, l2 or l3 as e < 0, = 0 or > 0."""
        e = self.expr(node.children[0])
        neg, zero, pos = (int(str(x)) for x in node.children[1:4])
        z = Lit("0", INT4)
        return If([(Bin("<", copy.deepcopy(e), z), [Goto(neg, span=span)]),
                   (Bin("==", copy.deepcopy(e), copy.deepcopy(z)), [Goto(zero, span=span)])],
                  [Goto(pos, span=span)], span=span)

    def _io_spec(self, stmt: str, kw: str, val, span: Span) -> tuple[str, Expr]:
        """One keyword=value specifier of an I/O statement.  A label (ERR=,
        END=, EOR=) is kept as an integer literal for _io_jumps; a specifier
        that stores (IOSTAT=, IOMSG=, SIZE=, NEWUNIT=, INQUIRE's) must name
        a variable."""
        if kw in _IO_LABELS:
            return kw, Lit(str(val), INT4)
        e = self.expr(val)
        if (kw in IO_STORES or (stmt == "INQUIRE" and kw not in INQUIRE_INPUTS)) \
                and not isinstance(e, Ref):
            raise bad_input(f"{stmt} {kw.upper()}= needs a variable, not '{val}'", span)
        return kw, e

    def _inquire(self, node, span: Span) -> Print:
        """INQUIRE(specs) or INQUIRE(IOLENGTH=n) items: a statement that only
        stores what it finds (into its specifiers' variables)."""
        lst, iolength, items = node.children
        if lst is None:
            return Print(self._io_items(items), keyword="inquire",
                         specs=[self._io_spec("INQUIRE", "iolength", iolength, span)], span=span)
        specs = [self._io_spec("INQUIRE", str(kw).lower() if kw is not None else "unit", val, span)
                 for kw, val in (c.children for c in lst.children)]
        return Print([], keyword="inquire", specs=specs, span=span)

    def _io_jumps(self, io: Print) -> list[Stmt]:
        """ERR=, END= and EOR= labels become an IOSTAT= variable tested after
        the statement (`if (is_iostat_end(ios)) go to 20`), so the jumps are
        ordinary forward GOTOs for the later stages.  Without an IOSTAT= of
        the user's, a condition no label catches still stops the run, with
        an error as the original would."""
        jumps = [(k, int(v.text)) for k, v in io.specs if k in _IO_LABELS]
        if not jumps:
            return [io]
        io.specs = [(k, v) for k, v in io.specs if k not in _IO_LABELS]
        ios = next((v for k, v in io.specs if k == "iostat"), None)
        own = ios is None
        if own:
            ios = Ref(self._fresh_local("ad_ios", INT4))
            io.specs.append(("iostat", ios))
        span = io.span
        test = {"end": lambda: Call("is_iostat_end", [copy.deepcopy(ios)], intrinsic=True),
                "eor": lambda: Call("is_iostat_eor", [copy.deepcopy(ios)], intrinsic=True),
                "err": lambda: Bin(">", copy.deepcopy(ios), Lit("0", INT4))}
        arms = [(test[k](), [Goto(lab, span=span)]) for k, lab in jumps]
        if own:
            msg = f"{io.keyword.upper()} at {os.path.basename(span.file)}:{span.line} failed"
            arms.append((Bin("!=", copy.deepcopy(ios), Lit("0", INT4)),
                         [Stop(Lit(msg, Type("character", 1, Lit(str(len(msg)), INT4))), error=True,
                               span=span)]))
        return [io, If(arms, span=span)]

    def _fresh_local(self, base: str, t: Type) -> str:
        syms = self.cur.routine.symbols
        k = 1
        while f"{base}{k}" in syms or self.lookup(f"{base}{k}") is not None:
            k += 1
        name = f"{base}{k}"
        syms[name] = Symbol(name, t, storage="local", span=self.span)
        return name

    def _if_construct(self, node, span: Span) -> If:
        branches: list[tuple[Expr, list[Stmt]]] = []
        else_: Optional[list[Stmt]] = None
        cur_cond: Optional[Expr] = None
        cur_nodes: list = []
        in_else = False

        def flush():
            nonlocal cur_nodes
            if in_else:
                return
            if cur_cond is not None:
                branches.append((cur_cond, self.block(cur_nodes)))
            cur_nodes = []
        for c in node.children:
            if isinstance(c, F.If_Then_Stmt):
                cur_cond = self.expr(c.children[0])
            elif isinstance(c, F.Else_If_Stmt):
                flush()
                cur_cond = self.expr(c.children[0])
            elif isinstance(c, F.Else_Stmt):
                flush()
                in_else = True
                cur_nodes = []
            elif isinstance(c, F.End_If_Stmt):
                if in_else:
                    else_ = self.block(cur_nodes)
                else:
                    flush()
            else:
                cur_nodes.append(c)
        return If(branches, else_, span=span)

    def _do(self, node, span: Span) -> Stmt:
        head = node.children[0]
        end = node.children[-1]
        body_nodes = list(node.children[1:])
        if isinstance(end, (F.End_Do_Stmt,)):
            body_nodes = body_nodes[:-1]
        return self._loop(head, body_nodes, span)

    def _loop(self, head, body_nodes: list, span: Span) -> Stmt:
        cname = None
        if isinstance(head, F.Nonlabel_Do_Stmt) or isinstance(head, F.Label_Do_Stmt):
            if getattr(head.item, "name", None):
                cname = head.item.name.lower()
        ctl = head.children[-1] if head.children else None
        inner = next((k for k, c in enumerate(body_nodes) if isinstance(c, F.Label_Do_Stmt)
                      and isinstance(head, F.Label_Do_Stmt)
                      and str(c.children[0]) == str(head.children[0])), None)
        if inner is not None:
            # DO 10 J / DO 10 I / ... / 10 CONTINUE: fparser leaves the DO
            # statements of loops that share their terminal statement as bare
            # statements of the outermost loop.  Each opens a loop over the
            # rest, the terminal statement included: it runs on every trip
            # of the innermost loop, and a GOTO to it cycles that loop.
            nested = self._loop(body_nodes[inner], body_nodes[inner + 1:],
                                self._line_span(_line_of(body_nodes[inner])))
            body = self.block(body_nodes[:inner]) + [nested]
        else:
            body = self.block(body_nodes)
        if ctl is None:
            return While(Lit("true", LOGICAL), body, name=cname, span=span)
        if ctl.children[0] is not None:       # while (cond)
            return While(self.expr(ctl.children[0]), body, name=cname, span=span)
        if ctl.children[1] is None and len(ctl.children) > 3 and ctl.children[3] is not None:
            return self._do_concurrent(ctl.children[3], body, cname, span)
        if ctl.children[1] is None:
            raise unsupported("DO loop control", span, str(ctl))
        var, bounds = ctl.children[1]
        var = _name(var)
        vsym = self.lookup(var)
        if vsym is None:
            self._implicit_local(var)
        elif vsym.type.base != "integer":
            raise unsupported("DO loop with a non-integer variable", span)
        lo, hi = self.expr(bounds[0]), self.expr(bounds[1])
        step = self.expr(bounds[2]) if len(bounds) > 2 and bounds[2] is not None else None
        return Loop(var, lo, hi, step, body, name=cname, span=span)

    def _do_concurrent(self, header, body: list, cname, span: Span) -> Stmt:
        """DO CONCURRENT (i = a:b[:s], j = ..., mask): the standard lets the
        iterations run in any order and forbids dependences between them,
        so nested serial loops (the first index outermost) with the mask as
        an IF around the body are one of its executions.  (FORALL, whose
        right sides are all evaluated before any assignment, is not.)"""
        triplets = header.children[0].children
        mask = header.children[1] if len(header.children) > 1 else None
        if mask is not None:
            body = [If([(self.expr(mask), body)], span=span)]
        inner = True
        for t in reversed(triplets):
            var = _name(t.children[0])
            vsym = self.lookup(var)
            if vsym is None:
                self._implicit_local(var)
            elif vsym.type.base != "integer":
                raise unsupported("DO CONCURRENT with a non-integer index", span, var)
            step = self.expr(t.children[3]) if t.children[3] is not None else None
            # the construct's name goes on the innermost loop: CYCLE name
            # ends one iteration, one combination of the indices
            body = [Loop(var, self.expr(t.children[1]), self.expr(t.children[2]), step, body,
                         name=cname if inner else None, span=span)]
            inner = False
        return body[0]

    def _shared_do(self, node, span: Span) -> Stmt:
        raise unsupported("DO loops sharing one terminal statement", span)

    def _select(self, node, span: Span) -> Select:
        expr = None
        cases: list[Case] = []
        default = None
        cur_vals = None
        cur_nodes: list = []
        is_default = False

        def flush():
            nonlocal default
            if cur_vals is None and not is_default:
                return
            body = self.block(cur_nodes)
            if is_default:
                default = body
            else:
                cases.append(Case(cur_vals, body))
        for c in node.children:
            if isinstance(c, F.Select_Case_Stmt):
                expr = self.expr(c.children[0])
            elif isinstance(c, F.Case_Stmt):
                flush()
                cur_nodes = []
                sel = c.children[0]
                if str(sel).upper() == "DEFAULT" or sel.children[0] is None:
                    is_default, cur_vals = True, None
                else:
                    is_default = False
                    cur_vals = []
                    for v in sel.children[0].children:
                        if isinstance(v, F.Case_Value_Range):
                            lo, hi = v.children
                            cur_vals.append(Section(self.expr(lo) if lo is not None else None,
                                                    self.expr(hi) if hi is not None else None))
                        else:
                            cur_vals.append(self.expr(v))
            elif isinstance(c, F.End_Select_Stmt):
                flush()
            else:
                cur_nodes.append(c)
        return Select(expr, cases, default, span=span)

    def _format_text(self, node) -> str:
        spec = node.children[1]
        return str(spec)

    def _component_object(self, node, span: Span, stmt: str) -> Ref:
        """An allocatable component named in ALLOCATE/DEALLOCATE (`s%u`,
        `s(i)%a%v`)."""
        ref = self._data_ref(node, span)
        from ..ir import records
        sym = records.ref_symbol(ref, self.lookup)
        if sym is None or not sym.allocatable or ref.path[-1].subs is not None:
            raise bad_input(f"{stmt} of '{node}': not an allocatable component", span)
        return ref

    def _io_control(self, ctl, stmt: str, span: Span):
        """(unit, format, other specifiers) of a READ/WRITE control list."""
        unit, fmt = None, None
        extra: list[tuple[str, Expr]] = []
        for k, spec in enumerate(ctl.children):
            kw, val = (spec.children if isinstance(spec, F.Io_Control_Spec) else (None, spec))
            kw = str(kw).lower() if kw is not None else ("unit" if k == 0 else "fmt" if k == 1 else "?")
            if kw == "unit":
                unit = None if str(val) == "*" else self.expr(val)
            elif kw == "fmt":
                fmt = self._fmt(val)
            else:
                extra.append(self._io_spec(stmt, kw, val, span))
        return unit, fmt, extra

    def _read(self, node, span: Span) -> Read:
        ctl, fmt_node, items = node.children
        if ctl is None:                       # read fmt, items
            unit, fmt, extra = None, self._fmt(fmt_node), []
        else:
            unit, fmt, extra = self._io_control(ctl, "READ", span)
        out = self._io_items(items)
        for it in out:
            _check_read_target(it, span)
        return Read(out, unit, fmt, specs=extra, span=span)

    def _fmt(self, f) -> Optional[str]:
        if f is None or str(f) == "*":
            return None
        if isinstance(f, F.Format):
            f = f.children[0] if f.children else f
            if str(f) == "*":
                return None
        if isinstance(f, F.Char_Literal_Constant):
            s = str(f.children[0])
            q = s[0]
            return s[1:-1].replace(q + q, q)
        if isinstance(f, F.Label):
            lab = int(str(f))
            if lab not in self.cur.formats:
                raise bad_input(f"FORMAT label {lab} not found", self.span)
            return self.cur.formats[lab]
        raise unsupported(f"format '{f}'", self.span)

    def _io_items(self, items) -> list[Expr]:
        if items is None:
            return []
        out = []
        for it in items.children:
            out.append(self._io_item(it))
        return out

    def _io_item(self, it) -> Expr:
        if isinstance(it, F.Io_Implied_Do):
            objs, ctl = it.children
            var = _name(ctl.children[0])
            if self.lookup(var) is None:
                self._implicit_local(var)
            bounds = ctl.children[1:]
            lo, hi = self.expr(bounds[0]), self.expr(bounds[1])
            step = self.expr(bounds[2]) if len(bounds) > 2 and bounds[2] is not None else None
            return ImpliedDo([self._io_item(o) for o in objs.children], var, lo, hi, step, span=self.span)
        return self.expr(it)

    def _actual_args(self, lst, callee: str) -> tuple[str, list]:
        out, kwargs = self._written_actuals(lst)
        return self.resolve_call(callee, out, kwargs, self.span)

    def _written_actuals(self, lst) -> tuple[list[Expr], list[tuple[str, Expr]]]:
        """(positional, keyword) actual arguments as written."""
        if lst is None:
            return [], []
        out = []
        kwargs: list[tuple[str, Expr]] = []
        for a in lst.children:
            if isinstance(a, F.Alt_Return_Spec):
                raise unsupported("alternate return", self.span)
            if isinstance(a, F.Actual_Arg_Spec):
                kw, val = a.children
                if kw is not None:
                    kwargs.append((_name(kw), self.actual_expr(val)))
                    continue
                a = val
            out.append(self.actual_expr(a))
        return out, kwargs

    def bound_call(self, designator, lst, kind: str, span: Span) -> tuple[str, list[Expr]]:
        """`call obj%name(args)` / `obj%name(args)` through a type-bound
        procedure: a call of the bound procedure with the object passed as
        its first dummy (or the PASS(arg) one; none under NOPASS).  Type
        extension is refused, so the binding of the declared type is the
        one that runs."""
        obj_node, _, bnode = designator.children
        return self.bound(self.expr(obj_node), _name(bnode), lst, kind, span)

    def bound(self, obj: Expr, bname: str, lst, kind: str, span: Span) -> tuple[str, list[Expr]]:
        t = self.type_of(obj)
        td = self.tu.types.get(t.name) if t.base == "derived" else None
        if td is None:
            raise unsupported("call through a procedure component", span, bname)
        b = td.bindings.get(bname)
        if b is None:
            raise bad_input(f"type '{td.name}' has no procedure '{bname}'", span)
        args, kwargs = self._written_actuals(lst)
        target = self.callable_routine(b.procedure)
        if target is None or target.module != td.module:
            raise unsupported(f"type-bound procedure '{bname}' whose procedure '{b.procedure}' "
                              "is not visible here", span)
        if not b.nopass:
            # positional actuals fill the dummies other than the object's
            k = target.args.index(b.pass_arg) if b.pass_arg in target.args else 0
            if b.pass_arg is not None and b.pass_arg not in target.args:
                raise bad_input(f"PASS({b.pass_arg}) of '{bname}': '{b.procedure}' has no such "
                                "argument", span)
            if k <= len(args):
                args.insert(k, obj)
            else:
                kwargs.append((target.args[k], obj))
        if target.kind != kind:
            raise bad_input(f"{target.kind} '{b.procedure}' (bound as '{bname}') used as a {kind}",
                            span)
        name, slots = self.resolve_call(b.procedure, args, kwargs, span)
        slots = [a for a in slots if not isinstance(a, tuple)]
        k = next((i for i, a in enumerate(slots) if a is obj), None)
        self.resolved_via = (name, bname, k) if k is not None else (name, bname)
        return name, slots

    def _implicit_local(self, name: str) -> Symbol:
        t = self._implicit_type(name, self.span)
        sym = Symbol(name, t, storage="local", implicit=True, span=self.span)
        self.cur.routine.symbols[name] = sym
        return sym


_IO_LABELS = ("err", "end", "eor")


def _check_read_target(e: Expr, span: Span) -> None:
    """READ stores into variables: each item a variable, an element, a
    section, or an implied-DO of those."""
    if isinstance(e, ImpliedDo):
        for x in e.items:
            _check_read_target(x, span)
    elif not isinstance(e, Ref):
        raise unsupported("READ into an expression that is not a variable", span)
