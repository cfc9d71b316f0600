"""What a graded notebook says: points, pass or fail, and the failure message of every graded cell.

Built from the gradebook's points and the autograded notebook's outputs. Messages are the text of
the error a test raised (a `CheckFailed` message is written for the student); tracebacks are never
kept, because they quote the hidden test code.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from tfladder.course import notebooks
from tfladder.grading import scores

SEED_PATTERN = re.compile(r"grading seed (\d+)")
MANUAL: Final = scores.MANUAL


@dataclass
class CellResult:
    grade_id: str
    exercise: str
    points: scores.Points  # float, or MANUAL while a written answer waits for a human
    max_points: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.points != MANUAL and self.points >= self.max_points

    @property
    def part(self) -> str:
        """'interface', 'values', 'api' (the test id after its exercise id), or 'written answer'."""
        rest = self.grade_id[len(self.exercise) :].lstrip("_")
        return rest or "written answer"


@dataclass
class NotebookResult:
    assignment: str
    student: str
    cells: list[CellResult] = field(default_factory=list)
    seed: int | None = None
    error: str = ""  # why the notebook could not be graded, if it could not
    flags: list[str] = field(default_factory=list)  # why `tfladder grade` wants a human to look

    def exercises(self) -> list[tuple[str, scores.Points, float, list[CellResult]]]:
        """[(exercise id, points, max points, [CellResult])] in notebook order; points may be MANUAL."""
        order: dict[str, list[CellResult]] = {}
        for cell in self.cells:
            order.setdefault(cell.exercise, []).append(cell)
        rows: list[tuple[str, scores.Points, float, list[CellResult]]] = []
        for exercise, cells in order.items():
            maximum = sum(c.max_points for c in cells)
            if any(c.points == MANUAL for c in cells):
                rows.append((exercise, MANUAL, maximum, cells))
            else:
                rows.append((exercise, sum(cast(float, c.points) for c in cells), maximum, cells))
        return rows

    @property
    def auto_points(self) -> float:
        return sum(c.points for c in self.cells if c.points != MANUAL)

    @property
    def auto_max(self) -> float:
        return sum(c.max_points for c in self.cells if c.points != MANUAL)

    @property
    def total_max(self) -> float:
        return sum(c.max_points for c in self.cells)

    @property
    def manual_pending(self) -> list[CellResult]:
        return [c for c in self.cells if c.points == MANUAL]


def message_of(cell: Any) -> str:
    """A failed cell's message for the student: the error text without its type for CheckFailed."""
    text = notebooks.failure_text(cell).strip()
    if text.startswith("CheckFailed: "):
        text = text[len("CheckFailed: ") :]
    return text


def seed_of(nb: Any) -> int | None:
    """The grading seed the setup cell printed, or None."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            match = SEED_PATTERN.search(output.get("text", "") or "")
            if match:
                return int(match.group(1))
    return None


def load(course: str | Path, assignment: str, student: str) -> NotebookResult:
    """The result of one student's graded assignment, from the gradebook and autograded/."""
    course = Path(course)
    source_nb = notebooks.read(course / "source" / assignment / f"{assignment}.ipynb")
    points = scores.cell_points(course, assignment, [student])[student]
    path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    result = NotebookResult(assignment=assignment, student=student)
    if points is None or not path.exists():
        result.error = "not graded: nbgrader could not grade this submission (see the grading log)"
        points = {}
        graded_nb = None
    else:
        graded_nb = notebooks.read(path)
        result.seed = seed_of(graded_nb)
    graded_cells = notebooks.cells_by_id(graded_nb) if graded_nb is not None else {}
    solutions = notebooks.solution_ids(source_nb)
    for cell_id, maximum in notebooks.graded_points(source_nb).items():
        got = points.get(cell_id, 0.0)
        message = ""
        if got != MANUAL and got < maximum and cell_id in graded_cells:
            message = message_of(graded_cells[cell_id])
        result.cells.append(
            CellResult(
                grade_id=cell_id,
                exercise=notebooks.exercise_of(cell_id, solutions) or cell_id,
                points=got,
                max_points=maximum,
                message=message,
            )
        )
    return result


def summary_line(result: NotebookResult) -> str:
    seed = f", grading seed {result.seed}" if result.seed is not None else ""
    pending = len(result.manual_pending)
    manual = f"; {pending} written answer(s) wait for a human grader" if pending else ""
    return f"{result.assignment}: {result.auto_points:g} / {result.auto_max:g} autograded points{seed}{manual}"


def _mark(cell: CellResult) -> str:
    if cell.points == MANUAL:
        return "(waits for a human grader)"
    if cell.part == "written answer" and not cell.passed:
        return "(not answered)" if cell.points == 0 else f"({cell.points:g})"
    return "ok" if cell.passed else "FAILED"


def text_report(result: NotebookResult) -> str:
    """A plain-text report: points per exercise, which tests passed, and the failure messages."""
    lines = [summary_line(result)]
    if result.error:
        lines.append(f"  {result.error}")
    for flag in result.flags:
        lines.append(f"  flagged for review: {flag}")
    for exercise, points, maximum, cells in result.exercises():
        shown = MANUAL if points == MANUAL else f"{points:g}/{maximum:g}"
        marks = "  ".join(f"{c.part} {_mark(c)}" for c in cells)
        lines.append(f"  {exercise:28s} {shown:>7s}   {marks}")
        for c in cells:
            if c.message:
                lines.append(f"      {c.part}: " + c.message.replace("\n", "\n      " + " " * (len(c.part) + 2)))
    return "\n".join(lines)
