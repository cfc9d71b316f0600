"""Do level 1's explorations show the student's own gradient descent, or the reference run while it is not written?"""

import json

import numpy as np
import pytest
from conftest import REPO

from tfladder import explore
from tfladder.course import notebooks
from tfladder.explore import l1

FOLDER = REPO / "source" / "01_low_level_ops"
EXPLORATIONS = [l1.gradient_step, l1.learning_rate]
# TensorFlow training runs (about 20 s for the five levels): make test, not make check's minute
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")]


def answers(**replaced):
    """A notebook namespace after the setup cell's imports and every reference answer, with some
    functions `replaced` (the answers find them: they run in this namespace)."""
    import tensorflow as tf

    ns = {"np": np, "tf": tf}
    for source in SOLUTIONS:
        exec(source, ns)
    ns.update(replaced)
    return ns


SOLUTIONS = [
    notebooks.reference_answer(cell)
    for cell in notebooks.read(FOLDER / "01_low_level_ops.ipynb").cells
    if notebooks.is_solution(cell) and cell.cell_type == "code"
]


def not_written(*args, **kwargs):
    raise NotImplementedError()


@pytest.fixture(scope="module")
def reference_ns():
    return answers()


@pytest.fixture
def plots(monkeypatch):
    """Every explore.Plot the explorations make, in order."""
    made = []

    class Recorded(explore.Plot):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(explore, "Plot", Recorded)
    monkeypatch.delenv(explore.GRADED_ENV, raising=False)
    monkeypatch.chdir(FOLDER)
    return made


def shipped():
    return json.loads((FOLDER / "exploration.json").read_text())["l1"]


def controls(box):
    return box.children[0].children


def banner(box):
    return box.children[1].value


def problem(box):
    return box.children[2].value


def moves(box, plot):
    """Move every control of `box` once; the number of figures drawn after each move."""
    counts = []
    for control in controls(box):
        if hasattr(control, "options"):
            values = [value for _, value in control.options] if isinstance(control.options[0], tuple) else []
            values = values or list(control.options)
            control.value = next(v for v in values if v != control.value)
        else:
            control.click()
        counts.append(plot.drawn)
    return counts


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_a_graded_run_print_one_line_and_return_nothing(exploration, monkeypatch, capsys):
    monkeypatch.setenv(explore.GRADED_ENV, "1")
    assert exploration({}) is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "exploration" in printed[0]


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_only_the_setup_cell_show_the_reference_run_and_redraw_on_every_control(exploration, plots):
    box = exploration({"np": np})
    assert "Reference run" in banner(box) and "linear_forward" in banner(box)
    assert problem(box) == ""
    assert plots[0].drawn == 1
    assert moves(box, plots[0]) == [2 + i for i in range(len(controls(box)))]


def test_is_the_first_control_of_each_exploration_a_slider(plots):
    import ipywidgets as widgets

    for exploration in EXPLORATIONS:
        assert isinstance(controls(exploration({}))[0], widgets.SelectionSlider)


def test_does_the_reference_run_come_from_exploration_json(plots):
    stored = shipped()
    shown = l1.walk_view({}, 0.45, 3, {})
    assert not shown.own and shown.missing == "linear_forward"
    assert shown.data["path"]["w"] == stored["gradient_step"]["walks"]["0.45"]["w"][:4]
    assert shown.data["surface"] == stored["gradient_step"]["surface"]
    shown = l1.training_view({}, 0.55, 100)
    assert not shown.own and shown.data == stored["learning_rate"]["runs"]["0.55"]["100"]


def test_does_a_missing_reference_file_show_a_message_instead_of_a_crash(plots, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    box = l1.learning_rate({})
    assert "Reference run" in banner(box) and "exploration.json" in problem(box)
    assert plots[0].drawn == 0


def test_does_own_code_show_and_redraw_with_the_students_functions(plots, reference_ns):
    box = l1.gradient_step(reference_ns)
    assert "Your code" in banner(box) and problem(box) == ""
    assert moves(box, plots[0]) == [2, 3, 4]
    box = l1.learning_rate(reference_ns)
    assert "Your code" in banner(box)
    assert moves(box, plots[1]) == [2, 3]


def test_does_the_data_change_with_each_control(reference_ns):
    assert l1.walk(reference_ns, 0.1, 2) != l1.walk(reference_ns, 0.45, 2)
    assert len(l1.walk(reference_ns, 0.1, 2)["w"]) == 3
    assert l1.training_run(reference_ns, 0.1, 3) != l1.training_run(reference_ns, 0.3, 3)
    assert l1.training_run(reference_ns, 0.1, 3) != l1.training_run(reference_ns, 0.1, 10)


def test_does_the_walk_move_only_by_the_students_sgd_step(reference_ns):
    """A step that rebinds instead of updating in place (exercise 7's mistake) leaves the walk where it started."""

    def sgd_step(X, y, w, b, lr):
        loss, dw, db = reference_ns["tape_gradients"](X, y, w, b)
        w = w - lr * dw
        return loss

    path = l1.walk({**reference_ns, "sgd_step": sgd_step}, 0.1, 3)
    assert path["w"] == [0.0] * 4 and path["b"] == [0.0] * 4
    assert l1.walk(reference_ns, 0.1, 3)["w"][-1] > 0


def test_is_a_failing_student_function_named_not_raised(plots):
    def sgd_step(X, y, w, b, lr):
        raise ValueError("shapes (3, 1) and (2, 1) do not match")

    box = l1.gradient_step(answers(sgd_step=sgd_step))
    assert "Reference run" in banner(box) and "sgd_step" in banner(box)
    assert "sgd_step" in problem(box) and "ValueError" in problem(box) and "do not match" in problem(box)
    controls(box)[1].click()
    assert plots[0].drawn == 2 and "do not match" in problem(box)

    box = l1.learning_rate(answers(train_linear_regression=lambda X, y, lr, steps: None))
    assert "train_linear_regression" in problem(box) and "not a tuple of 3" in problem(box)
    assert plots[1].drawn == 1


def test_does_the_banner_name_the_first_function_still_to_write(plots):
    partial = answers(tape_gradients=not_written, analytic_gradients=not_written)
    assert "<code>tape_gradients</code>" in banner(l1.gradient_step(partial))
    # train is written but calls sgd_step, which is not: write sgd_step
    assert "<code>sgd_step</code>" in banner(l1.learning_rate(answers(sgd_step=not_written)))
    assert "<code>train_linear_regression</code>" in banner(l1.learning_rate(answers(train_linear_regression=None)))
    # linear_forward comes first, even when the function that raised was a later one
    assert "<code>linear_forward</code>" in banner(l1.learning_rate(answers(linear_forward=not_written)))


def test_does_the_walk_use_analytic_gradients_while_tape_gradients_is_not_written(reference_ns):
    """sgd_step may use either gradient; this one uses analytic_gradients (the reference one uses the tape)."""

    def sgd_step(X, y, w, b, lr):
        dw, db = ns["analytic_gradients"](X, y, w, b)
        w.assign_sub(lr * dw)
        b.assign_sub(lr * db)
        return ns["mse_loss"](y, ns["linear_forward"](X, w, b))

    ns = answers(tape_gradients=not_written, sgd_step=sgd_step)
    assert l1.walk(ns, 0.3, 2)["dw"] == pytest.approx(l1.walk(reference_ns, 0.3, 2)["dw"], rel=2e-3)


def test_does_record_compute_what_exploration_json_holds(reference_ns, monkeypatch):
    monkeypatch.setattr(l1, "LEARNING_RATES", (0.45,))
    monkeypatch.setattr(l1, "STEP_CHOICES", (10,))
    monkeypatch.setattr(l1, "WALK_STEPS", 4)
    computed, stored = l1.record(reference_ns), shipped()

    def close(a, b):
        return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=2e-3, atol=1e-6)

    surface = computed["gradient_step"]["surface"]
    assert all(close(surface[k], stored["gradient_step"]["surface"][k]) for k in ("w", "b", "loss"))
    walk, want = computed["gradient_step"]["walks"]["0.45"], stored["gradient_step"]["walks"]["0.45"]
    assert set(walk) == set(want) and all(close(walk[k], want[k][:5]) for k in walk)
    run, want = computed["learning_rate"]["runs"]["0.45"]["10"], stored["learning_rate"]["runs"]["0.45"]["10"]
    assert close(run["losses"], want["losses"]) and close([run["w"], run["b"]], [want["w"], want["b"]])


def test_is_the_shipped_data_small_and_complete():
    stored = shipped()
    assert (FOLDER / "exploration.json").stat().st_size < 200_000
    labels = {l1.rate_label(lr) for lr in l1.LEARNING_RATES}
    assert set(stored["gradient_step"]["walks"]) == labels == set(stored["learning_rate"]["runs"])
    assert all(len(walk["w"]) == l1.WALK_STEPS + 1 for walk in stored["gradient_step"]["walks"].values())
    assert all(set(runs) == {str(s) for s in l1.STEP_CHOICES} for runs in stored["learning_rate"]["runs"].values())
