"""Level 2's explorations: a layer's weights, their shapes, and how one training step moves them.

In the level 2 notebook, after exercise 3 (`Linear`):

    from tfladder.explore import l2
    l2.units_and_parameters(globals())
    l2.training_step(globals())

- `units_and_parameters`: a units slider and an input-width slider. Left, your `Linear(units)` after
  its first call on a batch of `width` features: each weight Keras tracks, drawn as a grid of cells
  coloured by its initial value (so its shape is the grid's shape). Right, your `dense_param_count`
  for every units position, with and without a bias, at this width (the other widths faint).
- `training_step`: your `Linear(3)` on 5 input features, trained on toy data one full-batch step at
  a time (`train_on_batch`), with a step slider, a learning rate and an optimizer: the kernel before
  the step, after it, the change, and the loss before every step.

While `dense_param_count` or `Linear` is not written (or raises), the precomputed reference run
(exploration.json) is drawn instead, under a banner that says so. Both explorations seed Keras
(`tf.keras.utils.set_random_seed(SEED)`) before they make a layer, so a position always shows the
same initial weights; run the cell again after you change your code.
"""

import html
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tfladder import explore

UNITS = (1, 2, 4, 8, 16, 32)
WIDTHS = (1, 2, 3, 4, 5, 6)
SEED = 0
# The training exploration: Linear(TRAIN_UNITS) on TRAIN_WIDTH features, TRAIN_SAMPLES toy samples.
TRAIN_WIDTH, TRAIN_UNITS, TRAIN_SAMPLES, STEPS = 5, 3, 32, 10
OPTIMIZERS = ("SGD", "Adam")
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0)
LIMIT = 1.75  # colour scale of initial weights: about the largest value Glorot uniform draws, sqrt(6 / 2)
ERROR_COLOUR = "#b00020"

# ---------------------------------------------------------------- data (the student's code, or raises)


def param_counts(ns: dict, width: int) -> dict:
    """Your dense_param_count(width, units, use_bias) for every units position, with and without a bias."""
    counts = {}
    for use_bias, key in ((True, "with_bias"), (False, "without_bias")):
        counts[key] = [
            _number(explore.call(ns, "dense_param_count", width, units, use_bias=use_bias), "dense_param_count")
            for units in UNITS
        ]
    return counts


def layer_weights(ns: dict, width: int, units: int) -> list[dict]:
    """The weights Keras tracks in your Linear(units) after its first call on `width` features:
    [{"name", "shape", "values"}], values rounded to 3 significant digits (they are only drawn)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    layer = explore.call(ns, "Linear", units)
    _written("Linear", lambda: layer(tf.zeros((1, width))))
    return [
        {
            "name": _weight_name(weight, i),
            "shape": [int(n) for n in weight.shape],
            "values": _rounded(_array(weight), 3),
        }
        for i, weight in enumerate(layer.weights)
    ]


def toy_data() -> tuple[np.ndarray, np.ndarray]:
    """TRAIN_SAMPLES rows of TRAIN_WIDTH features and TRAIN_UNITS targets: a fixed linear map plus noise."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(TRAIN_SAMPLES, TRAIN_WIDTH))
    true_kernel = rng.uniform(-1.0, 1.0, size=(TRAIN_WIDTH, TRAIN_UNITS))
    true_bias = rng.uniform(-0.5, 0.5, size=(TRAIN_UNITS,))
    y = x @ true_kernel + true_bias + 0.1 * rng.normal(size=(TRAIN_SAMPLES, TRAIN_UNITS))
    return x.astype("float32"), y.astype("float32")


def training_run(ns: dict, optimizer: str, learning_rate: float, on_step: Callable[[dict], None] | None = None) -> dict:
    """STEPS full-batch steps of your Linear(TRAIN_UNITS) in a Sequential, with `optimizer` and MSE.

    Returns {"kernels": the kernel before any step and after each, "changes": each step's change,
    "losses": the loss before each step}, rounded to 4 significant digits; `on_step` gets the same
    for the steps done so far after every step (to draw while it trains)."""
    import tensorflow as tf

    x, y = toy_data()
    tf.keras.utils.set_random_seed(SEED)
    layer = explore.call(ns, "Linear", TRAIN_UNITS)

    def run() -> dict:
        model = tf.keras.Sequential([tf.keras.Input((TRAIN_WIDTH,)), layer])
        chosen = getattr(tf.keras.optimizers, optimizer)(learning_rate=float(learning_rate))
        model.compile(optimizer=chosen, loss="mean_squared_error", jit_compile=False)
        kernels, losses = [_kernel_of(layer)], []
        with warnings.catch_warnings():  # a layer whose weights Keras does not track: "no trainable weights"
            warnings.simplefilter("ignore")
            for _ in range(STEPS):
                losses.append(float(model.train_on_batch(x, y, return_dict=True)["loss"]))
                kernels.append(_kernel_of(layer))
                if on_step is not None:
                    on_step(_run_data(kernels, losses))
        return _run_data(kernels, losses)

    return _written("Linear", run)


def record(ns: dict) -> dict:
    """Every position of both explorations, computed with the functions in `ns` (exploration.json's "l2")."""
    return {
        "counts": {str(width): param_counts(ns, width) for width in WIDTHS},
        "weights": {_weights_key(width, units): layer_weights(ns, width, units) for width in WIDTHS for units in UNITS},
        "training": {
            _run_key(optimizer, rate): training_run(ns, optimizer, rate)
            for optimizer in OPTIMIZERS
            for rate in LEARNING_RATES
        },
    }


def _weights_key(width: int, units: int) -> str:
    return f"{width}x{units}"


def _run_key(optimizer: str, learning_rate: float) -> str:
    return f"{optimizer} {learning_rate:g}"


def _written(name: str, compute: Callable[[], Any]) -> Any:
    """compute(), with NotImplementedError (a method not written yet) as NotWritten(name)."""
    try:
        return compute()
    except NotImplementedError:
        raise explore.NotWritten(name) from None


def _number(value: Any, name: str) -> int | float:
    if isinstance(value, (bool, str)):
        raise TypeError(f"{name} returned {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} returned a {type(value).__name__}, not a number") from None
    return int(number) if number.is_integer() else number


def _array(value: Any) -> np.ndarray:
    return np.array(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def _weight_name(weight: Any, index: int) -> str:
    name = str(getattr(weight, "name", "") or f"weight {index}")
    return name.rsplit("/", 1)[-1].split(":")[0]


def _kernel_of(layer: Any) -> np.ndarray:
    """The layer's kernel: self.kernel, else its first two-dimensional weight."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(getattr(kernel, "shape", ())) != 2:
        kernel = next((w for w in layer.weights if len(w.shape) == 2), None)
    if kernel is None:
        raise AttributeError("Linear has no two-dimensional kernel: keep it as self.kernel")
    return _array(kernel)


def _run_data(kernels: list[np.ndarray], losses: list[float]) -> dict:
    stacked = np.stack(kernels)
    return {"kernels": _rounded(stacked), "changes": _rounded(np.diff(stacked, axis=0)), "losses": _rounded(losses)}


def _rounded(values: Any, digits: int = 4) -> Any:
    """Nested lists of floats with `digits` significant digits."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return float(f"{float(array):.{digits}g}")
    return [_rounded(item, digits) for item in array]


# ---------------------------------------------------------------- drawing (pure)


def paint_units(figure: Any, data: dict) -> None:
    """Left: each weight of Linear(units) as a grid of cells; right: parameters against units.

    data: width, units, weights (layer_weights, or None), counts ({width: param_counts or None}),
    own_weights, own_counts (whose code made them)."""
    grid = figure.add_gridspec(1, 2, width_ratios=(1.8, 1.0))
    _paint_weights(figure, figure.add_subplot(grid[0]), data)
    _paint_counts(figure.add_subplot(grid[1]), data)


def _colour(own: bool) -> str:
    return explore.OWN_COLOUR if own else explore.REFERENCE_COLOUR


def _as_matrix(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(1, -1)
    return array.reshape(-1, array.shape[-1])


def _paint_weights(figure: Any, ax: Any, data: dict) -> None:
    from matplotlib.patches import Rectangle

    width, units, weights = data["width"], data["units"], data["weights"]
    whose = "your" if data.get("own_weights") else "reference"
    features = "feature" if width == 1 else "features"
    ax.set_title(
        f"{whose} Linear({units}) after a call on {width} {features}", fontsize=10, color=_colour(whose == "your")
    )
    if not weights:
        message = "no reference run here" if weights is None else "Keras tracks no weights in this layer:\n"
        if weights is not None:
            message += "create them with self.add_weight(...) in build()"
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.set_facecolor("0.93")
    row, ticks, labels, image, widest = 0, [], [], None, 0
    for weight in weights:
        matrix = _as_matrix(weight["values"])
        rows, cols = matrix.shape
        extent = (-0.5, cols - 0.5, row + rows - 0.5, row - 0.5)
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-LIMIT, vmax=LIMIT, extent=extent, interpolation="nearest")
        ax.add_patch(Rectangle((-0.5, row - 0.5), cols, rows, fill=False, edgecolor="0.25", linewidth=1))
        ticks.append(row + (rows - 1) / 2)
        labels.append(f"{weight['name']} {tuple(weight['shape'])}")
        row, widest = row + rows + 1, max(widest, cols)
    ax.set_xlim(-0.5, max(widest, max(UNITS)) - 0.5)
    ax.set_ylim(max(row - 1, max(WIDTHS) + 2) - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_yticks(ticks, labels, fontsize=9)
    ax.set_xticks([0, units - 1] if units > 1 else [0], [1, units] if units > 1 else [1], fontsize=8)
    ax.set_xlabel("unit (one column per unit)", fontsize=9)
    if image is not None:
        bar = figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02, shrink=0.7, extend="both")
        bar.set_label("initial value", fontsize=8)
        bar.ax.tick_params(labelsize=7)


def _paint_counts(ax: Any, data: dict) -> None:
    width, units, counts = data["width"], data["units"], data["counts"]
    colour = _colour(bool(data.get("own_counts")))
    for other, found in counts.items():
        if found and other != width:
            ax.plot(UNITS, found["with_bias"], color="0.85", linewidth=1)
    current = counts.get(width)
    ax.set_title(f"dense_param_count({width}, units)", fontsize=10, color=colour)
    ax.set_xlabel("units (grey: the other input widths)", fontsize=9)
    ax.set_ylabel("parameters", fontsize=9)
    ax.tick_params(labelsize=8)
    if not current:
        ax.text(0.5, 0.5, "no reference run here", ha="center", va="center", transform=ax.transAxes)
        return
    ax.plot(UNITS, current["with_bias"], "o-", color=colour, label="use_bias=True")
    ax.plot(UNITS, current["without_bias"], "s--", color=colour, alpha=0.6, label="use_bias=False")
    at = UNITS.index(units)
    count, bare = current["with_bias"][at], current["without_bias"][at]
    ax.plot([units], [count], "o", markersize=13, markerfacecolor="none", markeredgecolor="black")
    ax.legend(loc="upper left", fontsize=8, title=f"{count:,} parameters ({bare:,} without a bias)", title_fontsize=8)


def paint_training(figure: Any, data: dict) -> None:
    """The kernel before step `step`, after it, the change, and the loss before every step.

    data: kernels, changes, losses (training_run, possibly for the steps done so far), step,
    optimizer, learning_rate, own."""
    step = data["step"]
    kernels = [np.asarray(k, dtype=np.float64) for k in data["kernels"]]
    change = np.asarray(data["changes"][step - 1], dtype=np.float64)
    grid = figure.add_gridspec(1, 4, width_ratios=(1.0, 1.0, 1.0, 1.6))
    scale = _largest(np.stack(kernels))
    for column, (matrix, title) in enumerate(
        ((kernels[step - 1], f"kernel before step {step}"), (kernels[step], f"after step {step}"))
    ):
        ax = figure.add_subplot(grid[column])
        ax.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        _matrix_axes(ax, title, first=column == 0)
    ax = figure.add_subplot(grid[2])
    largest = _largest(change)
    ax.imshow(change, cmap="PuOr_r", vmin=-largest, vmax=largest, interpolation="nearest")
    for (i, j), value in np.ndenumerate(change):
        ink = "white" if abs(value) > 0.6 * largest else "black"
        ax.text(j, i, f"{value:+.2g}" if value else "0", ha="center", va="center", fontsize=7, color=ink)
    moved = np.nanmax(np.abs(change)) if np.isfinite(change).any() else float("nan")
    _matrix_axes(ax, f"change (largest {moved:.2g})" if moved else "no change at all", first=False)
    ax = figure.add_subplot(grid[3])
    losses = np.asarray(data["losses"], dtype=np.float64)
    colour = _colour(bool(data.get("own")))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, "o-", color=colour, markersize=4)
    if step <= len(losses):
        ax.plot([step], [losses[step - 1]], "o", markersize=11, markerfacecolor="none", markeredgecolor="black")
    if np.isfinite(losses).any() and np.all(losses[np.isfinite(losses)] > 0):
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0.5, STEPS + 0.5)
    ax.set_xlabel("step", fontsize=9)
    ax.set_title(f"loss before each step ({data['optimizer']}, lr {data['learning_rate']:g})", fontsize=9)
    ax.tick_params(labelsize=8)


def _largest(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    largest = float(finite.max()) if finite.size else 0.0
    return largest if largest > 0 else 1.0


def _matrix_axes(ax: Any, title: str, *, first: bool) -> None:
    rows, cols = ax.images[0].get_array().shape
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(cols), [str(c + 1) for c in range(cols)], fontsize=7)
    ax.set_yticks(range(rows), [str(r + 1) for r in range(rows)] if first else [], fontsize=7)
    ax.set_xlabel("unit", fontsize=8)
    if first:
        ax.set_ylabel("input feature", fontsize=8)


# ---------------------------------------------------------------- widgets


class _Source:
    """Data for an exploration's positions: the student's where it runs, else the reference run's.

    Each position is computed once (cached). `start()` before a redraw; after it, `missing` and
    `errors` say which of the data just used did not come from the student's code, and why."""

    def __init__(self) -> None:
        self._cache: dict[Any, tuple[Any, str, str]] = {}  # key -> (value, name not own, error)
        self._reference: dict | None = None
        self.missing: list[str] = []
        self.errors: list[str] = []

    def start(self) -> None:
        self.missing, self.errors = [], []

    @property
    def own(self) -> bool:
        return not self.missing

    def get(self, key: Any, name: str, own: Callable[[], Any], fallback: Callable[[dict], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = self._fetch(name, own, fallback)
        value, not_own, error = self._cache[key]
        if not_own and not_own not in self.missing:
            self.missing.append(not_own)
        if error and error not in self.errors:
            self.errors.append(error)
        return value

    def _fetch(self, name: str, own: Callable[[], Any], fallback: Callable[[dict], Any]) -> tuple[Any, str, str]:
        try:
            return own(), "", ""
        except explore.NotWritten as missing:
            value, error = self._fallback(fallback)
            return value, missing.name, error
        except Exception as error:  # noqa: BLE001 (a student's code may raise anything: named, never a crash)
            value, _ = self._fallback(fallback)
            return value, name, f"{name} raised {_error_text(error)} (the plot shows the reference run)"

    def _fallback(self, fallback: Callable[[dict], Any]) -> tuple[Any, str]:
        try:
            if self._reference is None:
                self._reference = explore.reference_data("l2")
            return fallback(self._reference), ""
        except (FileNotFoundError, KeyError) as error:
            return None, str(error)


def _error_text(error: BaseException, limit: int = 300) -> str:
    """The error as "TypeError: message", short: from Keras's wrapper only what it encountered, no colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    if "Error encountered:" in text:
        text = text.split("Error encountered:", 1)[1].split("Arguments received by", 1)[0]
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}"


def _show_status(source: _Source, banner: Any, problems: Any) -> None:
    """Whose code the plot shows (banner), and a red line per error."""
    names = "</code> and <code>".join(html.escape(n) for n in source.missing)
    banner.value = explore.banner(own=source.own, missing=names).value
    problems.value = "<br>".join(
        f'<span style="color:{ERROR_COLOUR}">{html.escape(text)}</span>' for text in source.errors
    )


def _box(controls: list, banner: Any, problems: Any, plot: explore.Plot) -> Any:
    from IPython.display import display

    box = explore.box([*controls, banner, problems, plot.output])
    box.plot, box.banner, box.problems, box.controls = plot, banner, problems, controls  # for tests and benches
    display(box)
    return box


def units_and_parameters(ns: dict) -> Any:
    """Sliders for units and input width: your Linear's weights (shapes, initial values) and your
    dense_param_count against units."""
    if explore.skip_when_graded("Units, input width and parameters"):
        return None
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    units = widgets.SelectionSlider(options=UNITS, value=4, description="units", continuous_update=False, style=style)
    width = widgets.IntSlider(
        value=3, min=WIDTHS[0], max=WIDTHS[-1], description="input width", continuous_update=False, style=style
    )
    source, banner, problems, plot = _Source(), explore.banner(own=True), widgets.HTML(), explore.Plot()

    def counts_at(w: int) -> Any:
        return source.get(
            ("counts", w), "dense_param_count", lambda: param_counts(ns, w), lambda ref: ref["counts"][str(w)]
        )

    def redraw(_: Any = None) -> None:
        source.start()
        counts = {w: counts_at(w) for w in WIDTHS}
        own_counts = source.own
        weights = source.get(
            ("weights", width.value, units.value),
            "Linear",
            lambda: layer_weights(ns, width.value, units.value),
            lambda ref: ref["weights"][_weights_key(width.value, units.value)],
        )
        data = {
            "width": width.value,
            "units": units.value,
            "counts": counts,
            "weights": weights,
            "own_counts": own_counts,
            "own_weights": "Linear" not in source.missing,
        }
        _show_status(source, banner, problems)
        plot.draw(lambda figure: paint_units(figure, data))

    units.observe(redraw, names="value")
    width.observe(redraw, names="value")
    redraw()
    return _box([units, width], banner, problems, plot)


def training_step(ns: dict) -> Any:
    """A step slider, a learning rate and an optimizer: your Linear's kernel before and after a
    training step, the change, and the loss."""
    if explore.skip_when_graded("A layer's weights before and after a training step"):
        return None
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    step = widgets.IntSlider(value=1, min=1, max=STEPS, description="step", continuous_update=False, style=style)
    rate = widgets.SelectionSlider(
        options=LEARNING_RATES, value=0.1, description="learning rate", continuous_update=False, style=style
    )
    optimizer = widgets.ToggleButtons(options=OPTIMIZERS, value="SGD", description="optimizer", style=style)
    source, banner, problems, plot = _Source(), explore.banner(own=True), widgets.HTML(), explore.Plot()

    def view(run: dict, own: bool) -> dict:
        shown = min(step.value, len(run["changes"]))
        return {**run, "step": shown, "optimizer": optimizer.value, "learning_rate": rate.value, "own": own}

    def redraw(_: Any = None) -> None:
        source.start()
        chosen, rate_now = optimizer.value, rate.value

        def progress(partial: dict) -> None:  # a new run: draw the chosen step as soon as it is done
            if len(partial["changes"]) == step.value:
                plot.draw(lambda figure: paint_training(figure, view(partial, True)))

        run = source.get(
            (chosen, rate_now),
            "Linear",
            lambda: training_run(ns, chosen, rate_now, on_step=progress),
            lambda ref: ref["training"][_run_key(chosen, rate_now)],
        )
        _show_status(source, banner, problems)
        if run is None:
            plot.draw(lambda figure: figure.text(0.5, 0.5, "no reference run here", ha="center"))
            return
        data = view(run, source.own)
        plot.draw(lambda figure: paint_training(figure, data))

    for control in (step, rate, optimizer):
        control.observe(redraw, names="value")
    redraw()
    return _box([step, rate, optimizer], banner, problems, plot)
