"""Is the release regenerated before grading exactly when something it depends on has changed?"""

import json
import sqlite3

import pytest
from conftest import BASELINE_ENV, copy_course, make_course

from tfladder.course import config, fixtures, notebooks, ops, release_stamp
from tfladder.grading import grade, scores

A = "01_low_level_ops"


@pytest.fixture(scope="module")
def released_once(tmp_path_factory):
    """A course with A released (gradebook and stamp), made once for the module."""
    root = make_course(tmp_path_factory.mktemp("released") / "course", [A])
    ops.release(root, A, db=True)
    return root


@pytest.fixture
def released(released_once, tmp_path):
    """A copy of the released course for one test: the stamp holds in a copied folder."""
    return copy_course(released_once, tmp_path / "course")


def _release_nb(root):
    return root / "release" / A / f"{A}.ipynb"


def _source_nb(root):
    return root / "source" / A / f"{A}.ipynb"


def _edit_hidden_test(root):
    nb = notebooks.read(_source_nb(root))
    cell = next(c for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source)
    cell.source = cell.source.replace("### END HIDDEN TESTS", "assert True\n### END HIDDEN TESTS")
    notebooks.write(nb, _source_nb(root))


def _change_points_in_gradebook(root):
    with sqlite3.connect(root / "gradebook.db") as db:
        db.execute("UPDATE grade_cells SET max_score = max_score + 1 WHERE id IN (SELECT id FROM grade_cells LIMIT 1)")


def _append_to_config(root):
    with (root / "nbgrader_config.py").open("a") as file:
        file.write("\n# changed\n")


def _edit_release_by_hand(root):
    nb = notebooks.read(_release_nb(root))
    nb.cells[1].source += "\nedited by hand"
    notebooks.write(nb, _release_nb(root))


CHANGES = {
    "a hidden test edited in source/": _edit_hidden_test,
    "a data file added to source/": lambda root: (root / "source" / A / "extra.csv").write_text("x\n1\n"),
    "release/ edited by hand": _edit_release_by_hand,
    "the course's nbgrader_config.py changed": _append_to_config,
    "points changed in the gradebook": _change_points_in_gradebook,
    "the gradebook deleted": lambda root: (root / "gradebook.db").unlink(),
    "the stamp deleted": lambda root: release_stamp.stamp_path(root, A).unlink(),
}


@pytest.mark.slow
def test_is_an_unchanged_assignment_left_as_it_is(released):
    root = released
    before = _release_nb(root).stat().st_mtime_ns
    assert release_stamp.is_current(root, A)
    assert ops.release_unless_current(root, A) is False
    assert _release_nb(root).stat().st_mtime_ns == before, "the release was written again"


@pytest.mark.slow
def test_does_grading_a_class_leave_the_stamp_current(released):
    """Grades and submissions are not part of the assignment's definition."""
    root = released
    with sqlite3.connect(root / "gradebook.db") as db:
        db.execute("INSERT INTO student (id) VALUES ('alice')")
    assert release_stamp.is_current(root, A)


@pytest.mark.slow
@pytest.mark.parametrize("change", CHANGES)
def test_is_the_release_regenerated_after(released, change):
    root = released
    expected_points = _points_in_gradebook(root)
    CHANGES[change](root)
    assert not release_stamp.is_current(root, A)
    assert ops.release_unless_current(root, A) is True
    assert release_stamp.is_current(root, A), "the regeneration did not leave a current stamp"
    if change == "a hidden test edited in source/":
        assert "assert True" in _gradebook_sources(root), "the gradebook does not hold the edited test"
    if change == "points changed in the gradebook":
        assert _points_in_gradebook(root) == expected_points
    if change == "release/ edited by hand":
        assert "edited by hand" not in json.dumps(notebooks.read(_release_nb(root)))


@pytest.mark.slow
def test_does_grading_use_a_hidden_test_edited_since_the_last_release(released):
    """The stamp from the last release must not let `tfladder grade` keep yesterday's tests."""
    root = released
    reference = fixtures.load_all(root, A)["l1_reference"]
    fixtures.submit(reference, root, student="alice")
    nb = notebooks.read(_source_nb(root))
    cell = next(c for c in nb.cells if notebooks.is_test(c) and "BEGIN HIDDEN TESTS" in c.source)
    edited = notebooks.grade_id(cell)
    cell.source = cell.source.replace(
        "### END HIDDEN TESTS", 'assert False, "a test added after the release"\n### END HIDDEN TESTS'
    )
    notebooks.write(nb, _source_nb(root))
    grade.grade(root, A, grade.Options(env=BASELINE_ENV, show_progress=False))
    points = scores.cell_points(root, A, ["alice"])["alice"]
    expected = {gid: p for gid, p in reference.points.items() if p != scores.MANUAL}
    assert points[edited] == 0, f"{edited} was graded with the test as it was before the edit"
    assert {g: points[g] for g in expected if g != edited} == {g: p for g, p in expected.items() if g != edited}
    assert release_stamp.is_current(root, A)


def _points_in_gradebook(root):
    with sqlite3.connect(root / "gradebook.db") as db:
        return sorted(db.execute("SELECT b.name, g.max_score FROM grade_cells g JOIN base_cell b ON b.id = g.id"))


def _gradebook_sources(root):
    with sqlite3.connect(root / "gradebook.db") as db:
        return "\n".join(source or "" for (source,) in db.execute("SELECT source FROM source_cell"))


def test_is_a_gradebook_server_that_does_not_answer_taken_as_regenerate(tmp_path):
    """(On a PostgreSQL server that answers, the stamp holds: tests/grading/test_cluster.py.)"""
    root = make_course(tmp_path / "course", [A])
    with (root / "nbgrader_config.py").open("a") as file:
        file.write(f'\nc.CourseDirectory.db_url = "postgresql://grader@/gradebook?host={tmp_path / "no-server"}"\n')
    release_stamp.stamp_path(root, A).parent.mkdir(parents=True)
    release_stamp.stamp_path(root, A).write_text("0" * 64 + "\n")
    assert config.gradebook_file(root) is None
    assert release_stamp.digest(root, A) is None
    assert not release_stamp.is_current(root, A)


def test_is_the_default_gradebook_found_where_nbgrader_puts_it(tmp_path):
    root = make_course(tmp_path / "course", [A])
    assert config.gradebook_file(root) == (root / "gradebook.db").resolve()
