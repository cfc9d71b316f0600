"""Grades in the files learning management systems import: Canvas's gradebook CSV and Moodle's CSV
grade import, from the gradebook and a roster that says who each student is in the LMS.

nbgrader's own CSV (`tfladder export`) has one row per student and assignment, and writes 0 for a
missing submission; an LMS wants one row per student and one column per assignment, with its own
identities. Here a cell holds a score only when it is final: the submission's score less
nbgrader's late penalty, every written answer graded. A cell is left empty, and the reason
reported, when the student did not submit or a written answer still waits for a human; a student
of the gradebook the roster does not name is reported and left out, never written as zero.

The roster is a CSV file with a header row: `student_id` (the course's id, nbgrader's), then the
LMS's identity columns:

    canvas:  student_id,Student,ID,SIS User ID,SIS Login ID,Section
    moodle:  student_id,<identifier>       (email, username or idnumber: what Moodle maps on)

Canvas's import wants exactly those five identity columns first, then one column per assignment
(a column with a new name makes a new assignment); Moodle's wants an identifier column, then one
column per grade item, both mapped by hand on its import page.
"""

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import MissingEntry

from tfladder.grading import scores

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_IDENTIFIERS = ("email", "username", "idnumber")
SYSTEMS = ("canvas", "moodle")


class RosterError(ValueError):
    """The roster cannot be used; the message says which line and why."""


@dataclass
class Grade:
    """One student's grade for one assignment: `points`, or None with `why` it is left empty."""

    points: float | None
    why: str = ""


@dataclass
class Export:
    path: Path
    assignments: list[str]
    written: int  # students written
    empty: list[tuple[str, str, str]] = field(default_factory=list)  # (student, assignment, why)
    not_in_roster: list[str] = field(default_factory=list)  # in the gradebook, not in the roster
    not_in_gradebook: list[str] = field(default_factory=list)  # in the roster, unknown to nbgrader

    def problems(self) -> list[str]:
        """What the instructor must know, one line each."""
        lines = [f"{s}: {a} left empty ({why})" for s, a, why in self.empty]
        lines += [
            f"{s}: in the gradebook but not in the roster; left out of {self.path.name}" for s in self.not_in_roster
        ]
        lines += [f"{s}: in the roster but not in the gradebook; every cell left empty" for s in self.not_in_gradebook]
        return lines


def read_roster(path: str | Path, system: str) -> dict[str, dict[str, str]]:
    """{course student id: {identity column: value}} from the roster CSV."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            header = list(rows[0].keys()) if rows else []
    except OSError as error:
        raise RosterError(f"cannot read the roster {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"{path} is not a CSV file: {error}") from None
    if not rows or header[0] != "student_id":
        raise RosterError(f"{path}: the first column must be student_id, then the LMS identity columns")
    identity = header[1:]
    if system == "canvas" and tuple(identity) != CANVAS_IDENTITY:
        raise RosterError(f"{path}: a Canvas roster has the columns student_id,{','.join(CANVAS_IDENTITY)}")
    if system == "moodle" and (len(identity) != 1 or identity[0] not in MOODLE_IDENTIFIERS):
        raise RosterError(
            f"{path}: a Moodle roster has the columns student_id and one of {', '.join(MOODLE_IDENTIFIERS)}"
        )
    roster: dict[str, dict[str, str]] = {}
    for line, row in enumerate(rows, start=2):
        student = (row.get("student_id") or "").strip()
        if not student:
            raise RosterError(f"{path}, line {line}: no student_id")
        if student in roster:
            raise RosterError(f"{path}, line {line}: {student} is already on line {list(roster).index(student) + 2}")
        if None in row or any(v is None for v in row.values()):
            raise RosterError(f"{path}, line {line}: {len(header)} columns expected")
        roster[student] = {column: row[column].strip() for column in identity}
    return roster


def grades(
    course: str | Path, assignments: Sequence[str] | None = None
) -> tuple[list[str], dict[str, dict[str, Grade]]]:
    """(assignments, {student: {assignment: Grade}}) for every student of the gradebook."""
    table: dict[str, dict[str, Grade]] = {}
    with scores.gradebook(course) as gb:
        names = list(assignments) if assignments else [a.name for a in gb.assignments]
        for student in gb.students:
            row = table.setdefault(student.id, {})
            for name in names:
                try:
                    submission = gb.find_submission(name, student.id)
                except MissingEntry:
                    row[name] = Grade(None, "no submission")
                    continue
                if submission.needs_manual_grade:
                    row[name] = Grade(None, "a written answer still waits for a human grader")
                    continue
                penalty = submission.late_submission_penalty or 0.0
                row[name] = Grade(round(max(0.0, submission.score - penalty), 2))
    return names, table


def write(course: str | Path, system: str, roster_path: str | Path, out: str | Path) -> Export:
    """The LMS's grade file at `out` (relative to the course), and what was left empty and why."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown LMS {system!r}: one of {', '.join(SYSTEMS)}")
    roster = read_roster(roster_path, system)
    names, table = grades(course)
    path = Path(course) / out
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = list(next(iter(roster.values())).keys())
    export = Export(path=path, assignments=names, written=0)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*identity, *names])
        for student, who in roster.items():
            row = table.get(student)
            if row is None:
                export.not_in_gradebook.append(student)
                row = {}
            cells = []
            for name in names:
                grade = row.get(name, Grade(None, "no submission"))
                if grade.points is None and student in table:
                    export.empty.append((student, name, grade.why))
                cells.append("" if grade.points is None else f"{grade.points:g}")
            writer.writerow([who[column] for column in identity] + cells)
            export.written += 1
    export.not_in_roster = sorted(set(table) - set(roster))
    return export
