"""Fixture submissions: a release notebook, some answers replaced, and the points it must earn.

A fixture is a TOML file in tests/fixtures/<assignment>/, named after the exercise and the
mistake it makes (`l1_forgot_mean.toml`):

    about = "mse_loss sums the squared errors instead of averaging them"
    assignment = "01_low_level_ops"
    base = "reference"          # start from the reference answers ("release": from the blank)

    [answers]                   # solution cells replaced, by grade id
    l1_mse_loss = '''
    def mse_loss(y_true, y_pred):
        return tf.reduce_sum(tf.square(tf.reshape(y_pred, (-1,)) - tf.reshape(y_true, (-1,))))
    '''

    [points]                    # every graded cell: expected points, or "manual"
    l1_mse_loss_values = 0
    ...

    [messages]                  # text the failure output of a cell must contain
    l1_mse_loss_values = "forgot the mean"

`build()` turns a fixture into the notebook a student would submit: the committed release with
the answers filled in (the written answer from source/ when base is "reference").
"""

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfladder.course import notebooks

MANUAL = "manual"
BASES = ("reference", "release")


class FixtureError(ValueError):
    """A fixture file is malformed."""


@dataclass
class Fixture:
    name: str
    assignment: str
    about: str
    base: str
    answers: dict[str, str] = field(default_factory=dict)
    points: dict[str, float | str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def notebook(self) -> str:
        return f"{self.assignment}.ipynb"


def load(path: str | Path) -> Fixture:
    """Read one fixture file; FixtureError says what is wrong with it."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise FixtureError(f"{path}: cannot read fixture: {error}") from None
    unknown = set(raw) - {"about", "assignment", "base", "answers", "points", "messages"}
    if unknown:
        raise FixtureError(f"{path}: unknown keys {sorted(unknown)}")
    for key in ("about", "assignment", "base", "points"):
        if key not in raw:
            raise FixtureError(f"{path}: missing `{key}`")
    if raw["base"] not in BASES:
        raise FixtureError(f"{path}: base must be one of {BASES}, not {raw['base']!r}")
    for grade, value in raw["points"].items():
        if value != MANUAL and not isinstance(value, (int, float)):
            raise FixtureError(f"{path}: points of {grade} must be a number or {MANUAL!r}")
    return Fixture(
        name=path.stem,
        assignment=raw["assignment"],
        about=raw["about"],
        base=raw["base"],
        answers={k: v.strip("\n") for k, v in raw.get("answers", {}).items()},
        points=dict(raw["points"]),
        messages=dict(raw.get("messages", {})),
        path=path,
    )


def fixture_dir(course: str | Path, assignment: str) -> Path:
    return Path(course) / "tests" / "fixtures" / assignment


def load_all(course: str | Path, assignment: str) -> dict[str, Fixture]:
    """Every fixture of an assignment, by name."""
    return {f.name: f for f in map(load, sorted(fixture_dir(course, assignment).glob("*.toml")))}


def build(fixture: Fixture, release_nb: Any, source_nb: Any) -> Any:
    """The submitted notebook for `fixture`, from the release and source notebooks (NotebookNodes)."""
    nb = copy.deepcopy(release_nb)
    source_cells = notebooks.cells_by_id(source_nb)
    solutions = set(notebooks.solution_ids(nb))
    unknown = set(fixture.answers) - solutions
    if unknown:
        raise FixtureError(f"{fixture.name}: no solution cells named {sorted(unknown)}")
    for cell in nb.cells:
        gid = notebooks.grade_id(cell)
        if gid not in solutions:
            continue
        if gid in fixture.answers:
            cell.source = fixture.answers[gid]
        elif fixture.base == "reference":
            cell.source = notebooks.reference_answer(source_cells[gid])
    return nb


def submit(
    fixture: Fixture, course: str | Path, *, student: str | None = None, release_dir: str | Path | None = None
) -> Path:
    """Write the fixture's notebook to submitted/<student>/<assignment>/ and return its path."""
    course = Path(course)
    release_dir = Path(release_dir or course / "release")
    release_nb = notebooks.read(release_dir / fixture.assignment / fixture.notebook)
    source_nb = notebooks.read(course / "source" / fixture.assignment / fixture.notebook)
    target = course / "submitted" / (student or fixture.name) / fixture.assignment / fixture.notebook
    notebooks.write(build(fixture, release_nb, source_nb), target)
    return target
