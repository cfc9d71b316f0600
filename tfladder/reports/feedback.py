"""Student feedback: one HTML page per student and assignment, with no hidden test code.

The page shows the score per exercise, the student's own code and written answers, the result of
every test with its failure message, and the grading seed that made the hidden inputs. It is
written from the gradebook and the autograded notebook, never from test cell sources, so hidden
tests cannot leak (nbgrader's own feedback shows them: nbgrader issues #917, #1363).
"""

import shutil
from collections.abc import Sequence
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.api import MissingEntry

from tfladder.course import notebooks
from tfladder.grading import grade, results, scores
from tfladder.reports.html import render


def _test(cell: results.CellResult) -> dict[str, str]:
    """One test's line: its part, status and score, and its failure message."""
    if cell.points == results.MANUAL:
        status, text, score = "manual", "waits for a human grader", ""
    elif cell.passed:
        status, text, score = "ok", "passed", f"{cell.points:g}/{cell.max_points:g}"
    else:
        status, text, score = "failed", "failed", f"{cell.points:g}/{cell.max_points:g}"
    return {"part": cell.part, "status": status, "status_text": text, "score": score, "message": cell.message}


def _mark(cell: results.CellResult) -> str:
    return "✓" if cell.passed else ("…" if cell.points == results.MANUAL else "✗")


def lateness(course: str | Path, assignment: str, student: str) -> str:
    """How late the submission came, in the student's words, from the gradebook (the due date an
    instructor set in formgrader, the time nbgrader's submit recorded); "" when it was on time."""
    with scores.gradebook(course) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return ""
        late, due = submission.total_seconds_late or 0, submission.duedate
        penalty = submission.late_submission_penalty or 0  # as nbgrader's exporter and lms.py read it
    if late <= 0 or due is None:
        return ""
    hours, minutes = divmod(round(late / 60), 60)
    days, hours = divmod(hours, 24)
    said = f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"
    if days:
        said = f"{days} day{'s' if days > 1 else ''} {said}"
    taken = f" {penalty:g} point(s) were taken off for it." if penalty else ""
    return f"You submitted {said} after the due date ({due:%Y-%m-%d %H:%M} UTC).{taken}"


def page(
    result: results.NotebookResult, graded_nb: NotebookNode | None, not_graded: Sequence[str] = (), late: str = ""
) -> str:
    """The feedback page as an HTML string (templates/feedback.html.j2, every value escaped).

    `not_graded`: why the submission could not be graded as it was submitted (`tfladder grade`'s
    reasons, such as a notebook that is not one), said at the top of the page; `late`: how late
    it came (`lateness`)."""
    answers: dict[str, str] = {}
    if graded_nb is not None:
        for cell in graded_nb.cells:
            if notebooks.is_solution(cell):
                answers[notebooks.grade_id(cell)] = cell.source
    exercises = [
        {
            "name": exercise,
            "shown": "to be graded" if points == results.MANUAL else f"{points:g} / {maximum:g}",
            "marks": ", ".join(f"{c.part}: {_mark(c)}" for c in cells),
            "answer": answers.get(exercise),
            "tests": [_test(c) for c in cells],
        }
        for exercise, points, maximum, cells in result.exercises()
    ]
    return render(
        "feedback.html.j2",
        assignment=result.assignment,
        student=result.student,
        auto_points=f"{result.auto_points:g}",
        auto_max=f"{result.auto_max:g}",
        seed=result.seed,
        manual_pending=len(result.manual_pending),
        error=result.error,
        not_graded=list(not_graded),
        late=late,
        exercises=exercises,
    )


def write(course: str | Path, assignment: str, student: str, out_root: str | Path | None = None) -> Path:
    """Write feedback/<student>/<assignment>/<assignment>.html; returns its path.

    The submission's timestamp.txt and submission_secret.txt (written by nbgrader's submit, for a
    submission that came through the exchange) go beside it, as nbgrader's own feedback does:
    nbgrader's release_feedback (formgrader's Release Feedback) names the page after the
    submission by them, so that the student's Assignment List fetches this page."""
    course = Path(course)
    result = results.load(course, assignment, student)
    graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    graded_nb = notebooks.read(graded) if graded.exists() else None
    out = Path(out_root or course / "feedback") / student / assignment / f"{assignment}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    not_graded = grade.read_report(course, assignment, student).get("failed", [])
    out.write_text(page(result, graded_nb, not_graded, lateness(course, assignment, student)), encoding="utf-8")
    for name in ("timestamp.txt", "submission_secret.txt"):
        for folder in ("autograded", "submitted"):
            kept = course / folder / student / assignment / name
            if kept.exists():
                shutil.copyfile(kept, out.parent / name)
                break
    return out
