"""`make lab`: JupyterLab 4 with nbgrader on the course, on loopback only, behind a token.

Students land in `release/` (the file browser opens there); instructors open formgrader from the
Nbgrader menu or at /formgrader. The server runs from the course directory, so formgrader and the
Validate button read the course's `nbgrader_config.py` and its gradebook.
"""

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tfladder.course import tool_env

LOOPBACK = "127.0.0.1"
STUDENT_PAGE = "/lab/tree/release"
FORMGRADER_PAGE = "/formgrader"


@dataclass(frozen=True)
class Lab:
    """Where one JupyterLab server listens and the token that opens it."""

    root: Path
    port: int
    token: str

    def url(self, page=STUDENT_PAGE):
        return f"http://{LOOPBACK}:{self.port}{page}?token={self.token}"

    def command(self):
        """The `jupyter lab` command line for this server (this environment's jupyter)."""
        return [
            str(Path(sys.executable).parent / "jupyter"), "lab",
            f"--ServerApp.ip={LOOPBACK}",           # loopback only: nothing else can connect
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",           # fail rather than move to another port
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
            f"--LabApp.default_url={STUDENT_PAGE}",
            "--LabApp.news_url=None",               # no news pop-up, no calls to the internet
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # Jupyter refuses root unless told; a grading machine often runs the course as root.
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
        ]


def new(root, port=8888, token=None):
    """A Lab for the course at `root`, with a fresh random token unless one is given."""
    return Lab(root=Path(root).resolve(), port=port, token=token or secrets.token_hex(24))


def start(lab, *, log=None, env=None):
    """Start the server (from the course directory); returns the process. Output goes to `log`.

    `env` adds environment variables (tests point JUPYTER_CONFIG_DIR and friends at a scratch
    folder so that a user's own settings and workspaces do not leak in).
    """
    return subprocess.Popen(lab.command(), cwd=lab.root, env=tool_env(env),
                            stdout=log, stderr=subprocess.STDOUT if log else None)


def banner(lab):
    """What `make lab` prints before the server's own log."""
    return "\n".join([
        "JupyterLab with nbgrader on this course (loopback only; the token is the password):",
        f"  students:    {lab.url(STUDENT_PAGE)}",
        f"  instructors: {lab.url(FORMGRADER_PAGE)}   (or the Nbgrader menu > Formgrader)",
        "Stop it with Ctrl-C.",
    ])
