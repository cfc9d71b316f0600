"""Do scores stay the same with oneDNN on or off, with one or two threads, and on new inputs?

The baseline is the session's grading of every fixture (oneDNN off, one thread per kernel, the
default grading seed). Each variant in conftest.VARIANTS grades, in one run of its own, every
level's reference and, for every exercise, a fixture that makes a mistake in it
(conftest.determinism_subset), with one setting changed.
"""

import pytest
from conftest import ASSIGNMENTS, REPO, VARIANTS, determinism_subset

from tfladder.course import fixtures, notebooks
from tfladder.grading import scores


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_are_scores_unchanged(grading_runs, assignment, variant):
    baseline = {name: g.points for name, g in grading_runs.get("baseline")[assignment].graded.items()}
    changed_run = {name: g.points for name, g in grading_runs.get(variant)[assignment].graded.items()}
    assert sorted(changed_run) == sorted(determinism_subset(assignment))
    changed = {
        f"{name}/{cell}": (points, (changed_run[name] or {}).get(cell))
        for name in changed_run
        for cell, points in (baseline[name] or {}).items()
        if (changed_run[name] or {}).get(cell) != points
    }
    assert not changed, f"with {variant}, these cells scored differently (baseline, variant): {changed}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_subset_hold_the_reference_and_a_mistake_in_every_exercise(assignment):
    found = fixtures.load_all(REPO, assignment)
    chosen = determinism_subset(assignment)
    assert chosen[0].endswith("_reference") and len(set(chosen)) == len(chosen)
    source = notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb")
    exercises = notebooks.solution_ids(source)
    reference = found[chosen[0]].points
    auto = {notebooks.exercise_of(c, exercises) for c, p in reference.items() if p != scores.MANUAL}
    covered = {
        notebooks.exercise_of(c, exercises)
        for name in chosen[1:]
        for c, p in found[name].points.items()
        if p != scores.MANUAL and p != reference.get(c)
    }
    assert auto <= covered, f"no mistake graded in {sorted(auto - covered)}"
    assert len(chosen) < len(found), "the subset should be smaller than every fixture"


def test_would_a_missing_mistake_be_reported():
    found = fixtures.load_all(REPO, ASSIGNMENTS[0])
    only = {n: f for n, f in found.items() if n.endswith("_reference") or n == "l1_forgot_mean"}
    with pytest.raises(AssertionError, match="no fixture makes a mistake in"):
        determinism_subset(ASSIGNMENTS[0], only)
