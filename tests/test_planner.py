"""The planner's cost model (checkpointing.md "Cost model") and its
optimiser: the worked example as a pure unit test, then a small end-to-end
case from measured profiles."""
import pytest

from adtool.checkpoint import costmodel as cm
from adtool.checkpoint.costmodel import Node


def worked_example() -> Node:
    """MAIN calls A (calls A1, A2) and B (calls B1), with tapes, snapshots
    and primal times (fractions of the whole primal) that give the numbers
    of checkpointing.md; T_split = 3.20 x primal."""
    a1 = Node("a/a1", [200.0], snapshot=10.0, extra=0.30)
    a2 = Node("a/a2", [0.0], snapshot=5.0, extra=0.10)
    a = Node("main/a", [100.0, 0.0, 0.0], [a1, a2], snapshot=10.0, extra=0.06 + 0.30 + 0.10)
    b1 = Node("b/b1", [280.0], snapshot=20.0, extra=0.44)
    b = Node("main/b", [0.0, 45.0], [b1], snapshot=15.0, extra=0.10 + 0.44)
    return Node("main", [50.0, 0.0, 0.0], [a, b])


def predicted(joint):
    root = worked_example()
    return cm.peak(root, set(joint)), round(cm.predicted_time(root, set(joint), 3.20), 2)


def test_worked_example_numbers():
    assert predicted([]) == (675, 3.20)
    assert predicted(["main/a", "a/a1", "a/a2", "main/b", "b/b1"]) == (350, 5.04)
    assert predicted(["main/a", "b/b1"]) == (350, 4.10)
    assert predicted(["main/a"]) == (385, 3.66)


def test_optimum_at_the_smallest_memory_is_a_and_b1():
    root = worked_example()
    assert cm.minimum_peak(root) == (350, "exact (MILP, HiGHS)")
    c = cm.optimise(root, 350, 3.20)
    assert c.joint == {"main/a", "b/b1"} and c.peak == 350 and round(c.time, 2) == 4.10
    assert c.method.startswith("exact")
    assert cm.optimise(root, 349, 3.20) is None
    assert cm.optimise(root, 675, 3.20).joint == set()


def test_exact_matches_brute_force_on_every_budget():
    import itertools
    root = worked_example()
    keys = cm.site_keys(root)
    plans = [set(s) for r in range(len(keys) + 1) for s in itertools.combinations(keys, r)]
    for budget in range(340, 700, 5):
        fits = [(cm.predicted_time(root, p), p) for p in plans if cm.peak(root, p) <= budget]
        c = cm.optimise(root, budget)
        if not fits:
            assert c is None
            continue
        assert c.peak <= budget
        assert c.time == pytest.approx(min(t for t, _ in fits))
    g = cm.greedy(root, 350)
    assert g is not None and cm.peak(root, g) <= 350


def test_frontier_runs_from_all_split_to_the_minimum():
    f = cm.frontier(worked_example(), 3.20)
    assert f[0].joint == set() and f[0].peak == 675
    assert f[-1].peak == 350 and round(f[-1].time, 2) == 4.10
    assert all(x.peak > y.peak and x.time < y.time for x, y in zip(f, f[1:]))


def test_counts_multiply_contributions():
    """A site run 10 times in a loop keeps 10 snapshots (joint) or 10 tapes
    (split) on the stack while the last one's adjoint peaks."""
    step = Node("main/step", [30.0], count=10, snapshot=8.0, extra=1.0)
    root = Node("main", [5.0, 0.0], [step])
    assert cm.peak(root, set()) == 5 + 300
    assert cm.peak(root, {"main/step"}) == 5 + 9 * 8 + 30
