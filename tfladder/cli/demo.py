"""`make demo`: regenerate the release, grade a small class made from fixtures, print the scores.

The class has three students per assignment, each made from that level's fixtures:
a perfect student (the reference), a blank one (the untouched release) and one with typical
mistakes. They are graded as `tfladder grade` grades a class (every assignment in one run, in
parallel, nbgrader's autograde recording; in the sandbox when it can start, else as the current
user: the demo's notebooks are the course's own fixtures) into autograded/, shown as a table per
exercise, given feedback pages (feedback/), and summed up in the instructor report (report/,
with grades.csv). Only the demo students are touched in the gradebook.
"""

from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

from nbgrader.api import MissingEntry

from tfladder.course import config, fixtures, notebooks, ops
from tfladder.grading import grade, scores
from tfladder.reports import feedback, report
from tfladder.sandbox import launcher

DEMO_CLASS = {
    "demo_perfect": "reference",
    "demo_blank": "blank",
    "demo_typical": "several_mistakes",
}


def name_demo_students(course: str | Path) -> None:
    """Give the demo students names, so that formgrader shows "Reference, Demo", not "None, None"."""
    with closing(scores.gradebook(course)) as gb:
        for student, kind in DEMO_CLASS.items():
            gb.update_or_create_student(student, first_name="Demo", last_name=kind.replace("_", " ").capitalize())


def forget_demo_students(course: str | Path) -> None:
    """Remove earlier demo students (and their grades) so the assignments can be regenerated."""
    with closing(scores.gradebook(course)) as gb:
        for student in DEMO_CLASS:
            try:
                gb.remove_student(student)
            except MissingEntry:
                pass


def run(
    course: str | Path, *, echo: Callable[[str], None] = print, assignments: Sequence[str] | None = None
) -> dict[str, str]:
    """Run the demo in `course` (all assignments by default); returns {assignment: table text}."""
    course = Path(course)
    tables: dict[str, str] = {}
    existing = config.gradebook_file(course)
    if existing is None or existing.exists():  # a database server, or a file made earlier
        forget_demo_students(course)
    graded = []
    for assignment in assignments or ops.assignments(course):
        echo(f"== {assignment}: regenerating release/{assignment} with nbgrader")
        ops.release(course, assignment, db=True)
        available = fixtures.load_all(course, assignment)
        prefix = ops.level_prefix(assignment)
        students = []
        for student, kind in DEMO_CLASS.items():
            fixture = available.get(f"{prefix}_{kind}")
            if fixture is None:
                echo(f"   (no fixture {prefix}_{kind}; {student} skips this level)")
                continue
            fixtures.submit(fixture, course, student=student)
            students.append(student)
        if students:
            graded.append(assignment)
    if graded:
        echo(f"== grading {', '.join(DEMO_CLASS)} in {len(graded)} assignments")
        options = grade.Options(students=("demo_*",), use_sandbox=launcher.startable())
        for summary in grade.grade_many(course, graded, options):
            if summary.error:
                echo(f"   {summary.assignment} could not be graded: {summary.error}")
            for student in summary.failed:
                echo(f"   {student} ({summary.assignment}): {'; '.join(summary.submissions[student].reasons_failed)}")
    for assignment in graded:
        students = [s for s in DEMO_CLASS if (course / "submitted" / s / assignment).is_dir()]
        for student in students:
            feedback.write(course, assignment, student)
        source_nb = notebooks.read(course / "source" / assignment / f"{assignment}.ipynb")
        tables[assignment] = scores.table(assignment, source_nb, scores.cell_points(course, assignment, students))
    name_demo_students(course)
    index = report.build(course)
    echo("")
    for text in tables.values():
        echo(text)
        echo("")
    echo("manual = a written answer waiting for a human grader (formgrader, `make lab`).")
    echo(f"feedback pages: {course / 'feedback'}/<student>/<assignment>/")
    echo(f"grades: {index.parent / 'grades.csv'}")
    echo(f"instructor report: {index}")
    return tables
