"""Level 4's explorations: when a `tf.function` traces, and what the graph buys.

    from tfladder.explore import l4
    l4.retracing(globals())          # after Exercise 2: a retracing counter
    l4.eager_vs_graph(globals())     # after Exercise 2: eager against graph time for one step

`retracing` calls two `tf.function`s made from the student's code with the inputs the student
picks (batch size, dtype of x and y, and y as a tensor or as a Python number) and counts their
traces: `tf.function(train_step)` (Exercise 1 under a plain decorator: every new shape, dtype or
Python value traces again) and the step `make_train_step` returns (Exercise 2: with an
`input_signature` it traces once and refuses what does not fit the signature). Changing a control
calls both with the new inputs; Call calls again with the same inputs; Reset starts from new functions.

`eager_vs_graph` times the same update both ways on a toy model of 1 to 8 Dense layers: the
student's `train_step` run eagerly, and the step of `make_train_step` (its first call, which traces,
and its later calls). The more small ops a step has, the more the graph saves.

While a function is not written yet, the precomputed reference run (`exploration.json`) is shown.
The retracing counter replays it: each input the reference was called with is recorded with the
graph it ran (or the refusal), so any sequence of calls is counted as TensorFlow would.
"""

import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from tfladder import explore

# -- The retracing counter's controls and the inputs they make ------------------------------------
BATCH_SIZES = tuple(range(1, 9))
DTYPES = ("float32", "float64")
TARGETS = ("tensor", "0.0", "1.0")  # y: the batch's targets as a tensor, or one Python float
TARGET_LABELS = {
    "tensor": "the batch's targets (a tensor)",
    "0.0": "the Python float 0.0",
    "1.0": "the Python float 1.0",
}
INPUT_DIM = 3
DATA_ROWS = 8  # x and y are the first rows of one fixed data set
LANES = ("plain", "compiled")
LANE_FUNCTIONS = {"plain": "train_step", "compiled": "make_train_step"}
LANE_LABELS = {"plain": "tf.function(train_step)", "compiled": "step from make_train_step"}
LANE_COLOURS = {"plain": "#c2571a", "compiled": "#1f5fa8"}
ERROR_COLOUR = "#b00020"

# -- Eager against graph: the toy models and batches timed ----------------------------------------
TIMING_BATCHES = (16, 128, 1024, 8192)
DEPTHS = (1, 3, 8)  # Dense layers in the toy model (16 took over a second to build and trace)
WIDTH = 32
TIMING_DIM = 8
TIME_BUDGET = 0.05  # seconds of steady-state calls timed per way (at least MIN_CALLS calls)
MIN_CALLS, MAX_CALLS = 2, 40


class Position(NamedTuple):
    """The inputs of one call of the retracing counter."""

    batch: int
    dtype: str
    target: str

    @property
    def key(self) -> str:
        return f"{self.batch}|{self.dtype}|{self.target}"

    @property
    def label(self) -> str:
        y = f"y {self.dtype}" if self.target == "tensor" else f"y = {self.target}"
        return f"x ({self.batch}, {INPUT_DIM}) {self.dtype}, {y}"


def positions() -> list[Position]:
    """Every control position of the retracing counter, in the order `record` visits them."""
    return [Position(b, d, t) for b in BATCH_SIZES for d in DTYPES for t in TARGETS]


def sig(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits (exploration.json stays small and stable)."""
    return float(f"{value:.{digits}g}")


def seeded_model(depth: int, input_dim: int, width: int = WIDTH) -> Any:
    """A toy Sequential of `depth` Dense layers (ReLU between, one output), seeded without touching
    the global random state (each layer gets an initializer of its own seed)."""
    import tensorflow as tf

    layers: list[Any] = [tf.keras.Input((input_dim,))]
    for i in range(depth):
        last = i == depth - 1
        layers.append(
            tf.keras.layers.Dense(
                1 if last else width,
                activation=None if last else "relu",
                kernel_initializer=tf.keras.initializers.GlorotUniform(seed=100 + i),
            )
        )
    return tf.keras.Sequential(layers)


def parts(depth: int = 1, input_dim: int = INPUT_DIM) -> tuple[Any, Any, Any]:
    """A fresh (model, optimizer, loss_fn) for one function under study (SGD: it traces once)."""
    import tensorflow as tf

    return seeded_model(depth, input_dim), tf.keras.optimizers.SGD(0.01), tf.keras.losses.MeanSquaredError()


def batch_inputs(position: Position) -> tuple[Any, Any]:
    """x and y for one call: the first rows of a fixed regression data set, or y a Python float."""
    import tensorflow as tf

    from tfladder import data

    case = data.linear_regression(n=DATA_ROWS, d=INPUT_DIM, seed=0)
    x = tf.constant(case.X[: position.batch], dtype=position.dtype)
    y = (
        tf.constant(case.y[: position.batch], dtype=position.dtype)
        if position.target == "tensor"
        else float(position.target)
    )
    return x, y


class StudentError(Exception):
    """The student's function raised something other than NotImplementedError."""

    def __init__(self, name: str, error: BaseException):
        super().__init__(f"{name} raised {type(error).__name__}: {short(str(error))}")
        self.name = name


def short(text: str, limit: int = 160) -> str:
    """The gist of an error message: its first line (or the part tf.function quotes), cut to `limit`."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or [""]
    first = lines[0]
    if first == "in user code:":  # an error raised while tracing: TensorFlow's last line names it
        first = re.sub(r"^\w+(Error|Exception): ", "", lines[-1])
    if first.startswith("Binding inputs to tf.function failed") and first.count("`") >= 2:
        first = first.split("`")[1]  # "Can not cast TensorSpec(...) to TensorSpec(...)"
    first = first.replace(", name=None", "")
    return first if len(first) <= limit else first[: limit - 3] + "..."


def fits_signature(function: Any, args: tuple[Any, ...]) -> bool:
    """Do `args` fit the `input_signature` of a tf.function (True when it has none)?"""
    import tensorflow as tf

    signature = getattr(function, "input_signature", None)
    if not signature:
        return True
    if len(signature) != len(args):
        return False
    for spec, arg in zip(signature, args):
        try:
            if not spec.is_compatible_with(tf.convert_to_tensor(arg)):
                return False
        except (TypeError, ValueError, AttributeError):
            return False
    return True


class Outcome(NamedTuple):
    """What one call did: "traced", "reused" (ran a graph traced before) or "refused"."""

    kind: str
    message: str = ""
    graph: str = ""  # the concrete function that ran (its name), for `record`


class LiveLane:
    """One of the student's tf.functions, called for real; counts its traces."""

    def __init__(self, name: str, function: Any, call: Callable[[Any, Position], tuple[Any, ...]]):
        if not callable(getattr(function, "experimental_get_tracing_count", None)):
            raise StudentError(
                name,
                TypeError(
                    f"it gave a {type(function).__name__}, not a tf.function: decorate the step with @tf.function"
                ),
            )
        self.name, self.function, self.arguments = name, function, call

    def call(self, position: Position) -> Outcome:
        args = self.arguments(self.function, position)
        before = self.function.experimental_get_tracing_count()
        try:
            self.function(*args)
        # any error of the student's code is reported, not raised
        except Exception as error:
            if not fits_signature(self.function, args):
                return Outcome("refused", short(str(error)))
            raise StudentError(self.name, error) from error
        traced = self.function.experimental_get_tracing_count() > before
        try:
            graph = str(self.function.get_concrete_function(*args).name)
        except Exception:  # noqa: BLE001 (only `record` needs the name)
            graph = ""
        return Outcome("traced" if traced else "reused", graph=graph)


def live_lane(ns: dict, lane: str) -> LiveLane:
    """The student's function of `lane` on a fresh model; NotWritten or StudentError when it cannot run."""
    import tensorflow as tf

    name = LANE_FUNCTIONS[lane]
    model, optimizer, loss_fn = parts()
    if lane == "plain":
        probe = parts()  # is train_step written? one eager step on a model of its own
        running(name, lambda: explore.call(ns, name, *probe, *batch_inputs(Position(2, "float32", "tensor"))))
        function = tf.function(ns[name])
        return LiveLane(name, function, lambda f, p: (model, optimizer, loss_fn, *batch_inputs(p)))
    step = running(name, lambda: explore.call(ns, name, model, optimizer, loss_fn, INPUT_DIM))
    return LiveLane(name, step, lambda f, p: batch_inputs(p))


def trace_table(ns: dict, lane: str) -> dict[str, int | str]:
    """For every position, in order on a fresh function: the graph it ran (numbered by first
    appearance) or the refusal's message. Replaying it counts traces as TensorFlow does."""
    runner = live_lane(ns, lane)
    graphs: dict[str, int] = {}
    table: dict[str, int | str] = {}
    for position in positions():
        outcome = runner.call(position)
        if outcome.kind == "refused":
            table[position.key] = outcome.message
        else:
            table[position.key] = graphs.setdefault(outcome.graph or position.key, len(graphs) + 1)
    return table


def replay(table: dict[str, int | str], calls: list[Position]) -> list[Outcome]:
    """The outcome of each call in `calls`, from a reference trace table."""
    seen: set[int] = set()
    outcomes = []
    for position in calls:
        entry = table[position.key]
        if isinstance(entry, str):
            outcomes.append(Outcome("refused", entry))
        else:
            outcomes.append(Outcome("reused" if entry in seen else "traced"))
            seen.add(entry)
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    """Calls, traces and refusals so far."""
    return {
        "calls": len(outcomes),
        "traces": sum(o.kind == "traced" for o in outcomes),
        "refused": sum(o.kind == "refused" for o in outcomes),
    }


# -- Eager against graph --------------------------------------------------------------------------
def running(name: str, work: Callable[[], Any]) -> Any:
    """work(), which runs the student's `name`: NotWritten while it is not written, StudentError
    (naming it) for any other error."""
    try:
        return work()
    except (explore.NotWritten, StudentError):
        raise
    except NotImplementedError:
        raise explore.NotWritten(name) from None
    except Exception as error:
        raise StudentError(name, error) from error


class TimedPair:
    """The student's eager train_step and compiled step on one toy model and batch, ready to time."""

    def __init__(self, ns: dict, batch: int, depth: int):
        import numpy as np
        import tensorflow as tf

        rng = np.random.default_rng(batch * 100 + depth)
        self.x = tf.constant(rng.normal(size=(batch, TIMING_DIM)), tf.float32)
        self.y = tf.constant(rng.normal(size=(batch, 1)), tf.float32)
        self.ns, self.batch, self.depth = ns, batch, depth
        self.parts = parts(depth, TIMING_DIM)  # one model for both ways: building a second one cost a tenth of a second
        self.eager_once()  # raises NotWritten while train_step is not written
        self.step = running("make_train_step", lambda: explore.call(ns, "make_train_step", *self.parts, TIMING_DIM))
        if not callable(self.step):
            raise StudentError("make_train_step", TypeError(f"it returned {type(self.step).__name__}, not a function"))
        start = time.perf_counter()
        self.graph_once()
        self.first_ms = 1000 * (time.perf_counter() - start)

    def eager_once(self) -> None:
        running("train_step", lambda: explore.call(self.ns, "train_step", *self.parts, self.x, self.y))

    def graph_once(self) -> None:
        running("make_train_step", lambda: self.step(self.x, self.y))

    def measure(self, budget: float | None = None) -> dict[str, float]:
        """Milliseconds per step (the fastest steady-state call), eager and graph, and the first graph call."""
        budget = TIME_BUDGET if budget is None else budget
        return {
            "eager_ms": sig(per_call_ms(self.eager_once, budget), 3),
            "graph_ms": sig(per_call_ms(self.graph_once, budget), 3),
            "graph_first_ms": sig(self.first_ms, 3),
        }


def per_call_ms(function: Callable[[], None], budget: float) -> float:
    """Milliseconds of the fastest call of `function` (the least disturbed by other work), called until
    `budget` seconds have passed."""
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < MAX_CALLS and (len(times) < MIN_CALLS or time.perf_counter() - started < budget):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return min(times)


def layers(depth: int) -> str:
    return f"{depth} Dense layer{'s' if depth > 1 else ''}"


def timing_key(batch: int, depth: int) -> str:
    return f"{batch}|{depth}"


def timing(ns: dict, batch: int, depth: int, budget: float | None = None) -> dict[str, float]:
    """Eager and graph time of one step on a toy model of `depth` layers and a batch of `batch` rows."""
    return TimedPair(ns, batch, depth).measure(budget)


def record(ns: dict) -> dict:
    """The reference run of both explorations, computed with the functions in `ns`."""
    return {
        "retracing": {lane: trace_table(ns, lane) for lane in LANES},
        "timing": {timing_key(b, d): timing(ns, b, d) for d in DEPTHS for b in TIMING_BATCHES},
    }


# -- Drawing --------------------------------------------------------------------------------------
def paint_retracing(figure: Any, data: dict) -> None:
    """Traces so far against calls so far, per function, and the last calls.

    data: {"calls": [Position], "outcomes": {lane: [Outcome]}, "labels": {lane: str}}
    """
    import numpy as np

    grid = figure.add_gridspec(1, 5)
    ax = figure.add_subplot(grid[0, :3])
    table = figure.add_subplot(grid[0, 3:])
    table.axis("off")
    calls: list[Position] = data["calls"]
    n = len(calls)
    steps = np.arange(1, n + 1)
    ax.plot([0, max(n, 1)], [0, max(n, 1)], ":", color="grey", lw=1, label="a trace on every call")
    markers = {"traced": "o", "reused": "o", "refused": "x"}
    for lane, outcomes in data["outcomes"].items():
        colour = LANE_COLOURS[lane]
        traces = np.cumsum([o.kind == "traced" for o in outcomes]) if outcomes else np.array([])
        summary = counts(outcomes)
        label = f"{data['labels'][lane]}: {summary['traces']} trace{'' if summary['traces'] == 1 else 's'}"
        ax.step(np.concatenate([[0], steps]), np.concatenate([[0], traces]), where="post", color=colour, label=label)
        for kind, marker in markers.items():
            chosen = [i for i, o in enumerate(outcomes) if o.kind == kind]
            if chosen:
                face = colour if kind == "traced" else "white" if kind == "reused" else colour
                ax.scatter(steps[chosen], traces[chosen], marker=marker, s=36, color=colour, facecolors=face, zorder=3)
    ax.set_xlim(0, max(n, 1) + 0.5)
    ax.set_ylim(0, max(n, 1) + 0.5)
    ax.set_xlabel("calls so far")
    ax.set_ylabel("traces so far")
    ax.set_title("● traced   ○ ran a graph traced before   × refused", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")

    lines = [f"calls so far: {n}"]
    for lane, outcomes in data["outcomes"].items():
        summary = counts(outcomes)
        lines.append(f"{LANE_LABELS[lane]}:")
        lines.append(f"  traces {summary['traces']}, refused {summary['refused']}")
    lines.append("")
    lines.append("last calls (plain | make_train_step):")
    if not calls:
        lines.append("  none yet: move a control or press Call")
    for i in range(max(0, n - 8), n):
        kinds = " | ".join(data["outcomes"][lane][i].kind for lane in data["outcomes"])
        lines.append(f"{i + 1:3d} {calls[i].label}")
        lines.append(f"      {kinds}")
    table.text(0, 1, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5, transform=table.transAxes)


def paint_timing(figure: Any, data: dict) -> None:
    """Milliseconds per step eager and graph at the chosen size, and the speed-up at every size measured.

    data: {"batch": int, "depth": int, "current": {...ms...}, "measured": {timing_key: {...ms...}}}
    """
    from matplotlib.ticker import NullLocator

    left, right = figure.subplots(1, 2)
    now = data["current"]
    names = ["eager: train_step", "graph: first call\n(traces)", "graph: later calls"]
    values = [now["eager_ms"], now["graph_first_ms"], now["graph_ms"]]
    colours = [LANE_COLOURS["plain"], "#9bb7dd", LANE_COLOURS["compiled"]]
    bars = left.barh(names[::-1], values[::-1], color=colours[::-1])
    left.set_xscale("log")
    left.set_xlim(min(values) / 2, max(values) * 6)
    for bar, value in zip(bars, values[::-1]):
        left.text(value * 1.1, bar.get_y() + bar.get_height() / 2, f"{value:.3g} ms", va="center", fontsize=8)
    left.set_xlabel("milliseconds per step (log scale)")
    speedup = now["eager_ms"] / now["graph_ms"]
    left.set_title(
        f"{layers(data['depth'])}, batch {data['batch']}: graph {speedup:.1f}x faster;\n"
        f"its first call (tracing) took as long as {now['graph_first_ms'] / now['eager_ms']:.0f} eager steps",
        fontsize=9,
    )

    highest = [speedup]
    for depth in DEPTHS:
        found = [
            (b, data["measured"][timing_key(b, depth)])
            for b in TIMING_BATCHES
            if timing_key(b, depth) in data["measured"]
        ]
        if found:
            xs = [b for b, _ in found]
            ys = [m["eager_ms"] / m["graph_ms"] for _, m in found]
            right.plot(xs, ys, "o-", label=layers(depth))
            highest.extend(ys)
    right.scatter(
        [data["batch"]], [speedup], s=160, facecolors="none", edgecolors="black", zorder=3, label="shown left"
    )
    right.axhline(1.0, color="grey", ls=":", lw=1)
    right.set_xscale("log", base=2)
    right.set_xticks(list(TIMING_BATCHES), [str(b) for b in TIMING_BATCHES])
    right.set_xlabel("batch size")
    right.set_ylabel("eager time / graph time")
    right.set_ylim(0, max(2.0, *highest) * 1.15)
    right.set_title("speed-up at the sizes measured", fontsize=9)
    right.legend(fontsize=8)
    for ax in (left, right):  # minor ticks on log axes cost a tenth of a second to lay out
        ax.xaxis.set_minor_locator(NullLocator())


def last_call_text(data: dict) -> str:
    """One sentence on what the last call did, per function (the refusal's reason included)."""
    calls: list[Position] = data["calls"]
    if not calls:
        return "No calls yet: move a control or press Call."
    said = {"traced": "traced a new graph", "reused": "ran a graph it had traced before", "refused": "refused it"}
    parts = []
    for lane, outcomes in data["outcomes"].items():
        outcome = outcomes[-1]
        reason = f" ({outcome.message})" if outcome.kind == "refused" and outcome.message else ""
        parts.append(f"{data['labels'][lane]} {said[outcome.kind]}{reason}")
    return f"Call {len(calls)}, {calls[-1].label}: " + "; ".join(parts) + "."


# -- Widgets --------------------------------------------------------------------------------------
def error_line(text: str) -> Any:
    import html

    import ipywidgets as widgets

    return widgets.HTML(f'<span style="color:{ERROR_COLOUR}">{html.escape(text)}</span>' if text else "")


class RetraceSession:
    """The calls made so far and what each function did: live where written, replayed otherwise."""

    def __init__(self, ns: dict):
        self.ns = ns
        self.calls: list[Position] = []
        self.outcomes: dict[str, list[Outcome]] = {lane: [] for lane in LANES}
        self.errors: dict[str, str] = {}
        self.missing: list[str] = []
        self.live: dict[str, LiveLane] = {}
        self._reference: dict | None = None
        for lane in LANES:
            try:
                self.live[lane] = live_lane(ns, lane)
            except explore.NotWritten as error:
                self.missing.append(error.name)
            except StudentError as error:
                self.errors[lane] = str(error)

    def reference(self) -> dict:
        if self._reference is None:
            self._reference = explore.reference_data("l4")["retracing"]
        return self._reference

    def call(self, position: Position) -> None:
        self.calls.append(position)
        for lane in LANES:
            runner = self.live.get(lane)
            if runner is not None:
                try:
                    self.outcomes[lane].append(runner.call(position))
                    continue
                except StudentError as error:
                    self.errors[lane] = f"{error} (with {position.label})"
                    del self.live[lane]
            self.outcomes[lane] = replay(self.reference()[lane], self.calls)

    def labels(self) -> dict[str, str]:
        return {lane: LANE_LABELS[lane] + (" (yours)" if lane in self.live else " (reference)") for lane in LANES}

    def data(self) -> dict:
        return {
            "calls": list(self.calls),
            "outcomes": {k: list(v) for k, v in self.outcomes.items()},
            "labels": self.labels(),
        }


def retracing(ns: dict) -> Any:
    """A retracing counter: pick a batch size, a dtype and y, and count the traces of your functions."""
    if explore.skip_when_graded("Retracing counter"):
        return None
    import html

    import ipywidgets as widgets
    from IPython.display import display

    batch = widgets.IntSlider(value=4, min=min(BATCH_SIZES), max=max(BATCH_SIZES), description="batch size")
    dtype = widgets.ToggleButtons(options=list(DTYPES), value="float32", description="dtype")
    target = widgets.Dropdown(options=[(TARGET_LABELS[t], t) for t in TARGETS], value="tensor", description="y")
    call_button = widgets.Button(description="Call", tooltip="call both functions again with the same inputs")
    reset_button = widgets.Button(description="Reset", tooltip="start again from new functions")
    plot = explore.Plot()
    state: dict[str, Any] = {}
    head = widgets.VBox()
    errors = widgets.VBox()
    status = widgets.HTML()

    def start() -> None:
        state["session"] = RetraceSession(ns)

    def show() -> None:
        session = state["session"]
        not_own = session.missing + [LANE_FUNCTIONS[lane] for lane in LANES if lane in session.errors]
        head.children = [explore.banner(not not_own, missing=" and ".join(not_own))]
        errors.children = [error_line(f"{text}; showing the reference run for it.") for text in session.errors.values()]
        data = session.data()
        status.value = html.escape(last_call_text(data))
        plot.draw(lambda figure: paint_retracing(figure, data))

    def call(_: Any = None) -> None:
        state["session"].call(Position(batch.value, dtype.value, target.value))
        show()

    def reset(_: Any = None) -> None:
        start()
        show()

    for control in (batch, dtype, target):
        control.observe(call, names="value")
    call_button.on_click(call)
    reset_button.on_click(reset)
    start()
    call()
    box = explore.box(
        [batch, dtype, target, widgets.HBox([call_button, reset_button]), head, errors, status, plot.output]
    )
    display(box)
    return box


def unwritten(ns: dict) -> list[str]:
    """Which of train_step and make_train_step still raise NotImplementedError (or are missing)."""
    names = []
    for name, args in (
        ("train_step", (*parts(), *batch_inputs(Position(2, "float32", "tensor")))),
        ("make_train_step", (*parts(), INPUT_DIM)),
    ):
        try:
            explore.call(ns, name, *args)
        except explore.NotWritten:
            names.append(name)
        except Exception:  # noqa: BLE001 (an error is reported where the function runs)
            pass
    return names


class TimingSession:
    """The sizes timed so far: the student's steps while they run, the reference run otherwise."""

    def __init__(self, ns: dict):
        self.ns = ns
        self.own = True
        self.pairs: dict[str, TimedPair] = {}
        self.measured: dict[str, dict[str, float]] = {}
        self.missing = ""
        self.error = ""

    def measure(self, batch: int, depth: int, again: bool = False) -> dict[str, float]:
        """The times at (batch, depth): measured once per size (again: once more), or the reference's."""
        key = timing_key(batch, depth)
        if self.own:
            try:
                if key not in self.pairs:
                    self.pairs[key] = TimedPair(self.ns, batch, depth)
                if again or key not in self.measured:
                    self.measured[key] = self.pairs[key].measure()
                return self.measured[key]
            except explore.NotWritten as error:
                self.missing = " and ".join(unwritten(self.ns)) or error.name
            except StudentError as error:
                self.error, self.missing = str(error), error.name
            # the student's code, run in a way the tests did not
            except Exception as error:  # noqa: BLE001
                self.error = f"{type(error).__name__}: {short(str(error))}"
            self.own = False
            self.measured = dict(explore.reference_data("l4")["timing"])
        return self.measured[key]

    def data(self, batch: int, depth: int, again: bool = False) -> dict:
        current = self.measure(batch, depth, again)
        return {"batch": batch, "depth": depth, "current": current, "measured": dict(self.measured)}


def eager_vs_graph(ns: dict) -> Any:
    """Eager against graph: one step's time, your train_step against your compiled step."""
    if explore.skip_when_graded("Eager or graph"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    batch = widgets.SelectionSlider(options=list(TIMING_BATCHES), value=128, description="batch size")
    depth = widgets.ToggleButtons(options=[(layers(d), d) for d in DEPTHS], value=3, description="model")
    again = widgets.Button(description="Time again", tooltip="measure the same two steps once more")
    plot = explore.Plot()
    head = widgets.VBox()
    errors = widgets.VBox()
    session = TimingSession(ns)

    def show(again_: bool = False) -> None:
        data = session.data(batch.value, depth.value, again_)
        head.children = [explore.banner(session.own, missing=session.missing or "train_step and make_train_step")]
        errors.children = [error_line(f"{session.error}; showing the reference run.")] if session.error else []
        again.disabled = not session.own
        plot.draw(lambda figure: paint_timing(figure, data))

    batch.observe(lambda _: show(), names="value")
    depth.observe(lambda _: show(), names="value")
    again.on_click(lambda _: show(again_=True))
    show()
    box = explore.box([batch, depth, again, head, errors, plot.output])
    display(box)
    return box
