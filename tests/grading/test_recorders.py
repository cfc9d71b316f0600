"""How many nbgrader processes record a run at once, and does a lost cluster's notebook stay unrecorded?

With nbgrader's SQLite gradebook one (SQLite takes one writer); with a gradebook on a database
server one per CPU unless the grader says. A cluster that lost its scheduler leaves "lost" results,
which the replay refuses (nbgrader fails the notebook, so it is not recorded) instead of executing
them one by one on the grader.
"""

import json

import nbformat
import pytest
from conftest import ASSIGNMENTS, make_course

from tfladder.course import ops
from tfladder.grading import grade, replay

A = ASSIGNMENTS[0]


def _with_db_url(tmp_path, url):
    root = make_course(tmp_path / "course", [A])
    with (root / "nbgrader_config.py").open("a") as file:
        file.write(f'\nc.CourseDirectory.db_url = "{url}"\n')
    return root


def test_does_a_sqlite_gradebook_get_one_recorder(tmp_path):
    root = make_course(tmp_path / "course", [A])
    assert grade.recorders_for(root, None) == 1 and grade.recorders_for(root, 1) == 1


def test_are_several_recorders_on_sqlite_refused_with_what_to_do(tmp_path):
    root = _with_db_url(tmp_path, "sqlite:///records/grades.db")
    with pytest.raises(ops.CourseError, match=r"2 recorders .* SQLite .* one writer at a time.*postgresql://"):
        grade.recorders_for(root, 2)


def test_does_a_postgres_gradebook_get_one_recorder_per_cpu_unless_told(tmp_path):
    root = _with_db_url(tmp_path, "postgresql://grader@/gradebook?host=/run/postgresql")
    assert grade.recorders_for(root, None) == grade.default_jobs()
    assert grade.recorders_for(root, 5) == 5
    with pytest.raises(ops.CourseError, match="at least 1"):
        grade.recorders_for(root, 0)


class _Executor:
    wait_seconds = 1.0

    def __init__(self, results):
        self.results = str(results)


def test_is_a_lost_notebook_refused_by_the_replay_and_not_executed_here(tmp_path):
    results = tmp_path / "executed"
    results.mkdir()
    folder = tmp_path / "pat"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    lost = "the grading cluster's scheduler at tls://10.0.0.5:8786 was lost"
    replay.result_path(results, "pat").write_text(json.dumps({"student": "pat", "lost": lost}))
    resources = {"metadata": {"path": str(folder)}, "nbgrader": {"student": "pat"}}
    with pytest.raises(replay.ClusterLost, match="not recorded: the grading cluster's scheduler"):
        replay.replay(_Executor(results), nb, resources)
    assert replay.was_lost(results, "pat") and not replay.was_lost(results, "sam")
    replay.result_path(results, "sam").write_text(json.dumps({"student": "sam", "error": "boom"}))
    assert replay.replay(_Executor(results), nb, {**resources, "nbgrader": {"student": "sam"}}) == (
        None,
        "the worker could not execute it (boom)",
    )
    assert not replay.was_lost(results, "sam")
