"""Do level 2's explorations draw the student's layers, fall back to the shipped reference run while
they are not written, name a student's error, and stay quiet while a notebook is graded?"""

import json
import tomllib

import numpy as np
import pytest
from conftest import REPO

from tfladder import explore
from tfladder.course import notebooks
from tfladder.explore import l2

FOLDER = REPO / "source" / "02_layers"
EXPLORATIONS = (l2.units_and_parameters, l2.training_step)
# TensorFlow training runs (about 20 s for the five levels): make test, not make check's minute
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tf():
    import matplotlib

    matplotlib.use("Agg")
    import tensorflow

    return tensorflow


@pytest.fixture(autouse=True)
def no_front_end(monkeypatch):
    """Outside a kernel `display` would print the widgets' repr: nothing to show here."""
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *args, **kwargs: None)


@pytest.fixture
def setup_only(tf, monkeypatch):
    """The namespace after the setup cell alone, in the folder that ships exploration.json."""
    monkeypatch.chdir(FOLDER)
    return {"np": np, "tf": tf}


@pytest.fixture(scope="module")
def reference(tf):
    """The namespace of a notebook whose every exercise holds the reference answer."""
    ns = {"np": np, "tf": tf}
    for cell in notebooks.read(FOLDER / "02_layers.ipynb").cells:
        if notebooks.is_solution(cell) and cell.cell_type == "code":
            exec(notebooks.reference_answer(cell), ns)
    return ns


def fixture_answer(name, grade_id):
    """One answer of a fixture in tests/fixtures/02_layers (a student's known mistake)."""
    return tomllib.loads((REPO / "tests" / "fixtures" / "02_layers" / f"{name}.toml").read_text())["answers"][grade_id]


def move(control):
    """Set a control to another of its positions (as a student's click or arrow key would)."""
    options = getattr(control, "options", None)
    if options:
        control.value = next(o for o in options if o != control.value)
    else:
        control.value = control.value + 1 if control.value < control.max else control.min


def shipped():
    return json.loads((FOLDER / explore.DATA_FILE).read_text())


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_exploration_only_print_a_line_when_graded(exploration, monkeypatch, capsys):
    monkeypatch.setenv(explore.GRADED_ENV, "1")
    assert exploration({}) is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "an exploration" in printed[0]


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_control_redraw_the_reference_run_when_only_the_setup_cell_ran(exploration, setup_only):
    box = exploration(setup_only)
    assert "Reference run" in box.banner.value and box.problems.value == ""
    assert box.plot.drawn == 1
    for control in box.controls:
        drawn = box.plot.drawn
        move(control)
        assert box.plot.drawn > drawn, control.description
    assert "Reference run" in box.banner.value and box.problems.value == ""


def test_does_the_first_control_of_the_first_exploration_slide_through_the_units(setup_only):
    import ipywidgets as widgets

    first = l2.units_and_parameters(setup_only).controls[0]
    assert isinstance(first, widgets.SelectionSlider) and tuple(first.options) == l2.UNITS


def test_does_the_reference_banner_name_what_is_left_to_write(setup_only, reference):
    assert "<code>dense_param_count</code> and <code>Linear</code>" in l2.units_and_parameters(setup_only).banner.value
    counts_written = {**setup_only, "dense_param_count": reference["dense_param_count"]}
    banner = l2.units_and_parameters(counts_written).banner.value
    assert "Reference run" in banner and "<code>Linear</code>" in banner and "dense_param_count" not in banner


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_exploration_run_your_code_once_it_is_written(exploration, reference, monkeypatch):
    monkeypatch.chdir(REPO)  # no exploration.json here: nothing may come from it
    box = exploration(dict(reference))
    assert "Your code" in box.banner.value and box.problems.value == ""
    for control in box.controls:
        drawn = box.plot.drawn
        move(control)
        assert box.plot.drawn > drawn, control.description
    assert "Your code" in box.banner.value and box.problems.value == ""


def test_does_your_data_change_with_each_control(reference):
    assert l2.param_counts(reference, 2) != l2.param_counts(reference, 3)
    shapes = {units: [w["shape"] for w in l2.layer_weights(reference, 3, units)] for units in (4, 8)}
    assert shapes == {4: [[3, 4], [4]], 8: [[3, 8], [8]]}
    assert [w["shape"] for w in l2.layer_weights(reference, 5, 4)] == [[5, 4], [4]]
    slow, fast, adam = (l2.training_run(reference, *how) for how in (("SGD", 0.1), ("SGD", 0.3), ("Adam", 0.1)))
    assert len(slow["kernels"]) == l2.STEPS + 1 and len(slow["losses"]) == l2.STEPS
    assert slow["kernels"][0] == fast["kernels"][0]  # the same initial kernel, whatever the settings
    assert not np.allclose(slow["changes"][0], fast["changes"][0])
    assert np.allclose(np.abs(adam["changes"][0]), 0.1, rtol=1e-3)  # Adam's first step: the learning rate


def test_is_a_raising_student_function_named_and_the_reference_run_shown(setup_only, reference):
    def dense_param_count(input_dim, units, use_bias=True):
        raise ValueError("no layer today")

    box = l2.units_and_parameters({**setup_only, "dense_param_count": dense_param_count, "Linear": reference["Linear"]})
    assert "dense_param_count raised ValueError: no layer today" in box.problems.value
    assert "Reference run" in box.banner.value and box.plot.drawn == 1
    move(box.controls[0])
    assert box.plot.drawn == 2

    tf = setup_only["tf"]

    class Linear(tf.keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)

        def call(self, x):
            raise TypeError("x is not a matrix")

    box = l2.training_step({**setup_only, "Linear": Linear})
    assert "Linear raised TypeError" in box.problems.value and "x is not a matrix" in box.problems.value
    assert "Reference run" in box.banner.value and box.plot.drawn == 1


def test_is_a_method_still_raising_not_implemented_treated_as_not_written(tf):
    class Linear(tf.keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)

        def build(self, input_shape):
            raise NotImplementedError()

    def dense_param_count(input_dim, units, use_bias=True):
        raise NotImplementedError()

    ns = {"Linear": Linear, "dense_param_count": dense_param_count}
    for compute in (lambda: l2.param_counts(ns, 2), lambda: l2.layer_weights(ns, 2, 2)):
        with pytest.raises(explore.NotWritten):
            compute()


def test_does_a_linear_with_raw_variables_show_no_weights_and_no_change(tf):
    ns = {"np": np, "tf": tf}
    exec(fixture_answer("l2_linear_raw_variable", "l2_linear_layer"), ns)
    assert l2.layer_weights(ns, 3, 4) == []  # Keras tracks none of them
    run = l2.training_run(ns, "SGD", 0.1)
    assert not np.any(run["changes"]) and len(run["kernels"]) == l2.STEPS + 1


def test_does_the_shipped_reference_run_hold_what_record_computes(reference):
    data = shipped()["l2"]
    assert (FOLDER / explore.DATA_FILE).stat().st_size < 200_000
    assert sorted(data["counts"]) == [str(w) for w in l2.WIDTHS]
    assert len(data["weights"]) == len(l2.WIDTHS) * len(l2.UNITS)
    assert len(data["training"]) == len(l2.OPTIMIZERS) * len(l2.LEARNING_RATES)
    assert data["counts"]["4"] == l2.param_counts(reference, 4)
    for computed, stored in zip(l2.layer_weights(reference, 3, 8), data["weights"]["3x8"], strict=True):
        assert computed["shape"] == stored["shape"]
        np.testing.assert_allclose(computed["values"], stored["values"], rtol=1e-2, atol=1e-3)
    computed, stored = l2.training_run(reference, "Adam", 0.03), data["training"]["Adam 0.03"]
    for part in ("kernels", "changes", "losses"):
        np.testing.assert_allclose(computed[part], stored[part], rtol=1e-3, atol=1e-4, err_msg=part)
