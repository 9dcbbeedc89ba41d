"""IR -> source text.  Each target language has an expression printer and a
statement/unit printer; layout skeletons live in the top-level templates/."""
from .fortran import emit_module, emit_routine, emit_stmts, emit_unit  # noqa: F401
from .fortran_expr import fexpr  # noqa: F401
