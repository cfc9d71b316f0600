"""`make demo`: regenerate the release, grade a small class made from fixtures, print the scores.

The class has three students per assignment, each made from that level's fixtures:
a perfect student (the reference), a blank one (the untouched release) and one with typical
mistakes. They are graded by `nbgrader autograde` into autograded/, exported to grades.csv, and
shown as a table per exercise. Only the demo students are touched in the gradebook.
"""

from contextlib import closing
from pathlib import Path

from nbgrader.api import MissingEntry

from tfladder import course as ops
from tfladder import fixtures, notebooks, scores

DEMO_CLASS = {
    "demo_perfect": "reference",
    "demo_blank": "blank",
    "demo_typical": "several_mistakes",
}


def forget_demo_students(course):
    """Remove earlier demo students (and their grades) so the assignments can be regenerated."""
    with closing(scores.gradebook(course)) as gb:
        for student in DEMO_CLASS:
            try:
                gb.remove_student(student)
            except MissingEntry:
                pass


def run(course, *, echo=print):
    """Run the whole demo in `course`; returns {assignment: table text}."""
    course = Path(course)
    tables = {}
    if (course / "gradebook.db").exists():
        forget_demo_students(course)
    for assignment in ops.assignments(course):
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
        if not students:
            continue
        echo(f"== {assignment}: autograding {', '.join(students)}")
        done = ops.autograde(course, assignment, student="demo_*")
        for student in ops.failed_students(done.stdout + done.stderr):
            echo(f"   nbgrader could not grade {student}; the end of its log:\n"
                 + (done.stdout + done.stderr)[-2000:])
        source_nb = notebooks.read(course / "source" / assignment / f"{assignment}.ipynb")
        tables[assignment] = scores.table(assignment, source_nb, scores.cell_points(course, assignment, students))
    csv = ops.export(course, "grades.csv")
    echo("")
    for text in tables.values():
        echo(text)
        echo("")
    echo("manual = a written answer waiting for a human grader (formgrader, `make lab`).")
    echo(f"grades exported to {csv}")
    return tables
