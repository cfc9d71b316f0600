"""Reference solutions for self-study: a level's instructor notebook, executed, as HTML.

The reference answers keep their code (solution markers removed); hidden tests are left out, so
the page shows the worked examples, answers, outputs and plots a self-learner wants.
"""

from pathlib import Path

from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbformat import NotebookNode

from tfladder.course import notebooks
from tfladder.course.config import tool_env


def reference_notebook(source_nb: NotebookNode) -> NotebookNode:
    """A copy of the source notebook without solution markers and without hidden tests."""
    import copy

    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        if notebooks.BEGIN_SOLUTION in cell.source:
            cell.source = notebooks.without_markers(cell.source)
        if notebooks.BEGIN_HIDDEN in cell.source:
            hidden = notebooks.region_lines(cell.source, notebooks.BEGIN_HIDDEN, notebooks.END_HIDDEN)
            kept = [
                line
                for line in cell.source.splitlines()
                if line not in hidden and notebooks.BEGIN_HIDDEN not in line and notebooks.END_HIDDEN not in line
            ]
            cell.source = "\n".join(kept + ["# (hidden tests not shown)"])
    return nb


def render(course: str | Path, assignment: str, out_dir: str | Path) -> Path:
    """Execute the reference of ASSIGNMENT and write OUT_DIR/ASSIGNMENT.html; returns the path."""
    course = Path(course)
    source = course / "source" / assignment / f"{assignment}.ipynb"
    nb = reference_notebook(notebooks.read(source))
    # The kernel runs with this environment's bin on PATH, from the assignment's folder.
    import os

    saved = dict(os.environ)
    os.environ.update(tool_env())
    try:
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    body, _ = HTMLExporter().from_notebook_node(nb)
    out = Path(out_dir) / f"{assignment}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
