"""Grades for Canvas and Moodle: `tfladder export --lms` on the demo class, graded through
nbgrader (a copy of the session's demo course), with a roster that misses one student and names
one the gradebook does not know. (The roster's own mistakes: the fast tests at the end.)"""

import csv
import subprocess
import sys

import pytest
from conftest import ASSIGNMENTS, copy_course

from tfladder.course import fixtures
from tfladder.grading import scores
from tfladder.reports import lms

PENDING = ("demo_perfect", "01_low_level_ops")  # the one written answer nobody has graded yet
FIXTURE = {"demo_perfect": "reference", "demo_typical": "several_mistakes"}


def grade_written_answers(course, student, assignments):
    """What an instructor does in formgrader: full marks on each written answer that waits for
    them; returns {(assignment, cell): points given}."""
    given = {}
    with scores.gradebook(course) as gb:
        for assignment in assignments:
            for notebook in gb.find_submission(assignment, student).notebooks:
                for grade in notebook.grades:
                    if grade.needs_manual_grade:  # as formgrader's Save does
                        grade.manual_score = grade.max_score
                        grade.needs_manual_grade = False
                        given[(assignment, grade.cell.name)] = grade.max_score
            gb.db.commit()
    return given


def expected_total(course, assignment, fixture, given):
    """The fixture's autograded points plus what the instructor gave its written answers (0 for
    one left as released, which nbgrader scores itself)."""
    found = fixtures.load_all(course, assignment)[fixture]
    return sum(given.get((assignment, c), 0) if p == fixtures.MANUAL else p for c, p in found.points.items())


@pytest.fixture(scope="module")
def term(demo_course, tmp_path_factory):
    course = copy_course(demo_course[0], tmp_path_factory.mktemp("lms") / "course")
    given = grade_written_answers(course, "demo_typical", ASSIGNMENTS)  # demo_perfect's stays pending
    assert ("01_low_level_ops", "l1_explain_rebinding") in given  # a graded written answer counts
    rosters = {
        "canvas": "student_id,Student,ID,SIS User ID,SIS Login ID,Section\n"
        '"demo_perfect","Reference, Demo",101,S101,perfect@uni.example,A\n'
        '"demo_typical","Typical, Demo",102,S102,typical@uni.example,A\n'
        '"ghost","Nobody, Someone",103,S103,ghost@uni.example,B\n',
        "moodle": "student_id,email\n"
        "demo_perfect,perfect@uni.example\ndemo_typical,typical@uni.example\nghost,ghost@uni.example\n",
    }
    for system, text in rosters.items():
        (course / f"{system}-roster.csv").write_text(text)
    return course, given


pytestmark = pytest.mark.slow


@pytest.mark.parametrize("system", lms.SYSTEMS)
def test_does_each_lms_file_have_exactly_the_documented_columns_and_the_final_scores(term, system):
    term, given = term
    export = lms.write(term, system, term / f"{system}-roster.csv", f"{system}.csv")
    rows = list(csv.reader(export.path.open()))
    identity = list(lms.CANVAS_IDENTITY) if system == "canvas" else ["email"]
    assert rows[0] == identity + ASSIGNMENTS
    by_student = {row[len(identity) - 1 if system == "moodle" else 0]: row[len(identity) :] for row in rows[1:]}
    names = {"canvas": ("Reference, Demo", "Typical, Demo"), "moodle": ("perfect@uni.example", "typical@uni.example")}
    for student, shown in zip(FIXTURE, names[system]):
        for assignment, cell in zip(ASSIGNMENTS, by_student[shown]):
            if (student, assignment) == PENDING:
                assert cell == "", "a written answer still waiting for a human must not be exported"
                continue
            fixture = f"l{int(assignment[:2])}_{FIXTURE[student]}"
            assert float(cell) == expected_total(term, assignment, fixture, given), (student, assignment)
    ghost = by_student["Nobody, Someone" if system == "canvas" else "ghost@uni.example"]
    assert ghost == [""] * len(ASSIGNMENTS), "a student without a submission is never written as 0"


def test_is_a_blank_submission_zero_and_not_waiting_for_a_human(term):
    _, table = lms.grades(term[0])
    assert table["demo_blank"] == {a: lms.Grade(0.0) for a in ASSIGNMENTS}  # its written answer unchanged: 0


def test_are_the_missing_student_the_unknown_one_and_the_pending_grade_reported(term):
    term, _ = term
    export = lms.write(term, "canvas", term / "canvas-roster.csv", "canvas.csv")
    assert export.not_in_roster == ["demo_blank"]
    assert export.not_in_gradebook == ["ghost"]
    assert export.empty == [("demo_perfect", "01_low_level_ops", "a written answer still waits for a human grader")]
    problems = "\n".join(export.problems())
    assert "demo_blank: in the gradebook but not in the roster" in problems
    assert "ghost: in the roster but not in the gradebook" in problems


def test_does_the_command_write_the_file_and_say_what_was_left_out(term):
    term, _ = term
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfladder",
            "export",
            "--lms",
            "moodle",
            "--roster",
            "moodle-roster.csv",
            "--to",
            "m.csv",
        ],
        cwd=term,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (term / "m.csv").read_text().splitlines()[0] == "email," + ",".join(ASSIGNMENTS)
    assert "demo_blank: in the gradebook but not in the roster" in done.stderr
    assert "3 students written to m.csv" in done.stdout
