"""Hidden-test checks on demand: the instructor's settings, the record of every check, and whether
a student may check now.

A class on the hub lets a student grade their current notebook against the hidden tests before the
deadline (the hub's check service, `tfladder.hub.service`). What the instructor decides is in the
course's `checks.toml` (SETTINGS_FILE), which `write_default_settings` makes with every assignment
open:

    per_hour = 10                    # checks per student per assignment in any hour

    [01_low_level_ops]
    open = true                      # false: no check of this assignment
    closes = 2026-12-20T23:59:00Z    # optional: no check from then on (a time zone, or UTC)

Every check asked for is a line of `checks.jsonl` in the course (RECORD_FILE): who, which
assignment, when, what it scored, or why it was refused. The limit counts the checks of the last
hour that were run (refusals do not count), and the instructor's report summarises them
(`summary`).
"""

import json
import os
import secrets
import threading
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tfladder import seeds

SETTINGS_FILE = "checks.toml"
RECORD_FILE = "checks.jsonl"
DEFAULT_PER_HOUR = 10
WINDOW = timedelta(hours=1)
_writing = threading.Lock()


class SettingsError(ValueError):
    """checks.toml cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Rule:
    open: bool = True
    closes: datetime | None = None


@dataclass(frozen=True)
class Settings:
    per_hour: int = DEFAULT_PER_HOUR
    rules: dict[str, Rule] = field(default_factory=dict)

    def rule(self, assignment: str) -> Rule:
        return self.rules.get(assignment, Rule())


def _when(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise SettingsError(f"{where}: {value!r} is not a time like 2026-12-20T23:59:00Z") from None
    else:
        raise SettingsError(f"{where}: {value!r} is not a time like 2026-12-20T23:59:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse(text: str, assignments: Iterable[str]) -> Settings:
    """The settings in checks.toml's text; `assignments` are the course's (a table for another
    name is a typo, and refused)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{SETTINGS_FILE} is not valid TOML: {error}") from None
    known = set(assignments)
    per_hour = data.pop("per_hour", DEFAULT_PER_HOUR)
    if not isinstance(per_hour, int) or isinstance(per_hour, bool) or per_hour < 0:
        raise SettingsError(f"{SETTINGS_FILE}: per_hour must be a whole number of checks, not {per_hour!r}")
    rules = {}
    for name, table in data.items():
        where = f"{SETTINGS_FILE} [{name}]"
        if name not in known:
            raise SettingsError(f"{where}: the course has no assignment {name!r} (it has {', '.join(sorted(known))})")
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: expected a table ([{name}] with open = true/false)")
        unknown = set(table) - {"open", "closes"}
        if unknown:
            raise SettingsError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; use open and closes")
        is_open = table.get("open", True)
        if not isinstance(is_open, bool):
            raise SettingsError(f"{where}: open must be true or false, not {is_open!r}")
        closes = _when(table["closes"], f"{where} closes") if "closes" in table else None
        rules[name] = Rule(open=is_open, closes=closes)
    return Settings(per_hour=per_hour, rules=rules)


def read_settings(course: str | Path, assignments: Iterable[str]) -> Settings:
    """The course's checks.toml, or the defaults (every assignment open) without one."""
    path = Path(course) / SETTINGS_FILE
    if not path.exists():
        return Settings()
    return parse(path.read_text(encoding="utf-8"), assignments)


def write_default_settings(course: str | Path, assignments: Sequence[str]) -> Path:
    """checks.toml with every assignment open and no closing time, unless the course has one."""
    path = Path(course) / SETTINGS_FILE
    if not path.exists():
        lines = [
            "# Hidden-test checks students may ask for from JupyterLab (docs/hub.md, Checks on demand).",
            "# The check service reads this file at each request: an edit takes effect at once.",
            f"per_hour = {DEFAULT_PER_HOUR}  # checks per student per assignment in any hour",
        ]
        for name in assignments:
            lines += ["", f"[{name}]", "open = true", "# closes = 2026-12-20T23:59:00Z  # no check from then on"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Record:
    """One check asked for: run (`outcome` "graded" or "failed") or refused (with `reason`)."""

    student: str
    assignment: str
    asked: str  # ISO time, UTC
    outcome: str  # graded | failed | refused
    points: float | None = None
    max_points: float | None = None
    seed: int | None = None
    reason: str = ""
    seconds: float | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.asked)


def append(course: str | Path, record: Record) -> None:
    """Add `record` to the course's checks.jsonl (one line, written whole)."""
    line = json.dumps(asdict(record)) + "\n"
    with _writing, open(Path(course) / RECORD_FILE, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())


def records(course: str | Path) -> list[Record]:
    """Every check recorded in the course (a damaged line is skipped)."""
    path = Path(course) / RECORD_FILE
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(Record(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return found


def refusal(
    settings: Settings,
    assignment: str,
    student: str,
    past: Iterable[Record],
    now: datetime,
    running: int = 0,
) -> str:
    """Why `student` may not check `assignment` now, in their words; "" when they may. `running`
    are their checks of it under way (they count as run)."""
    rule = settings.rule(assignment)
    if not rule.open:
        return f"Checks of {assignment} are off: your instructor has not opened them."
    if rule.closes is not None and now >= rule.closes:
        return f"Checks of {assignment} closed at {rule.closes:%Y-%m-%d %H:%M %Z}."
    recent = sorted(
        r.time
        for r in past
        if r.student == student and r.assignment == assignment and r.outcome != "refused" and now - r.time < WINDOW
    )
    if len(recent) + running >= settings.per_hour:
        if not recent:  # all of them still running
            return f"Your {running} check(s) of {assignment} are still running; wait for them."
        again = recent[max(0, len(recent) + running - settings.per_hour)] + WINDOW
        minutes = max(1, round((again - now).total_seconds() / 60))
        return (
            f"You have used your {settings.per_hour} check{'s' if settings.per_hour != 1 else ''} of "
            f"{assignment} for this hour; "
            f"the next one is possible in {minutes} minute(s), at {again:%H:%M} UTC."
        )
    return ""


def fresh_seed() -> int:
    """A seed for one check's hidden inputs: random, and never a seed the term's grading may use
    (the default one, or the $TFLADDER_GRADING_SEED this process was given)."""
    term = {seeds.DEFAULT_SEED, seeds.grading_seed()}
    while True:
        seed = secrets.randbelow(2**31 - 1) + 1
        if seed not in term:
            return seed


def now() -> datetime:
    return datetime.now(UTC)


def summary(course: str | Path) -> list[dict[str, object]]:
    """Per assignment: how many checks were run, by how many students, the best score each
    reached and how many were refused (the instructor's report)."""
    by_assignment: dict[str, list[Record]] = {}
    for record in records(course):
        by_assignment.setdefault(record.assignment, []).append(record)
    rows = []
    for assignment, found in sorted(by_assignment.items()):
        run = [r for r in found if r.outcome != "refused"]
        best: dict[str, float] = {}
        for r in run:
            if r.points is not None:
                best[r.student] = max(best.get(r.student, 0.0), r.points)
        top = max((r.max_points or 0.0 for r in run), default=0.0)
        rows.append(
            {
                "assignment": assignment,
                "checks": len(run),
                "students": len({r.student for r in run}),
                "refused": len(found) - len(run),
                "failed": sum(r.outcome == "failed" for r in run),
                "mean_best": f"{sum(best.values()) / len(best):.1f}" if best else "-",
                "top": f"{top:g}",
                "last": max(r.asked for r in found)[:16].replace("T", " "),
            }
        )
    return rows
