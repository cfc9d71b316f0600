"""Do level 4's explorations count the traces of the student's own tf.functions and time their steps,
or replay the reference run while they are not written?"""

import html
import json

import numpy as np
import pytest
from conftest import REPO

from tfladder import explore
from tfladder.course import notebooks
from tfladder.explore import l4

FOLDER = REPO / "source" / "04_custom_training"
EXPLORATIONS = [l4.retracing, l4.eager_vs_graph]
# TensorFlow training runs (about 20 s for the five levels): make test, not make check's minute
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")]

SOLUTIONS = [
    notebooks.reference_answer(cell)
    for cell in notebooks.read(FOLDER / "04_custom_training.ipynb").cells
    if notebooks.is_solution(cell) and cell.cell_type == "code"
]


def answers(**replaced):
    """A notebook namespace after the setup cell's imports and every reference answer, with some
    functions `replaced`."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # AutoGraph cannot read exec'd source: it says so, then runs it as-is
    ns = {"np": np, "tf": tf}
    for source in SOLUTIONS:
        exec(source, ns)
    ns.update(replaced)
    return ns


def setup_only():
    import tensorflow as tf

    return {"np": np, "tf": tf}


def not_written(*args, **kwargs):
    raise NotImplementedError()


def make_step_without_signature(model, optimizer, loss_fn, input_dim):
    """Exercise 2 with the usual mistake: a tf.function without an input_signature."""
    import tensorflow as tf

    train_step = answers()["train_step"]
    return tf.function(lambda x, y: train_step(model, optimizer, loss_fn, x, y))


@pytest.fixture(scope="module")
def reference_ns():
    return answers()


@pytest.fixture
def plots(monkeypatch):
    """Every explore.Plot the explorations make, in order; run from the notebook's folder."""
    made = []

    class Recorded(explore.Plot):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(explore, "Plot", Recorded)
    monkeypatch.setattr(l4, "TIME_BUDGET", 0.005)
    monkeypatch.delenv(explore.GRADED_ENV, raising=False)
    monkeypatch.chdir(FOLDER)
    return made


def shipped():
    return json.loads((FOLDER / "exploration.json").read_text())["l4"]


def parts_of(box):
    """The widgets of an exploration by role: controls, buttons, the banner, the status line, and
    the two boxes (banner, errors)."""
    import ipywidgets as widgets

    flat = []
    for child in box.children:
        flat.extend(child.children if isinstance(child, widgets.HBox) else [child])
    boxes = [w for w in flat if isinstance(w, widgets.VBox)]
    status = [w.value for w in flat if isinstance(w, widgets.HTML)]
    return {
        "controls": [w for w in flat if hasattr(w, "options") or isinstance(w, widgets.IntSlider)],
        "buttons": [w for w in flat if isinstance(w, widgets.Button)],
        "banner": boxes[0].children[0].value,
        "status": status[0] if status else "",
        "boxes": boxes,
    }


def errors_of(box):
    """The red lines under the banner, as text."""
    return " ".join(html.unescape(e.value) for b in parts_of(box)["boxes"][1:] for e in b.children)


def move(control):
    """Set `control` to another of its values."""
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        control.value = next(v for v in values if v != control.value)
    else:
        control.value = control.max if control.value != control.max else control.min


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_a_graded_run_print_one_line_and_return_nothing(exploration, monkeypatch, capsys):
    monkeypatch.setenv(explore.GRADED_ENV, "1")
    assert exploration({}) is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "exploration" in printed[0]


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_only_the_setup_cell_show_the_reference_run_and_redraw_on_every_control(exploration, plots):
    box = exploration(setup_only())
    found = parts_of(box)
    assert "Reference run" in found["banner"] and "make_train_step" in found["banner"]
    assert errors_of(box) == ""
    assert plots[0].drawn == 1
    drawn = []
    for control in found["controls"]:
        move(control)
        drawn.append(plots[0].drawn)
    assert drawn == [2 + i for i in range(len(found["controls"]))]
    for button in found["buttons"]:
        if not button.disabled:
            button.click()
            drawn.append(plots[0].drawn)
    assert drawn == sorted(set(drawn))  # every button redrew too


def test_is_the_first_control_of_each_exploration_a_slider(plots):
    import ipywidgets as widgets

    for exploration in EXPLORATIONS:
        first = exploration(setup_only()).children[0]
        assert isinstance(first, widgets.IntSlider | widgets.SelectionSlider)
        assert first.description == "batch size"


def test_does_the_reference_counter_replay_exploration_json(plots):
    box = l4.retracing(setup_only())
    batch, dtype, target = parts_of(box)["controls"]

    def session_says():
        return parts_of(box)["status"]

    assert "traced a new graph; step from make_train_step (reference) traced a new graph" in session_says()
    batch.value = 5
    assert "(reference) traced a new graph; step from make_train_step (reference) ran a graph" in session_says()
    dtype.value = "float64"
    assert "refused it (Can not cast TensorSpec(shape=(5, 3), dtype=tf.float64)" in session_says()
    dtype.value = "float32"
    batch.value = 4
    assert session_says().count("ran a graph it had traced before") == 2


def test_does_the_reference_timing_come_from_exploration_json(plots):
    session = l4.TimingSession(setup_only())
    data = session.data(1024, 3)
    assert not session.own and session.missing == "train_step and make_train_step"
    assert data["current"] == shipped()["timing"]["1024|3"]
    assert set(data["measured"]) == {l4.timing_key(b, d) for b in l4.TIMING_BATCHES for d in l4.DEPTHS}


def test_does_own_code_count_its_own_traces(plots, reference_ns):
    box = l4.retracing(reference_ns)
    found = parts_of(box)
    assert "Your code" in found["banner"] and errors_of(box) == ""
    session_before = found["status"]
    found["controls"][0].value = 6
    assert parts_of(box)["status"] != session_before
    assert "(yours) traced a new graph; step from make_train_step (yours) ran a graph" in parts_of(box)["status"]


def test_does_a_step_without_a_signature_trace_for_every_batch_size(plots, reference_ns):
    session = l4.RetraceSession({**reference_ns, "make_train_step": make_step_without_signature})
    for batch in (2, 3, 2, 4):
        session.call(l4.Position(batch, "float32", "tensor"))
    assert not session.errors and not session.missing
    assert [o.kind for o in session.outcomes["compiled"]] == ["traced", "traced", "reused", "traced"]
    assert l4.counts(session.outcomes["compiled"]) == {"calls": 4, "traces": 3, "refused": 0}


def test_does_the_replay_count_as_tensorflow_does(reference_ns):
    """Live calls of the reference functions and the replay of their trace table agree, call by call."""
    order = [
        l4.Position(b, d, t) for b, d, t in [(3, "float32", "tensor"), (3, "float64", "1.0"), (5, "float32", "0.0")]
    ]
    calls = order + order[::-1] + [l4.Position(3, "float32", "1.0")]
    table = shipped()["retracing"]
    for lane in l4.LANES:
        live = l4.live_lane(reference_ns, lane)
        assert [live.call(p).kind for p in calls] == [o.kind for o in l4.replay(table[lane], calls)], lane


def train_step_raising(*args):
    raise ValueError("no good")


def make_plain_step(*args):
    return lambda x, y: 0.0


@pytest.mark.parametrize(
    "replaced,named",
    [
        ({"train_step": train_step_raising}, "train_step raised ValueError: no good"),
        ({"make_train_step": make_plain_step}, "make_train_step raised TypeError: it gave a function"),
    ],
    ids=["train_step raises", "make_train_step gives no tf.function"],
)
def test_is_a_broken_function_named_and_the_reference_shown_for_it(plots, reference_ns, replaced, named):
    box = l4.retracing({**reference_ns, **replaced})
    assert named in errors_of(box)
    assert "Reference run" in parts_of(box)["banner"]
    parts_of(box)["controls"][1].value = "float64"  # still counts, from the reference for that function
    assert "(reference)" in parts_of(box)["status"] and "(yours)" in parts_of(box)["status"]


def test_is_a_student_error_inside_the_compiled_step_named_mid_session(plots, reference_ns):
    def make_train_step(model, optimizer, loss_fn, input_dim):
        import tensorflow as tf

        @tf.function
        def step(x, y):
            if x.shape[0] == 7:
                raise ValueError("seven is too many")
            return tf.reduce_sum(x)

        return step

    session = l4.RetraceSession({**reference_ns, "make_train_step": make_train_step})
    session.call(l4.Position(2, "float32", "tensor"))
    session.call(l4.Position(7, "float32", "tensor"))
    assert "make_train_step raised ValueError: seven is too many" in session.errors["compiled"]
    assert "compiled" not in session.live and len(session.outcomes["compiled"]) == 2


def test_does_own_timing_measure_both_steps_at_the_chosen_size(plots, reference_ns):
    session = l4.TimingSession(reference_ns)
    small = session.data(16, 1)
    large = session.data(1024, 3)
    assert session.own and not session.error
    assert small["current"] != large["current"] and set(small["current"]) == {"eager_ms", "graph_ms", "graph_first_ms"}
    assert all(v > 0 for v in large["current"].values())
    assert set(large["measured"]) == {"16|1", "1024|3"}  # only what this session measured


def test_is_a_raising_train_step_named_in_the_timing(plots, reference_ns):
    def train_step(*args):
        raise KeyError("oops")

    box = l4.eager_vs_graph({**reference_ns, "train_step": train_step})
    assert "train_step raised KeyError: 'oops'; showing the reference run." in errors_of(box)
    assert "Reference run" in parts_of(box)["banner"]


def test_does_record_compute_what_exploration_json_holds(reference_ns, monkeypatch):
    """record, cut to the first positions it visits (batch sizes 1 and 2, one timing): the same
    graphs and refusals as the shipped file, which is small."""
    monkeypatch.setattr(l4, "BATCH_SIZES", (1, 2))
    monkeypatch.setattr(l4, "TIMING_BATCHES", (16,))
    monkeypatch.setattr(l4, "DEPTHS", (1,))
    monkeypatch.setattr(l4, "TIME_BUDGET", 0.005)
    recorded = l4.record(reference_ns)
    stored = shipped()
    for lane in l4.LANES:
        assert len(recorded["retracing"][lane]) == 12
        assert recorded["retracing"][lane] == {k: stored["retracing"][lane][k] for k in recorded["retracing"][lane]}
    assert set(recorded["timing"]["16|1"]) == set(stored["timing"]["16|1"])  # times are this machine's
    assert (FOLDER / "exploration.json").stat().st_size < 200_000
