"""How the course's nbgrader runs: its configuration as nbgrader loads it, and the environment of
the tools it starts (this Python's bin folder first on PATH: nbgrader shells out to `alembic`).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


SQLITE = "sqlite:///"  # SQLAlchemy: sqlite:///relative/path, sqlite:////absolute/path


def db_url(course: str | Path) -> str:
    """The gradebook's database URL, as the course's configuration names it (nbgrader's default:
    gradebook.db in the course folder). A relative SQLite path is made absolute against the course
    folder, where nbgrader's commands run, so that the URL means the same file from anywhere."""
    from nbgrader.coursedir import CourseDirectory

    return absolute_db_url(str(CourseDirectory(config=nbgrader_config(course)).db_url), course)


def absolute_db_url(url: str, course: str | Path) -> str:
    """`url` with a relative SQLite path made absolute against the course folder."""
    path = url[len(SQLITE) :]
    if url.startswith(SQLITE) and path and not path.startswith("/") and "?" not in path:
        return SQLITE + str((Path(course) / path).resolve())
    return url


def gradebook_file(course: str | Path) -> Path | None:
    """The gradebook's file when it is a local SQLite file (nbgrader's default), else None (a
    database server such as PostgreSQL)."""
    url = db_url(course)
    if not url.startswith(SQLITE) or "?" in url or url == SQLITE:
        return None
    return Path(url[len(SQLITE) :])


def execute(nb: Any, folder: str | Path, *, mark_headless: bool = True, timeout: int = 600) -> None:
    """Run every cell of `nb` in a fresh python3 kernel, from `folder`, with the tools' environment.

    The kernel talks over Unix sockets (no TCP port for other users of the machine to reach).
    `mark_headless` marks it as nbgrader's kernels are (tfladder.explore.GRADED_ENV), so that the
    explorations print their one line: executed without a front end, their widgets can hang a
    kernel."""
    import tempfile

    from nbclient import NotebookClient
    from traitlets.config import Config

    saved = dict(os.environ)
    os.environ.update(tool_env({"TFLADDER_GRADING": "1"} if mark_headless else {}))
    try:
        with tempfile.TemporaryDirectory(prefix="tfladder-kernel-") as sockets:
            config = Config()
            config.AsyncKernelManager.transport = "ipc"
            config.AsyncKernelManager.ip = str(Path(sockets) / "kernel")
            client = NotebookClient(
                nb, config=config, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(folder)}}
            )
            client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
