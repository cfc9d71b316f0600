"""Level 5 explorations: how well a shuffle buffer mixes, and what prefetch and a parallel map save.

    from tfladder.explore import l5
    l5.shuffle_buffer(globals())    # after exercise 1 (make_dataset)
    l5.pipeline_speed(globals())    # after exercise 3 (cached_pipeline)

`shuffle_buffer` draws the order in which `Dataset.range(128).shuffle(buffer_size, seed=7)` hands out
its examples, for a buffer of 1 to 128 (the slider) and three epochs (the buttons), beside the order
of the student's `make_dataset` on 128 numbered examples, and how far the examples move on average
for every buffer size, with the student's pipeline as a line across.

`pipeline_speed` times a made-up slow input pipeline (a `map` that sleeps 5 ms per example, batches
of 4) read for two epochs by a training loop that sleeps for each batch: a timeline of when each map
call and each step ran, with the map one example at a time or parallel and with `prefetch` off or
on, above the same timeline for the student's `cached_pipeline` fed the same slow `preprocess`.

Both run the student's function on every redraw (a redefined function is picked up); while it is
not written they show the reference run from exploration.json. The timing part of that run is a
measurement (per position, the median of three runs), so recording it again changes its numbers a little.
"""

import html
import math
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from tfladder import explore

# shuffle_buffer
SHUFFLE_N = 128  # examples, numbered 0..127
BUFFERS = (1, 2, 4, 8, 16, 32, 64, 128)  # the slider's buffer sizes
SHUFFLE_EPOCHS = 3
SHUFFLE_BATCH = 16  # the batch size given to make_dataset
SHUFFLE_SEED = 7
FIRST_BUFFER = 16  # where the slider starts: a buffer of one batch

# pipeline_speed
TIMING_N = 12  # examples per epoch
TIMING_BATCH = 4
TIMING_EPOCHS = 2
TIMING_SEED = 3
MAP_MS = 5.0  # the made-up slow map: a sleep per example
STEP_MS = (0, 10, 20)  # the training step's sleep per batch (the slider)
FIRST_STEP = 20
ERROR_COLOUR = "#b00020"


# ----------------------------------------------------------------------------- shuffle: data


def sweep_orders(
    n: int = SHUFFLE_N, buffers: Iterable[int] = BUFFERS, epochs: int = SHUFFLE_EPOCHS, seed: int = SHUFFLE_SEED
) -> list[list[list[int]]]:
    """For every buffer size, the order of `epochs` passes over range(n).shuffle(buffer, seed=seed)."""
    import tensorflow as tf

    found = []
    for buffer in buffers:
        whole = tf.data.Dataset.range(n).shuffle(buffer, seed=seed).batch(n)  # one element: a whole epoch
        found.append([next(iter(whole)).numpy().tolist() for _ in range(epochs)])  # a new iterator, a new epoch
    return found


def make_dataset_orders(
    ns: dict,
    n: int = SHUFFLE_N,
    batch_size: int = SHUFFLE_BATCH,
    seed: int = SHUFFLE_SEED,
    epochs: int = SHUFFLE_EPOCHS,
) -> list[list[int]]:
    """Which example comes where, in `epochs` passes over the student's make_dataset of n numbered examples
    (x and y are both the example's number). NotWritten while make_dataset is not written."""
    import numpy as np

    numbers = np.arange(n, dtype="float32").reshape(n, 1)
    ds = explore.call(ns, "make_dataset", numbers, numbers.copy(), batch_size, seed)
    orders = []
    for _ in range(epochs):
        parts = [np.asarray(x, dtype="float64").reshape(-1) for x, _ in _first(ds, 4 * n)]
        order = np.concatenate(parts) if parts else np.zeros(0)
        orders.append([int(round(v)) for v in order.tolist()])
    return orders


def shuffle_data(ns: dict) -> dict:
    """Everything shuffle_buffer draws, for every position of its controls."""
    yours = make_dataset_orders(ns)
    return {
        "n": SHUFFLE_N,
        "batch_size": SHUFFLE_BATCH,
        "buffers": list(BUFFERS),
        "sweep": sweep_orders(),
        "yours": yours,
    }


def moved(order: list[int]) -> float:
    """How far the examples moved from their place, on average, as a fraction of what a uniform
    shuffle moves them ((n^2 - 1) / 3n): 0 for the original order, about 1 for a full shuffle."""
    n = len(order)
    if n < 2:
        return 0.0
    distance = sum(abs(example - place) for place, example in enumerate(order)) / n
    return round(distance / ((n * n - 1) / (3 * n)), 4)


def shuffle_view(data: dict, buffer: int, epoch: int) -> dict:
    """What one position of the controls shows: the two orders and the moved() curve."""
    at = data["buffers"].index(buffer)
    yours = data["yours"][epoch] if epoch < len(data["yours"]) else []
    notes = []
    if sorted(yours) != list(range(data["n"])):
        notes.append(f"{len(yours)} examples, not a permutation of the {data['n']}")
    elif yours == list(range(data["n"])):
        notes.append("not shuffled")
    elif epoch > 0 and yours == data["yours"][epoch - 1]:
        notes.append(f"the same order as epoch {epoch}")
    return {
        "n": data["n"],
        "batch_size": data["batch_size"],
        "buffer": buffer,
        "buffers": data["buffers"],
        "order": data["sweep"][at][epoch],
        "yours": yours,
        "curve": [moved(orders[epoch]) for orders in data["sweep"]],
        "yours_moved": moved(yours),
        "note": "; ".join(notes),
    }


# ----------------------------------------------------------------------------- shuffle: drawing


def paint_shuffle(figure: Any, view: dict, own: bool = True) -> None:
    """Left: the shuffle with the chosen buffer; middle: make_dataset; right: moved() against the buffer."""
    colour = explore.OWN_COLOUR if own else explore.REFERENCE_COLOUR
    left, middle, right = figure.subplots(1, 3)
    n = view["n"]
    _paint_order(left, view["order"], n, f"shuffle(buffer_size={view['buffer']})", "#3465a4")
    _paint_order(middle, view["yours"], n, "your make_dataset" if own else "make_dataset (reference)", colour)
    for edge in range(view["batch_size"], n, view["batch_size"]):  # batch boundaries
        middle.axvline(edge - 0.5, color="#dddddd", lw=0.6, zorder=0)
    if view["note"]:
        middle.text(0.02, 0.97, view["note"], transform=middle.transAxes, va="top", fontsize=8, color=ERROR_COLOUR)
    right.plot(view["buffers"], view["curve"], "o-", color="#3465a4", ms=3, label="shuffle(buffer_size)")
    right.plot([view["buffer"]], [view["curve"][view["buffers"].index(view["buffer"])]], "o", color="#3465a4", ms=9)
    right.axhline(view["yours_moved"], color=colour, ls="--", label="make_dataset")
    right.set_xscale("log", base=2)
    right.set_xticks(view["buffers"], [str(b) for b in view["buffers"]], fontsize=7)
    right.set_ylim(-0.05, 1.25)
    right.set_xlabel("buffer size")
    right.set_ylabel("distance moved (1 = uniform)")
    right.set_title("how shuffled", fontsize=10)
    right.legend(fontsize=7, loc="upper left")


def _paint_order(axis: Any, order: list[int], n: int, title: str, colour: str) -> None:
    axis.plot([0, n - 1], [0, n - 1], color="#bbbbbb", lw=0.8, zorder=0)  # the original order
    axis.scatter(range(len(order)), order, s=5, color=colour)
    axis.set_xlim(-2, n + 1)
    axis.set_ylim(-2, n + 1)
    axis.set_xlabel("place in the epoch")
    axis.set_ylabel("example")
    axis.set_title(title, fontsize=10)


# ----------------------------------------------------------------------------- shuffle: widget


def shuffle_buffer(ns: dict) -> Any:
    """Shuffle buffer size against how well the order is shuffled; the student's make_dataset beside it."""
    if explore.skip_when_graded("Shuffle buffer"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    buffer = widgets.SelectionSlider(
        options=[(str(b), b) for b in BUFFERS], value=FIRST_BUFFER, description="buffer size"
    )
    epoch = widgets.ToggleButtons(options=[(str(e + 1), e) for e in range(SHUFFLE_EPOCHS)], description="epoch")
    head, problem, plot = widgets.HTML(), widgets.HTML(), explore.Plot()
    sweep: list = []  # computed once, when make_dataset is first there: it does not depend on it

    def redraw(_: Any = None) -> None:
        try:
            data, own = _shuffle_source(ns, sweep, head, problem)
        except FileNotFoundError as error:  # no reference run beside the notebook: say where it should be
            problem.value = _error_line("", error)
            return
        view = shuffle_view(data, buffer.value, epoch.value)
        plot.draw(lambda figure: paint_shuffle(figure, view, own))

    buffer.observe(redraw, names="value")
    epoch.observe(redraw, names="value")
    redraw()
    box = explore.box([buffer, epoch, head, problem, plot.output])
    display(box)
    return box


def _shuffle_source(ns: dict, sweep: list, head: Any, problem: Any) -> tuple[dict, bool]:
    """The data to draw and whether it is the student's; sets the banner and the error line."""
    try:
        yours = make_dataset_orders(ns)
    except explore.NotWritten as missing:
        return _reference("shuffle", head, problem, missing.name), False
    except Exception as error:  # noqa: BLE001 - the student's code may raise anything: show it, do not crash
        return _reference("shuffle", head, problem, "make_dataset", error), False
    if not sweep:
        sweep.append(sweep_orders())
    head.value, problem.value = explore.banner(own=True).value, ""
    data = {"n": SHUFFLE_N, "batch_size": SHUFFLE_BATCH, "buffers": list(BUFFERS), "sweep": sweep[0], "yours": yours}
    return data, True


# ----------------------------------------------------------------------------- timing: data


class Timeline:
    """When the map calls, the training steps and the epochs of one run began and ended (ms from the start)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.maps: list[tuple[float, float]] = []
        self.steps: list[tuple[float, float]] = []
        self.epochs: list[tuple[float, float]] = []

    def now(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0

    def slow(self, map_ms: float) -> Callable[[Any], Any]:
        """A function of a tensor, for Dataset.map: the same tensor, after a sleep of map_ms, logged here."""
        import tensorflow as tf

        def work(value: Any) -> Any:
            began = self.now()
            time.sleep(map_ms / 1000.0)
            self.maps.append((began, self.now()))  # list.append is atomic: tf.data threads may call this at once
            return value

        def slow_map(x: Any) -> Any:
            out = tf.py_function(work, [x], x.dtype)
            out.set_shape(x.shape)
            return out

        return slow_map

    def read(self, ds: Any, step_ms: float, epochs: int, limit: int) -> None:
        """Read `epochs` passes over ds (at most `limit` elements each), sleeping step_ms for each element.
        The clock started before ds was built: map calls made while building it show before the first epoch."""
        for _ in range(epochs):
            began = self.now()
            for _element in _first(ds, limit):
                step = self.now()
                time.sleep(step_ms / 1000.0)
                self.steps.append((step, self.now()))
            self.epochs.append((began, self.now()))

    def as_dict(self) -> dict:
        def spans(found: list[tuple[float, float]]) -> list[list[float]]:
            return [[_round(a), _round(b)] for a, b in sorted(found)]

        return {
            "maps": spans(self.maps),
            "steps": spans(self.steps),
            "epochs": spans(self.epochs),
            "total": _round(self.epochs[-1][1] if self.epochs else 0.0),
        }


def built_pipeline(slow_map: Callable[[Any], Any], n: int, batch_size: int, parallel: bool, prefetch: bool) -> Any:
    """range(n), the slow map (one at a time or parallel), batch, and prefetch or not."""
    import tensorflow as tf

    ds = tf.data.Dataset.range(n).map(slow_map, num_parallel_calls=tf.data.AUTOTUNE if parallel else None)
    ds = ds.batch(batch_size)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()  # without these, tf.data would fuse map and batch or add a prefetch by itself
    options.experimental_optimization.map_and_batch_fusion = False
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.parallel_batch = False
    return steady(ds.with_options(options))


def steady(ds: Any) -> Any:
    """ds with tf.data's autotuning off, when ds is a dataset: the tuning thread pauses runs this short for
    ~50 ms now and then. AUTOTUNE still works: a parallel map then runs one call per CPU core."""
    if not hasattr(ds, "with_options"):
        return ds
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def built_run(
    parallel: bool,
    prefetch: bool,
    step_ms: float,
    *,
    n: int = TIMING_N,
    batch_size: int = TIMING_BATCH,
    map_ms: float = MAP_MS,
    epochs: int = TIMING_EPOCHS,
) -> dict:
    """The timeline of the pipeline built here, read for `epochs` epochs."""
    timeline = Timeline()
    ds = built_pipeline(timeline.slow(map_ms), n, batch_size, parallel, prefetch)
    timeline.read(ds, step_ms, epochs, limit=4 * n)
    return timeline.as_dict()


def cached_pipeline_run(
    ns: dict,
    step_ms: float,
    *,
    n: int = TIMING_N,
    batch_size: int = TIMING_BATCH,
    map_ms: float = MAP_MS,
    epochs: int = TIMING_EPOCHS,
) -> dict:
    """The timeline of the student's cached_pipeline with the slow map as `preprocess`.
    NotWritten while cached_pipeline is not written."""
    import numpy as np

    numbers = np.arange(n, dtype="float32").reshape(n, 1)
    timeline = Timeline()
    ds = explore.call(ns, "cached_pipeline", numbers, numbers.copy(), timeline.slow(map_ms), batch_size, TIMING_SEED)
    timeline.read(steady(ds), step_ms, epochs, limit=4 * n)
    return timeline.as_dict()


def timing_key(parallel: bool, prefetch: bool, step_ms: float) -> str:
    return f"map={'parallel' if parallel else 'sequential'},prefetch={'on' if prefetch else 'off'},step={step_ms:g}"


def timing_run(ns: dict, parallel: bool, prefetch: bool, step_ms: float, **sizes: Any) -> dict:
    """What pipeline_speed shows for one position: the pipeline built here and the student's."""
    yours = cached_pipeline_run(ns, step_ms, **sizes)  # first: NotWritten before any time is spent
    return {"built": built_run(parallel, prefetch, step_ms, **sizes), "yours": yours}


def timing_data(ns: dict, repeats: int = 3) -> dict:
    """Everything pipeline_speed draws, for every position of its controls: of `repeats` runs of each,
    the one with the median total time (this machine's other work makes single runs wobble)."""
    built, yours = {}, {}
    for step_ms in STEP_MS:
        yours[f"{step_ms:g}"] = _median(partial(cached_pipeline_run, ns, step_ms), repeats)
        for parallel in (False, True):
            for prefetch in (False, True):
                run = _median(partial(built_run, parallel, prefetch, step_ms), repeats)
                built[timing_key(parallel, prefetch, step_ms)] = run
    return {"built": built, "yours": yours}


def _median(run: Callable[[], dict], repeats: int) -> dict:
    runs = sorted((run() for _ in range(repeats)), key=lambda found: found["total"])
    return runs[len(runs) // 2]


def timing_view(data: dict, parallel: bool, prefetch: bool, step_ms: float) -> dict:
    """One position of the reference data, in the form timing_run returns."""
    return {"built": data["built"][timing_key(parallel, prefetch, step_ms)], "yours": data["yours"][f"{step_ms:g}"]}


def lanes(spans: list[list[float]]) -> list[int]:
    """A lane for every span, so that spans in one lane do not overlap (the first free lane, in start order)."""
    ends: list[float] = []
    found = []
    for began, ended in spans:
        lane = next((i for i, end in enumerate(ends) if end <= began + 1e-6), len(ends))
        if lane == len(ends):
            ends.append(ended)
        ends[lane] = ended
        found.append(lane)
    return found


# ----------------------------------------------------------------------------- timing: drawing


def paint_timing(figure: Any, view: dict, parallel: bool, prefetch: bool, step_ms: float, own: bool = True) -> None:
    """Two timelines (the pipeline built here, the student's cached_pipeline) and their total times."""
    colour = explore.OWN_COLOUR if own else explore.REFERENCE_COLOUR
    grid = figure.add_gridspec(2, 2, width_ratios=(3.2, 1))
    top = figure.add_subplot(grid[0, 0])
    bottom = figure.add_subplot(grid[1, 0], sharex=top)
    totals = figure.add_subplot(grid[:, 1])
    built, yours = view["built"], view["yours"]
    name = f"map {'parallel' if parallel else 'one at a time'}, batch{', prefetch' if prefetch else ''}"
    _paint_timeline(top, built, f"built here: {name}", "#3465a4")
    _paint_timeline(bottom, yours, "your cached_pipeline" if own else "cached_pipeline (reference)", colour)
    # the same scale for every position: one epoch's work done one thing at a time, twice
    epochs = max(len(built["epochs"]), 1)
    serial = epochs * (TIMING_N * MAP_MS + math.ceil(TIMING_N / TIMING_BATCH) * step_ms)
    top.set_xlim(0, max(1.15 * serial, built["total"], yours["total"]) * 1.02)
    top.tick_params(labelbottom=False)
    bottom.set_xlabel("time (ms)")
    work = sum(b - a for a, b in built["maps"]) + sum(b - a for a, b in built["steps"])
    names = ["built here", "yours" if own else "reference"]
    totals.bar(names, [built["total"], yours["total"]], color=["#3465a4", colour])
    totals.axhline(work, color="#555555", ls=":", lw=1, label="map + steps,\none at a time")
    for i, total in enumerate((built["total"], yours["total"])):
        totals.text(i, total, f"{total:.0f}", ha="center", va="bottom", fontsize=8)
    totals.set_ylabel("two epochs (ms)")
    totals.set_ylim(0, max(work, built["total"], yours["total"]) * 1.45)
    totals.legend(fontsize=7, loc="upper right")
    totals.tick_params(axis="x", labelsize=8)


def _paint_timeline(axis: Any, timeline: dict, title: str, colour: str) -> None:
    maps = timeline["maps"]
    where = lanes(maps)
    shown = min(max(where, default=0) + 1, 6)
    for lane in range(shown):
        spans = [(a, b - a) for (a, b), at in zip(maps, where) if at == lane]
        axis.broken_barh(spans, (lane + 1.1, 0.8), facecolor=colour, edgecolor="white", linewidth=0.6)
    steps = [(a, max(b - a, 0.4)) for a, b in timeline["steps"]]  # a step of 0 ms still shows as a tick
    axis.broken_barh(steps, (0.1, 0.8), facecolor="#555555", edgecolor="white", linewidth=0.6)
    for number, (began, _) in enumerate(timeline["epochs"]):
        axis.axvline(began, color="#999999", ls="--", lw=0.8)
        axis.text(began, shown + 1.45, f" epoch {number + 1}", fontsize=7, va="top", color="#777777")
    axis.set_yticks([0.5] + [lane + 1.5 for lane in range(shown)], ["steps"] + [f"map {i + 1}" for i in range(shown)])
    axis.tick_params(axis="y", labelsize=7)
    axis.set_ylim(0, shown + 1.5)
    axis.set_title(f"{title}: {timeline['total']:.0f} ms, {len(maps)} map calls", fontsize=9)


# ----------------------------------------------------------------------------- timing: widget


def pipeline_speed(ns: dict) -> Any:
    """A slow pipeline's timeline with and without prefetch and a parallel map, and the student's cached_pipeline."""
    if explore.skip_when_graded("Prefetch and parallel map"):
        return None
    import ipywidgets as widgets
    from IPython.display import display

    step = widgets.SelectionSlider(
        options=[(f"{s} ms", s) for s in STEP_MS], value=FIRST_STEP, description="train step", continuous_update=False
    )
    parallel = widgets.ToggleButtons(options=[("one at a time", False), ("parallel", True)], description="map")
    prefetch = widgets.ToggleButtons(options=[("off", False), ("on", True)], description="prefetch")
    head, problem, plot = widgets.HTML(), widgets.HTML(), explore.Plot()

    def redraw(_: Any = None) -> None:
        try:
            view, own = _timing_source(ns, parallel.value, prefetch.value, step.value, head, problem)
        except FileNotFoundError as error:  # no reference run beside the notebook: say where it should be
            problem.value = _error_line("", error)
            return
        plot.draw(lambda figure: paint_timing(figure, view, parallel.value, prefetch.value, step.value, own))

    for control in (step, parallel, prefetch):
        control.observe(redraw, names="value")
    redraw()
    box = explore.box([step, parallel, prefetch, head, problem, plot.output])
    display(box)
    return box


def _timing_source(
    ns: dict, parallel: bool, prefetch: bool, step_ms: float, head: Any, problem: Any
) -> tuple[dict, bool]:
    try:
        view = timing_run(ns, parallel, prefetch, step_ms)
    except explore.NotWritten as missing:
        return timing_view(_reference("timing", head, problem, missing.name), parallel, prefetch, step_ms), False
    except Exception as error:  # noqa: BLE001 - the student's code may raise anything: show it, do not crash
        reference = _reference("timing", head, problem, "cached_pipeline", error)
        return timing_view(reference, parallel, prefetch, step_ms), False
    head.value, problem.value = explore.banner(own=True).value, ""
    return view, True


# ----------------------------------------------------------------------------- shared


def record(ns: dict) -> dict:
    """The reference run of both explorations, with the functions in `ns` (for exploration.json)."""
    return {"shuffle": shuffle_data(ns), "timing": timing_data(ns)}


def _reference(part: str, head: Any, problem: Any, missing: str, error: BaseException | None = None) -> dict:
    """The reference data of `part`; the banner says so, and the error line names the student's error."""
    head.value = explore.banner(own=False, missing=missing).value
    problem.value = "" if error is None else _error_line(missing, error)
    return explore.reference_data("l5")[part]


def _error_line(name: str, error: BaseException) -> str:
    """A red line: the student's function `name` raised `error` (or, without a name, just the error)."""
    message = html.escape(f"{type(error).__name__}: {error}"[:300])
    text = f"Your <code>{name}</code> failed here with {message}" if name else message
    return f'<span style="color:{ERROR_COLOUR}">{text}</span>'


def _first(ds: Any, limit: int) -> Iterable[Any]:
    """The elements of ds, at most `limit` of them (a dataset that never ends stops here)."""
    for count, element in enumerate(ds):
        if count >= limit:
            return
        yield element


def _round(value: float) -> float:
    return float(f"{value:.4g}")
