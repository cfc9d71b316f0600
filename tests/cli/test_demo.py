"""Does `make demo` grade its small class end to end and print the score table?"""

import csv

import pytest
from conftest import ASSIGNMENTS, copy_course

from tfladder.cli import demo
from tfladder.course import fixtures, notebooks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(demo_course):
    return demo_course


def test_does_the_demo_print_a_table_per_assignment(demo_run):
    _, tables, output = demo_run
    assert sorted(tables) == ASSIGNMENTS
    for text in tables.values():
        assert text in output
        header = text.splitlines()[0]
        assert all(student in header for student in demo.DEMO_CLASS)
    assert "instructor report:" in output and "feedback pages:" in output


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_do_the_demo_totals_match_the_fixtures(demo_run, assignment):
    root, tables, _ = demo_run
    found = fixtures.load_all(root, assignment)
    total_row = tables[assignment].splitlines()[-1].split()
    header = tables[assignment].splitlines()[0].split()[1:]
    for student, value in zip(header, total_row[2:]):
        fixture = found[f"l{int(assignment[:2])}_{demo.DEMO_CLASS[student]}"]
        expected = sum(v for v in fixture.points.values() if v != fixtures.MANUAL)
        assert float(value) == expected, f"{student}: table says {value}, fixture {fixture.name} says {expected}"


def test_are_grades_feedback_and_report_written_for_every_demo_student(demo_run):
    root, _, _ = demo_run
    assert (root / "report" / "index.html").exists()
    for student in demo.DEMO_CLASS:
        for assignment in ASSIGNMENTS:
            assert (root / "feedback" / student / assignment / f"{assignment}.html").exists()
    with open(root / "report" / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student_id"] for r in rows} >= set(demo.DEMO_CLASS)
    assert {r["assignment"] for r in rows} == set(ASSIGNMENTS)
    for student in demo.DEMO_CLASS:
        for assignment in ASSIGNMENTS:
            assert (root / "autograded" / student / assignment / f"{assignment}.ipynb").exists()


def test_does_running_the_demo_again_give_the_same_table(demo_run, tmp_path):
    root, first, _ = demo_run
    root = copy_course(root, tmp_path / "course")
    again = demo.run(root, echo=lambda line: None, assignments=ASSIGNMENTS[:1])
    assert again[ASSIGNMENTS[0]] == first[ASSIGNMENTS[0]]
    nb = notebooks.read(root / "release" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb")
    assert nb.cells
