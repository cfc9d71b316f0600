"""Explorations: ungraded widgets that let a student change something and see the effect at once.

Each level's notebook calls its explorations in cells of their own, with the notebook's namespace:

    from tfladder.explore import l1
    l1.gradient_descent(globals())

An exploration runs the student's own functions where they are written. While one still raises
`NotImplementedError` it shows a reference run instead, precomputed and shipped with the release
(`exploration.json` beside the notebook), under a banner that says so: never the reference code.
While a notebook is graded (nbgrader runs it without a front end; the course's nbgrader config
marks those kernels, see GRADED_ENV) an exploration prints one line and does nothing else.

The fallback data is made by `python -m tfladder.course.exploration_data` from the instructor's
reference answers: each level module's `record(ns)` computes it with the same code the widgets
run, so the reference run and a student's run are drawn the same way.
"""

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

GRADED_ENV = "TFLADDER_GRADING"  # "1" in kernels nbgrader starts for this course (nbgrader_config.py)
DATA_FILE = "exploration.json"
OWN_COLOUR, REFERENCE_COLOUR = "#1b7f3b", "#9a5b00"


class NotWritten(Exception):
    """A function the exploration needs still raises NotImplementedError (or is missing)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def graded() -> bool:
    """Is this kernel being graded (or validated) by nbgrader, with no one to look at widgets?"""
    return os.environ.get(GRADED_ENV) == "1"


def skip_when_graded(title: str) -> bool:
    """True (after one printed line) when the notebook is being graded: the caller returns at once."""
    if graded():
        print(f"{title}: an exploration; it runs when you open the notebook in JupyterLab.")
        return True
    return False


def call(ns: dict, name: str, *args: Any, **kwargs: Any) -> Any:
    """ns[name](*args, **kwargs), or NotWritten when the function is missing or not written yet."""
    function = ns.get(name)
    if not callable(function):
        raise NotWritten(name)
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise NotWritten(name) from None


def reference_data(level: str, folder: str | Path | None = None) -> dict:
    """The precomputed reference run of `level` ("l1" ...), read from exploration.json beside the notebook."""
    path = Path(folder or os.getcwd()) / DATA_FILE
    try:
        return json.loads(path.read_text())[level]
    except (OSError, ValueError, KeyError):
        raise FileNotFoundError(
            f"{path} has no reference run for {level}: open the notebook from its own folder "
            "(release/<assignment>/), where the course ships it"
        ) from None


def banner(own: bool, missing: str = "") -> Any:
    """A line above a plot that says whose code it shows."""
    import ipywidgets as widgets

    if own:
        text, colour = "Your code, run live.", OWN_COLOUR
    else:
        text = f"Reference run (precomputed): write <code>{missing}</code> above to see your own."
        colour = REFERENCE_COLOUR
    return widgets.HTML(f'<b style="color:{colour}">{text}</b>')


class Plot:
    """An output area holding one matplotlib figure, redrawn in place."""

    def __init__(self, width: float = 9.0, height: float = 3.5):
        import ipywidgets as widgets

        self.size = (width, height)
        self.output = widgets.Output()
        self.drawn = 0  # figures drawn so far (tests and bench/exploration_time.py read it)

    def draw(self, paint: Callable[[Any], None]) -> None:
        """Clear the area and show a new figure that `paint(figure)` fills."""
        import matplotlib.pyplot as plt

        with self.output:
            self.output.clear_output(wait=True)
            figure = plt.figure(figsize=self.size)
            paint(figure)
            figure.tight_layout()
            plt.show()
            plt.close(figure)
        self.drawn += 1


@functools.cache
def _box_class() -> Any:
    import ipywidgets as widgets

    class Exploration(widgets.VBox):
        """A VBox shown once per cell: an exploration displays it at once (a live plot draws into
        it while the cell still runs), then returns it as the cell's value, which IPython would
        otherwise display a second time."""

        def _ipython_display_(self, **kwargs: Any) -> None:
            from IPython import get_ipython
            from IPython.display import display

            cell = getattr(get_ipython(), "execution_count", None)
            if cell is not None and cell == getattr(self, "shown_in_cell", None):
                return
            self.shown_in_cell = cell
            display(self._repr_mimebundle_(**kwargs), raw=True)

    return Exploration


def box(children: list[Any]) -> Any:
    """The exploration's widget: a VBox of `children` that a cell shows once, however often it is
    displayed or returned in that cell."""
    return _box_class()(children)
