"""Shared helpers: a temporary course per grading test, and fixtures graded through nbgrader."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tfladder import runtime

runtime.quiet()  # before any test imports TensorFlow

from tfladder import course, fixtures, notebooks, scores  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.assignments(REPO)
# How the session grades every fixture; test_determinism changes one setting at a time.
BASELINE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TFLADDER_THREADS": "2", "TFLADDER_GRADING_SEED": "2718"}


def make_course(root, assignments=ASSIGNMENTS):
    """A fresh course directory: config, source/, the committed release/ and the fixtures."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    for a in assignments:
        for part in ("source", "release", f"tests/fixtures"):
            src = REPO / part / a
            if src.exists():
                shutil.copytree(src, root / part / a)
    return root


@dataclass
class Graded:
    """One fixture after `nbgrader autograde`: points per graded cell and failure text per cell."""

    points: dict
    failures: dict


def grade_fixtures(root, assignment, names=None, env=None):
    """Submit fixtures (all by default) as students named after them, autograde, read results."""
    found = fixtures.load_all(root, assignment)
    chosen = {n: found[n] for n in (names or found)}
    for fixture in chosen.values():
        fixtures.submit(fixture, root)
    course.release(root, assignment, db=True)
    done = course.autograde(root, assignment, env=env)
    points = scores.cell_points(root, assignment, list(chosen))
    graded = {}
    for name in chosen:
        path = root / "autograded" / name / assignment / f"{assignment}.ipynb"
        failures = {}
        if path.exists():
            nb = notebooks.read(path)
            failures = {notebooks.grade_id(c): notebooks.failure_text(c) for c in nb.cells if notebooks.grade_id(c)}
        graded[name] = Graded(points=points[name], failures=failures)
    return graded, done


@pytest.fixture(scope="session")
def graded_fixtures(tmp_path_factory):
    """Every fixture of every assignment graded once per session: {assignment: {name: Graded}}."""
    cache = {}

    def get(assignment):
        if assignment not in cache:
            root = make_course(tmp_path_factory.mktemp(f"course_{assignment}"), [assignment])
            cache[assignment] = grade_fixtures(root, assignment, env=BASELINE_ENV)
        return cache[assignment]

    return get
