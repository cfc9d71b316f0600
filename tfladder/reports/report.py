"""Instructor report: grades.csv plus one HTML page of what the class got right and wrong.

Per assignment: a bar chart of the points per exercise across students, the most common failure
messages per exercise, and the submissions that need a look (could not be graded, or flagged).
"""

import re
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from nbgrader.api import MissingEntry

from tfladder.course import ops
from tfladder.grading import on_demand, results, scores
from tfladder.grading.progress import Progress
from tfladder.reports.html import render


def _students(course: str | Path, assignment: str, keep: Callable[[Any], bool]) -> list[str]:
    """Sorted ids of the students whose gradebook submission of ASSIGNMENT satisfies keep(submission)."""
    with closing(scores.gradebook(course)) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            return []
        return sorted({sub.student.id for sub in found.submissions if keep(sub)})


def graded_students(course: str | Path, assignment: str) -> list[str]:
    """Students with a submission of ASSIGNMENT in the gradebook."""
    return _students(course, assignment, lambda sub: True)


def grader_reasons(course: str | Path, assignment: str, student: str) -> list[str]:
    """Why `tfladder grade` flagged or failed a submission (autograded/.../tfladder.json), or []."""
    from tfladder.grading.grade import read_report

    found = read_report(course, assignment, student)
    return list(found.get("failed", [])) + list(found.get("flags", []))


def flagged_in_gradebook(course: str | Path, assignment: str) -> list[str]:
    """Students whose notebook is flagged in the gradebook (formgrader's flag, or the grader's)."""
    return _students(course, assignment, lambda sub: any(nb.flagged for nb in sub.notebooks))


KNOWN_MISTAKE = "This matches a known mistake: "


def common_message(message: str) -> str:
    """The gist of a failure message, numbers blanked, so equal mistakes count together.

    A named known mistake is the gist; otherwise the message's first line.
    """
    lines = message.strip().splitlines()
    named = [line[len(KNOWN_MISTAKE) :] for line in lines if line.startswith(KNOWN_MISTAKE)]
    gist = named[0] if named else (lines[0] if lines else "")
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", gist)


def plot_assignment(assignment: str, rows: Sequence[results.NotebookResult], path: Path) -> Path | None:
    """Bar charts of how many students earned each number of points, one per exercise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exercises = [r[0] for r in rows[0].exercises()] if rows else []
    if not exercises:
        return None
    fig, axes = plt.subplots(1, len(exercises), figsize=(2.6 * len(exercises), 2.6), squeeze=False)
    for ax, exercise in zip(axes[0], exercises):
        values, maximum = [], 0.0
        for result in rows:
            for name, points, top, _ in result.exercises():
                if name == exercise:
                    maximum = top
                    if points != results.MANUAL:
                        values.append(points)
        counts = Counter(values)
        ticks = list(range(int(maximum) + 1))
        ax.bar(ticks, [counts.get(float(t), 0) for t in ticks], color="#4c72b0")
        ax.set_title(exercise, fontsize=8)
        ax.set_xlabel("points", fontsize=8)
        ax.set_xticks(ticks)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("students", fontsize=8)
    fig.suptitle(f"{assignment}: points per exercise", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build(course: str | Path, out_dir: str | Path | None = None, *, show_progress: bool = True) -> Path:
    """Write OUT_DIR/index.html, OUT_DIR/grades.csv and one PNG per assignment; returns index.html."""
    course = Path(course)
    out = Path(out_dir or course / "report")
    out.mkdir(parents=True, exist_ok=True)
    csv = ops.export(course, (out / "grades.csv").resolve())
    sections = []
    for assignment in ops.assignments(course):
        students = graded_students(course, assignment)
        if not students:
            continue
        bar = Progress(len(students), f"report {assignment}") if show_progress else None
        rows = []
        for student in students:
            rows.append(results.load(course, assignment, student))
            if bar:
                bar.advance(student)
        if bar:
            bar.done()
        sections.append(_section(course, assignment, rows, out))
    index = out / "index.html"
    checks = on_demand.summary(course)  # the hub's hidden-test checks, if the class had any
    index.write_text(render("report.html.j2", csv=csv.name, assignments=sections, checks=checks), encoding="utf-8")
    return index


def _section(course: Path, assignment: str, rows: list[results.NotebookResult], out: Path) -> dict[str, object]:
    """What the report says about one assignment (templates/report.html.j2)."""
    graded = [r for r in rows if not r.error]
    mean = sum(r.auto_points for r in graded) / len(graded) if graded else 0.0
    image = plot_assignment(assignment, graded, out / f"{assignment}_points.png")
    failures: list[tuple[str, int, str]] = []
    for exercise, _, _, _ in graded[0].exercises() if graded else []:
        counter: Counter[str] = Counter()
        for result in graded:
            counter.update({common_message(c.message) for c in result.cells if c.exercise == exercise and c.message})
        failures += [(exercise, count, message) for message, count in counter.most_common(3)]
    review = [(r.student, r.error) for r in rows if r.error]
    review += [
        (s, why)
        for s in flagged_in_gradebook(course, assignment)
        for why in (grader_reasons(course, assignment, s) or ["flagged in the gradebook"])
    ]
    return {
        "name": assignment,
        "submissions": len(rows),
        "graded": len(graded),
        "mean": f"{mean:.1f}",
        "top": f"{graded[0].auto_max if graded else 0.0:g}",
        "image": image.name if image else None,
        "failures": failures,
        "review": review,
    }
