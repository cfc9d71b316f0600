"""Reading and writing nbgrader notebooks: grade ids, cell kinds, solution and hidden regions."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def read(path: str | Path) -> Any:
    return nbformat.read(str(path), as_version=4)


def write(nb: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def meta(cell: Any) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell: Any) -> Any:
    return meta(cell).get("grade_id")


def is_solution(cell: Any) -> bool:
    return bool(meta(cell).get("solution"))


def is_test(cell: Any) -> bool:
    """An autograder test cell: graded, not a solution."""
    m = meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.cell_type == "code"


def is_manual(cell: Any) -> bool:
    """A written answer graded by hand: graded solution cell in markdown."""
    m = meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution")) and cell.cell_type == "markdown"


def cells_by_id(nb: Any) -> dict[str, Any]:
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def solution_ids(nb: Any) -> list[str]:
    return [grade_id(c) for c in nb.cells if is_solution(c)]


def test_ids(nb: Any) -> list[str]:
    return [grade_id(c) for c in nb.cells if is_test(c)]


def graded_points(nb: Any) -> dict[str, float]:
    """{grade_id: points} for every graded cell (tests and written answers), in notebook order."""
    return {grade_id(c): float(meta(c).get("points", 0)) for c in nb.cells if meta(c).get("grade")}


def exercise_of(cell_id: str, solutions: Iterable[str]) -> str | None:
    """The solution grade id a test cell belongs to (its id starts with it), or None."""
    best = None
    for sid in solutions:
        if (cell_id == sid or cell_id.startswith(sid + "_")) and (best is None or len(sid) > len(best)):
            best = sid
    return best


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """Lines strictly between `begin` and `end` marker lines."""
    inside, found = False, []
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            found.append(line)
    return found


def without_markers(source: str, begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION) -> str:
    """`source` with the marker lines removed and the region kept: the reference answer."""
    return "\n".join(line for line in source.splitlines() if begin not in line and end not in line)


def secret_lines(cell: Any) -> list[str]:
    """Lines of a source cell that the student version must not show."""
    if is_solution(cell) and BEGIN_SOLUTION not in cell.source:
        return cell.source.splitlines()
    return region_lines(cell.source, BEGIN_SOLUTION, END_SOLUTION) + region_lines(cell.source, BEGIN_HIDDEN, END_HIDDEN)


def reference_answer(cell: Any) -> str:
    """The reference answer a source solution cell holds."""
    if BEGIN_SOLUTION in cell.source:
        return without_markers(cell.source)
    return cell.source


def notebook_paths(folder: str | Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def failure_text(cell: Any) -> str:
    """Everything a failing cell printed as an error or to stderr, as plain text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
        elif output.get("output_type") == "stream" and output.get("name") == "stderr":
            parts.append(output.get("text", ""))
    return "\n".join(parts)


def leaks(source_nb: Any, release_nb: Any, *, min_length: int = 12) -> list[str]:
    """Solution or hidden-test lines of `source_nb` that show in `release_nb`.

    A line counts when it is long enough to mean something and does not also appear in the
    public part of the source (prose or visible code may legitimately say the same thing).
    """
    public_lines: list[str] = []
    for cell in source_nb.cells:
        secret = set(secret_lines(cell))
        public_lines += [line for line in cell.source.splitlines() if line not in secret]
    public = "\n".join(public_lines)
    released = "\n".join(c.source for c in release_nb.cells)
    found = []
    for cell in source_nb.cells:
        for line in secret_lines(cell):
            text = line.strip()
            if len(text) >= min_length and text in released and text not in public:
                found.append(f"{grade_id(cell)}: {text}")
    for marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
        if marker in released:
            found.append(f"marker left in release: {marker}")
    return found


def differences(expected_nb: Any, actual_nb: Any) -> list[str]:
    """Where two notebooks differ, cell by cell, ignoring cell ids; [] when they match."""
    found = []
    if len(expected_nb.cells) != len(actual_nb.cells):
        found.append(f"{len(actual_nb.cells)} cells instead of {len(expected_nb.cells)}")
    for index, (want, got) in enumerate(zip(expected_nb.cells, actual_nb.cells)):
        label = grade_id(want) or want.cell_type
        for part in ("cell_type", "source", "metadata"):
            if want.get(part) != got.get(part):
                found.append(f"cell {index} ({label}): {part} differs")
    if expected_nb.metadata != actual_nb.metadata:
        found.append("notebook metadata differs")
    return found


def hidden_only_lines(source_nb: Any, *, min_length: int = 20) -> set[str]:
    """Lines of hidden tests that appear nowhere else in the source notebook (to test for leaks)."""
    hidden: set[str] = set()
    elsewhere_lines: list[str] = []
    for cell in source_nb.cells:
        region = region_lines(cell.source, BEGIN_HIDDEN, END_HIDDEN)
        hidden.update(line.strip() for line in region if len(line.strip()) >= min_length)
        elsewhere_lines += [line for line in cell.source.splitlines() if line not in region]
    elsewhere = "\n".join(elsewhere_lines)
    return {line for line in hidden if line not in elsewhere}
