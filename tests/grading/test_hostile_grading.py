"""Does `tfladder grade` survive hostile submissions, give them nothing undeserved, and flag them?

One batch holds every case of tests/hostile.py: level 1's (every attack family) and, on every
level, the attacks on the judge and an honest reference. It is graded in the sandbox with short
limits as `tfladder grade --engine dask` does (two grading nodes of a local Dask cluster, kernels
forked from the zygote, every level in one run: a kernel scanning loopback must find neither the
scheduler nor a worker); level 1's cases are graded a second time serially (every kernel from scratch,
one at a time), and every question below is asked of both: isolation must be exactly as strong
either way.
"""

import hashlib
import html
import json
import re
import socket
import sysconfig
import threading
from contextlib import closing
from pathlib import Path

import pytest
from conftest import BASELINE_ENV, REPO, make_course
from hostile import LEVELS, A, case_list, search_secrets

from tfladder.course import fixtures, notebooks
from tfladder.grading import grade, judge, scores
from tfladder.reports import feedback, report
from tfladder.sandbox import launcher

pytestmark = pytest.mark.slow
# Short limits keep the batch quick; the per-cell time-out is set in the course's config.
LIMITS = {
    "TFLADDER_SANDBOX_MEMORY_BYTES": str(6 << 30),
    "TFLADDER_SANDBOX_CPU_SECONDS": "300",
    "TFLADDER_SANDBOX_SCRATCH_BYTES": str(64 << 20),
    "TFLADDER_SANDBOX_WALL_SECONDS": "600",
}
# Both batches grade in the background beside the session's other batches (conftest.GradingRuns):
# a cell gets a minute, so that a memory attack reaches the memory limit it tests, and an honest
# level-3 notebook trains its CNN, on a busy machine; the parallel batch's cells two, since its
# two kernels share the cores with each other too (x_searcher, which reads everything in reach
# in every exercise, took more than a minute for one cell there while the fixtures graded).
CELL_TIMEOUT = 60
HOST_STARTUP = Path("/root/.ipython/profile_default/startup/00-planted.py")
ALL = case_list(Path("/course"), 0)
# Each batch has sandbox uids of its own (slots; a parallel run uses `jobs` slots and one more for
# nbgrader's own kernels), far from slot 0, where every run that does not choose starts looking
# (tfladder.sandbox.slots), so that no other test's kernel is running as one of them. The serial
# batch grades in the extra lane from the session's start, the parallel one in the pool, after the
# batches of fixtures queued there.
MODES = {
    "parallel": {
        "jobs": 2,
        "prefork": True,
        "levels": LEVELS,
        "slot": 100,
        "cell_timeout": 2 * CELL_TIMEOUT,
        "engine": "dask",
    },
    "serial": {"jobs": 1, "prefork": False, "levels": (A,), "slot": 105, "cell_timeout": CELL_TIMEOUT},
}
RUNS = [(mode, case.name) for mode, how in MODES.items() for case in ALL if case.assignment in how["levels"]]


class Listener:
    """A TCP port on the grading host that records every connection made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def build(case, course):
    """Write the case's submission into course/submitted/<case.name>/<assignment>/."""
    level = case.assignment
    folder = course / "submitted" / case.name / level
    folder.mkdir(parents=True)
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if case.filename == "":
        return
    target = folder / (case.filename or f"{level}.ipynb")
    if isinstance(case.raw, bytes):
        target.write_bytes(case.raw)
        return
    if case.raw == "level 2":
        target.write_text((REPO / "release" / "02_layers" / "02_layers.ipynb").read_text())
        return
    source_nb = notebooks.read(course / "source" / level / f"{level}.ipynb")
    originals = notebooks.cells_by_id(source_nb)
    answers = {
        gid: code.replace("{reference}", notebooks.reference_answer(originals[gid]))
        for gid, code in case.answers.items()
    }
    fixture = fixtures.Fixture(name=case.name, assignment=level, about=case.about, base=case.base, answers=answers)
    nb = fixtures.build(fixture, notebooks.read(course / "release" / level / f"{level}.ipynb"), source_nb)
    for after_id, text in case.cells:
        from nbformat.v4 import new_code_cell

        at = (
            len(nb.cells)
            if after_id is None
            else 1 + next(i for i, c in enumerate(nb.cells) if notebooks.grade_id(c) == after_id)
        )
        nb.cells.insert(at, new_code_cell(text))
    if case.edit:
        case.edit(nb)
    notebooks.write(nb, target)


def digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def batch_uids(mode):
    """The sandbox uids a batch's kernels run as."""
    how = MODES[mode]
    return {launcher.uid_for(how["slot"] + i) for i in range(how["jobs"] + 1)}


def sandbox_processes(uids=None):
    """Processes on this machine running as a sandbox uid (one of `uids`, if given)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if uid >= launcher.FIRST_UID and (uids is None or uid in uids):
            found.append((status.parent.name, uid))
    return found


class Batch:
    def __init__(self, mode, course, cases, summaries, listener, before, after):
        self.mode, self.course, self.cases, self.listener = mode, course, cases, listener
        self.before, self.after = before, after
        self.summaries = {s.assignment: s for s in summaries}
        self.points = {}
        for level, summary in self.summaries.items():
            self.points.update(scores.cell_points(course, level, sorted(summary.submissions)))

    def summary(self, name):
        return self.summaries[self.cases[name].assignment]

    def submission(self, name):
        return self.summary(name).submissions[name]

    def total(self, name):
        return sum(v for v in self.points[name].values() if isinstance(v, (int, float)))

    def output(self, name):
        """What the student's own cells printed (not the tests')."""
        level = self.cases[name].assignment
        nb = notebooks.read(self.course / "autograded" / name / level / f"{level}.ipynb")
        return "".join(o.get("text", "") for c in nb.cells if not notebooks.is_test(c) for o in c.get("outputs", []))

    def flagged_in_gradebook(self, name):
        level = self.cases[name].assignment
        with closing(scores.gradebook(self.course)) as gb:
            return gb.find_submission_notebook(level, level, name).flagged


def _grade(mode, tmp_path_factory):
    how = MODES[mode]
    course = make_course(tmp_path_factory.mktemp(f"hostile-{mode}") / "course", list(how["levels"]))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {how['cell_timeout']}  # short, for the hostile batch\n")
    listener = Listener()
    cases = {case.name: case for case in case_list(course, listener.port) if case.assignment in how["levels"]}
    for case in cases.values():
        build(case, course)
    before = {part: digest(course / part) for part in ("source", "release", "submitted")}
    assert not sandbox_processes(batch_uids(mode)), "sandbox processes were running before the batch"
    try:
        options = grade.Options(
            env={**BASELINE_ENV, **LIMITS},
            show_progress=False,
            jobs=how["jobs"],
            prefork=how["prefork"],
            slot=how["slot"],
            engine=how.get("engine", "pool"),
        )
        summaries = grade.grade_many(course, list(how["levels"]), options)
    finally:
        listener.close()
    after = {part: digest(course / part) for part in ("source", "release", "submitted")}
    return Batch(mode, course, cases, summaries, listener, before, after)


def _submit(mode, runs, tmp_path_factory):
    return runs.submit_job(("hostile", mode), lambda: _grade(mode, tmp_path_factory), lane=mode == "serial")


def background_batches(runs, tmp_path_factory, items):
    """Called by conftest as the session starts: the batches the selected tests read."""
    for mode in MODES:
        if any(getattr(item, "callspec", None) and item.callspec.params.get("batch") == mode for item in items):
            _submit(mode, runs, tmp_path_factory)


@pytest.fixture(scope="module")
def parallel_batch(tmp_path_factory, grading_runs):
    return _submit("parallel", grading_runs, tmp_path_factory).result()


@pytest.fixture(scope="module")
def serial_batch(tmp_path_factory, grading_runs):
    return _submit("serial", grading_runs, tmp_path_factory).result()


@pytest.fixture
def batch(request):
    return request.getfixturevalue(f"{request.param}_batch")


def runs(predicate=lambda case: True):
    return [
        pytest.param(mode, name, id=f"{mode}-{name}")
        for mode, name in RUNS
        if predicate(next(c for c in ALL if c.name == name))
    ]


@pytest.mark.parametrize("batch,name", runs(), indirect=["batch"])
def test_does_each_submission_get_exactly_what_it_earned(batch, name):
    assert batch.total(name) == batch.cases[name].points, (batch.points[name], batch.submission(name))


@pytest.mark.parametrize("batch,name", runs(), indirect=["batch"])
def test_is_each_hostile_submission_flagged_and_each_honest_one_not(batch, name):
    case, submission, summary = batch.cases[name], batch.submission(name), batch.summary(name)
    assert (name in summary.flagged) == case.flagged, submission
    assert bool(batch.flagged_in_gradebook(name)) == case.flagged
    report_ = grade.read_report(batch.course, case.assignment, name)
    assert bool(report_["flags"] or report_["failed"]) == case.flagged


@pytest.mark.parametrize("batch,name", runs(lambda c: c.name.startswith("bad_")), indirect=["batch"])
def test_is_each_broken_submission_reported_with_its_reason(batch, name):
    case, submission = batch.cases[name], batch.submission(name)
    if case.failed:
        assert name in batch.summary(name).failed
        assert any(case.failed in reason for reason in submission.reasons_failed), submission.reasons_failed
    else:
        assert name not in batch.summary(name).failed and submission.notes, submission


@pytest.mark.parametrize("batch,name", runs(lambda c: c.name[:2] in ("m_", "p_", "n_", "f_", "c_")), indirect=["batch"])
def test_was_every_forbidden_action_denied(batch, name):
    printed = batch.output(name)
    assert "ALLOWED" not in printed, printed[-2000:]
    assert printed.count("DENIED") == batch.cases[name].denied, printed[-2000:]


@pytest.mark.parametrize("batch,name", runs(lambda c: c.family == "honest"), indirect=["batch"])
def test_do_honest_submissions_keep_their_exact_scores_unflagged(batch, name):
    level = batch.cases[name].assignment
    prefix = f"l{int(level[:2])}"
    fixture = {"honest_reference": "l1_reference", "honest_forgot_bias": "l1_forgot_bias"}.get(
        name, f"{prefix}_reference"
    )
    expected = fixtures.load(REPO / "tests" / "fixtures" / level / f"{fixture}.toml").points
    assert batch.points[name] == expected
    assert grade.read_report(batch.course, level, name, "tfladder-run.json")["flags"] == []


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_does_the_summary_count_every_submission(batch):
    for level, summary in batch.summaries.items():
        cases = {n: c for n, c in batch.cases.items() if c.assignment == level}
        assert set(summary.submissions) == set(cases)
        failed = {n for n, c in cases.items() if c.failed}
        flagged = {n for n, c in cases.items() if c.flagged}
        assert set(summary.failed) == failed and set(summary.flagged) == flagged
        assert (
            summary.line() == f"{level}: {len(cases)} graded, {len(failed)} failed, {len(flagged)} flagged for review"
        )


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_did_the_workers_execute_every_submission_of_the_parallel_batch(batch):
    for summary in batch.summaries.values():
        expected = {n: "worker" for n in summary.submissions} if batch.mode == "parallel" else {}
        assert summary.executed_by == expected
        assert summary.notes == []


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_does_no_sandbox_process_outlive_its_submission(batch):
    assert sandbox_processes(batch_uids(batch.mode)) == []


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_did_no_submission_reach_the_grading_host_port(batch):
    assert batch.listener.connections == 0


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_is_the_course_unchanged_by_the_submissions(batch):
    assert batch.after == batch.before
    assert not (batch.course / "planted.txt").exists()
    assert not HOST_STARTUP.exists()
    assert not (Path(sysconfig.get_paths()["purelib"]) / "zz_planted.pth").exists()


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_do_limits_show_up_as_reasons(batch):
    flags = {name: " ".join(batch.submission(name).flags) for name in batch.cases}
    assert "interrupted" in flags["t_infinite_loop"]
    assert "ignored the interrupt" in flags["t_swallows_interrupts"]
    assert "out of memory" in flags["m_huge_allocation"]
    assert "GiB of memory" in flags["m_slow_growth"]
    assert "scratch space" in flags["m_fill_scratch"]
    assert "output truncated" in flags["m_output_flood"]
    assert "kernel stopped" in flags["x_exit"]
    assert "kept away from the kernel" in flags["f_shadow_modules"]
    assert "restored" in flags["x_flags_flipped_honest"] and "restored" in flags["x_tests_markdown_honest"]
    assert "became a plain cell" in flags["x_foreign_nbgrader_cell"]


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_did_submitted_code_files_stay_out_of_the_kernel(batch):
    printed = batch.output("f_shadow_modules")
    assert "FILES" in printed and "data.csv" in printed
    for name in ("numpy.py", "ipykernel_launcher.py", "sitecustomize.py", "planted.pth", ".ipython", "helper"):
        assert name not in printed, printed


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_does_a_kernel_that_searches_everything_find_nothing_the_grader_keeps(batch):
    """In, its names, everything gc tracks, the modules and the files it can read, at the start, in
    every exercise and at the end: no line of the hidden tests or the answer key, and no stand-in
    before its own exercise was judged."""
    printed = batch.output("x_searcher")
    result = json.loads(re.search(r"^SEARCH (.*)$", printed, re.M).group(1))
    order = [
        "start",
        "linear_forward",
        "mse_loss",
        "tape_gradients",
        "analytic_gradients",
        "sgd_step",
        "train_linear_regression",
        "end",
    ]
    assert result["phases"] == order, "the searcher ran at every stage of grading"
    exercises = {
        "l1_linear_forward": 1,
        "l1_mse_loss": 2,
        "l1_tape_gradients": 3,
        "l1_analytic_gradients": 4,
        "l1_sgd_step": 5,
        "l1_train": 6,
    }
    secrets = search_secrets()
    wrong = []
    for digest_, where, phase in result["found"]:
        what = secrets.get(digest_, digest_)
        if not what.startswith("standin ") or exercises[what.split()[1]] >= order.index(phase):
            wrong.append((what, where, phase))
    assert wrong == [], wrong


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_did_the_kernel_learn_no_path_of_the_course_or_the_grader(batch):
    learned = "\n".join(line for line in batch.output("c_channels").splitlines() if line.startswith("LEARNED"))
    assert learned.count("pipe:") == 2
    for path in (str(batch.course), "build/grading", "worker-"):
        assert path not in learned, learned


@pytest.mark.parametrize("batch", list(MODES), indirect=True)
def test_does_no_feedback_page_or_report_quote_the_hidden_tests(batch):
    for level, summary in batch.summaries.items():
        source = notebooks.read(batch.course / "source" / level / f"{level}.ipynb")
        secrets = judge.secret_lines(c.source for c in source.cells if notebooks.is_test(c))
        pages = {name: feedback.write(batch.course, level, name) for name in summary.graded}
        for name, page in pages.items():
            text = html.unescape(page.read_text())
            assert not [line for line in secrets if line in text], name
        exfiltrated = [n for n in pages if batch.cases[n].family == "feedback"]
        for name in exfiltrated:
            assert "raised CheckFailed" in html.unescape(pages[name].read_text()), name
    index = report.build(batch.course, batch.course / "report", show_progress=False)
    text = html.unescape(index.read_text())
    for level in batch.summaries:
        source = notebooks.read(batch.course / "source" / level / f"{level}.ipynb")
        assert not [
            line for line in judge.secret_lines(c.source for c in source.cells if notebooks.is_test(c)) if line in text
        ]
