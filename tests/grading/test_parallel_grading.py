"""Does grading in parallel, with kernels forked from the zygote, record exactly what serial grading does?

The parallel side is the session's baseline batch (conftest.GradingRuns): every fixture of every
level graded in one `tfladder grade` run (`grade_many`: one zygote and two workers for all, every
notebook queued up front), beside an assignment whose source is broken. The serial side grades the
determinism subset (the reference and, for every exercise, a fixture that makes a mistake in it) of
level 1 and of level 5 (the level whose tests read shuffles and timing-free dataset properties) in
a course of its own with `jobs=1, prefork=False`: nbgrader executes every notebook itself, one
kernel from scratch after another. Gradebooks, flags and failure messages
must be the same, every notebook of the parallel run must have been executed by a worker (not by
the fallback), so the comparison is between the two paths, and the broken assignment must be
reported without costing the others anything.
"""

from contextlib import closing

import nbformat
import pytest
from conftest import ASSIGNMENTS, BROKEN, REPO, SERIAL_LEVELS, determinism_subset

from tfladder.course import fixtures, notebooks
from tfladder.grading import execute, grade, scores
from tfladder.grading.replay import fingerprint

pytestmark = pytest.mark.slow


def gradebook_snapshot(course, assignment, students):
    """Everything the gradebook and the autograded notebooks say about each student."""
    snapshot = {}
    with closing(scores.gradebook(course)) as gb:
        for student in students:
            sub = gb.find_submission_notebook(assignment, assignment, student)
            graded = notebooks.read(course / "autograded" / student / assignment / f"{assignment}.ipynb")
            snapshot[student] = {
                "grades": {g.name: (g.auto_score, g.needs_manual_grade, g.max_score) for g in sub.grades},
                "flagged": sub.flagged,
                "failures": {
                    notebooks.grade_id(c): notebooks.failure_text(c)
                    for c in graded.cells
                    if notebooks.grade_id(c) and notebooks.is_test(c)
                },
                "flags": grade.read_report(course, assignment, student)["flags"],
            }
    return snapshot


@pytest.fixture(scope="module", params=SERIAL_LEVELS)
def two_gradings(request, grading_runs):
    assignment = request.param
    serial, parallel = grading_runs.get("serial")[assignment], grading_runs.get("baseline")[assignment]
    found = fixtures.load_all(REPO, assignment)
    subset = determinism_subset(assignment, found)
    return {
        "serial": (serial.summary, gradebook_snapshot(serial.root, assignment, subset), found),
        "parallel": (parallel.summary, gradebook_snapshot(parallel.root, assignment, sorted(found)), found),
    }


def test_do_parallel_and_serial_grading_record_the_same_gradebook(two_gradings):
    (_, serial, _), (_, parallel_run, _) = two_gradings["serial"], two_gradings["parallel"]
    assert len(serial) >= 6 and serial.keys() <= parallel_run.keys()  # the reference and a mistake per exercise
    for student in serial:
        assert parallel_run[student] == serial[student], student


def test_does_every_fixture_keep_its_expected_points_in_parallel(two_gradings):
    _, snapshot, found = two_gradings["parallel"]
    for name, fixture in found.items():
        got = {
            gid: score for gid, (score, manual, _) in snapshot[name]["grades"].items() if not (manual and score is None)
        }
        expected = {gid: p for gid, p in fixture.points.items() if p != scores.MANUAL}
        assert {g: got.get(g) for g in expected} == expected, name


def test_did_workers_execute_every_notebook_of_the_parallel_run(two_gradings):
    summary, _, found = two_gradings["parallel"]
    assert summary.executed_by == {name: "worker" for name in found}
    assert summary.notes == []
    serial_summary = two_gradings["serial"][0]
    assert serial_summary.executed_by == {}, "serial grading must not use the workers"


def test_is_an_assignment_that_cannot_be_released_reported_while_the_others_are_graded(grading_runs):
    batch = grading_runs.get("baseline")
    broken = batch[BROKEN].summary
    assert "generate_assignment" in broken.error and BROKEN in broken.error
    assert broken.submissions == {}
    assert sorted(batch) == sorted([*ASSIGNMENTS, BROKEN])
    for assignment in ASSIGNMENTS:  # before and after it in the run
        summary = batch[assignment].summary
        assert summary.error == "" and sorted(summary.graded) == sorted(fixtures.load_all(REPO, assignment))


# -- the replay itself, on a one-cell notebook in a plain kernel -------------------------------------
def one_cell_course(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('run by', 'the kernel')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "run"
    folder.mkdir()
    return nb, folder


def replay(nb, folder, results):
    executor = execute.JudgedExecute(results=str(results), wait_seconds=5, sandbox=False, timeout=60)
    executor.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": {"student": "s"}})
    return json_report(folder)


def json_report(folder):
    import json

    return json.loads((folder / execute.RUN_REPORT).read_text())


def worker_result(nb, folder, fingerprint):
    done = nbformat.from_dict(nb)
    done.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="from the worker\n")]
    return {
        "student": "s",
        "fingerprint": fingerprint,
        "notebook": nbformat.writes(done),
        "report": {"flags": [], "usage": {}},
    }


def test_does_the_grader_take_a_matching_worker_result(tmp_path):
    import json

    nb, folder = one_cell_course(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    (results / "s.json").write_text(json.dumps(worker_result(nb, folder, fingerprint(nb, folder))))
    report = replay(nb, folder, results)
    assert report["executed_by"] == "worker"
    assert nb.cells[0].outputs[0]["text"] == "from the worker\n"


def test_does_the_grader_execute_a_notebook_whose_worker_result_does_not_match(tmp_path):
    import json

    nb, folder = one_cell_course(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    (results / "s.json").write_text(json.dumps(worker_result(nb, folder, "another notebook")))
    report = replay(nb, folder, results)
    assert report["executed_by"] == "grader" and "differ" in report["why"]
    assert nb.cells[0].outputs[0]["text"] == "run by the kernel\n"


def test_does_the_grader_execute_a_notebook_no_worker_reported(tmp_path):
    nb, folder = one_cell_course(tmp_path)
    (tmp_path / "results").mkdir()
    executor = execute.JudgedExecute(results=str(tmp_path / "results"), wait_seconds=0.5, sandbox=False, timeout=60)
    executor.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": {"student": "s"}})
    report = json_report(folder)
    assert report["executed_by"] == "grader" and "no worker result" in report["why"]
    assert nb.cells[0].outputs[0]["text"] == "run by the kernel\n"
