"""Does `tfladder grade` grade several assignments in one run, and say which ones it skipped?

One temporary course with three assignments, its gradebook in records/grades.db (as its
nbgrader_config.py says); one student submits the blank release of the first two (0 points each,
nothing failed or flagged), nobody submits the third.
"""

import subprocess
import sys
from contextlib import closing

import pytest
from conftest import BASELINE_ENV, make_course

from tfladder.course import fixtures, ops
from tfladder.course.config import tool_env
from tfladder.grading import scores

pytestmark = pytest.mark.slow
SUBMITTED = ("01_low_level_ops", "02_layers")
UNSUBMITTED = "03_keras_models"


def tfladder(course, *args):
    return subprocess.run(
        [sys.executable, "-m", "tfladder", *args],
        cwd=course,
        capture_output=True,
        text=True,
        env=tool_env(BASELINE_ENV),
        timeout=900,
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("grade-command") / "course", [*SUBMITTED, UNSUBMITTED])
    # the gradebook where the configuration says, not gradebook.db: every part must find it there
    with (root / "nbgrader_config.py").open("a") as file:
        file.write('\nc.CourseDirectory.db_url = "sqlite:///records/grades.db"\n')
    (root / "records").mkdir()
    for assignment in SUBMITTED:
        blank = fixtures.load_all(root, assignment)[f"{ops.level_prefix(assignment)}_blank"]
        fixtures.submit(blank, root, student="pat")
    return root


@pytest.fixture(scope="module")
def graded_all(course):
    return tfladder(course, "grade")


def test_does_grade_without_names_grade_every_assignment_with_submissions(course, graded_all):
    assert graded_all.returncode == 0, graded_all.stdout + graded_all.stderr
    for assignment in SUBMITTED:
        assert f"{assignment}: 1 graded, 0 failed, 0 flagged for review" in graded_all.stdout
    assert UNSUBMITTED not in graded_all.stdout + graded_all.stderr
    with closing(scores.gradebook(course)) as gb:
        for assignment in SUBMITTED:
            assert gb.find_submission_notebook(assignment, assignment, "pat").score == 0
    assert (course / "records" / "grades.db").exists() and not (course / "gradebook.db").exists()


def test_does_grade_say_when_a_named_assignment_has_no_submissions(course, graded_all):
    done = tfladder(course, "grade", UNSUBMITTED)
    assert done.returncode == 1
    assert f"no submissions in submitted/*/{UNSUBMITTED}" in done.stderr


def test_does_grade_refuse_an_unknown_assignment_before_grading_any(course, graded_all):
    done = tfladder(course, "grade", SUBMITTED[0], "07_no_such_level")
    assert done.returncode != 0 and "07_no_such_level" in done.stderr
    assert "graded" not in done.stdout


def test_does_grade_grade_only_the_students_named(course, graded_all):
    blank = fixtures.load_all(course, SUBMITTED[0])[f"{ops.level_prefix(SUBMITTED[0])}_blank"]
    fixtures.submit(blank, course, student="team_b")
    done = tfladder(course, "grade", SUBMITTED[0], "--student", "alice", "--student", "team_*")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SUBMITTED[0]}: 1 graded, 0 failed, 0 flagged for review" in done.stdout
    assert "team_b" in done.stdout and "pat" not in done.stdout


def test_does_resume_grade_only_the_submissions_not_recorded(course, graded_all):
    """Every submission is recorded (by the tests above): nothing to grade; then pat submits the
    reference of the first assignment instead of the blank, and only that is graded again."""
    first, second = SUBMITTED
    done = tfladder(course, "grade", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{first}: 0 graded, 0 failed, 0 flagged for review, 2 recorded already" in done.stdout
    assert f"{second}: 0 graded, 0 failed, 0 flagged for review, 1 recorded already" in done.stdout
    reference = fixtures.load_all(course, first)[f"{ops.level_prefix(first)}_reference"]
    fixtures.submit(reference, course, student="pat")
    done = tfladder(course, "grade", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{first}: 1 graded, 0 failed, 0 flagged for review, 1 recorded already" in done.stdout
    assert f"{second}: 0 graded, 0 failed, 0 flagged for review, 1 recorded already" in done.stdout
    points = scores.cell_points(course, first, ["pat"])["pat"]
    assert {cell: points.get(cell) for cell in reference.points} == reference.points


def test_are_several_recorders_refused_on_a_sqlite_gradebook_before_grading(course, graded_all):
    done = tfladder(course, "grade", "--recorders", "2")
    assert done.returncode == 2 and "one writer at a time" in done.stderr
    assert "graded" not in done.stdout


def test_does_autograde_grade_trusted_notebooks_and_print_the_table(course, graded_all):
    done = tfladder(course, "autograde", SUBMITTED[1], "--student", "pat")
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.splitlines()
    assert table[0].split() == [SUBMITTED[1], "pat"] and table[-1].split()[-1] == "0"
