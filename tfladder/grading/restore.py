"""A submitted notebook put back into the assignment's shape before nbgrader sees it.

nbgrader rejects a whole submission whose test cells had their nbgrader flags flipped or were
turned into markdown ("Inconsistent checksums"), or that holds a cell with nbgrader metadata but
no grade id (`KeyError: 'grade_id'`): the exercises it answered honestly would score zero. So,
from the release the gradebook was made with:

- every locked cell (test cells, the setup cell, the instructions) is the release's again: its
  source, type and metadata (nbgrader puts the hidden tests back from the gradebook);
- every answer cell keeps the student's answer (code or written) with the release's type and
  metadata;
- a cell whose nbgrader metadata names no cell of the assignment, or a second copy of a grade id,
  keeps its content as a plain cell of the student's, without nbgrader metadata;
- a cell of the release that is missing is put back after the cell that precedes it.

What was changed is returned as reasons to look (`tfladder grade` flags them).
"""

import copy
import uuid
from typing import Any

from tfladder.course import notebooks


def _fresh(cell: Any, taken: set[str]) -> Any:
    """A copy of a release cell for the submission, outputs cleared, with an id not yet taken."""
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    if cell.get("id") in taken or "id" not in cell:
        cell["id"] = uuid.uuid4().hex[:8]
    taken.add(cell["id"])
    return cell


def _answer(cell: Any, released: Any) -> Any:
    """The student's answer in the release's answer cell: their source, the release's type and metadata."""
    fixed = copy.deepcopy(released)
    fixed["source"] = cell.get("source", "")
    if "id" in cell:
        fixed["id"] = cell["id"]
    if fixed.get("cell_type") == "code":
        fixed["outputs"] = []
        fixed["execution_count"] = None
    return fixed


def restore(nb: Any, release_nb: Any) -> list[str]:
    """Put `nb` (a submitted notebook) back into the release's shape; returns the reasons."""
    released = notebooks.cells_by_id(release_nb)
    order = [notebooks.grade_id(c) for c in release_nb.cells if notebooks.grade_id(c)]
    reasons, cells, used = [], [], set()
    taken = {c.get("id") for c in nb.cells if c.get("id")}
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if "nbgrader" not in meta:
            cells.append(cell)
            continue
        gid = notebooks.grade_id(cell)
        if gid not in released or gid in used:
            meta.pop("nbgrader", None)
            why = ("a second copy of " + gid) if gid in used else (f"grade id {gid!r}" if gid else "no grade id")
            reasons.append(f"a cell with nbgrader metadata ({why}) became a plain cell of the student's")
            cells.append(cell)
            continue
        used.add(gid)
        original = released[gid]
        if notebooks.is_solution(original):
            fixed = _answer(cell, original)
            if notebooks.meta(cell) != notebooks.meta(original) or cell.get("cell_type") != original.get("cell_type"):
                reasons.append(f"{gid}: the answer cell's type or nbgrader metadata was restored (the answer is kept)")
        else:
            fixed = copy.deepcopy(original)
            if "id" in cell:
                fixed["id"] = cell["id"]
            if fixed.get("cell_type") == "code":
                fixed["outputs"] = []
                fixed["execution_count"] = None
            changed = [part for part in ("cell_type", "source") if cell.get(part) != original.get(part)]
            if notebooks.meta(cell) != notebooks.meta(original):
                changed.append("nbgrader metadata")
            if meta.get("tags"):
                changed.append("tags")
            if changed:
                reasons.append(f"{gid}: the read-only cell was restored ({', '.join(changed)} changed)")
        cells.append(fixed)
    for index, gid in enumerate(order):
        if gid in used:
            continue
        before = order[:index]
        at = 0
        for position, cell in enumerate(cells):
            if notebooks.grade_id(cell) in before:
                at = position + 1
        cells.insert(at, _fresh(released[gid], taken))
        used.add(gid)
        reasons.append(f"{gid}: the missing cell was put back")
    nb.cells = cells
    return reasons
