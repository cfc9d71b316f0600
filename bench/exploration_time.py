"""Do the explorations answer within a second? Every control of every level, timed.

For each level, a kernel runs the reference answers and worked examples (the source notebook
without its tests and without its own exploration cells), then builds every exploration twice:
on the reference code ("own": as for a student whose code is written) and with the student's
functions missing ("reference run": the shipped exploration.json). It moves every control once
(a slider or a selection to its next value, a button clicked) and prints the seconds until the
control's handler returned, per figure drawn, against the one-second budget.

    .venv/bin/python bench/exploration_time.py [ASSIGNMENT ...]
"""

import json
import re
import sys
from pathlib import Path

from nbformat.v4 import new_code_cell

from tfladder import runtime
from tfladder.course import notebooks, ops
from tfladder.course.config import execute

BUDGET_SECONDS = 1.0

# Runs in the kernel after the reference cells: times every control of every exploration.
TIMER = r"""
import json, time
import ipywidgets as _widgets
import IPython.display as _display
from tfladder import explore as _explore
from tfladder.explore import {module} as _module

_display.display = lambda *a, **k: None  # no front end: nothing to show
_functions = [getattr(_module, name) for name in {names!r}]

def _walk(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _walk(child)

def _move(control):
    if isinstance(control, _widgets.Button):
        control.click()
        return "clicked"
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        i = values.index(control.value) if control.value in values else 0
        control.value = values[(i + 1) % len(values)]
        return f"-> {{control.value!r}}"
    if isinstance(control, (_widgets.IntSlider, _widgets.FloatSlider)):
        control.value = control.value + control.step if control.value + control.step <= control.max else control.min
        return f"-> {{control.value!r}}"
    return None

_drawn = {{"n": 0}}
_draw = _explore.Plot.draw
def _counted(self, paint):
    _drawn["n"] += 1
    return _draw(self, paint)
_explore.Plot.draw = _counted

_rows = []
for _label, _ns in (("own", globals()), ("reference run", {{}})):
    for _f in _functions:
        _box = _f(dict(_ns))
        if _box is None:
            continue
        for _w in _walk(_box):
            if not isinstance(_w, (_widgets.Button, _widgets.IntSlider, _widgets.FloatSlider,
                                   _widgets.SelectionSlider, _widgets.Dropdown, _widgets.ToggleButtons,
                                   _widgets.RadioButtons)) or getattr(_w, "disabled", False):
                continue
            _before = _drawn["n"]
            _t0 = time.perf_counter()
            _what = _move(_w)
            _spent = time.perf_counter() - _t0
            if _what is not None:
                _rows.append([_label, _f.__name__, (_w.description or type(_w).__name__) + " " + _what,
                              _spent, _drawn["n"] - _before])
print("TIMES" + json.dumps(_rows))
"""


def time_level(root, assignment):
    folder = root / "source" / assignment
    nb = notebooks.read(folder / f"{assignment}.ipynb")
    explorations = [c for c in nb.cells if c.cell_type == "code" and c.get("id", "").startswith("explore-")]
    nb.cells = [
        c
        for c in nb.cells
        if c.cell_type == "code" and not notebooks.is_test(c) and not c.get("id", "").startswith("explore-")
    ]
    for cell in nb.cells:
        cell.source = notebooks.reference_answer(cell)
    module = ops.level_prefix(assignment)
    # the explorations the notebook shows: its exploration cells call them
    names = re.findall(rf"\b{module}\.(\w+)\(globals\(\)\)", "\n".join(c.source for c in explorations))
    nb.cells.append(new_code_cell(TIMER.format(module=module, names=names)))
    execute(nb, folder, mark_headless=False, timeout=900)  # the explorations draw: that is what is timed
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return json.loads(printed.split("TIMES", 1)[1])


def main(argv):
    runtime.quiet()
    root = ops.find_root(Path(__file__).parent)
    worst = 0.0
    for assignment in argv or ops.assignments(root):
        for label, function, control, seconds, drawn in time_level(root, assignment):
            per_figure = seconds / max(drawn, 1)
            if "clicked" not in control or drawn <= 1:
                worst = max(worst, per_figure)
            print(
                f"{assignment} {function} [{label}] {control}: {seconds:.2f} s, {drawn} figure(s), "
                f"{per_figure:.2f} s per figure = {per_figure / BUDGET_SECONDS:.2f} of the {BUDGET_SECONDS:g} s budget"
            )
    print(f"worst: {worst:.2f} s per figure = {worst / BUDGET_SECONDS:.2f} of the budget")
    return 0 if worst <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
