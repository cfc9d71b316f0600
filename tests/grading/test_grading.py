"""Does grading give every fixture exactly its expected points, with messages that name the mistake?

Every fixture of every level is submitted as a student of one temporary course and graded once by
`tfladder grade` (nbgrader's autograde records it; see conftest.GradingRuns, "baseline"); each test
below reads one fixture's result.
"""

import pytest
from conftest import ASSIGNMENTS, REPO

from tfladder.course import fixtures, notebooks

pytestmark = pytest.mark.slow

ALL = [(a, name) for a in ASSIGNMENTS for name in fixtures.load_all(REPO, a)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_grader_grade_every_fixture(graded_fixtures, assignment):
    run = graded_fixtures(assignment)
    assert run.summary.error == "" and run.summary.failed == [], run.summary.log[-3000:]
    assert sorted(run.summary.graded) == sorted(fixtures.load_all(REPO, assignment))
    assert all(g.points is not None for g in run.graded.values())


@pytest.mark.parametrize("assignment,name", ALL)
def test_does_the_fixture_earn_exactly_its_expected_points(graded_fixtures, assignment, name):
    fixture = fixtures.load_all(REPO, assignment)[name]
    graded = graded_fixtures(assignment).graded[name]
    wrong = {
        cell: f"expected {want}, got {graded.points.get(cell)}"
        for cell, want in fixture.points.items()
        if graded.points.get(cell) != want
    }
    details = "\n".join(f"--- {cell}\n{graded.failures.get(cell, '')[:1500]}" for cell in wrong)
    assert not wrong, f"{name} ({fixture.about}): {wrong}\n{details}"


@pytest.mark.parametrize("assignment,name", [(a, n) for a, n in ALL if fixtures.load_all(REPO, a)[n].messages])
def test_does_the_failure_message_name_the_mistake(graded_fixtures, assignment, name):
    fixture = fixtures.load_all(REPO, assignment)[name]
    graded = graded_fixtures(assignment).graded[name]
    for cell, text in fixture.messages.items():
        assert text in graded.failures.get(cell, ""), (
            f"{name}: the failure of {cell} should mention {text!r}; it said:\n{graded.failures.get(cell, '')}"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_do_the_explorations_only_print_their_line_while_graded(graded_fixtures, assignment):
    """nbgrader's kernels are marked as graded (nbgrader_config.py): an exploration cell must print
    its one line and draw nothing, for every fixture (forked kernels in the sandbox included)."""
    run = graded_fixtures(assignment)
    for name in run.graded:
        path = run.root / "autograded" / name / assignment / f"{assignment}.ipynb"
        cells = [
            c for c in notebooks.read(path).cells if c.cell_type == "code" and c.get("id", "").startswith("explore-")
        ]
        assert cells, f"{assignment} has no exploration cell"
        for cell in cells:
            printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            shown = [o for o in cell.outputs if o.get("output_type") != "stream"]
            assert not shown and printed.count("\n") == 1, (name, cell.id, cell.outputs)
            assert "an exploration; it runs when you open the notebook in JupyterLab" in printed, (name, cell.id)
