"""How the course's nbgrader runs: its configuration as nbgrader loads it, and the environment of
the tools it starts (this Python's bin folder first on PATH: nbgrader shells out to `alembic`).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # traitlets is imported only when a configuration is loaded
    from traitlets.config import Config


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ with this Python's bin folder first on PATH, plus `extra`."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def nbgrader_config(course: str | Path, extra: "Config | None" = None) -> "Config":
    """The course's nbgrader configuration (its nbgrader_config.py), as nbgrader would load it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    merged = Config()
    merged.merge(config)
    merged.merge(extra or Config())
    return merged
