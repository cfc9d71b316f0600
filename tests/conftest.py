"""Shared helpers: a temporary course per grading test, and fixtures graded through nbgrader."""

import copy
import functools
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
BASELINE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TFLADDER_THREADS": "1", "TFLADDER_GRADING_SEED": "2718"}
# Settings that must not change any score (test_determinism grades a subset of fixtures with each:
# every reference and, for every exercise, one fixture that makes a mistake in it).
VARIANTS = {
    "oneDNN on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "two threads and another grading seed": {"TFLADDER_THREADS": "2", "TFLADDER_GRADING_SEED": "424242"},
}
# The variant graded on a separate cluster (tests/external_cluster.py: `dask scheduler` and two
# `dask worker` grading nodes, TLS with certificates in files) as a MOOC grades: into a gradebook on
# PostgreSQL (tests/postgres_server.py), two nbgrader processes recording at once. Its workers are
# killed while they execute: once for KILLED_ONCE (retried, same scores), twice for KILLED_TWICE, an
# extra student who submits the level-1 reference (graded as failed, with the reason); its
# scheduler is killed as the last notebook starts, and `--resume` on a new cluster grades what the
# first run did not record. tests/grading/test_cluster.py.
CLUSTER_VARIANT = "two threads and another grading seed"
KILLED_ONCE = "l2_reference"
KILLED_TWICE = "l1_killed_twice"
# An assignment whose source is not a notebook, graded in the baseline batch between the others:
# it must be reported while every other assignment is graded (test_parallel_grading).
BROKEN = "06_broken_source"
# Levels whose determinism subset is graded serially as well (nbgrader executes every notebook
# itself, each kernel from scratch), to compare with the baseline batch's parallel grading: level 1
# and level 5 (whose tests read shuffles).
SERIAL_LEVELS = ("01_low_level_ops", "05_data_pipelines")


@functools.cache
def _notebook(kind, assignment):
    return notebooks.read(REPO / kind / assignment / f"{assignment}.ipynb")


def committed_notebook(kind, assignment):
    """A fresh copy of `kind`/<assignment> ("source" or "release"), read from disk once per session."""
    return copy.deepcopy(_notebook(kind, assignment))


@functools.cache
def level_fixtures(assignment):
    """Every fixture of an assignment, parsed once per session (the fast tests ask per fixture)."""
    return fixtures.load_all(REPO, assignment)


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


def add_broken_assignment(root):
    """BROKEN in `root`: a source that is not a notebook, and one submission of it."""
    (root / "source" / BROKEN).mkdir(parents=True)
    (root / "source" / BROKEN / f"{BROKEN}.ipynb").write_text('{"not": "a notebook"}')
    (root / "submitted" / "someone" / BROKEN).mkdir(parents=True)
    (root / "submitted" / "someone" / BROKEN / f"{BROKEN}.ipynb").write_text("{}")


def determinism_subset(assignment, found=None):
    """The reference and, for every exercise, the most specific fixture that loses points in it
    (the one that loses points in the fewest exercises; never the blank release)."""
    found = found or fixtures.load_all(REPO, assignment)
    prefix = ops.level_prefix(assignment)
    reference = found[f"{prefix}_reference"].points
    exercises = notebooks.solution_ids(notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb"))
    loses = {
        name: {
            notebooks.exercise_of(cell, exercises)
            for cell, points in fixture.points.items()
            if points != scores.MANUAL and points != reference.get(cell)
        }
        - {None}
        for name, fixture in found.items()
        if name not in (f"{prefix}_reference", f"{prefix}_blank")
    }
    chosen = [f"{prefix}_reference"]
    for exercise in exercises:
        if all(p == scores.MANUAL for c, p in reference.items() if notebooks.exercise_of(c, exercises) == exercise):
            continue  # a written answer: graded by hand
        candidates = sorted((len(lost), name) for name, lost in loses.items() if exercise in lost)
        if not candidates:
            raise AssertionError(f"{assignment}: no fixture makes a mistake in {exercise}")
        if candidates[0][1] not in chosen:
            chosen.append(candidates[0][1])
    return chosen


@dataclass
class ClusterRun:
    """The external cluster's batch: its course, the kills made (tests/external_cluster.Killer), the
    killer's own errors, the first scheduler's address; the summaries of the run that lost its
    scheduler and of the run that resumed it ({assignment: Summary}), and the reports that the
    unrecorded submissions had between the two."""

    root: Path
    kills: list
    errors: list
    address: str
    first: dict
    resumed: dict
    reports_of_unrecorded: list


@dataclass
class Graded:
    """One fixture after grading: points per graded cell and failure text per cell."""

    points: dict
    failures: dict


@dataclass
class GradedCourse:
    """One assignment of a graded batch: its course folder, each fixture's result, the run's summary."""

    root: Path
    graded: dict  # fixture name -> Graded
    summary: object  # tfladder.grading.grade.Summary


def read_graded(root, assignment, names):
    points = scores.cell_points(root, assignment, list(names))
    graded = {}
    for name in names:
        path = root / "autograded" / name / assignment / f"{assignment}.ipynb"
        failures = {}
        if path.exists():
            nb = notebooks.read(path)
            failures = {notebooks.grade_id(c): notebooks.failure_text(c) for c in nb.cells if notebooks.grade_id(c)}
        graded[name] = Graded(points=points[name], failures=failures)
    return graded


def submit_fixtures(root, chosen):
    """Submit fixtures ({assignment: [names]}) as students named after them."""
    for assignment, names in chosen.items():
        found = fixtures.load_all(root, assignment)
        for name in names:
            fixtures.submit(found[name], root)


def grade_batch(root, chosen, options, broken=False):
    """Submit fixtures ({assignment: [names]}) as students named after them and grade them all in
    one `tfladder grade` run (the project's own parallel grader); {assignment: GradedCourse}."""
    from tfladder.grading import grade

    submit_fixtures(root, chosen)
    order = list(chosen)
    if broken:
        add_broken_assignment(root)
        order.insert(min(2, len(order)), BROKEN)
    summaries = {s.assignment: s for s in grade.grade_many(root, order, options)}
    batch = {a: GradedCourse(root, read_graded(root, a, chosen[a]), summaries[a]) for a in chosen}
    if broken:
        batch[BROKEN] = GradedCourse(root, {}, summaries[BROKEN])
    return batch


class GradingRuns:
    """The session's graded batches, each graded once in the background, two at a time.

    "baseline": every fixture of every level (and BROKEN) in one parallel `tfladder grade` run;
    each variant of VARIANTS: the determinism subset of every level, in one run; "serial": the
    determinism subset of SERIAL_LEVELS graded serially, in one run. Each batch has its own sandbox
    uids (slots).
    """

    SLOTS = {"baseline": 10, **{v: 13 + 3 * i for i, v in enumerate(VARIANTS)}, "serial": 20}

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        # pytest makes its base folder on first use, and two threads making it at once fail
        # (FileExistsError): make it here, in the main thread, before any batch starts.
        tmp_path_factory.getbasetemp()
        self.pool = ThreadPoolExecutor(max_workers=2)
        # one more lane, for a batch of single kernels that mostly wait (the serial hostile batch)
        self.lane = ThreadPoolExecutor(max_workers=1)
        self.futures = {}
        self.cluster_run = None  # what happened on the external cluster (CLUSTER_VARIANT)
        self.closers = []  # what the session's end stops (the PostgreSQL server)

    def _run(self, key):
        from tfladder.grading.grade import Options

        if key == "baseline":
            root = make_course(self.tmp.mktemp("baseline") / "course")
            chosen = {a: sorted(fixtures.load_all(root, a)) for a in ASSIGNMENTS}
            options = Options(env=BASELINE_ENV, show_progress=False, jobs=2, slot=self.SLOTS[key])
            return grade_batch(root, chosen, options, broken=True)
        if key in VARIANTS:
            root = make_course(self.tmp.mktemp("variant") / "course")
            chosen = {a: determinism_subset(a) for a in ASSIGNMENTS}
            env = {**BASELINE_ENV, **VARIANTS[key]}
            if key == CLUSTER_VARIANT:
                return self._on_external_cluster(root, chosen, env, self.SLOTS[key])
            return grade_batch(root, chosen, Options(env=env, show_progress=False, jobs=2, slot=self.SLOTS[key]))
        assert key == "serial", key
        root = make_course(self.tmp.mktemp("serial") / "course", SERIAL_LEVELS)
        chosen = {level: determinism_subset(level) for level in SERIAL_LEVELS}
        options = Options(env=BASELINE_ENV, show_progress=False, jobs=1, prefork=False, slot=self.SLOTS[key])
        return grade_batch(root, chosen, options)

    def _on_external_cluster(self, root, chosen, env, slot):
        from external_cluster import ExternalCluster, Killer
        from postgres_server import PostgresServer

        from tfladder.grading import grade

        server = PostgresServer()
        self.closers.append(server.close)
        with (root / "nbgrader_config.py").open("a") as file:
            file.write(f'\nc.CourseDirectory.db_url = "{server.create_database("gradebook")}"\n')
        fixtures.submit(fixtures.load_all(root, ASSIGNMENTS[0])["l1_reference"], root, student=KILLED_TWICE)
        submit_fixtures(root, chosen)
        order = list(chosen)
        last = sorted(chosen[order[-1]])[-1]  # the last notebook the workers get

        def options(external, **more):
            return grade.Options(
                env=env,
                show_progress=False,
                jobs=2,
                slot=slot,
                scheduler=external.address,
                security=external.security,
                recorders=2,
                **more,
            )

        with ExternalCluster(self.tmp.mktemp("cluster"), env, first_slot=slot + 1) as external:
            external.wait_for_workers(2)
            address = external.address
            killer = Killer(external, {KILLED_ONCE: 1, KILLED_TWICE: 2}, last=last)
            try:
                first = {s.assignment: s for s in grade.grade_many(root, order, options(external))}
            finally:
                killer.close()
        unrecorded = [(a, s) for a, summary in first.items() for s in summary.unrecorded]
        reports = [str(p) for a, s in unrecorded if (p := root / "autograded" / s / a / grade.REPORT).exists()]
        with ExternalCluster(self.tmp.mktemp("cluster-again"), env, first_slot=slot + 1) as external:
            external.wait_for_workers(2)
            resumed = {s.assignment: s for s in grade.grade_many(root, order, options(external, resume=True))}
        self.cluster_run = ClusterRun(root, killer.kills, killer.errors, address, first, resumed, reports)
        for assignment, summary in first.items():  # who executed each notebook, in either run
            summary.executed_by.update(resumed[assignment].executed_by)
        return {a: GradedCourse(root, read_graded(root, a, chosen[a]), first[a]) for a in chosen}

    def submit(self, key):
        if key not in self.futures:
            self.futures[key] = self.pool.submit(self._run, key)
        return self.futures[key]

    def get(self, key):
        return self.submit(key).result()

    def submit_job(self, key, job, lane=True):
        """Run `job()` once per key, in the extra lane (or in the pool, after the batches queued
        there so far); its future."""
        if key not in self.futures:
            self.futures[key] = (self.lane if lane else self.pool).submit(job)
        return self.futures[key]

    def wait_all(self):
        """Until every batch submitted so far is done (a failed batch fails the tests that read it)."""
        for future in list(self.futures.values()):
            future.exception()


def batches_needed(items):
    """The batches the selected tests read, in the order to grade them."""
    needed = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        direct = set(getattr(getattr(item, "_fixtureinfo", None), "argnames", ()))
        if names & {"graded_fixtures", "two_gradings"} or "grading_runs" in direct:
            needed.append("baseline")
        if "two_gradings" in names:
            needed.append("serial")
        variant = getattr(item, "callspec", None) and item.callspec.params.get("variant")
        if variant in VARIANTS:
            needed.append(variant)
    order = ["baseline", "serial", *VARIANTS]
    return [key for key in order if key in needed]


@pytest.fixture(scope="session")
def grading_runs(tmp_path_factory):
    runs = GradingRuns(tmp_path_factory)
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)
    runs.lane.shutdown(wait=True, cancel_futures=True)
    for close in runs.closers:
        close()


@pytest.fixture(scope="session", autouse=True)
def start_graded_batches(request):
    """Start every batch the selected tests read as the session starts: the batches grade in the
    background while the other slow tests run."""
    needed = batches_needed(request.session.items)
    modules = {}
    for item in request.session.items:
        hook = getattr(getattr(item, "module", None), "background_batches", None)
        if hook is not None:
            modules.setdefault(hook, []).append(item)
    if needed or modules:
        runs = request.getfixturevalue("grading_runs")
        # The longest batches first, so that the session does not end waiting for one of them:
        # every fixture, then the test modules' own batches (the hostile ones), then the rest.
        for key in needed[:1]:
            runs.submit(key)
        for hook, items in modules.items():
            hook(runs, request.getfixturevalue("tmp_path_factory"), items)
        for key in needed[1:]:
            runs.submit(key)


@pytest.fixture(scope="session")
def graded_fixtures(grading_runs):
    """graded_fixtures(assignment) -> GradedCourse with every fixture graded under BASELINE_ENV."""
    return lambda assignment: grading_runs.get("baseline")[assignment]


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """`make demo` run once for the session: (course, {assignment: table}, printed output).

    Tests that change the course work on a copy (`copy_course`).
    """
    from tfladder.cli import demo

    root = make_course(tmp_path_factory.mktemp("demo") / "course")
    lines = []
    tables = demo.run(root, echo=lines.append)
    return root, tables, "\n".join(lines)


def copy_course(root, target):
    """A copy of a course folder (its gradebook included), to change without touching the original."""
    shutil.copytree(root, target)
    return Path(target)


def pytest_collection_modifyitems(items):
    """The tests that wait for the session's last batches run last, so that the others run while
    the batches grade: the determinism variants (the external cluster's among them), then the
    hostile batches."""

    def last(item):
        if item.nodeid.startswith("tests/grading/test_hostile_grading.py"):
            return 2
        if item.nodeid.startswith("tests/grading/test_cluster.py") and {"batch", "cluster_run"} & set(
            item.fixturenames
        ):
            return 1  # the external cluster's batch is one of the variants
        callspec = getattr(item, "callspec", None)
        return 1 if callspec is not None and callspec.params.get("variant") in VARIANTS else 0

    items.sort(key=last)
