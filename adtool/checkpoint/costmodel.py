"""The cost model of checkpointing.md, shared by the planner and the tests.

binomial_steps is the same function as the runtime's ad_binomial_cost: the
planner predicts what the runtime will do."""
from __future__ import annotations


def binomial_steps(steps: int, snapshots: int) -> int:
    """t(l, s) = r l - β(s+1, r-1), β(s, r) = C(s+r, s), r the smallest
    integer with β(s, r) >= l: the plain steps an optimal schedule runs to
    reverse l steps with s snapshots (the first forward run included)."""
    if steps <= 1:
        return 0
    if snapshots < 1:
        raise ValueError(f"{steps} steps need at least one snapshot")
    total, b, r = 0, 1, 0
    while b < steps:            # sum_{k<r} C(s+k, k) = C(s+r, r-1) = β(s+1, r-1)
        total += b
        r += 1
        b = b * (snapshots + r) // r
    return r * steps - total
