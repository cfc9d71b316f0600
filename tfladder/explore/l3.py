"""Level 3 explorations: watch `fit` train, look inside the CNN, and count its mistakes.

    from tfladder.explore import l3
    l3.live_training(globals())      # loss and accuracy, redrawn after every epoch while fit runs
    l3.feature_maps(globals())       # what the classifier's two Conv2D layers make of one digit
    l3.confusion_matrix(globals())   # which held-out digits it takes for which, as the noise grows

All three run the student's `train_digit_classifier` (exercise 5) on patch digits; the confusion
matrix also shows what the student's `evaluate_model` (exercise 4) says. `train_digit_classifier`
calls `fit` itself, so the live plot reaches it through a Keras callback that `fit_callbacks` adds
to every `Model.fit` call made while it trains. The classifier that explorations 2 and 3 look into
is trained once per version of the function and kept (`classifier`).

`record(ns)` computes the reference run that `exploration.json` ships: the per-epoch history for
each training-set size (a run of fewer epochs is the same run stopped earlier: same seed, same
batches), the feature maps of one held-out image of each digit (64 grey levels, one character a
pixel), and the held-out predictions at each noise level with `evaluate_model`'s scores.
"""

import contextlib
import functools
import html
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tfladder import data, explore

TRAINER, EVALUATOR = "train_digit_classifier", "evaluate_model"
SIZES = (150, 300, 600)  # training images the live run may use (10% of them validate)
DEFAULT_SIZE, MAX_EPOCHS, DEFAULT_EPOCHS = 600, 10, 6
DATA_SEED, FIT_SEED = 0, 0
MODEL_SIZE, MODEL_EPOCHS = 600, 6  # the classifier the feature maps and the confusion matrix look into
NOTEBOOK_MODEL = "digit_model"  # the classifier the notebook trains with the student's function, when it ran
HELD_OUT, HELD_OUT_SEED = 500, 1  # digits the classifier never saw
NOISES = (0.1, 0.3, 0.5, 0.7)  # pixel noise of the held-out digits (the training digits have 0.1)
MAPS = 8  # feature maps shown per layer: the channels most active over the ten example digits
HISTORY_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")
LEVELS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/"  # 64 grey levels
REPLAY_PAUSE = 0.15  # seconds between epochs when the reference run is replayed
PROBLEM_COLOUR = "#b00020"
History = dict[str, list[float]]


class Unusable(Exception):
    """The student's function ran, but what it returned cannot be shown; the message says why."""


# --- data -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _digits(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    return data.patch_digits(n, seed=seed, noise=noise)


def digits(n: int, seed: int, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """`data.patch_digits(n, seed=seed, noise=noise)`, made once (copies: a student may write into them)."""
    X, y = _digits(n, seed, noise)
    return X.copy(), y.copy()


def example_digits() -> np.ndarray:
    """(10, 28, 28, 1): the first held-out image of each digit 0-9."""
    X, y = digits(HELD_OUT, HELD_OUT_SEED)
    labels = y.argmax(axis=1)
    return np.stack([X[int(np.flatnonzero(labels == d)[0])] for d in range(10)])


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats in nested lists and dicts rounded to `digits` significant digits (for the JSON file)."""
    if isinstance(value, dict):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return float(f"{float(value):.{digits}g}")


def pack_levels(values: np.ndarray, scale: float) -> str:
    """Non-negative values as one character per value, 64 levels from 0 to `scale`."""
    steps = np.clip(np.round(np.asarray(values, np.float64).ravel() / max(scale, 1e-12) * 63), 0, 63)
    return "".join(LEVELS[int(i)] for i in steps)


def unpack_levels(text: str, shape: tuple[int, ...] | list[int], scale: float) -> np.ndarray:
    """The inverse of `pack_levels`, to within scale / 126."""
    index = {c: i for i, c in enumerate(LEVELS)}
    return (np.array([index[c] for c in text], np.float64) * (scale / 63)).reshape(shape)


# --- the student's classifier -----------------------------------------------------------------


@contextlib.contextmanager
def fit_callbacks(callbacks: list[Any]) -> Iterator[None]:
    """Inside: every `tf.keras.Model.fit` call gets `callbacks` after its own.

    `train_digit_classifier` calls `fit` itself and takes no callbacks, so the live plot joins
    its `fit` this way; nothing else about the call changes."""
    import tensorflow as tf

    model_class = tf.keras.Model
    saved = model_class.__dict__.get("fit")
    original = model_class.fit
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        given = bound.arguments.get("callbacks") or []
        given = list(given) if isinstance(given, (list, tuple)) else [given]
        bound.arguments["callbacks"] = given + list(callbacks)
        return original(*bound.args, **bound.kwargs)

    model_class.fit = fit
    try:
        yield
    finally:
        if saved is None:
            del model_class.fit
        else:
            model_class.fit = saved


def epoch_callback(on_epoch: Callable[[History], None]) -> Any:
    """A Keras callback that calls `on_epoch(history so far)` when training starts and after each epoch."""
    import tensorflow as tf

    class Redraw(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seen: History = {}

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.seen = {}
            on_epoch({})

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for key, value in (logs or {}).items():
                if key in HISTORY_KEYS:
                    self.seen.setdefault(key, []).append(float(value))
            on_epoch({key: list(values) for key, values in self.seen.items()})

    return Redraw()


def _kind(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def model_and_history(result: Any) -> tuple[Any, History]:
    """The model and `history.history` from what `train_digit_classifier` returned; Unusable if it is no pair."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Unusable(f"{TRAINER} returned {_kind(result)}, not the pair (model, history)")
    model, history = result
    logs = getattr(history, "history", None)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise Unusable(f"the second value {TRAINER} returned should be the History fit returns, not {_kind(history)}")
    if not callable(getattr(model, "predict", None)):
        raise Unusable(f"the first value {TRAINER} returned should be the Keras model, not {_kind(model)}")
    return model, {key: [float(v) for v in logs[key]] for key in HISTORY_KEYS if key in logs}


_MODEL: dict[str, Any] = {}  # the last classifier trained with (MODEL_SIZE, MODEL_EPOCHS): key and model


def training_run(ns: dict, size: int, epochs: int, on_epoch: Callable[[History], None] | None = None) -> History:
    """The student's `train_digit_classifier` on `size` patch digits for `epochs`: its per-epoch history.

    `on_epoch` is called with the history so far while `fit` runs. NotWritten while the function is
    missing; Unusable when it returns something else than (model, history)."""
    if not callable(ns.get(TRAINER)):
        raise explore.NotWritten(TRAINER)  # before fit_callbacks, which imports TensorFlow
    X, y = digits(size, DATA_SEED)
    with fit_callbacks([epoch_callback(on_epoch)] if on_epoch else []):
        result = explore.call(ns, TRAINER, X, y, epochs=epochs, seed=FIT_SEED)
    model, history = model_and_history(result)
    if (size, epochs) == (MODEL_SIZE, MODEL_EPOCHS):
        _MODEL.update(key=(ns[TRAINER], size, epochs), model=model)
    return history


def classifier(ns: dict) -> Any:
    """The student's trained classifier: the notebook's own `digit_model` (trained by their
    `train_digit_classifier` in the training-curves cell) when it ran, else the model their
    function makes from MODEL_SIZE digits in MODEL_EPOCHS epochs, trained once per version of the
    function (a live run with those settings counts)."""
    import tensorflow as tf

    if callable(ns.get(TRAINER)) and isinstance(ns.get(NOTEBOOK_MODEL), tf.keras.Model):
        return ns[NOTEBOOK_MODEL]
    key = (ns.get(TRAINER), MODEL_SIZE, MODEL_EPOCHS)
    if key[0] is None or _MODEL.get("key") != key:
        training_run(ns, MODEL_SIZE, MODEL_EPOCHS)
    return _MODEL["model"]


def conv_outputs(model: Any, images: np.ndarray) -> list[np.ndarray]:
    """The outputs (n, h, w, channels) of the model's first two Conv2D layers for `images`."""
    import tensorflow as tf

    layers = [layer for layer in getattr(model, "layers", []) if isinstance(layer, tf.keras.layers.Conv2D)][:2]
    if not layers:
        raise Unusable(f"the model {TRAINER} returned has no Conv2D layer to look into")
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        outputs = tf.keras.Model(inputs, [layer.output for layer in layers])(images, training=False)
    except Exception:  # noqa: BLE001 - no symbolic inputs: run the layers one by one instead
        outputs, x = [], tf.convert_to_tensor(images)
        for layer in model.layers:
            x = layer(x)
            if any(layer is conv for conv in layers):
                outputs.append(x)
            if len(outputs) == len(layers):
                break
    return [np.asarray(out, np.float64) for out in outputs]


def feature_data(ns: dict) -> dict:
    """For one held-out image of each digit: the outputs of the classifier's Conv2D layers.

    {"images": (10, 28, 28), "layers": [{"name", "channels", "maps": (10, MAPS, h, w)}, ...]}, each
    layer's MAPS channels the ones most active over the ten images."""
    images = example_digits()
    layers = []
    for number, out in enumerate(conv_outputs(classifier(ns), images), 1):
        if out.ndim != 4:
            raise Unusable(f"Conv2D layer {number} of the classifier gave outputs of shape {out.shape}")
        strongest = np.argsort(-out.mean(axis=(0, 1, 2)), kind="stable")[:MAPS]
        _, height, width, channels = out.shape
        layers.append(
            {
                "name": f"Conv2D {number}: {height}×{width}×{channels}",
                "channels": [int(c) for c in strongest],
                "maps": np.moveaxis(out[..., strongest], -1, 1),
            }
        )
    return {"images": images[..., 0], "layers": layers}


def features_of(data: dict, digit: int, layer: int) -> dict:
    """One digit's image and one layer's maps from `feature_data`."""
    chosen = data["layers"][layer]
    scale = max(float(np.max(chosen["maps"])), 1e-12)
    return {
        "digit": digit,
        "image": data["images"][digit],
        "name": chosen["name"],
        "channels": chosen["channels"],
        "maps": chosen["maps"][digit],
        "scale": scale,
    }


def confusion_data(ns: dict, noise: float) -> dict:
    """The classifier's predictions for the held-out digits drawn with pixel `noise`: noise, labels, predicted."""
    X, y = digits(HELD_OUT, HELD_OUT_SEED, noise)
    probabilities = np.asarray(classifier(ns).predict(X, verbose=0))
    if probabilities.shape != (HELD_OUT, 10):
        raise Unusable(f"the classifier's predictions have shape {probabilities.shape}, not ({HELD_OUT}, 10)")
    return {"noise": noise, "labels": y.argmax(axis=1), "predicted": probabilities.argmax(axis=1)}


def held_out_scores(ns: dict, noise: float) -> dict[str, float]:
    """The student's `evaluate_model` on the classifier and the held-out digits at `noise`."""
    X, y = digits(HELD_OUT, HELD_OUT_SEED, noise)
    scores = explore.call(ns, EVALUATOR, classifier(ns), X, y)
    if not isinstance(scores, dict):
        raise Unusable(f"{EVALUATOR} returned {_kind(scores)}, not a dict")
    return {str(name): float(value) for name, value in scores.items()}


def counts(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(10, 10): how many digits of each true class (row) got each predicted class (column)."""
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return matrix


# --- the reference run ------------------------------------------------------------------------


def record(ns: dict) -> dict:
    """The reference run, computed with the functions in `ns`, in the form exploration.json keeps it."""
    training = {str(size): rounded(training_run(ns, size, MAX_EPOCHS)) for size in SIZES}
    features = feature_data(ns)
    layers = []
    for layer in features["layers"]:
        scale = rounded(float(np.max(layer["maps"])))
        shape = list(layer["maps"].shape)
        layers.append({**layer, "maps": pack_levels(layer["maps"], scale), "scale": scale, "shape": shape})
    confusion = {
        str(noise): {
            "predicted": "".join(str(int(p)) for p in confusion_data(ns, noise)["predicted"]),
            "scores": rounded(held_out_scores(ns, noise)),
        }
        for noise in NOISES
    }
    return {
        "training": training,
        "features": {"images": pack_levels(features["images"], 1.0), "layers": layers},
        "confusion": confusion,
    }


def reference_training(reference: dict, size: int) -> History:
    return {key: list(values) for key, values in reference["training"][str(size)].items()}


def reference_features(reference: dict) -> dict:
    packed = reference["features"]
    layers = [
        {**layer, "maps": unpack_levels(layer["maps"], layer["shape"], layer["scale"])} for layer in packed["layers"]
    ]
    return {"images": unpack_levels(packed["images"], (10, 28, 28), 1.0), "layers": layers}


def reference_confusion(reference: dict, noise: float) -> tuple[dict, dict[str, float]]:
    entry = reference["confusion"][str(noise)]
    _, y = digits(HELD_OUT, HELD_OUT_SEED, noise)
    predicted = np.array([int(c) for c in entry["predicted"]])
    return {"noise": noise, "labels": y.argmax(axis=1), "predicted": predicted}, dict(entry["scores"])


# --- drawing ----------------------------------------------------------------------------------


def first_epochs(history: History, epochs: int) -> History:
    return {key: values[:epochs] for key, values in history.items()}


def paint_training(figure: Any, history: History, epochs: int, title: str) -> None:
    """Loss and accuracy per epoch, training and validation, on an axis of `epochs` epochs."""
    panels = (("loss", "categorical cross-entropy"), ("accuracy", "accuracy"))
    for number, (key, label) in enumerate(panels, 1):
        ax = figure.add_subplot(1, 2, number)
        for name, style in ((key, "o-"), (f"val_{key}", "s--")):
            values = history.get(name, [])
            if values:
                ax.plot(
                    np.arange(1, len(values) + 1), values, style, label="validation" if "val" in name else "training"
                )
        ax.set_xlim(0.5, max(epochs, len(history.get(key, []))) + 0.5)
        ax.set_xticks(range(1, max(epochs, len(history.get(key, []))) + 1))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if key == "accuracy":
            ax.set_ylim(0, 1.02)
        else:
            ax.set_ylim(bottom=0)
        if any(history.get(n) for n in (key, f"val_{key}")):
            ax.legend(loc="best", fontsize="small")
        else:
            ax.text(0.5, 0.5, "no epoch finished yet", ha="center", va="center", transform=ax.transAxes, color="grey")
    figure.suptitle(title, fontsize="medium")


def paint_features(figure: Any, chosen: dict) -> None:
    """The digit on the left; its MAPS feature maps of one layer on the right, on one colour scale."""
    grid = figure.add_gridspec(2, 6)
    ax = figure.add_subplot(grid[:, :2])
    ax.imshow(chosen["image"], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"held-out digit {chosen['digit']}")
    ax.axis("off")
    for number, (channel, feature) in enumerate(zip(chosen["channels"], chosen["maps"])):
        ax = figure.add_subplot(grid[number // 4, 2 + number % 4])
        ax.imshow(feature, cmap="magma", vmin=0, vmax=chosen["scale"])
        ax.set_title(f"channel {channel}", fontsize=8, pad=2)
        ax.axis("off")
    figure.suptitle(f"{chosen['name']}: the {len(chosen['channels'])} most active channels", fontsize="medium")


def paint_confusion(figure: Any, result: dict, images: np.ndarray, scores: dict[str, float] | None) -> None:
    """The confusion matrix (counts) on the left, some of the mistakes on the right."""
    labels, predicted = np.asarray(result["labels"]), np.asarray(result["predicted"])
    matrix = counts(labels, predicted)
    grid = figure.add_gridspec(2, 7)
    ax = figure.add_subplot(grid[:, :3])
    ax.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > matrix.max() / 2 else ("black" if row == column else PROBLEM_COLOUR)
            ax.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    right = int(np.trace(matrix))
    title = f"noise {result['noise']}: {right} of {len(labels)} right"
    if scores:
        title += "\nevaluate_model: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(scores.items()))
    ax.set_title(title, fontsize="small")
    wrong = np.flatnonzero(labels != predicted)[:8]
    for number, index in enumerate(wrong):
        ax = figure.add_subplot(grid[number // 4, 3 + number % 4])
        ax.imshow(images[index, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{labels[index]} taken for {predicted[index]}", fontsize="small", color=PROBLEM_COLOUR)
        ax.axis("off")
    if not len(wrong):
        ax = figure.add_subplot(grid[:, 3:])
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        ax.axis("off")


# --- widgets ----------------------------------------------------------------------------------


def _problem(error: Exception, name: str, then: str = "; showing the reference run.") -> str:
    """A red line naming what went wrong in the student's code."""
    text = str(error) if isinstance(error, Unusable) else f"{name} raised {type(error).__name__}: {error}"
    text = text if len(text) <= 300 else text[:297] + "..."
    return f'<span style="color:{PROBLEM_COLOUR}">{html.escape(text)}{then}</span>'


def _reference() -> tuple[dict | None, str]:
    try:
        return explore.reference_data("l3"), ""
    except FileNotFoundError as error:
        return None, f'<span style="color:{PROBLEM_COLOUR}">{html.escape(str(error))}</span>'


def _box(children: list[Any], banner: Any, status: Any, plot: explore.Plot) -> Any:
    box = explore.box(children)
    box.banner, box.status, box.plot = banner, status, plot  # for tests and benchmarks
    return box


def live_training(ns: dict) -> Any:
    """Train the student's classifier with a Train button; loss and accuracy are redrawn after every epoch."""
    if explore.skip_when_graded("Live training"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    epochs = widgets.IntSlider(
        value=DEFAULT_EPOCHS, min=1, max=MAX_EPOCHS, description="epochs", continuous_update=False
    )
    size = widgets.ToggleButtons(
        options=[(str(n), n) for n in SIZES], value=DEFAULT_SIZE, description="images", style={"button_width": "60px"}
    )
    train = widgets.Button(description="Train", icon="play", button_style="success")
    banner, status, plot = explore.banner(own=True), widgets.HTML(), explore.Plot()
    reference, missing_data = _reference()
    state: dict[str, Any] = {"own": False, "function": None, "runs": {}}

    def draw(history: History, title: str) -> None:
        plot.draw(lambda figure: paint_training(figure, history, epochs.value, title))

    def show(*_: Any) -> None:
        n, k = size.value, epochs.value
        if state["own"]:
            run = state["runs"].get(n, {})
            done = len(run.get("loss", []))
            if done >= k:
                draw(first_epochs(run, k), f"your train_digit_classifier: {n} images, {k} epochs")
            else:
                draw(run, f"your run on {n} images has {done} of {k} epochs: press Train")
        elif reference is not None and str(n) in reference.get("training", {}):
            draw(first_epochs(reference_training(reference, n), k), f"reference run: {n} images, {k} epochs")
        elif reference is not None:
            draw({}, f"no reference run on {n} images: press Train")
        else:
            status.value = missing_data

    def replay() -> None:
        if reference is None:
            show()
            return
        run = reference_training(reference, size.value)
        for done in range(1, epochs.value + 1):
            draw(first_epochs(run, done), f"reference run, replayed: {size.value} images, epoch {done}/{epochs.value}")
            time.sleep(REPLAY_PAUSE)

    def attempt(replaying: bool) -> None:
        n, k = size.value, epochs.value
        if ns.get(TRAINER) is not state["function"]:
            state["function"], state["runs"] = ns.get(TRAINER), {}
        train.disabled = True
        try:
            live = training_run(
                ns, n, k, on_epoch=lambda h: draw(h, f"training: {n} images, epoch {len(h.get('loss', []))}/{k}")
            )
        except explore.NotWritten as error:
            state["own"], status.value = False, ""
            banner.value = explore.banner(own=False, missing=error.name).value
            if replaying:
                replay()
            else:
                show()
        except Exception as error:  # noqa: BLE001 - the student's code may raise anything: name it, never crash
            state["own"], status.value = False, _problem(error, TRAINER)
            banner.value = explore.banner(own=False, missing=TRAINER).value
            show()
        else:
            state["own"], status.value = True, ""
            banner.value = explore.banner(own=True).value
            if len(live.get("loss", [])) >= len(state["runs"].get(n, {}).get("loss", [])):
                state["runs"][n] = live
            show()
        finally:
            train.disabled = False

    epochs.observe(show, names="value")
    size.observe(show, names="value")
    train.on_click(lambda _: attempt(replaying=True))
    box = _box([epochs, size, train, banner, status, plot.output], banner, status, plot)
    display(box)
    if callable(ns.get(TRAINER)):  # training waits for the button: running the notebook stays quick
        banner.value = (
            f'<b style="color:{explore.REFERENCE_COLOUR}">Reference run (precomputed) until you press Train: '
            f"then your <code>{TRAINER}</code> trains live.</b>"
        )
    else:
        banner.value = explore.banner(own=False, missing=TRAINER).value
    show()
    return box


def feature_maps(ns: dict) -> Any:
    """A digit slider and a layer switch: the classifier's feature maps for one held-out digit."""
    if explore.skip_when_graded("Feature maps"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    banner, status, plot = explore.banner(own=True), widgets.HTML(), explore.Plot()
    found: dict | None = None
    try:
        found = feature_data(ns)
    except explore.NotWritten as error:
        banner = explore.banner(own=False, missing=error.name)
    except Exception as error:  # noqa: BLE001 - the student's code may raise anything: name it, never crash
        banner, status.value = explore.banner(own=False, missing=TRAINER), _problem(error, TRAINER)
    if found is None:
        reference, missing_data = _reference()
        found = reference_features(reference) if reference is not None else None
        status.value = status.value or missing_data
    names = [layer["name"] for layer in found["layers"]] if found else ["Conv2D 1"]
    digit = widgets.IntSlider(value=3, min=0, max=9, description="digit", continuous_update=False)
    layer = widgets.ToggleButtons(options=[(name, i) for i, name in enumerate(names)], value=0, description="layer")

    def show(*_: Any) -> None:
        if found is not None:
            chosen = features_of(found, digit.value, layer.value)
            plot.draw(lambda figure: paint_features(figure, chosen))

    digit.observe(show, names="value")
    layer.observe(show, names="value")
    show()
    box = _box([digit, layer, banner, status, plot.output], banner, status, plot)
    display(box)
    return box


def confusion_matrix(ns: dict) -> Any:
    """Noise buttons: the classifier's confusion matrix on held-out digits drawn with more or less noise."""
    if explore.skip_when_graded("Confusion matrix"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    noise = widgets.ToggleButtons(
        options=[(str(n), n) for n in NOISES], value=NOISES[0], description="noise", style={"button_width": "50px"}
    )
    banner, status, plot = explore.banner(own=True), widgets.HTML(), explore.Plot()
    reference, missing_data = _reference()
    cache: dict[float, tuple[dict, dict[str, float] | None, str]] = {}

    def compute(level: float) -> tuple[dict | None, dict[str, float] | None, str, str]:
        """(predictions, scores, note on the scores, banner html) for one noise level."""
        try:
            if level not in cache:
                result = confusion_data(ns, level)
                try:
                    scores, note = held_out_scores(ns, level), ""
                except explore.NotWritten:
                    scores, note = None, f"Write <code>{EVALUATOR}</code> above to see its loss and accuracy here."
                except Exception as error:  # noqa: BLE001 - the student's code may raise anything
                    scores, note = None, _problem(error, EVALUATOR, then=".")
                cache[level] = (result, scores, note)
            result, scores, note = cache[level]
            return result, scores, note, explore.banner(own=True).value
        except explore.NotWritten as error:
            note, banner_html = "", explore.banner(own=False, missing=error.name).value
        except Exception as error:  # noqa: BLE001 - the student's code may raise anything: name it, never crash
            note, banner_html = _problem(error, TRAINER), explore.banner(own=False, missing=TRAINER).value
        if reference is None:
            return None, None, missing_data, banner_html
        result, scores = reference_confusion(reference, level)
        return result, scores, note, banner_html

    def show(*_: Any) -> None:
        result, scores, note, banner_html = compute(noise.value)
        banner.value, status.value = banner_html, note
        if result is not None:
            images = digits(HELD_OUT, HELD_OUT_SEED, noise.value)[0]
            plot.draw(lambda figure: paint_confusion(figure, result, images, scores))

    noise.observe(show, names="value")
    show()
    box = _box([noise, banner, status, plot.output], banner, status, plot)
    display(box)
    return box
