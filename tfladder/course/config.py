"""How the course's nbgrader runs: its configuration as nbgrader loads it, and the environment of
the tools it starts (this Python's bin folder first on PATH: nbgrader shells out to `alembic`).
"""

import os
import sys
from pathlib import Path


def tool_env(extra=None):
    """os.environ with this Python's bin folder first on PATH, plus `extra`."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def nbgrader_config(course, extra=None):
    """The course's nbgrader configuration (its nbgrader_config.py), as nbgrader would load it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    merged = Config()
    merged.merge(config)
    merged.merge(extra or Config())
    return merged
