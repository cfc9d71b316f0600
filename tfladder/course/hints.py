"""Hint ladders: two or three hints per code exercise, revealed one at a time in the notebook.

A ladder is one markdown cell just before the exercise's solution cell (cell id
`<grade-id-with-dashes>-hints`, metadata `{"tfladder": {"hints": "<grade id>"}}`). Each hint is an
HTML `<details>` element nested in the one before it, so JupyterLab (and any notebook viewer) shows
"Hint 1" folded, and "Hint 2" only once hint 1 is open: no kernel, no widget, no penalty. The
ladder goes from the idea to the API names to a skeleton; it never holds a line of the reference
answer (`tests/course/test_hints.py`). nbgrader copies it into the release like any markdown cell.
"""

import re
from dataclasses import dataclass
from typing import Any

from nbformat.v4 import new_markdown_cell

from tfladder.course import notebooks

SUMMARY = re.compile(r"<details><summary><b>Hint (\d+) of (\d+)</b>: (.*?)</summary>\n")


@dataclass(frozen=True)
class Hint:
    title: str  # a few words: "the idea", "the API", "a skeleton"
    text: str  # markdown


def render(hints: list[Hint]) -> str:
    """The ladder's markdown: each hint folded inside the one before it."""
    if not 2 <= len(hints) <= 3:
        raise ValueError(f"a ladder has two or three hints, not {len(hints)}")
    opened = [
        f"<details><summary><b>Hint {i} of {len(hints)}</b>: {hint.title}</summary>\n\n{hint.text.strip()}\n\n"
        for i, hint in enumerate(hints, 1)
    ]
    return "".join(opened) + "</details>\n" * (len(hints) - 1) + "</details>"


def parse(markdown: str) -> list[Hint]:
    """The hints of a ladder cell, in order (the inverse of `render`)."""
    found = list(SUMMARY.finditer(markdown))
    hints = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(markdown)
        text = markdown[match.end() : end].replace("</details>", "").strip()
        hints.append(Hint(title=match.group(3), text=text))
    return hints


def cell_id(grade_id: str) -> str:
    return grade_id.replace("_", "-") + "-hints"


def ladder_of(cell: Any) -> str | None:
    """The grade id whose ladder `cell` is, or None."""
    if cell.cell_type != "markdown":
        return None
    hints = cell.get("metadata", {}).get("tfladder", {}).get("hints")
    return hints if isinstance(hints, str) else None


def ladders(nb: Any) -> dict[str, list[Hint]]:
    """{grade id: hints} for every ladder in a notebook."""
    return {gid: parse(cell.source) for cell in nb.cells if (gid := ladder_of(cell))}


def set_ladder(nb: Any, grade_id: str, hints: list[Hint]) -> None:
    """Put (or replace) the ladder of `grade_id` just before its solution cell."""
    nb.cells = [cell for cell in nb.cells if ladder_of(cell) != grade_id]
    at = next(i for i, cell in enumerate(nb.cells) if notebooks.grade_id(cell) == grade_id)
    cell = new_markdown_cell(render(hints), metadata={"tfladder": {"hints": grade_id}})
    cell.id = cell_id(grade_id)
    nb.cells.insert(at, cell)
