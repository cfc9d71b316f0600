"""Does `tfladder grade` survive hostile submissions, give them nothing undeserved, and flag them?

One batch of level 1 holds every case of tests/hostile.py and two honest students; it is graded
in the sandbox with short limits, once as `tfladder grade` does by default (two workers, kernels
forked from the zygote) and once serially (every kernel from scratch, one at a time), and every
question below is asked of both: isolation must be exactly as strong either way.
"""

import hashlib
import os
import socket
import sysconfig
import threading
from contextlib import closing
from pathlib import Path

import pytest

from conftest import ASSIGNMENTS, BASELINE_ENV, REPO, make_course
from hostile import case_list
from tfladder import fixtures, grade, notebooks, sandbox, scores

pytestmark = pytest.mark.slow
A = "01_low_level_ops"
# Short limits keep the batch quick; the per-cell time-out is set in the course's config.
LIMITS = {"TFLADDER_SANDBOX_MEMORY_BYTES": str(6 << 30), "TFLADDER_SANDBOX_CPU_SECONDS": "300",
          "TFLADDER_SANDBOX_SCRATCH_BYTES": str(64 << 20), "TFLADDER_SANDBOX_WALL_SECONDS": "240"}
CELL_TIMEOUT = 15
HOST_STARTUP = Path("/root/.ipython/profile_default/startup/00-planted.py")


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
    """Write the case's submission into course/submitted/<case.name>/<A>/."""
    folder = course / "submitted" / case.name / A
    folder.mkdir(parents=True)
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if case.filename == "":
        return
    target = folder / (case.filename or f"{A}.ipynb")
    if isinstance(case.raw, bytes):
        target.write_bytes(case.raw)
        return
    if case.raw == "level 2":
        target.write_text((REPO / "release" / "02_layers" / "02_layers.ipynb").read_text())
        return
    source_nb = notebooks.read(course / "source" / A / f"{A}.ipynb")
    originals = notebooks.cells_by_id(source_nb)
    answers = {gid: code.replace("{reference}", notebooks.reference_answer(originals[gid]))
               for gid, code in case.answers.items()}
    fixture = fixtures.Fixture(name=case.name, assignment=A, about=case.about, base=case.base, answers=answers)
    nb = fixtures.build(fixture, notebooks.read(course / "release" / A / f"{A}.ipynb"), source_nb)
    if case.edit:
        case.edit(nb)
    notebooks.write(nb, target)


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def sandbox_processes():
    """Processes on this machine running as a sandbox uid."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if uid >= sandbox.FIRST_UID:
            found.append((status.parent.name, uid))
    return found


class Batch:
    def __init__(self, mode, course, cases, summary, listener, before, after):
        self.mode, self.course, self.cases, self.summary = mode, course, cases, summary
        self.listener, self.before, self.after = listener, before, after
        self.points = scores.cell_points(course, A, list(cases))

    def total(self, name):
        return sum(v for v in self.points[name].values() if isinstance(v, (int, float)))

    def hostile_output(self, name):
        path = self.course / "autograded" / name / A / f"{A}.ipynb"
        nb = notebooks.read(path)
        return "".join(o.get("text", "") for c in nb.cells if notebooks.is_solution(c) for o in c.get("outputs", []))

    def flagged_in_gradebook(self, name):
        with closing(scores.gradebook(self.course)) as gb:
            return gb.find_submission_notebook(A, A, name).flagged


GRADINGS = {"parallel": {"jobs": 2, "prefork": True}, "serial": {"jobs": 1, "prefork": False}}


@pytest.fixture(scope="module", params=list(GRADINGS))
def batch(request, tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp(f"hostile-{request.param}") / "course", [A])
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}  # short, for the hostile batch\n")
    listener = Listener()
    cases = {case.name: case for case in case_list(course, listener.port)}
    for case in cases.values():
        build(case, course)
    before = {part: digest(course / part) for part in ("source", "release", "submitted")}
    assert not sandbox_processes(), "sandbox processes were running before the batch"
    try:
        summary = grade.grade(course, A, env={**BASELINE_ENV, **LIMITS}, show_progress=False,
                              **GRADINGS[request.param])
    finally:
        listener.close()
    after = {part: digest(course / part) for part in ("source", "release", "submitted")}
    return Batch(request.param, course, cases, summary, listener, before, after)


CASES = [case.name for case in case_list(Path("/course"), 0)]


@pytest.mark.parametrize("name", CASES)
def test_does_each_submission_get_exactly_what_it_earned(batch, name):
    assert batch.total(name) == batch.cases[name].points, (batch.points[name], batch.summary.submissions[name])


@pytest.mark.parametrize("name", CASES)
def test_is_each_hostile_submission_flagged_and_each_honest_one_not(batch, name):
    case, submission = batch.cases[name], batch.summary.submissions[name]
    assert (name in batch.summary.flagged) == case.flagged, submission
    assert bool(batch.flagged_in_gradebook(name)) == case.flagged
    report = grade.read_report(batch.course, A, name)
    assert bool(report["flags"] or report["failed"]) == case.flagged


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("bad_")])
def test_is_each_broken_submission_reported_with_its_reason(batch, name):
    case, submission = batch.cases[name], batch.summary.submissions[name]
    if case.failed:
        assert name in batch.summary.failed
        assert any(case.failed in reason for reason in submission.reasons_failed), submission.reasons_failed
    else:
        assert name not in batch.summary.failed and submission.notes, submission


@pytest.mark.parametrize("name", [c for c in CASES if c[:2] in ("m_", "p_", "n_", "f_")])
def test_was_every_forbidden_action_denied(batch, name):
    printed = batch.hostile_output(name)
    assert "ALLOWED" not in printed, printed[-2000:]
    assert printed.count("DENIED") == batch.cases[name].denied, printed[-2000:]


@pytest.mark.parametrize("name", ["honest_reference", "honest_forgot_bias"])
def test_do_honest_submissions_keep_their_exact_scores(batch, name):
    fixture = {"honest_reference": "l1_reference", "honest_forgot_bias": "l1_forgot_bias"}[name]
    expected = fixtures.load(REPO / "tests" / "fixtures" / A / f"{fixture}.toml").points
    assert batch.points[name] == expected


def test_does_the_summary_count_every_submission(batch):
    summary = batch.summary
    assert set(summary.submissions) == set(batch.cases)
    failed = {n for n, c in batch.cases.items() if c.failed}
    flagged = {n for n, c in batch.cases.items() if c.flagged}
    assert set(summary.failed) == failed and set(summary.flagged) == flagged
    assert summary.line() == f"{A}: {len(batch.cases)} graded, {len(failed)} failed, {len(flagged)} flagged for review"


def test_did_the_workers_execute_every_submission_of_the_parallel_batch(batch):
    expected = {name: "worker" for name in batch.cases} if batch.mode == "parallel" else {}
    assert batch.summary.executed_by == expected
    assert batch.summary.notes == []


def test_does_no_sandbox_process_outlive_its_submission(batch):
    assert sandbox_processes() == []


def test_did_no_submission_reach_the_grading_host_port(batch):
    assert batch.listener.connections == 0


def test_is_the_course_unchanged_by_the_submissions(batch):
    assert batch.after == batch.before
    assert not (batch.course / "planted.txt").exists()
    assert not HOST_STARTUP.exists()
    assert not (Path(sysconfig.get_paths()["purelib"]) / "zz_planted.pth").exists()


def test_do_limits_show_up_as_reasons(batch):
    flags = {name: " ".join(sub.flags) for name, sub in batch.summary.submissions.items()}
    assert "interrupted" in flags["t_infinite_loop"]
    assert "ignored the interrupt" in flags["t_swallows_interrupts"]
    assert "out of memory" in flags["m_huge_allocation"]
    assert "GiB of memory" in flags["m_slow_growth"]
    assert "scratch space" in flags["m_fill_scratch"]
    assert "output truncated" in flags["m_output_flood"]
    assert "kernel stopped" in flags["x_exit"]
    assert "kept away from the kernel" in flags["f_shadow_modules"]
    assert "restore" in flags["x_patch_checks"] and "restore" in flags["x_rebind_checks"]


def test_did_submitted_code_files_stay_out_of_the_kernel(batch):
    printed = batch.hostile_output("f_shadow_modules")
    assert "FILES" in printed and "data.csv" in printed
    for name in ("numpy.py", "ipykernel_launcher.py", "sitecustomize.py", "planted.pth", ".ipython", "helper"):
        assert name not in printed, printed


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_reference_keep_its_exact_score_in_the_sandbox(tmp_path, assignment):
    course = make_course(tmp_path / "course", [assignment])
    reference = next(f for name, f in fixtures.load_all(course, assignment).items() if name.endswith("_reference"))
    fixtures.submit(reference, course, student="reference")
    summary = grade.grade(course, assignment, env=BASELINE_ENV, show_progress=False)
    assert summary.submissions["reference"].flags == [] and summary.failed == []
    assert scores.cell_points(course, assignment, ["reference"])["reference"] == reference.points
