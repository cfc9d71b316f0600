"""How long does each reference notebook take to execute, once TensorFlow is imported?

Runs every source notebook (the reference solutions with all hidden tests) in a fresh kernel, cell
by cell, and prints the time of the setup cell (which imports TensorFlow) apart from the rest,
against the budget the course promises on 2 cores: 15 s, 20 s for level 3 (it trains the CNN).

    .venv/bin/python bench/notebook_time.py [ASSIGNMENT ...]
"""

import os
import sys
import time
from pathlib import Path

from nbclient import NotebookClient

from tfladder import runtime
from tfladder.course import notebooks, ops

BUDGET_SECONDS = 15.0
LONGER_BUDGETS = {"03_keras_models": 20.0}  # level 3 trains the seed notebook's CNN


def time_notebook(path):
    """(kernel start s, setup cell s, rest s, slowest cells) for one executed notebook."""
    nb = notebooks.read(path)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        started = time.perf_counter()
        setup = rest = 0.0
        per_cell = []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            client.execute_cell(cell, index)
            spent = time.perf_counter() - t0
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if errors:
                raise SystemExit(f"{path.name}: cell {index} failed: {errors[0].ename}: {errors[0].evalue}")
            if notebooks.grade_id(cell) == "setup":
                setup += spent
            else:
                rest += spent
                per_cell.append((spent, notebooks.grade_id(cell) or f"cell {index}"))
    return started - start, setup, rest, sorted(per_cell, reverse=True)[: int(os.environ.get("TOP", 3))]


def main(argv):
    runtime.quiet()
    root = ops.find_root(Path(__file__).parent)
    worst = 0.0
    for assignment in argv or ops.assignments(root):
        path = root / "source" / assignment / f"{assignment}.ipynb"
        kernel, setup, rest, slowest = time_notebook(path)
        budget = LONGER_BUDGETS.get(assignment, BUDGET_SECONDS)
        worst = max(worst, rest / budget)
        print(
            f"{assignment}: kernel start {kernel:.1f} s, setup cell (imports TensorFlow) {setup:.1f} s, "
            f"everything after it {rest:.1f} s = {rest / budget:.2f} of the {budget:g} s budget"
        )
        print("    slowest cells: " + ", ".join(f"{name} {s:.1f} s" for s, name in slowest))
    print(f"worst ratio to budget: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} budget)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
