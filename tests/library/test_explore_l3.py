"""Do level 3's explorations show the reference run, the student's own code, and their errors?"""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tfladder.course import notebooks
from tfladder.explore import l3

matplotlib.use("Agg")
# TensorFlow training runs (about 20 s for the five levels): make test, not make check's minute
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")]

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "source" / "03_keras_models"
EXPLORATIONS = (l3.live_training, l3.feature_maps, l3.confusion_matrix)


@pytest.fixture(autouse=True)
def interactive(monkeypatch):
    """Not graded, no pause between replayed epochs, and small sizes wherever the test trains."""
    monkeypatch.delenv("TFLADDER_GRADING", raising=False)
    monkeypatch.setattr(l3, "REPLAY_PAUSE", 0.0)


@pytest.fixture
def small(monkeypatch):
    """Tiny training runs: 40 or 60 images, a 1-epoch classifier, 50 held-out digits."""
    for name, value in {
        "SIZES": (40, 60),
        "DEFAULT_SIZE": 40,
        "DEFAULT_EPOCHS": 2,
        "MAX_EPOCHS": 3,
        "MODEL_SIZE": 60,
        "MODEL_EPOCHS": 1,
        "HELD_OUT": 50,
    }.items():
        monkeypatch.setattr(l3, name, value)


@pytest.fixture(scope="module")
def reference_ns():
    """The notebook's namespace after the setup cell and the reference answers ran."""
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from tfladder import checks, data, runtime, seeds

    runtime.reproducible(seed=0)
    ns = {"np": np, "tf": tf, "plt": plt, "data": data, "checks": checks, "seeds": seeds}
    source = notebooks.read(FOLDER / "03_keras_models.ipynb")
    for cell in source.cells:
        if notebooks.is_solution(cell):
            exec(notebooks.reference_answer(cell), ns)
    return ns


def shipped():
    return json.loads((FOLDER / "exploration.json").read_text())["l3"]


def controls(box):
    return [child for child in box.children if hasattr(child, "value") and child not in (box.banner, box.status)]


def test_does_each_exploration_only_print_its_line_when_graded(monkeypatch, capsys):
    monkeypatch.setenv("TFLADDER_GRADING", "1")
    for exploration in EXPLORATIONS:
        assert exploration({}) is None
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1 and "exploration" in lines[0]


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_does_each_control_redraw_the_reference_run_when_only_the_setup_cell_ran(exploration, monkeypatch):
    monkeypatch.chdir(FOLDER)
    box = exploration({"np": np})
    assert "Reference run" in box.banner.value and "train_digit_classifier" in box.banner.value
    assert box.status.value == ""
    assert box.plot.drawn >= 1
    first = controls(box)[0]
    if exploration is l3.live_training:
        assert type(first).__name__ == "IntSlider"  # the level's first control is a slider
    for control in controls(box):
        before = box.plot.drawn
        options = [value for _, value in control.options] if hasattr(control, "options") else [control.min]
        control.value = next(value for value in [*options, control.value + 1] if value != control.value)
        assert box.plot.drawn == before + 1, f"moving {control.description} did not redraw"


def test_does_train_replay_the_reference_run_epoch_by_epoch(monkeypatch):
    monkeypatch.chdir(FOLDER)
    box = l3.live_training({})
    epochs, _, train = box.children[:3]
    epochs.value = 4
    before = box.plot.drawn
    train.click()
    assert box.plot.drawn == before + 4
    assert "Reference run" in box.banner.value


def test_does_the_reference_run_come_from_the_shipped_file():
    data = shipped()
    history = l3.reference_training(data, 600)
    assert set(history) == set(l3.HISTORY_KEYS) and all(len(v) == l3.MAX_EPOCHS for v in history.values())
    features = l3.reference_features(data)
    assert features["images"].shape == (10, 28, 28)
    assert [layer["maps"].shape[:2] for layer in features["layers"]] == [(10, l3.MAPS)] * 2
    result, scores = l3.reference_confusion(data, l3.NOISES[0])
    assert set(scores) == {"loss", "accuracy"}
    counted = np.trace(l3.counts(result["labels"], result["predicted"])) / l3.HELD_OUT
    assert counted == pytest.approx(scores["accuracy"], abs=1e-3)  # evaluate_model saw the same digits
    assert (FOLDER / "exploration.json").stat().st_size < 200_000


def test_does_record_compute_what_exploration_json_holds(reference_ns):
    # one epoch is the first epoch of the shipped 10-epoch run: same seed, same batches
    history = l3.training_run(reference_ns, 150, 1)
    shipped_history = l3.first_epochs(shipped()["training"]["150"], 1)
    assert set(history) == set(shipped_history)
    for key, values in history.items():
        assert values == pytest.approx(shipped_history[key], rel=2e-3, abs=1e-3), key


def test_do_packed_feature_maps_come_back_to_within_a_level():
    values = np.random.default_rng(0).uniform(0, 2.5, size=(3, 4, 5))
    back = l3.unpack_levels(l3.pack_levels(values, 2.5), values.shape, 2.5)
    assert np.abs(back - values).max() <= 2.5 / 126 + 1e-12


def test_does_live_training_redraw_every_epoch_of_your_own_code(reference_ns, small, monkeypatch):
    import tensorflow as tf

    painted = []
    monkeypatch.setattr(l3, "paint_training", lambda figure, history, epochs, title: painted.append((history, title)))
    monkeypatch.chdir(FOLDER)
    box = l3.live_training(reference_ns)  # nothing trains until Train is pressed
    assert "until you press Train" in box.banner.value and painted[-1][0] == {}  # (no reference run on 40 images)
    painted.clear()
    epochs, size, train = box.children[:3]
    train.click()  # trains DEFAULT_EPOCHS = 2 epochs on 40 images
    assert "Your code" in box.banner.value and box.status.value == ""
    assert [len(history.get("loss", [])) for history, _ in painted] == [0, 1, 2, 2]  # live, then the result
    assert "fit" not in tf.keras.Model.__dict__  # the callback left with the run
    forty = painted[-1][0]
    epochs.value = 1
    assert painted[-1][0]["loss"] == forty["loss"][:1]  # the same run, stopped earlier
    size.value = 60
    assert painted[-1][0] == {} and "press Train" in painted[-1][1]
    train.click()
    assert len(painted[-1][0]["loss"]) == 1 and painted[-1][0]["loss"] != forty["loss"][:1]


def test_do_feature_maps_and_confusion_matrix_run_your_classifier(reference_ns, small, monkeypatch):
    monkeypatch.chdir(FOLDER)
    for exploration in (l3.feature_maps, l3.confusion_matrix):
        box = exploration(reference_ns)
        assert "Your code" in box.banner.value and box.status.value == "", exploration.__name__
    data = l3.feature_data(reference_ns)
    three, five = l3.features_of(data, 3, 0), l3.features_of(data, 5, 0)
    assert not np.allclose(three["maps"], five["maps"])
    assert l3.features_of(data, 3, 1)["maps"].shape[1:] != three["maps"].shape[1:]
    low, high = (l3.held_out_scores(reference_ns, noise)["loss"] for noise in (0.1, 0.7))
    assert low != high


def raises(*args, **kwargs):
    raise ValueError("the shapes do not match")


@pytest.mark.parametrize("exploration", EXPLORATIONS, ids=lambda f: f.__name__)
def test_is_an_error_in_your_classifier_named_instead_of_a_crash(exploration, monkeypatch):
    import tensorflow as tf

    monkeypatch.chdir(FOLDER)
    box = exploration({"train_digit_classifier": raises})
    if exploration is l3.live_training:
        box.children[2].click()  # Train
    assert "Reference run" in box.banner.value
    assert "ValueError" in box.status.value and "the shapes do not match" in box.status.value
    assert box.plot.drawn >= 1
    assert "fit" not in tf.keras.Model.__dict__


def test_is_a_classifier_that_returns_no_pair_named(monkeypatch):
    monkeypatch.chdir(FOLDER)
    box = l3.live_training({"train_digit_classifier": lambda X, y, epochs=3, seed=0: 42})
    box.children[2].click()  # Train
    assert "Reference run" in box.banner.value and "returned an int, not the pair" in box.status.value


def test_is_an_error_in_your_evaluate_model_named_beside_your_matrix(reference_ns, small, monkeypatch):
    monkeypatch.chdir(FOLDER)
    box = l3.confusion_matrix({**reference_ns, "evaluate_model": raises})
    assert "Your code" in box.banner.value
    assert "evaluate_model raised ValueError" in box.status.value and box.plot.drawn == 1


def test_is_an_exploration_shown_once_by_the_cell_that_returns_it(monkeypatch):
    import IPython
    import IPython.display

    monkeypatch.chdir(FOLDER)
    box = l3.confusion_matrix({})

    class Shell:
        execution_count = 7

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False: shown.append(data))
    box._ipython_display_()  # the exploration's own display(box)
    box._ipython_display_()  # IPython's displayhook, showing the cell's value: the same box again
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
    Shell.execution_count = 8  # a later cell that shows the box again
    box._ipython_display_()
    assert len(shown) == 2
