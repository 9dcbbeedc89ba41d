"""Data-flow facts over the IR: storage identity, read/write/use sets, activity."""
from .scope import Scopes, Var  # noqa: F401
from .readwrite import (RoutineSummary, block_reads, block_summary, block_use,  # noqa: F401
                        block_writes, snapshot, stmt_must_kill, stmt_reads, stmt_writes,
                        summaries)
from .activity import Activity, activity  # noqa: F401
