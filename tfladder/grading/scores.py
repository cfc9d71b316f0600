"""Points per student and graded cell from the gradebook, and a readable table per exercise."""

from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, Final, Literal, cast

from nbgrader.api import Gradebook, MissingEntry

from tfladder.course import config, notebooks

MANUAL: Final = "manual"
Points = float | Literal["manual"]


def gradebook(course: str | Path) -> Gradebook:
    """The course's gradebook: the database its nbgrader configuration names (gradebook.db in the
    course folder unless `c.CourseDirectory.db_url` says otherwise)."""
    return Gradebook(config.db_url(course))


def cell_points(course: str | Path, assignment: str, students: Iterable[str]) -> dict[str, dict[str, Points] | None]:
    """{student: {grade_id: points, or "manual" while a written answer waits for a human}}.

    A student whose submission is missing from the gradebook maps to None.
    """
    notebook = assignment
    result: dict[str, dict[str, Points] | None] = {}
    with closing(gradebook(course)) as gb:
        for student in students:
            try:
                sub = gb.find_submission_notebook(notebook, assignment, student)
            except MissingEntry:
                result[student] = None
                continue
            result[student] = {
                g.name: (MANUAL if g.needs_manual_grade and g.manual_score is None else float(g.score))
                for g in sub.grades
            }
    return result


def exercises(source_nb: Any) -> list[tuple[str, list[str], float]]:
    """[(solution grade id, [graded cell ids], max points)] in notebook order."""
    solutions = notebooks.solution_ids(source_nb)
    points = notebooks.graded_points(source_nb)
    rows: dict[str, tuple[list[str], float]] = {}
    for cell_id, value in points.items():
        owner = notebooks.exercise_of(cell_id, solutions) or cell_id
        ids, total = rows.get(owner, ([], 0.0))
        rows[owner] = (ids + [cell_id], total + value)
    return [(owner, ids, total) for owner, (ids, total) in rows.items()]


def _fmt(value: Points | None) -> str:
    if value == MANUAL:
        return MANUAL
    if value is None:
        return "-"
    return f"{value:g}"


def table(assignment: str, source_nb: Any, points_by_student: Mapping[str, Mapping[str, Points] | None]) -> str:
    """A text table: one row per exercise, one column per student.

    A written answer that waits for a human shows as "manual" and is not in the total yet.
    """
    students = list(points_by_student)
    rows = []
    totals = {s: 0.0 for s in students}
    for owner, ids, maximum in exercises(source_nb):
        row = [f"{owner} ({maximum:g})"]
        for s in students:
            cells = points_by_student[s]
            if cells is None:
                row.append("not graded")
                continue
            values = [cells.get(i) for i in ids]
            if any(v == MANUAL for v in values):
                row.append(MANUAL)
            else:
                got = sum(cast(float, v or 0.0) for v in values)
                totals[s] += got
                row.append(_fmt(got))
        rows.append(row)
    total_max = sum(m for _, _, m in exercises(source_nb))
    rows.append(
        [f"total ({total_max:g})"]
        + ["not graded" if points_by_student[s] is None else _fmt(totals[s]) for s in students]
    )
    header = [assignment] + students
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r))
        for r in [header] + rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
