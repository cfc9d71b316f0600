"""Self-check: grade one notebook exactly as the instructor's grading would, and say what failed.

The notebook is copied into a temporary course made from this repository's `source/` and
`nbgrader_config.py` and graded there by `nbgrader autograde` (hidden tests restored from the
source, same timeouts, same grading-seed handling). When the grading sandbox can start here, it
is graded as `tfladder grade` would grade it: sandboxed kernel, tamper checks. The result is
printed per exercise with the failure messages, never the hidden test code. No gradebook of
yours is touched.

From a shell:           tfladder check release/01_low_level_ops/01_low_level_ops.ipynb
From inside a notebook: from tfladder.grading.selfcheck import check; check("01_low_level_ops.ipynb")
(save the notebook first: the check reads the file on disk).
"""

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tfladder.course import notebooks, ops
from tfladder.grading import grade as safe
from tfladder.grading import results
from tfladder.sandbox import launcher

STUDENT = "self"


class CheckError(ValueError):
    """The notebook cannot be checked; the message says why."""


def assignment_of(path: str | Path, course: str | Path) -> str | None:
    """The assignment a notebook belongs to: its file name, else the grade ids it holds."""
    known = ops.assignments(course)
    stem = Path(path).stem
    if stem in known:
        return stem
    try:
        nb = notebooks.read(path)
    except Exception:  # noqa: BLE001 - not a notebook: not this assignment's
        return None
    prefixes = {gid.split("_", 1)[0] for gid in notebooks.cells_by_id(nb) if gid}
    for assignment in known:
        if ops.level_prefix(assignment) in prefixes:
            return assignment
    return None


def grade(
    path: str | Path,
    *,
    course: str | Path | None = None,
    assignment: str | None = None,
    env: Mapping[str, str] | None = None,
    require_sandbox: bool = False,
) -> results.NotebookResult:
    """Grade the notebook at `path` in a temporary course; returns a results.NotebookResult.
    Without the sandbox it runs unsandboxed, as the student's own code on their own machine,
    unless `require_sandbox` (the hub's check service): then launcher.SandboxUnavailable."""
    path = Path(path).resolve()
    if not path.is_file():
        raise CheckError(f"{path} does not exist")
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckError(f"{path} is not a readable notebook ({error}); is the file saved and complete?") from None
    course = (
        Path(course)
        if course
        else ops.find_root(path.parent if (path.parent / "nbgrader_config.py").exists() else None)
    )
    assignment = assignment or assignment_of(path, course)
    if assignment is None or not (course / "source" / assignment).is_dir():
        raise CheckError(
            f"cannot tell which assignment {path.name} belongs to; name it after one of "
            f"{', '.join(ops.assignments(course))} or pass --assignment"
        )
    with tempfile.TemporaryDirectory(prefix="tfladder-check-") as tmp:
        root = Path(tmp)
        shutil.copy(course / "nbgrader_config.py", root)
        shutil.copytree(course / "source" / assignment, root / "source" / assignment)
        target = root / "submitted" / STUDENT / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copy(path, target)
        flags: list[str] = []
        try:
            # As `tfladder grade` would: sandboxed kernel, tamper checks.
            summary = safe.grade(root, assignment, safe.Options(env=env, show_progress=False, jobs=1, prefork=False))
            log, flags = summary.log, summary.submissions[STUDENT].flags
        except launcher.SandboxUnavailable:
            if require_sandbox:
                raise
            ops.release(root, assignment, db=True)
            log = ops.autograde(root, assignment, env=env).stdout
        result = results.load(root, assignment, STUDENT)
        result.flags = flags
        if result.error:
            result.error += "\n" + _nbgrader_reason(log)
    return result


def _nbgrader_reason(log: str) -> str:
    lines = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
    return "\n".join(lines[-5:]) or log[-1500:]


def check(
    path: str | Path,
    *,
    course: str | Path | None = None,
    assignment: str | None = None,
    env: Mapping[str, str] | None = None,
) -> results.NotebookResult:
    """Grade and print the report; returns the result (for use from a notebook cell)."""
    result = grade(path, course=course, assignment=assignment, env=env)
    print(results.text_report(result))
    return result


def all_points(result: results.NotebookResult) -> bool:
    """True when every autograded point was earned and the notebook could be graded."""
    return not result.error and result.auto_points >= result.auto_max
