"""The folders of this Python installation a sandboxed kernel (or the zygote) gets, read-only.

Standard library only: the sandbox launcher (`python -m tfladder.sandbox.launcher`) imports it.
"""

import os
import sys
import sysconfig
from pathlib import Path


def python_paths(grader: bool = False) -> list[str]:
    """Folders the kernel's Python needs, read-only: the base installation and the environment.

    Not the tfladder package itself (its oracles and grading machinery): the kernel's tfladder
    is the notebook library, mounted on its own (`tfladder.course.notebook_lib`). With `grader`, the
    package's folder too (the zygote, a grader's process, runs from it).
    """
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    if grader:
        paths.add(os.path.realpath(Path(__file__).resolve().parents[1]))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(os.path.realpath(sysconfig.get_paths()[key]))
    # keep only outermost folders
    kept: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    return kept
