"""Shared helpers: a temporary course per grading test, and fixtures graded through nbgrader."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tfladder import runtime

runtime.quiet()  # before any test imports TensorFlow

from tfladder.course import fixtures, notebooks, ops
from tfladder.grading import scores

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ops.assignments(REPO)
# How the session grades every fixture; test_determinism changes one setting at a time.
BASELINE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TFLADDER_THREADS": "2", "TFLADDER_GRADING_SEED": "2718"}


def make_course(root, assignments=ASSIGNMENTS):
    """A fresh course directory: config, source/, the committed release/ and the fixtures."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    for a in assignments:
        for part in ("source", "release", "tests/fixtures"):
            src = REPO / part / a
            if src.exists():
                shutil.copytree(src, root / part / a)
    return root


@dataclass
class Graded:
    """One fixture after `nbgrader autograde`: points per graded cell and failure text per cell."""

    points: dict
    failures: dict


@dataclass
class GradedCourse:
    """A temporary course in which every fixture of one assignment was graded."""

    root: Path
    graded: dict  # fixture name -> Graded
    done: object  # the finished `nbgrader autograde` process


def grade_fixtures(root, assignment, names=None, env=None):
    """Submit fixtures (all by default) as students named after them, autograde, read results."""
    found = fixtures.load_all(root, assignment)
    chosen = {n: found[n] for n in (names or found)}
    for fixture in chosen.values():
        fixtures.submit(fixture, root)
    ops.release(root, assignment, db=True)
    done = ops.autograde(root, assignment, env=env)
    points = scores.cell_points(root, assignment, list(chosen))
    graded = {}
    for name in chosen:
        path = root / "autograded" / name / assignment / f"{assignment}.ipynb"
        failures = {}
        if path.exists():
            nb = notebooks.read(path)
            failures = {notebooks.grade_id(c): notebooks.failure_text(c) for c in nb.cells if notebooks.grade_id(c)}
        graded[name] = Graded(points=points[name], failures=failures)
    return GradedCourse(root=Path(root), graded=graded, done=done)


# Settings that must not change any score (test_determinism grades every fixture again with each).
VARIANTS = {
    "oneDNN on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "one thread and another grading seed": {"TFLADDER_THREADS": "1", "TFLADDER_GRADING_SEED": "424242"},
}


class GradingRuns:
    """Every (assignment, setting) grading of the session, two at a time (one per CPU core)."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures = {}

    def _run(self, assignment, variant):
        root = make_course(self.tmp.mktemp(f"course_{assignment}"), [assignment])
        return grade_fixtures(root, assignment, env={**BASELINE_ENV, **VARIANTS.get(variant, {})})

    def submit(self, assignment, variant="baseline"):
        key = (assignment, variant)
        if key not in self.futures:
            self.futures[key] = self.pool.submit(self._run, assignment, variant)
        return self.futures[key]

    def get(self, assignment, variant="baseline"):
        return self.submit(assignment, variant).result()


@pytest.fixture(scope="session")
def grading_runs(tmp_path_factory):
    runs = GradingRuns(tmp_path_factory)
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def graded_fixtures(grading_runs):
    """graded_fixtures(assignment) -> GradedCourse with every fixture graded under BASELINE_ENV."""
    return grading_runs.get
