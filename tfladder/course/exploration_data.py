"""The explorations' reference runs: `source/<assignment>/exploration.json`, shipped in the release.

    python -m tfladder.course.exploration_data [ASSIGNMENT ...]      (make explorations)

runs each level's reference answers in a kernel (the source notebook with its test cells left out
and its solution markers removed), then `tfladder.explore.<lN>.record(globals())`, and writes what
that returns with a digest of what it was computed from: the reference answers and the level's
exploration code. nbgrader copies the file into release/ with the notebook; the explorations show
it while a student's function is not written yet. `tests/course/test_exploration_data.py` fails
when a file is stale.
"""

import hashlib
import json
import sys
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from tfladder.course import notebooks, ops
from tfladder.course.config import execute

DATA_FILE = "exploration.json"  # tfladder.explore.DATA_FILE (the notebook side reads it)
PACKAGE = Path(__file__).resolve().parents[1]


def level_module(assignment: str) -> str:
    """The module of tfladder.explore that holds the level's explorations: "l1" for 01_low_level_ops."""
    return ops.level_prefix(assignment)


def inputs_digest(course: str | Path, assignment: str) -> str:
    """What the reference run depends on: the reference answers and the exploration code."""
    source = notebooks.read(Path(course) / "source" / assignment / f"{assignment}.ipynb")
    answers = [notebooks.reference_answer(c) for c in source.cells if notebooks.is_solution(c)]
    code = [(PACKAGE / "explore" / name).read_text() for name in ("__init__.py", f"{level_module(assignment)}.py")]
    return hashlib.sha256("\0".join(answers + code).encode()).hexdigest()


def recording_notebook(source_nb: NotebookNode, module: str, out: Path, digest: str) -> NotebookNode:
    """The reference answers and worked examples, no tests, then one cell that records the run."""
    import copy

    nb = copy.deepcopy(source_nb)
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and not notebooks.is_test(c)]
    for cell in nb.cells:
        cell.source = notebooks.reference_answer(cell)
        cell.outputs, cell.execution_count = [], None
    nb.cells.append(
        new_code_cell(
            f"import json as _json\nfrom tfladder.explore import {module} as _explore\n"
            f"with open({str(out)!r}, 'w') as _file:\n"
            f"    _json.dump({{'digest': {digest!r}, {module!r}: _explore.record(globals())}}, _file)\n"
        )
    )
    return nb


def record(course: str | Path, assignment: str) -> Path:
    """Run the reference of ASSIGNMENT and write source/ASSIGNMENT/exploration.json; returns its path."""
    course = Path(course)
    folder = course / "source" / assignment
    out = folder / DATA_FILE
    nb = recording_notebook(
        notebooks.read(folder / f"{assignment}.ipynb"),
        level_module(assignment),
        out,
        inputs_digest(course, assignment),
    )
    execute(nb, folder)  # marked: the notebook's own exploration cells only print their line
    text = json.dumps(json.loads(out.read_text()), indent=1, sort_keys=True) + "\n"
    out.write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    course = ops.find_root()
    for assignment in (argv if argv is not None else sys.argv[1:]) or ops.assignments(course):
        print(record(course, assignment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
