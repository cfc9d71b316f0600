"""Level 1 explorations: gradient descent by hand, on a problem small enough to see.

Both run on one small one-feature regression (`toy_problem()`), so that the weights (w, b) are two
numbers and the loss over them is a surface that fits on a page:

- `gradient_step(ns)`: the loss over (w, b) as contours, from your `linear_forward` and `mse_loss`.
  A Step button takes one step with your `sgd_step`; an arrow shows the step about to be taken,
  -lr times the gradient from your `tape_gradients` (or `analytic_gradients`). Controls: the
  learning rate (a slider; it replays the steps taken so far), Step, Reset.
- `learning_rate(ns)`: your `train_linear_regression` from zero weights, for a learning rate and
  a number of steps (two sliders): the loss curve, and the fitted line against the data.

In the notebook, after the exercises they use:

    from tfladder.explore import l1
    l1.gradient_step(globals())
    l1.learning_rate(globals())

While a function they need is not written, they show the reference run that `record(ns)`
computed for every control position (`python -m tfladder.course.exploration_data 01_low_level_ops`).
Nothing here computes an exercise's result: every number comes from the notebook's functions.
"""

import html
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tfladder import data, explore
from tfladder.explore import NotWritten

LEVEL = "l1"
LEARNING_RATES = (0.01, 0.03, 0.1, 0.2, 0.3, 0.45, 0.55)  # this problem diverges above about 0.5
DEFAULT_RATE = 0.1
STEP_CHOICES = (1, 3, 10, 30, 100)  # learning_rate's second slider
DEFAULT_STEPS = 30
WALK_STEPS = 30  # gradient_step: Step presses before Reset is needed
START = (0.0, 0.0)  # (w, b) where every walk and every training run starts, as the exercise's loop does
W_GRID = (-1.5, 3.5)  # the loss surface's extent: the start and the minimum, with a margin
B_GRID = (-3.0, 2.0)
GRID_POINTS = 21
DIGITS = 4  # significant digits kept in exploration.json (and in live runs, so both look alike)

# The toy problem: y = TRUE_W * x + TRUE_B + noise, x ~ N(1, 0.5^2). The offset and the narrow spread
# make the loss surface a long, tilted valley, where the learning rate's effect shows.
TRUE_W, TRUE_B = 2.0, -1.0
X_SCALE, X_SHIFT = 0.5, 1.0
PROBLEM_SIZE, PROBLEM_NOISE, PROBLEM_SEED = 40, 0.4, 11

MUTED, TRUE_COLOUR, ERROR_COLOUR = "#9e9e9e", "#555555", "#b00020"


def rate_label(lr: float) -> str:
    """The key of a learning rate in exploration.json ("0.1")."""
    return f"{lr:g}"


def toy_problem() -> tuple[np.ndarray, np.ndarray]:
    """X (n, 1) and y (n, 1), float64 as numpy makes them, from `tfladder.data` with a fixed seed."""
    # data.linear_regression draws x ~ N(0, 1): choose its weights so that, after x -> scale * x + shift,
    # the data follows TRUE_W and TRUE_B
    made = data.linear_regression(
        n=PROBLEM_SIZE,
        d=1,
        noise=PROBLEM_NOISE,
        seed=PROBLEM_SEED,
        dtype="float64",
        w=[TRUE_W * X_SCALE],
        b=[TRUE_B + TRUE_W * X_SHIFT],
    )
    return made.X * X_SCALE + X_SHIFT, made.y


# --- running the student's functions ------------------------------------------------------------


class Broken(Exception):
    """The student's function raised something other than NotImplementedError, or returned nonsense."""

    def __init__(self, name: str, error: BaseException):
        super().__init__(name)
        self.name, self.error = name, error

    def text(self) -> str:
        message = str(self.error).strip().splitlines()
        first = message[0][:300] if message else ""
        return f"Your <code>{self.name}</code> raised {type(self.error).__name__}: {html.escape(first)}"


def student(ns: dict, name: str, *args: Any, **kwargs: Any) -> Any:
    """ns[name](*args, **kwargs); NotWritten when it is missing or not written, Broken when it fails."""
    try:
        return explore.call(ns, name, *args, **kwargs)
    except NotWritten:
        raise
    except Exception as error:  # any error of the student's code: shown, not raised
        raise Broken(name, error) from error


def numbers(name: str, value: Any, size: int) -> list[float]:
    """`value` (a tensor, Variable, array or list) as `size` rounded floats; Broken(name) if it is not."""
    try:
        flat = np.asarray(value, dtype=np.float64).ravel()
    except Exception as error:  # whatever the student returned: named, not raised
        raise Broken(name, TypeError(f"returned {type(value).__name__}, not numbers ({error})")) from error
    if flat.size != size:
        raise Broken(name, ValueError(f"returned {flat.size} numbers where {size} were expected"))
    return [float(f"{x:.{DIGITS}g}") for x in flat]


def parts(name: str, value: Any, count: int) -> tuple:
    """The `count` items of a returned tuple; Broken(name) when it is not one."""
    if not isinstance(value, tuple | list) or len(value) != count:
        raise Broken(name, TypeError(f"returned {type(value).__name__}, not a tuple of {count}"))
    return tuple(value)


def weights(w: float, b: float) -> tuple[Any, Any]:
    """Fresh float32 Variables w (1, 1) and b (1,), as the exercises' tests pass them."""
    import tensorflow as tf

    return tf.Variable([[w]], dtype=tf.float32), tf.Variable([b], dtype=tf.float32)


def first_unwritten(ns: dict, fallback: str) -> str:
    """The first function, in notebook order up to `fallback`, that is not written yet (else `fallback`).

    `fallback` raised NotImplementedError; it may only call one that is not written: name that one.
    """
    X, y = np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [0.0], [-1.0]])
    probes: list[tuple[str, Callable[[], Any]]] = [
        ("linear_forward", lambda: student(ns, "linear_forward", X, *weights(0.5, 0.0))),
        ("mse_loss", lambda: student(ns, "mse_loss", y, np.zeros((3, 1), np.float32))),
        ("tape_gradients", lambda: gradients(ns, X, y, *weights(0.5, 0.0))),
        ("sgd_step", lambda: student(ns, "sgd_step", X, y, *weights(0.5, 0.0), 0.1)),
        ("train_linear_regression", lambda: student(ns, "train_linear_regression", X, y, lr=0.1, steps=1)),
    ]
    for name, probe in probes:
        if name == fallback:
            break
        try:
            probe()
        except NotWritten:
            return name
        except Broken:
            pass
    return fallback


def gradients(ns: dict, X: np.ndarray, y: np.ndarray, w: Any, b: Any) -> tuple[list[float], list[float]]:
    """(dw, db) from the student's tape_gradients, or from analytic_gradients while that is not written."""
    try:
        name = "tape_gradients"
        _, dw, db = parts(name, student(ns, name, X, y, w, b), 3)
    except NotWritten:
        try:
            name = "analytic_gradients"
            dw, db = parts(name, student(ns, name, X, y, w, b), 2)
        except NotWritten:
            raise NotWritten("tape_gradients") from None
    return numbers(name, dw, 1), numbers(name, db, 1)


# --- the data each view draws -------------------------------------------------------------------


def loss_grid(ns: dict, points: int = GRID_POINTS) -> dict:
    """The loss mse_loss(y, linear_forward(X, w, b)) on a grid of (w, b): {"w": [...], "b": [...], "loss": rows}."""
    X, y = toy_problem()
    ws, bs = np.linspace(*W_GRID, points), np.linspace(*B_GRID, points)
    rows = []
    for b in bs:
        row = []
        for w in ws:
            y_hat = student(ns, "linear_forward", X, *weights(float(w), float(b)))
            row += numbers("mse_loss", student(ns, "mse_loss", y, y_hat), 1)
        rows.append(row)
    return {"w": [round(float(w), 6) for w in ws], "b": [round(float(b), 6) for b in bs], "loss": rows}


def walk(ns: dict, lr: float, steps: int) -> dict:
    """`steps` calls of sgd_step from START: the points visited, the loss at each, the gradient at each."""
    X, y = toy_problem()
    w, b = weights(*START)
    path: dict[str, list[float]] = {"w": [], "b": [], "loss": [], "dw": [], "db": []}
    for k in range(steps + 1):
        y_hat = student(ns, "linear_forward", X, w, b)
        path["loss"] += numbers("mse_loss", student(ns, "mse_loss", y, y_hat), 1)
        dw, db = gradients(ns, X, y, w, b)
        path["dw"] += dw
        path["db"] += db
        path["w"] += numbers("sgd_step", w, 1)
        path["b"] += numbers("sgd_step", b, 1)
        if k < steps:
            student(ns, "sgd_step", X, y, w, b, lr)
    return path


def training_run(ns: dict, lr: float, steps: int) -> dict:
    """train_linear_regression(X, y, lr, steps) on the toy problem: {"losses": [...], "w": ..., "b": ...}."""
    X, y = toy_problem()
    name = "train_linear_regression"
    w, b, losses = parts(name, student(ns, name, X, y, lr=lr, steps=steps), 3)
    return {"losses": numbers(name, losses, steps), "w": numbers(name, w, 1)[0], "b": numbers(name, b, 1)[0]}


def record(ns: dict) -> dict:
    """Every control position of both explorations, computed with the functions in `ns`."""
    return {
        "gradient_step": {
            "surface": loss_grid(ns),
            "walks": {rate_label(lr): walk(ns, lr, WALK_STEPS) for lr in LEARNING_RATES},
        },
        "learning_rate": {
            "runs": {
                rate_label(lr): {str(steps): training_run(ns, lr, steps) for steps in STEP_CHOICES}
                for lr in LEARNING_RATES
            }
        },
    }


class Shown(NamedTuple):
    """What a view shows: the data to paint (None if there is none), whose it is, and what went wrong."""

    data: Any
    own: bool
    missing: str = ""  # the function to write, while the reference run is shown
    problem: str = ""  # a red line: the student's error, or a missing reference file


def choose(ns: dict, own: Callable[[], Any], reference: Callable[[], Any]) -> Shown:
    """own() when the student's functions run; else reference() with the reason."""
    try:
        return Shown(own(), True)
    except NotWritten as missing:
        name, problem = first_unwritten(ns, missing.name), ""
    except Broken as broken:
        name, problem = broken.name, broken.text()
    try:
        return Shown(reference(), False, name, problem)
    except (OSError, KeyError, IndexError, TypeError, ValueError) as error:
        return Shown(None, False, name, "<br>".join(filter(None, [problem, html.escape(str(error))])))


def walk_view(ns: dict, lr: float, taken: int, cache: dict) -> Shown:
    """The surface and the walk of `taken` steps at `lr`: the student's, or the reference run's."""

    def own() -> dict:
        # the walk first: it names the first missing function cheaply; one step at least, so that a
        # broken sgd_step shows before Step is pressed
        path = {k: v[: taken + 1] for k, v in walk(ns, lr, max(taken, 1)).items()}
        key = (ns.get("linear_forward"), ns.get("mse_loss"))
        if cache.get("key") != key:  # the grid costs a few hundred calls: once per pair of functions
            cache["surface"], cache["key"] = loss_grid(ns), key
        return {"surface": cache["surface"], "path": path}

    def reference() -> dict:
        stored = explore.reference_data(LEVEL)["gradient_step"]
        full = stored["walks"][rate_label(lr)]
        return {"surface": stored["surface"], "path": {k: v[: taken + 1] for k, v in full.items()}}

    return choose(ns, own, reference)


def training_view(ns: dict, lr: float, steps: int) -> Shown:
    """The training run at (lr, steps): the student's, or the reference run's."""

    def reference() -> dict:
        return explore.reference_data(LEVEL)["learning_rate"]["runs"][rate_label(lr)][str(steps)]

    return choose(ns, lambda: training_run(ns, lr, steps), reference)


# --- drawing ------------------------------------------------------------------------------------


def paint_data(ax: Any, w: float, b: float, label: str, colour: str, earlier: list[tuple[float, float]]) -> None:
    """The toy data, the line it was made from, earlier lines (faint) and the line of (w, b)."""
    X, y = toy_problem()
    ax.scatter(X[:, 0], y[:, 0], s=10, color=MUTED, zorder=1)
    ax.axline(
        (0.0, TRUE_B), slope=TRUE_W, color=TRUE_COLOUR, ls="--", lw=1, label=f"made with w={TRUE_W:g}, b={TRUE_B:g}"
    )
    for w_old, b_old in earlier:
        if np.isfinite(w_old) and np.isfinite(b_old):
            ax.axline((0.0, b_old), slope=w_old, color=colour, lw=0.8, alpha=0.25)
    if np.isfinite(w) and np.isfinite(b):
        ax.axline((0.0, b), slope=w, color=colour, lw=2, label=label)
    pad = 0.5
    ax.set_xlim(float(X.min()) - pad, float(X.max()) + pad)
    ax.set_ylim(float(y.min()) - 2 * pad, float(y.max()) + 2 * pad)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper left", fontsize=8)


def paint_walk(figure: Any, view: dict, lr: float, colour: str) -> None:
    """Left: the loss surface, the path so far and the next step's arrow. Right: the line of the last point."""
    grid, path = view["surface"], view["path"]
    left, right = figure.subplots(1, 2)
    loss = np.asarray(grid["loss"], dtype=np.float64)
    finite = loss[np.isfinite(loss) & (loss > 0)]
    if finite.size and finite.max() > finite.min():
        levels = np.geomspace(finite.min(), finite.max(), 14)
        left.contourf(grid["w"], grid["b"], loss, levels=levels, cmap="Blues", alpha=0.7)
        left.contour(grid["w"], grid["b"], loss, levels=levels, colors="#4a6fa5", linewidths=0.4)
    left.plot(path["w"], path["b"], "-o", color=colour, ms=3, lw=1, label="steps of sgd_step")
    w, b, dw, db = path["w"][-1], path["b"][-1], path["dw"][-1], path["db"][-1]
    left.plot([w], [b], "o", color=colour, ms=7)
    left.quiver(
        [w], [b], [-lr * dw], [-lr * db], angles="xy", scale_units="xy", scale=1, color="#d62728", width=0.012, zorder=5
    )
    left.plot([], [], color="#d62728", lw=2, label="next step: -lr * gradient")
    left.set_xlim(*W_GRID)
    left.set_ylim(*B_GRID)
    left.set_aspect("equal")
    left.set_xlabel("w")
    left.set_ylabel("b")
    left.legend(loc="upper right", fontsize=8)
    taken = len(path["w"]) - 1
    outside = not (W_GRID[0] <= w <= W_GRID[1] and B_GRID[0] <= b <= B_GRID[1])
    left.set_title(f"lr {lr:g}, {taken} steps: loss {path['loss'][-1]:.4g}" + (" (off the plot)" if outside else ""))
    earlier = list(zip(path["w"][:-1], path["b"][:-1]))[-5:]
    paint_data(right, w, b, f"w={w:.3g}, b={b:.3g}", colour, earlier)
    right.set_title("the line of the current (w, b)")


def paint_training(figure: Any, run: dict, lr: float, steps: int, colour: str) -> None:
    """Left: the loss before each step (log scale). Right: the fitted line against the data."""
    left, right = figure.subplots(1, 2)
    losses = np.asarray(run["losses"], dtype=np.float64)
    left.plot(np.arange(len(losses)), losses, "-o" if len(losses) <= 30 else "-", color=colour, ms=3)
    if np.all(losses[np.isfinite(losses)] > 0):
        left.set_yscale("log")
    left.set_xlim(-0.5, max(steps - 0.5, 1.0))
    left.set_xlabel("step")
    left.set_ylabel("MSE before the step")
    last = f"{losses[-1]:.4g}" if losses.size else "-"
    left.set_title(f"lr {lr:g}: loss {losses[0]:.4g} -> {last}" if losses.size else f"lr {lr:g}")
    paint_data(right, run["w"], run["b"], f"after {steps} steps", colour, [START])
    right.set_title(f"fitted: w={run['w']:.3g}, b={run['b']:.3g}")


# --- widgets ------------------------------------------------------------------------------------


def rate_slider() -> Any:
    import ipywidgets as widgets

    return widgets.SelectionSlider(
        options=[(rate_label(lr), lr) for lr in LEARNING_RATES], value=DEFAULT_RATE, description="learning rate"
    )


BANNERS: dict[tuple[bool, str], str] = {}


def banner_text(own: bool, missing: str) -> str:
    """explore.banner's text, made once per (own, missing): a redraw updates one HTML widget, not a new one."""
    if (own, missing) not in BANNERS:
        made = explore.banner(own, missing)
        BANNERS[own, missing] = made.value
        made.close()
    return BANNERS[own, missing]


def show(shown: Shown, head: Any, problem: Any, plot: explore.Plot, paint: Callable[[Any], None]) -> None:
    """Update the banner and the red line, and draw (or clear the plot when there is nothing to draw)."""
    head.value = banner_text(shown.own, shown.missing)
    problem.value = f'<span style="color:{ERROR_COLOUR}">{shown.problem}</span>' if shown.problem else ""
    if shown.data is None:
        with plot.output:
            plot.output.clear_output()
        return
    plot.draw(paint)


def colour(shown: Shown) -> str:
    return explore.OWN_COLOUR if shown.own else explore.REFERENCE_COLOUR


def gradient_step(ns: dict) -> Any:
    """One step of gradient descent at a time on the loss surface of a one-feature regression."""
    if explore.skip_when_graded("One gradient step at a time"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    rate = rate_slider()
    step = widgets.Button(description="Step", icon="step-forward", layout=widgets.Layout(width="90px"))
    reset = widgets.Button(description="Reset", icon="undo", layout=widgets.Layout(width="90px"))
    head, problem, plot = widgets.HTML(), widgets.HTML(), explore.Plot()
    state = {"taken": 0}
    cache: dict = {}

    def redraw(*_: Any) -> None:
        lr, taken = rate.value, state["taken"]
        shown = walk_view(ns, lr, taken, cache)
        step.disabled = taken >= WALK_STEPS
        show(shown, head, problem, plot, lambda figure: paint_walk(figure, shown.data, lr, colour(shown)))

    def advance(_: Any) -> None:
        state["taken"] = min(state["taken"] + 1, WALK_STEPS)
        redraw()

    def restart(_: Any) -> None:
        state["taken"] = 0
        redraw()

    rate.observe(redraw, names="value")
    step.on_click(advance)
    reset.on_click(restart)
    redraw()
    box = explore.box([widgets.HBox([rate, step, reset]), head, problem, plot.output])
    display(box)
    return box


def learning_rate(ns: dict) -> Any:
    """Training from zero weights for a chosen learning rate and number of steps."""
    if explore.skip_when_graded("Learning rate and number of steps"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    rate = rate_slider()
    steps = widgets.SelectionSlider(options=list(STEP_CHOICES), value=DEFAULT_STEPS, description="steps")
    head, problem, plot = widgets.HTML(), widgets.HTML(), explore.Plot()

    def redraw(*_: Any) -> None:
        lr, count = rate.value, steps.value
        shown = training_view(ns, lr, count)
        show(shown, head, problem, plot, lambda figure: paint_training(figure, shown.data, lr, count, colour(shown)))

    rate.observe(redraw, names="value")
    steps.observe(redraw, names="value")
    redraw()
    box = explore.box([widgets.HBox([rate, steps]), head, problem, plot.output])
    display(box)
    return box
