"""Do level 5's explorations (the shuffle buffer; prefetch and a parallel map) run the student's own
pipelines, fall back to the shipped reference run while they are not written, and never crash?"""

import json
from functools import partial

import numpy as np
import pytest
from conftest import REPO

from tfladder import explore, runtime
from tfladder.course import notebooks
from tfladder.explore import l5

FOLDER = REPO / "source" / "05_data_pipelines"
EXPLORATIONS = [l5.shuffle_buffer, l5.pipeline_speed]
# TensorFlow training runs (about 20 s for the five levels): make test, not make check's minute
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")]

SOLUTIONS = [
    notebooks.reference_answer(cell)
    for cell in notebooks.read(FOLDER / "05_data_pipelines.ipynb").cells
    if notebooks.is_solution(cell) and cell.cell_type == "code"
]
SMALL_BUFFER = """
def make_dataset(X, y, batch_size, seed, drop_remainder=False):
    ds = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(batch_size, seed=seed)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
"""
FROZEN_ORDER = """
def make_dataset(X, y, batch_size, seed, drop_remainder=False):
    ds = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=False)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
"""
CACHE_BEFORE_MAP = """
def cached_pipeline(X, y, preprocess, batch_size, seed):
    ds = tf.data.Dataset.from_tensor_slices((X, y)).cache()
    ds = ds.map(lambda x, label: (preprocess(x), label)).shuffle(len(X), seed=seed)
    return ds.batch(batch_size)
"""
TINY = {"n": 4, "batch_size": 2, "map_ms": 2.0}  # a timing run of a few milliseconds


def setup_ns():
    """The notebook's namespace when only the setup cell has run."""
    import tensorflow as tf

    runtime.reproducible(seed=0)  # as the setup cell: the shuffles' global seed is 0
    return {"np": np, "tf": tf}


def answers(*sources, **replaced):
    """The namespace after the setup cell and every reference answer, then `sources` run in it."""
    ns = setup_ns()
    for source in (*SOLUTIONS, *sources):
        exec(source, ns)
    ns.update(replaced)
    return ns


def not_written(*args, **kwargs):
    raise NotImplementedError()


def broken(*args, **kwargs):
    raise ValueError("the student's pipeline broke")


@pytest.fixture(scope="module")
def reference_ns():
    return answers()


@pytest.fixture
def plots(monkeypatch):
    """Every explore.Plot the explorations make, in order; the widgets are built as in a notebook."""
    import matplotlib

    matplotlib.use("Agg")
    made = []

    class Recorded(explore.Plot):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(explore, "Plot", Recorded)
    monkeypatch.delenv(explore.GRADED_ENV, raising=False)
    monkeypatch.chdir(FOLDER)
    monkeypatch.setattr(l5, "timing_run", partial(l5.timing_run, **TINY))  # the widget's runs, made tiny
    return made


@pytest.fixture
def painted(monkeypatch):
    """What each redraw painted: the view handed to paint_shuffle or paint_timing."""
    seen = []
    for name in ("paint_shuffle", "paint_timing"):
        original = getattr(l5, name)

        def record(figure, view, *args, original=original, **kwargs):
            seen.append(view)
            return original(figure, view, *args, **kwargs)

        monkeypatch.setattr(l5, name, record)
    return seen


def shipped():
    return json.loads((FOLDER / "exploration.json").read_text())["l5"]


def controls(box):
    import ipywidgets as widgets

    return [w for w in box.children if isinstance(w, widgets.SelectionSlider | widgets.ToggleButtons)]


def banner(box):
    return box.children[len(controls(box))].value


def problem(box):
    return box.children[len(controls(box)) + 1].value


def move(control):
    """Set the control to another of its positions."""
    control.value = next(value for _, value in control.options if value != control.value)


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_exploration_only_print_its_line_when_graded(exploration, monkeypatch, capsys):
    monkeypatch.setenv(explore.GRADED_ENV, "1")
    assert exploration({}) is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "exploration" in printed[0]


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_exploration_redraw_the_reference_run_when_only_the_setup_cell_ran(exploration, plots, monkeypatch):
    read = []
    monkeypatch.setattr(explore, "reference_data", lambda level: read.append(level) or shipped())
    box = exploration(setup_ns())
    plot = plots[-1]
    assert "Reference run" in banner(box) and problem(box) == ""
    assert plot.drawn == 1 and read == ["l5"]
    assert len(controls(box)) >= 2
    for control in controls(box):
        before = plot.drawn
        move(control)
        assert plot.drawn == before + 1, f"moving {control.description} did not redraw"
    assert read == ["l5"] * plot.drawn, "every redraw should come from the shipped reference run"
    assert "Reference run" in banner(box)


def test_is_the_first_control_of_the_first_exploration_a_slider(plots):
    import ipywidgets as widgets

    box = EXPLORATIONS[0](setup_ns())
    assert isinstance(box.children[0], widgets.SelectionSlider)


def test_does_the_shuffle_exploration_show_the_students_make_dataset(plots, painted, reference_ns):
    box = l5.shuffle_buffer(reference_ns)
    buffer, epoch = controls(box)
    assert "Your code" in banner(box) and problem(box) == ""
    buffer.value = 1
    epoch.value = 1
    assert painted[0]["order"] != painted[1]["order"], "another buffer size should show another order"
    assert painted[1]["order"] == list(range(l5.SHUFFLE_N)), "a buffer of 1 keeps the order"
    assert painted[1]["yours"] != painted[2]["yours"], "make_dataset reshuffles every epoch"
    assert sorted(painted[-1]["yours"]) == list(range(l5.SHUFFLE_N)) and painted[-1]["note"] == ""
    assert plots[-1].drawn == 3


def test_does_a_small_buffer_in_make_dataset_look_barely_shuffled(reference_ns):
    full = l5.shuffle_view({**shipped()["shuffle"], "yours": l5.make_dataset_orders(reference_ns)}, 16, 0)
    small = l5.shuffle_view({**shipped()["shuffle"], "yours": l5.make_dataset_orders(answers(SMALL_BUFFER))}, 16, 0)
    assert full["yours_moved"] > 0.8
    assert small["yours_moved"] < 0.4
    assert small["yours_moved"] == pytest.approx(full["curve"][l5.BUFFERS.index(16)], abs=0.15)


def test_is_an_order_that_repeats_every_epoch_pointed_out():
    frozen = {**shipped()["shuffle"], "yours": l5.make_dataset_orders(answers(FROZEN_ORDER))}
    assert l5.shuffle_view(frozen, 128, 0)["note"] == ""
    assert "the same order as epoch 1" in l5.shuffle_view(frozen, 128, 1)["note"]


@pytest.mark.parametrize(
    "exploration,name", [(l5.shuffle_buffer, "make_dataset"), (l5.pipeline_speed, "cached_pipeline")]
)
def test_is_a_raising_student_function_named_over_the_reference_run(exploration, name, plots, reference_ns):
    box = exploration({**reference_ns, name: broken})
    assert "Reference run" in banner(box) and f"<code>{name}</code>" in banner(box)
    assert "failed here with ValueError" in problem(box) and "pipeline broke" in problem(box) and name in problem(box)
    assert plots[-1].drawn == 1
    box = exploration({**reference_ns, name: not_written})
    assert "Reference run" in banner(box) and problem(box) == ""


def test_does_the_timing_exploration_time_the_students_cached_pipeline(plots, painted, reference_ns):
    box = l5.pipeline_speed(reference_ns)
    step, parallel, prefetch = controls(box)
    assert "Your code" in banner(box) and problem(box) == ""
    step.value = 0
    for control in (parallel, prefetch):
        move(control)
    assert plots[-1].drawn == 4
    first, last = painted[0], painted[-1]
    assert [len(view["yours"]["maps"]) for view in painted] == [TINY["n"]] * 4, "cache(): one map call per example"
    assert [len(view["built"]["maps"]) for view in painted] == [2 * TINY["n"]] * 4, "no cache: a map call per epoch"
    took = [[b - a for a, b in view["built"]["steps"]] for view in (first, last)]
    assert min(took[0]) >= 0.9 * l5.FIRST_STEP > max(took[1]), "the step slider sets the step's time"


def test_does_a_cache_before_the_map_show_twice_the_map_calls(reference_ns):
    ours = l5.cached_pipeline_run(reference_ns, 0, **TINY)
    theirs = l5.cached_pipeline_run(answers(CACHE_BEFORE_MAP), 0, **TINY)
    assert len(ours["maps"]) == TINY["n"] and len(ours["epochs"]) == l5.TIMING_EPOCHS
    assert len(theirs["maps"]) == TINY["n"] * l5.TIMING_EPOCHS


def test_is_the_shipped_shuffle_what_record_computes_from_the_reference(reference_ns):
    setup_ns()  # the global seed of the notebook's setup cell
    assert l5.shuffle_data(reference_ns) == shipped()["shuffle"]


def test_does_the_shipped_data_cover_every_control_position():
    data = shipped()
    assert (FOLDER / "exploration.json").stat().st_size < 200_000
    for buffer in l5.BUFFERS:
        for epoch in range(l5.SHUFFLE_EPOCHS):
            view = l5.shuffle_view(data["shuffle"], buffer, epoch)
            assert sorted(view["order"]) == sorted(view["yours"]) == list(range(l5.SHUFFLE_N))
    for step_ms in l5.STEP_MS:
        for parallel in (False, True):
            for prefetch in (False, True):
                view = l5.timing_view(data["timing"], parallel, prefetch, step_ms)
                assert len(view["built"]["maps"]) == l5.TIMING_N * l5.TIMING_EPOCHS
                assert len(view["yours"]["maps"]) == l5.TIMING_N, "the reference cached_pipeline maps once"
                assert 0 < view["built"]["total"] < 1000 and 0 < view["yours"]["total"] < 1000
