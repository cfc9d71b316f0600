"""Which submissions a course has recorded already: what `tfladder grade --resume` leaves alone.

A submission is recorded when a grading run finished recording it: its report,
autograded/<student>/<assignment>/tfladder.json, names the very submission (a fingerprint of the
files the student submitted) and the release it was graded against (a fingerprint of the release
folder). A run that stopped before the end (it lost its grading cluster's scheduler) leaves the
rest without a report; a student who submitted again and a release regenerated from a changed
source no longer match theirs. `--resume` grades those, and only those.
"""

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from tfladder.course.release_stamp import tree

REPORT = "tfladder.json"  # each graded submission's report (grade.REPORT)


def _digest(folder: Path) -> str:
    return hashlib.sha256(json.dumps(tree(folder)).encode()).hexdigest()


def submission_fingerprint(folder: str | Path) -> str:
    """Every file a student submitted (names and contents), as one digest."""
    return _digest(Path(folder))


def release_fingerprint(course: str | Path, assignment: str) -> str:
    """Every file of the assignment's release, as one digest."""
    return _digest(Path(course) / "release" / assignment)


def is_recorded(course: str | Path, assignment: str, student: str, release: str) -> bool:
    """True when `student`'s current submission was recorded against this release."""
    course = Path(course)
    report = course / "autograded" / student / assignment / REPORT
    try:
        said = json.loads(report.read_text())
    except (OSError, ValueError):
        return False
    submitted = course / "submitted" / student / assignment
    return (
        isinstance(said, dict)
        and said.get("release") == release
        and said.get("submission") == submission_fingerprint(submitted)
    )


def unrecorded(course: str | Path, assignment: str, students: Iterable[str]) -> list[str]:
    """The students among `students` whose current submission is not recorded (see the module)."""
    release = release_fingerprint(course, assignment)
    return [s for s in students if not is_recorded(course, assignment, s, release)]
