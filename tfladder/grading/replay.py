"""Taking a parallel worker's execution of a notebook in nbgrader's own Execute step.

A worker (`tfladder.grading.parallel`) executes a notebook ahead of nbgrader and writes its result
(the executed notebook, its run report and a fingerprint) to `<results>/<student>.json`. When
nbgrader's autograde reaches that notebook, `JudgedExecute` (`tfladder.grading.execute`) takes the
worker's outputs only if the notebook it was handed and the files beside it have the fingerprint of
what the worker executed; otherwise it executes the notebook itself.
"""

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import nbformat

from tfladder.sandbox import launcher

RESULT_SUFFIX = ".json"


class ClusterLost(RuntimeError):
    """The grading cluster was lost before this notebook's result came back: nbgrader fails the
    notebook (it is not recorded) and `tfladder grade --resume` grades it later."""


def fingerprint(nb: nbformat.NotebookNode, folder: str | Path) -> str:
    """What a notebook's execution depends on: its cells and the files its kernel gets."""
    cells = [[c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")] for c in nb.cells]
    files = [
        [str(relative), hashlib.sha256((Path(folder) / relative).read_bytes()).hexdigest()]
        for relative in launcher.kernel_files(folder)
    ]
    blob = json.dumps(
        {"cells": cells, "kernelspec": nb.metadata.get("kernelspec"), "files": files}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def result_path(results: str | Path, student: str) -> Path:
    return Path(results) / f"{student}{RESULT_SUFFIX}"


def replay(
    executor: Any, nb: nbformat.NotebookNode, resources: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """In nbgrader's own JudgedExecute: take the worker's execution of this very notebook.

    Returns (report, None) when taken (outputs copied into `nb`; the worker's run report, which the
    caller writes), or (None, why) when the notebook must be executed here: no result in time, a worker error, or a
    notebook or files that differ from what the worker executed. Raises ClusterLost when the
    cluster was lost before the result came: executing it here instead, one at a time, could take
    hours.
    """
    folder = resources["metadata"]["path"]
    student = resources["nbgrader"]["student"]
    result, why = _wait_for(result_path(executor.results, student), executor.wait_seconds)
    if result is None:
        return None, why
    if "lost" in result:
        raise ClusterLost(f"not recorded: {result['lost']}")
    if "error" in result:
        return None, f"the worker could not execute it ({result['error']})"
    if result.get("fingerprint") != fingerprint(nb, folder):
        return None, "the notebook or its files differ from what the worker executed"
    if "fatal" in result:  # the cluster gave up on it (tfladder.grading.cluster): graded as failed
        _give_up(nb, result["fatal"])
        return {"failed": [result["fatal"]], "flags": [result["fatal"]], "executed_by": "nobody"}, None
    _take(nb, nbformat.reads(result["notebook"], as_version=4))
    return {**result["report"], "executed_by": "worker"}, None


def was_lost(results: str | Path, student: str) -> bool:
    """True when the student's result says the cluster was lost before it came."""
    try:
        return "lost" in json.loads(result_path(results, student).read_text())
    except (OSError, ValueError):
        return False


def _wait_for(path: Path, wait_seconds: float) -> tuple[dict[str, Any] | None, str | None]:
    deadline = time.monotonic() + wait_seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return None, f"no worker result after {wait_seconds:.0f} s"
        time.sleep(0.05)
    return json.loads(path.read_text()), None


def _give_up(nb: nbformat.NotebookNode, reason: str) -> None:
    """Every code cell gets the reason as its error, and so no point."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            error = {"output_type": "error", "ename": "NotGraded", "evalue": reason, "traceback": [reason]}
            cell.outputs = [nbformat.NotebookNode(error)]
            cell.execution_count = None


def _take(nb: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> None:
    """What execution adds, from the worker's copy: outputs, counts, timings, language info."""
    for mine, theirs in zip(nb.cells, executed.cells):
        if mine.cell_type == "code":
            mine.outputs = theirs.get("outputs", [])
            mine.execution_count = theirs.get("execution_count")
        if "execution" in theirs.get("metadata", {}):
            mine.metadata["execution"] = theirs.metadata["execution"]
    if "language_info" in executed.metadata:
        nb.metadata["language_info"] = executed.metadata["language_info"]
