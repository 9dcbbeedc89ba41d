"""Language-neutral intermediate representation.

Both front ends lower into these plain dataclasses and every later stage
(analysis, plan, transform, backend) sees nothing else.  Spelling is a
backend decision: the IR records facts (type and size in bytes, bounds,
intent, storage class, pass-by-reference) and never Fortran or C syntax.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Span:
    """Where a node came from in the user's original source (1-based)."""
    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOSPAN = Span("<generated>", 0, 0)


# ---------------------------------------------------------------- types

@dataclass(frozen=True)
class Type:
    """base: 'real' | 'integer' | 'logical' | 'character' | 'complex' | 'void'
    | 'derived' (a Fortran derived type or a C struct; `name` is its
    TypeDef's name in TranslationUnit.types, kind is unused).

    kind is the size in bytes (real 4/8, integer 4/8, logical 4, complex 8/16).
    For character, `length` is an Expr or None for assumed length '(*)'.
    `default` records that the user wrote no kind (`real`, `1.0`): the
    backend keeps that spelling, so code built with -fdefault-real-8 still
    matches; it takes no part in equality (the kind decides).
    """
    base: str
    kind: int = 4
    length: Optional["Expr"] = None
    default: bool = field(default=False, compare=False)
    name: Optional[str] = None
    unsigned: bool = False        # a C unsigned integer (wraps; printed `unsigned`)
    # A C character type used as a small integer (kind 1): 'char', 'signed
    # char' or 'unsigned char' (also unsigned).  Three distinct C types --
    # plain char's signedness is the platform's -- so the C output declares
    # each as the user did; kind 1 without it is C's _Bool.
    char: Optional[str] = None

    @property
    def is_real(self) -> bool:
        return self.base in ("real", "complex")

    @property
    def is_derived(self) -> bool:
        return self.base == "derived"

    def __str__(self) -> str:
        if self.base == "derived":
            return f"type({self.name})"
        if self.char:
            return self.char
        return f"{'unsigned ' if self.unsigned else ''}{self.base}({self.kind})"


REAL4 = Type("real", 4)
REAL8 = Type("real", 8)
INT4 = Type("integer", 4)
INT8 = Type("integer", 8)
UINT4 = Type("integer", 4, unsigned=True)
UINT8 = Type("integer", 8, unsigned=True)
# C's small integers: short, and the three character types
INT2 = Type("integer", 2)
UINT2 = Type("integer", 2, unsigned=True)
CHAR = Type("integer", 1, char="char")
SCHAR = Type("integer", 1, char="signed char")
UCHAR = Type("integer", 1, unsigned=True, char="unsigned char")
LOGICAL = Type("logical", 4)


@dataclass
class Dim:
    """One array dimension.  lb None means the language default (1 in Fortran,
    0 in C).  ub None with assumed=False means assumed-size ('*');
    assumed=True means assumed-shape (':'), whose bounds come at run time."""
    lb: Optional["Expr"] = None
    ub: Optional["Expr"] = None
    assumed: bool = False


@dataclass
class Symbol:
    """A named variable, argument, parameter, function result or routine name.

    storage: 'arg' | 'local' | 'result' | 'common' | 'module' | 'global'.
    A PARAMETER (named constant) has is_parameter and value.  `init` is a
    compile-time initialiser (Fortran DATA or declaration initialisation);
    such locals are implicitly saved.
    """
    name: str
    type: Type
    shape: list[Dim] = field(default_factory=list)
    intent: Optional[str] = None          # 'in' | 'out' | 'inout' | None
    storage: str = "local"
    common: Optional[str] = None          # COMMON block name ('' = blank common)
    module: Optional[str] = None          # module that owns the variable
    is_parameter: bool = False
    value: Optional["Expr"] = None        # value of a PARAMETER
    init: Optional["Expr"] = None         # initial value (DATA / declaration)
    save: bool = False
    external: bool = False                # declared EXTERNAL (a routine, not data)
    allocatable: bool = False
    pointer: bool = False                 # C pointer used as array / Fortran pointer
    by_value: bool = False                # C scalar argument passed by value
    implicit: bool = False                # typed by Fortran implicit rules
    private: bool = False                 # PRIVATE module entity (not visible to `use`)
    optional: bool = False                # OPTIONAL dummy argument (may be absent)
    target: bool = False                  # Fortran TARGET attribute
    polymorphic: bool = False             # Fortran CLASS(t) dummy (printed back as such)
    by_interface: bool = False            # dummy procedure an INTERFACE body declares
    proc_interface: Optional[str] = None  # `procedure(iface) :: name`: the interface's name
    #                                       (C: a function-pointer parameter as written)
    proc_params: Optional[list] = None    # C function-pointer parameter: how each of its
    #                                       parameters is passed ('value' or 'array')
    span: "Span" = NOSPAN

    @property
    def rank(self) -> int:
        return len(self.shape)


# ---------------------------------------------------------------- expressions

@dataclass
class Expr:
    # Where it came from is not part of what it is: equal trees compare equal.
    span: Span = field(default=NOSPAN, kw_only=True, compare=False)


@dataclass
class Lit(Expr):
    """A literal, kept as text in a neutral form: integers '42', reals
    '1.5e0' with `type.kind` giving the precision, logicals 'true'/'false',
    strings without quotes."""
    text: str
    type: Type


@dataclass
class Section:
    """lo:hi:step inside a subscript list; None parts are omitted bounds."""
    lo: Optional[Expr] = None
    hi: Optional[Expr] = None
    step: Optional[Expr] = None


Subscript = Union[Expr, Section]


@dataclass
class Part:
    """One component step of a record reference: `%name(subs)` in Fortran,
    `.name[subs]` or `->name[subs]` in C (the backend picks the spelling
    from the base's type; the IR does not record it).  subs None: the
    whole component."""
    name: str
    subs: Optional[list[Subscript]] = None


@dataclass
class Ref(Expr):
    """A variable, array element, or array section.  subs None: the whole
    object.  `path` is a record component path: `s(i)%a%b(j)` is
    Ref('s', [i], path=[Part('a'), Part('b', [j])]); None for no component.
    `substring` is a character substring `s(lo:hi)` (of the element, when
    subs index an array of strings)."""
    name: str
    subs: Optional[list[Subscript]] = None
    path: Optional[list[Part]] = None
    substring: Optional["Section"] = None


@dataclass
class Bin(Expr):
    """op in: + - * / ** == != < <= > >= and or eqv neqv concat."""
    op: str
    left: Expr
    right: Expr


@dataclass
class Un(Expr):
    """op in: - + not."""
    op: str
    operand: Expr


@dataclass
class Call(Expr):
    """A function call.  intrinsic=True for language intrinsics (sin, sqrt,
    sum, max ...); otherwise a user function.  kwargs keep keyword actual
    arguments (dim=1, kind=8) in order after the positional ones."""
    name: str
    args: list[Expr] = field(default_factory=list)
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)
    intrinsic: bool = False
    # (specific, generic): the call was written with a generic name that
    # the front end resolved to `specific`; a call of that specific is
    # spelled with the generic (which is visible where the user wrote it,
    # the specific may be PRIVATE).  A derivative call has another name.
    # (specific, binding, k): written `obj%binding(...)`, a type-bound
    # procedure whose object is args[k]; spelled so again for the same reason.
    # (specific, routine, None, ((k, procedure), ...)): the specialisation of
    # `routine` for procedure actuals (frontend/specialize.py), spelled as the
    # user's call with the procedures put back at positions k.
    via: Optional[tuple] = field(default=None, kw_only=True, compare=False)


@dataclass
class Absent(Expr):
    """The actual argument of an OPTIONAL dummy that the call omits: calls
    keep one positional slot per formal, this marks an empty one (derivative
    actuals of an absent argument are absent too)."""


@dataclass
class ProcRef(Expr):
    """A procedure passed as an actual argument (`call rk2(rhs, u)`).  The
    front end specialises the callee for it (frontend/specialize.py), so no
    ProcRef reaches a routine that is differentiated."""
    name: str


@dataclass
class Keyword(Expr):
    """`name=value` in an actual argument list: what follows an omitted
    optional argument is passed by keyword (made from Absent slots just
    before output, by transform/optional_args.py)."""
    name: str
    value: Expr


@dataclass
class Cast(Expr):
    type: Type
    operand: Expr


@dataclass
class Cond(Expr):
    """C ternary / Fortran merge."""
    cond: Expr
    then: Expr
    else_: Expr


@dataclass
class ArrayCtor(Expr):
    """Array constructor (/ a, b, c /); items may be Implied loops."""
    items: list[Expr]


@dataclass
class ImpliedDo(Expr):
    """(item, var = lo, hi[, step]) inside an array constructor or I/O list."""
    items: list[Expr]
    var: str
    lo: Expr
    hi: Expr
    step: Optional[Expr] = None


# ---------------------------------------------------------------- statements

@dataclass
class Directive:
    """An `$AD ...` directive: `name` upper-cased (NOCHECKPOINT, CHECKPOINT,
    CHECKPOINT-START, CHECKPOINT-END, BINOMIAL-CKP ...), args the rest."""
    name: str
    args: list[str]
    span: Span


@dataclass
class Stmt:
    span: Span = field(default=NOSPAN, kw_only=True, compare=False)
    label: Optional[int] = field(default=None, kw_only=True)   # Fortran statement label / C label
    directives: list[Directive] = field(default_factory=list, kw_only=True)


@dataclass
class Assign(Stmt):
    lhs: Ref
    rhs: Expr


@dataclass
class CallStmt(Stmt):
    name: str
    args: list[Expr] = field(default_factory=list)
    via: Optional[tuple] = field(default=None, kw_only=True, compare=False)   # see Call


@dataclass
class If(Stmt):
    """if / else if ... / else: branches is [(cond, body), ...]."""
    branches: list[tuple[Expr, list[Stmt]]]
    else_: Optional[list[Stmt]] = None


@dataclass
class Loop(Stmt):
    """Counted loop: var = lo, hi, step (inclusive, Fortran semantics; the C
    front end normalises `for (i = a; i < b; i++)` to hi = b - 1).
    `name` is a construct name for exit/cycle, if any."""
    var: str
    lo: Expr
    hi: Expr
    step: Optional[Expr] = None
    body: list[Stmt] = field(default_factory=list)
    name: Optional[str] = None


@dataclass
class While(Stmt):
    """Pre-tested loop; do-while (post-tested) sets post_test."""
    cond: Expr
    body: list[Stmt] = field(default_factory=list)
    name: Optional[str] = None
    post_test: bool = False


@dataclass
class Case:
    """One case of a select: values are Exprs or Sections (ranges lo:hi)."""
    values: list[Subscript]
    body: list[Stmt]


@dataclass
class Select(Stmt):
    expr: Expr
    cases: list[Case]
    default: Optional[list[Stmt]] = None


@dataclass
class Exit(Stmt):
    """Leave the innermost (or named) loop: Fortran EXIT, C break."""
    name: Optional[str] = None


@dataclass
class Cycle(Stmt):
    """Next iteration: Fortran CYCLE, C continue."""
    name: Optional[str] = None


@dataclass
class Return(Stmt):
    value: Optional[Expr] = None


@dataclass
class Stop(Stmt):
    code: Optional[Expr] = None
    error: bool = False          # ERROR STOP


@dataclass
class Goto(Stmt):
    target: int


@dataclass
class Continue(Stmt):
    """A no-op that carries a label (Fortran CONTINUE)."""


@dataclass
class Print(Stmt):
    """Passive output (print/write): kept in primal copies, dropped from
    adjoint sweeps.  `control` is the unit/format pair as neutral values:
    unit None = standard output; fmt None = list-directed, else the format
    string (without quotes).  `keyword` names other passive I/O statements
    kept the same way (open, close, rewind, backspace, endfile, flush,
    inquire), whose `specs` are their keyword=value specifiers (extra ones,
    for write).  They write program variables only through specifiers
    (`stored()`: IOSTAT=, INQUIRE's EXIST=...); the front end has turned
    ERR=/END=/EOR= labels into GOTOs after the statement."""
    items: list[Expr]
    unit: Optional[Expr] = None
    fmt: Optional[str] = None
    keyword: str = "write"
    specs: list[tuple[str, Expr]] = field(default_factory=list)

    def stored(self) -> list[Expr]:
        """The variables the statement stores into through its specifiers
        (IOSTAT=, IOMSG=, SIZE=, NEWUNIT=; every INQUIRE specifier but its
        inputs): integer, logical and character state the analyses and the
        tape see written, like a READ's items."""
        inquire = self.keyword == "inquire"
        return [v for k, v in self.specs
                if k in IO_STORES or (inquire and k not in INQUIRE_INPUTS)]


# Specifiers through which any I/O statement stores into a variable, and
# the ones through which an INQUIRE does not.
IO_STORES = frozenset({"iostat", "iomsg", "size", "newunit", "iolength"})
INQUIRE_INPUTS = frozenset({"unit", "file", "id"})


@dataclass
class Read(Print):
    """read(unit, fmt) items: the items (Refs, ImpliedDos of Refs) are
    written with values no derivative flows into.  A Print to every pass
    that only keeps I/O where it is; the analyses and the derivative sweeps
    see its writes (the targets' derivatives become zero)."""
    keyword: str = "read"


@dataclass
class Allocate(Stmt):
    """allocate(a(lb:ub, ...), ...): each item is a Ref whose subs are the
    bounds (Sections with lo/hi, or plain upper-bound Exprs).  `source`
    (the transform's temporaries only, one item without bounds): allocate
    with the value's shape and bounds and copy it in -- an expression the
    analyses read like an assignment's right side."""
    items: list[Ref]
    source: Optional["Expr"] = None


@dataclass
class Deallocate(Stmt):
    """deallocate(a, s%u): whole variables by name; allocatable components
    of records as references (`parts`)."""
    names: list[str]
    parts: list[Ref] = field(default_factory=list)


@dataclass
class Raw(Stmt):
    """Target-language text the transform emits itself (e.g. runtime
    calls).  Never produced by a front end."""
    text: str


# ---------------------------------------------------------------- containers

@dataclass
class TypeDef:
    """A Fortran derived type or a C struct.  Components in declaration
    order, each a Symbol (storage 'component'; shape, allocatable, pointer
    and a derived type of their own as for variables).  `module` owns a
    Fortran type (None: defined in a routine or, in C, at file scope);
    `c_typedef` is the C typedef name when the struct has one (the backend
    spells the type with it), `c_tag` its struct tag if any."""
    name: str
    components: dict[str, Symbol]
    module: Optional[str] = None
    private: bool = False
    c_typedef: Optional[str] = None
    c_tag: Optional[str] = None
    span: Span = NOSPAN
    # Fortran type-bound procedures: binding name -> Binding
    bindings: dict[str, "Binding"] = field(default_factory=dict)


@dataclass
class Binding:
    """`procedure[, pass(arg) | nopass] :: name [=> procedure]` of a type.
    With type extension refused, the dynamic type of an object is its
    declared type and a call through the binding is a call of `procedure`."""
    procedure: str
    pass_arg: Optional[str] = None      # None: the first dummy receives the object
    nopass: bool = False


@dataclass
class Interface:
    """A Fortran INTERFACE block kept for output: a generic `name` (None:
    a block of explicit interfaces) over module procedures named in
    `procedures` and the explicit interfaces in `bodies` (routines without
    statements).  Calls already name the specific procedure (the front end
    resolves generic names); the block is re-emitted so that the code
    around them still compiles."""
    name: Optional[str]
    procedures: list[str] = field(default_factory=list)
    bodies: list["Routine"] = field(default_factory=list)
    abstract: bool = False     # ABSTRACT INTERFACE: the bodies name interfaces, not procedures


@dataclass
class Routine:
    """kind: 'subroutine' | 'function' | 'program'.  `args` are the formal
    argument names in order; each has a Symbol in `symbols`.  A function's
    result name is `result` (a Symbol with storage 'result')."""
    name: str
    kind: str
    args: list[str]
    symbols: dict[str, Symbol]
    body: list[Stmt]
    result: Optional[str] = None
    directives: list[Directive] = field(default_factory=list)
    span: Span = NOSPAN
    module: Optional[str] = None              # owning module, if a module procedure
    host: Optional[str] = None                # host routine, if internal
    uses: list["Use"] = field(default_factory=list)
    commons: dict[str, list[str]] = field(default_factory=dict)   # block -> member names in order
    contains: list["Routine"] = field(default_factory=list)       # internal procedures
    language: str = "fortran"
    static: bool = False                      # C static function
    # What the front end could not lower (diagnostics, in source order).  A
    # routine outside the differentiated call tree is kept for the call
    # graph and otherwise left alone; inside it, these are the run's errors.
    errors: list[Exception] = field(default_factory=list)
    declared: Optional[object] = None         # externals.External: no source, a declaration
    # Other tools' directives (OpenMP, OpenACC) the derivative code does not
    # carry: (where, text), for a warning when the routine is differentiated.
    ignored_directives: list[tuple[Span, str]] = field(default_factory=list)
    private: bool = False                     # PRIVATE module procedure
    specialized_from: Optional[str] = None    # a copy for procedure actuals (frontend/specialize.py)
    elemental: bool = False                   # Fortran ELEMENTAL procedure
    pure: bool = False                        # Fortran PURE procedure
    interfaces: list[Interface] = field(default_factory=list)   # INTERFACE blocks of its spec

    def arg_symbols(self) -> list[Symbol]:
        return [self.symbols[a] for a in self.args]


@dataclass
class Use:
    module: str
    only: Optional[list[str]] = None          # None: everything
    renames: list[tuple[str, str]] = field(default_factory=list)   # (local, remote)


@dataclass
class Module:
    name: str
    symbols: dict[str, Symbol]
    routines: list[Routine] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    span: Span = NOSPAN
    interfaces: list[Interface] = field(default_factory=list)


@dataclass
class TranslationUnit:
    """Everything read from the input files.  `routines` are the external
    (top-level) routines and the main program; module procedures live in
    their module.  `all_routines()` flattens."""
    language: str
    files: list[str]
    modules: list[Module] = field(default_factory=list)
    routines: list[Routine] = field(default_factory=list)
    globals: dict[str, Symbol] = field(default_factory=dict)     # C globals
    includes: list[str] = field(default_factory=list)            # C #include lines to re-emit
    # C functions the front end could not read, by name: (errors, names of the
    # functions they call).  An error only when a head's call tree reaches them.
    unread: dict[str, tuple[list, list[str]]] = field(default_factory=dict)
    # C functions declared (prototype) but not defined: args and types for
    # externals declarations (adtool/externals.py); bodies are empty.
    prototypes: dict[str, "Routine"] = field(default_factory=dict)
    # Derived types / structs by name (one namespace for the program: two
    # different definitions under one name are refused by the front end).
    types: dict[str, TypeDef] = field(default_factory=dict)

    def order_modules(self) -> bool:
        """A module must precede the modules that use it (Fortran compiles
        one file in order); False when they use each other in a cycle."""
        names = {m.name for m in self.modules}
        ordered: list[Module] = []
        placed: set[str] = set()
        pending = list(self.modules)
        while pending:
            progress = False
            for m in list(pending):
                deps = {u.module for u in m.uses} | {u.module for r in m.routines for u in r.uses}
                if all(d in placed or d not in names or d == m.name for d in deps):
                    ordered.append(m)
                    placed.add(m.name)
                    pending.remove(m)
                    progress = True
            if not progress:
                ordered.extend(pending)
                break
        self.modules = ordered
        return not pending

    def all_routines(self) -> list[Routine]:
        out: list[Routine] = []

        def add(r: Routine) -> None:
            out.append(r)
            for c in r.contains:
                add(c)
        for m in self.modules:
            for r in m.routines:
                add(r)
        for r in self.routines:
            add(r)
        return out

    def routine(self, name: str) -> Optional[Routine]:
        """The first routine of that name (all_routines order).  Looked up
        in an index, because the transform asks thousands of times: the
        index is rebuilt when the top-level lists change (their identity or
        length) or when the routine found no longer has the name asked."""
        key = (id(self.modules), len(self.modules), id(self.routines), len(self.routines),
               tuple((id(m.routines), len(m.routines)) for m in self.modules))
        cached = self.__dict__.get("_cache_routines")
        if cached is not None and cached[0] == key:
            r = cached[1].get(name)
            if r is not None and r.name == name:
                return r
        index: dict[str, Routine] = {}
        for r in self.all_routines():
            index.setdefault(r.name, r)
        self.__dict__["_cache_routines"] = (key, index)
        return index.get(name)

    def module(self, name: str) -> Optional[Module]:
        for m in self.modules:
            if m.name == name:
                return m
        return None
