"""nbgrader operations on a course directory: release, autograde, export.

Each operation runs the real `nbgrader` command in the course directory, so it reads the course's
own `nbgrader_config.py` exactly as an instructor's command would, with the environment's `bin`
on PATH (nbgrader shells out to `alembic` when it creates a gradebook).
"""

import fnmatch
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from tfladder.course import release_stamp
from tfladder.course.config import tool_env

ASSIGNMENT_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")


class CourseError(RuntimeError):
    """An nbgrader step failed; the message carries the end of its log."""


class Advances(Protocol):
    """What `autograde` needs of its `progress`: a `tfladder.grading.progress.Progress` (a layer above)."""

    def advance(self, note: str = "") -> None: ...


def find_root(start: str | Path | None = None) -> Path:
    """The course directory: `start` (default: here) or the nearest parent with nbgrader_config.py."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "source").is_dir():
            return folder
    raise CourseError(
        f"{here} is not inside a tfladder course: no folder with nbgrader_config.py and source/ "
        "was found. Run this from the repository root."
    )


def assignments(course: str | Path) -> list[str]:
    """Assignment names in source/, in level order."""
    source = Path(course) / "source"
    return sorted(p.name for p in source.iterdir() if p.is_dir() and ASSIGNMENT_PATTERN.match(p.name))


def level_prefix(assignment: str) -> str:
    """'l1' for '01_low_level_ops': the prefix of every grade id and fixture of the level."""
    return f"l{int(assignment[:2])}"


def nbgrader(
    course: str | Path,
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `nbgrader ARGS` in `course`; raise CourseError with the log's tail when it fails.

    `on_line` is called with each line of nbgrader's output as it arrives.
    """
    command = [str(Path(sys.executable).parent / "nbgrader"), *map(str, args)]
    with subprocess.Popen(
        command,
        cwd=str(course),
        env=tool_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None  # stdout=PIPE
        lines = []
        for line in process.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        returncode = process.wait()
    done = subprocess.CompletedProcess(command, returncode, "".join(lines), "")
    if check and returncode != 0:
        raise CourseError(
            f"`nbgrader {' '.join(map(str, args))}` failed in {course} (exit {returncode}):\n" + "".join(lines[-25:])
        )
    return done


def release(course: str | Path, assignment: str, *, db: bool = False) -> subprocess.CompletedProcess[str]:
    """Regenerate release/ASSIGNMENT from source/ASSIGNMENT (and the gradebook's copy if `db`)."""
    args = ["generate_assignment", assignment, "--force"]
    if not db:
        args.append("--no-db")
    done = nbgrader(course, *args)
    if db:
        release_stamp.record(course, assignment)
    return done


def release_unless_current(course: str | Path, assignment: str) -> bool:
    """`release(..., db=True)` unless it would change nothing (`tfladder.course.release_stamp`).
    True when it ran."""
    if release_stamp.is_current(course, assignment):
        return False
    release(course, assignment, db=True)
    return True


def autograde(
    course: str | Path,
    assignment: str,
    *,
    student: str | None = None,
    env: Mapping[str, str] | None = None,
    progress: Advances | None = None,
) -> subprocess.CompletedProcess[str]:
    """Autograde submitted/*/ASSIGNMENT into autograded/; `student` may be an id or a glob.

    The gradebook must know the assignment (`release(..., db=True)` records it). Returns the
    finished process; its return code is 1 when some submission could not be graded.
    `progress` (a `Progress`) advances once per notebook nbgrader starts grading.
    """
    args = ["autograde", assignment, "--force"]
    if student:
        args += ["--student", student]

    def on_line(line: str) -> None:
        found = AUTOGRADING.search(line)
        if found and progress is not None:
            progress.advance(found.group(1))

    return nbgrader(course, *args, env=env, check=False, on_line=on_line)


AUTOGRADING = re.compile(r"Autograding .*?/autograded/([^/]+)/")


def submitted_students(course: str | Path, assignment: str, pattern: str | None = None) -> list[str]:
    """Students with a submission of ASSIGNMENT in submitted/, optionally matching a glob."""
    found = sorted(p.parent.name for p in (Path(course) / "submitted").glob(f"*/{assignment}") if p.is_dir())
    return [s for s in found if pattern is None or fnmatch.fnmatch(s, pattern)]


def failed_students(course: str | Path, assignment: str, log: str) -> list[str]:
    """Students nbgrader failed to autograde: named in its log's error lines, and without the
    autograded folder that nbgrader removes when a submission fails.

    The log alone is not evidence: a kernel nbgrader starts itself inherits its standard output,
    so a submission can print a line that names another student.
    """
    named = set(re.findall(r"There was an error processing assignment: .*?/submitted/([^/]+)/", log))
    return sorted(s for s in named if not (Path(course) / "autograded" / s / assignment).is_dir())


def export(course: str | Path, path: str | Path = "grades.csv") -> Path:
    """Write nbgrader's CSV export of the gradebook to `path` (relative to the course)."""
    nbgrader(course, "export", "--to", str(path))
    return Path(course) / path
