"""Is every level's shipped reference run (exploration.json) what its reference code computes today?"""

import json
import math

import pytest
from conftest import ASSIGNMENTS, REPO, make_course

from tfladder.course import exploration_data, notebooks

FIX = "run `make explorations` and commit source/ and release/"


def _shipped(kind, assignment):
    return json.loads((REPO / kind / assignment / exploration_data.DATA_FILE).read_text())


def close(a, b, rel=1e-3, abs_=1e-5):
    """Equal structures, numbers equal to `rel` (oneDNN and thread counts change the last bits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel, abs_) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    return a == b


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_was_the_shipped_reference_run_made_from_todays_answers_and_exploration_code(assignment):
    shipped = _shipped("source", assignment)
    assert shipped["digest"] == exploration_data.inputs_digest(REPO, assignment), (
        f"source/{assignment}/{exploration_data.DATA_FILE} is stale: {FIX}"
    )
    assert exploration_data.level_module(assignment) in shipped


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_release_ship_the_same_reference_run(assignment):
    assert _shipped("release", assignment) == _shipped("source", assignment), f"release/{assignment}: {FIX}"


def test_does_the_recording_notebook_hold_no_test_and_no_marker():
    source = notebooks.read(REPO / "source" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb")
    nb = exploration_data.recording_notebook(source, "l1", REPO / "nowhere.json", "abc")
    text = "\n".join(c.source for c in nb.cells)
    assert not any(notebooks.is_test(c) for c in nb.cells)
    assert notebooks.BEGIN_SOLUTION not in text and notebooks.BEGIN_HIDDEN not in text
    assert "_explore.record(globals())" in nb.cells[-1].source


@pytest.mark.slow
def test_does_recording_level_2_again_give_the_shipped_run(tmp_path):
    """What `make explorations` runs for each level (exploration_data.record), on level 2."""
    assignment = ASSIGNMENTS[1]
    course = make_course(tmp_path / "course", [assignment])
    again = json.loads(exploration_data.record(course, assignment).read_text())
    assert close(again, _shipped("source", assignment))
    assert not close({"x": [1.0]}, {"x": [1.1]}), "the comparison can fail"
