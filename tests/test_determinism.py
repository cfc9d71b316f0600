"""Do scores stay the same with oneDNN on or off, with one or two threads, and on new inputs?

The baseline is the session's grading of every fixture (oneDNN off, two threads, the default
grading seed). Each variant in conftest.VARIANTS grades the same fixtures again in its own
temporary course with settings changed; all gradings share two workers, one per CPU core.
"""

import pytest
from conftest import ASSIGNMENTS, VARIANTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def start_everything(grading_runs):
    """Queue every grading at once so that both workers stay busy."""
    for variant in ["baseline", *VARIANTS]:
        for assignment in ASSIGNMENTS:
            grading_runs.submit(assignment, variant)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_are_scores_unchanged(grading_runs, assignment, variant):
    baseline = {name: g.points for name, g in grading_runs.get(assignment).graded.items()}
    changed_run = {name: g.points for name, g in grading_runs.get(assignment, variant).graded.items()}
    changed = {
        f"{name}/{cell}": (points, (changed_run[name] or {}).get(cell))
        for name, cells in baseline.items()
        for cell, points in (cells or {}).items()
        if (changed_run[name] or {}).get(cell) != points
    }
    assert not changed, f"with {variant}, these cells scored differently (baseline, variant): {changed}"
