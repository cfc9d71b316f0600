"""A static scan of a submitted notebook for tampering, before any of it runs.

Compares the submission with the release the student was given (test cells, nbgrader metadata,
tags, pre-filled outputs) and reads the code the student wrote for the tricks listed in
docs/security.md (after NFKC normalisation, as Python reads identifiers). A hit is a
reason to flag the submission for a human; it takes no points by itself: the cells are put back
in shape (`tfladder.grading.restore`) and every test runs outside the kernel (`tfladder.grading.judge`).
"""

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from tfladder.course import notebooks

# (what it is, pattern) for code the student can edit.
SUSPICIOUS = [
    (
        "IPython hooks (input transformers, exception handlers, display hooks)",
        r"\bget_ipython\b|input_transformers|ast_transformers|register_transformer|set_custom_exc"
        r"|showtraceback|displayhook|excepthook|\bInteractiveShell\b",
    ),
    (
        "leaving the process (sys.exit, os._exit, exit, quit, kill)",
        r"\bsys\.exit\b|\bos\._exit\b|(?<![\w.])(exit|quit)\s*\(|\bos\.kill\b|\bkillpg\b|\bos\.abort\b",
    ),
    (
        "changing the grader's checks or numpy's testing functions",
        r"\b(checks|spies|probe|seeds|oracles?|testing|np|numpy|math|tf|tensorflow)(\.\w+)+\s*=(?!=)"
        r"|\b(checks|spies|probe|seeds|np|tf)\s*=(?!=)|\bsetattr\s*\(|\b(from|import)\s+tfladder\b"
        r"|\b__import__\b|\bimportlib\b",
    ),
    (
        "reaching into the interpreter (builtins, frames, code objects, garbage collector)",
        r"__builtins__|\bbuiltins\b|\bsys\._getframe\b|\binspect\.|\bgc\.get_(objects|referrers)\b|__code__"
        r"|__globals__|\bctypes\b|\bsys\.modules\b|\bsys\.set(trace|profile)\b|\batexit\b|\bsignal\.signal\b",
    ),
    (
        "objects that may lie in comparisons (custom __eq__, __float__, __array__, ...)",
        r"def\s+__(eq|ne|lt|le|gt|ge|float|bool|array\w*|abs|sub|rsub|getattr|getattribute)__\s*\(",
    ),
    (
        "processes or network (subprocess, fork, sockets, HTTP)",
        r"\bsubprocess\b|\bos\.(system|popen|fork|exec\w*|spawn\w*)\b|\bmultiprocessing\b|\bsocket\b"
        r"|\burllib\b|\brequests\b|\bhttp\.client\b",
    ),
    (
        "reading course files (source/, the gradebook, other students)",
        r"gradebook|\bnbgrader\b|\.\./|(?<![\w.])(source|release|autograded|submitted|feedback)/"
        r"|site-packages|\.ipython\b|\.pth\b",
    ),
]
TAGS_ALLOWED: set[str] = set()


def _student_cells(submitted_nb: Any, release_nb: Any) -> Iterator[Any]:
    """Code cells the student could write: solution cells and cells without nbgrader metadata,
    except those left exactly as the release has them (an exploration cell imports tfladder)."""
    released = {c.get("source") for c in release_nb.cells if c.get("cell_type") == "code"}
    for cell in submitted_nb.cells:
        if cell.get("cell_type") != "code" or cell.get("source") in released:
            continue
        meta = notebooks.meta(cell)
        if not meta or meta.get("solution"):
            yield cell


def scan(submitted_nb: Any, release_nb: Any) -> list[str]:
    """Reasons to review this submission: [str]; [] when nothing looks tampered with."""
    reasons = []
    released = notebooks.cells_by_id(release_nb)
    ids = [notebooks.grade_id(c) for c in submitted_nb.cells if notebooks.grade_id(c)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        reasons.append(f"duplicate grade ids: {', '.join(duplicates)}")
    for gid, original in released.items():
        if gid not in ids and notebooks.meta(original).get("locked"):
            reasons.append(f"{gid}: a read-only cell was deleted")
    for cell in submitted_nb.cells:
        gid = notebooks.grade_id(cell)
        tags = set(cell.get("metadata", {}).get("tags", []) or []) - TAGS_ALLOWED
        if tags:
            reasons.append(f"{gid or 'a cell'}: tags added ({', '.join(sorted(tags))})")
        if gid is None:
            continue
        if gid not in released:
            reasons.append(f"{gid}: a grade id that is not in the assignment")
            continue
        original = released[gid]
        mine, theirs = notebooks.meta(cell), notebooks.meta(original)
        for key in ("grade", "solution", "locked", "points"):
            if mine.get(key) != theirs.get(key):
                reasons.append(
                    f"{gid}: nbgrader metadata '{key}' changed from {theirs.get(key)!r} to {mine.get(key)!r}"
                )
        if cell.get("cell_type") != original.get("cell_type"):
            reasons.append(f"{gid}: cell type changed to {cell.get('cell_type')}")
        if theirs.get("locked") and cell.get("source") != original.get("source"):
            reasons.append(f"{gid}: a read-only cell was edited")
        if notebooks.is_test(original) and cell.get("outputs"):
            reasons.append(f"{gid}: the submitted test cell already holds outputs")
    for cell in _student_cells(submitted_nb, release_nb):
        # as Python reads identifiers: NFKC folds fullwidth and other compatibility letters
        source = unicodedata.normalize("NFKC", cell.get("source", ""))
        where = notebooks.grade_id(cell) or "a cell of the student's"
        for label, pattern in SUSPICIOUS:
            found = re.search(pattern, source)
            if found:
                line = source[: found.start()].count("\n") + 1
                reasons.append(f"{where}, line {line}: {label}: `{found.group(0).strip()}`")
    return reasons
