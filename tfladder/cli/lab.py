"""`make lab`: JupyterLab 4 with nbgrader on the course, on loopback only, behind a token.

Students land in `release/` (the file browser opens there); instructors open formgrader from the
Nbgrader menu or at /formgrader. The server runs from the course directory, so formgrader and the
Validate button read the course's `nbgrader_config.py` and its gradebook.

Kernels: the server's Python kernel is replaced by one (same name, `python3`, so notebooks keep
their metadata) whose `tfladder` depends on where the notebook is. A notebook in `source/` (the
instructor's, with hidden tests that import the oracles) gets the whole package; every other
notebook (`release/`, a submission, a copy anywhere else) gets the notebook library only
(`tfladder.course.notebook_lib`), as a graded kernel and a student's own install do: `import
tfladder.oracles` fails there as it would when graded. This is not a wall: the server runs as one
user, whose files (the repository, `source/`) its kernels can read; students who must not read
them need accounts of their own (a JupyterHub).
"""

import hashlib
import inspect
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tfladder.course import notebook_lib
from tfladder.course.config import tool_env
from tfladder.sandbox import zygote

LOOPBACK = "127.0.0.1"
STUDENT_PAGE = "/lab/tree/release"
FORMGRADER_PAGE = "/formgrader"


@dataclass(frozen=True)
class Lab:
    """Where one JupyterLab server listens and the token that opens it."""

    root: Path
    port: int
    token: str

    def url(self, page: str = STUDENT_PAGE) -> str:
        return f"http://{LOOPBACK}:{self.port}{page}?token={self.token}"

    def command(self) -> list[str]:
        """The `jupyter lab` command line for this server (this environment's jupyter)."""
        return [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            f"--ServerApp.ip={LOOPBACK}",  # loopback only: nothing else can connect
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",  # fail rather than move to another port
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
            f"--LabApp.default_url={STUDENT_PAGE}",
            "--LabApp.news_url=None",  # no news pop-up, no calls to the internet
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # Jupyter refuses root unless told; a grading machine often runs the course as root.
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
        ]


def new(root: str | Path, port: int = 8888, token: str | None = None) -> Lab:
    """A Lab for the course at `root`, with a fresh random token unless one is given."""
    return Lab(root=Path(root).resolve(), port=port, token=token or secrets.token_hex(24))


# The kernel's launcher (a file of the kernelspec): the whole package for notebooks in the
# instructor's folder, the notebook library only for every other notebook, set up by the same
# function that makes a forked grading kernel forget the grader (`zygote.forget_the_grader`: the
# environment's editable finder, which maps `tfladder.*` to the repository, removed, the library
# first on the import path). The script's own folder (first on sys.path, as for any script) is
# dropped.
LAUNCHER = '''"""A `make lab` kernel (written by tfladder.cli.lab; do not edit). See tfladder/cli/lab.py."""
import os
import sys

instructor_folder, library = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
del sys.path[0]


FORGET_THE_GRADER

here = os.path.realpath(os.getcwd())
if not (here == instructor_folder or here.startswith(instructor_folder + os.sep)):
    os.environ["PYTHONPATH"] = library
    forget_the_grader()
from ipykernel import kernelapp

kernelapp.launch_new_instance()
'''.replace("FORGET_THE_GRADER", inspect.getsource(zygote.forget_the_grader).rstrip() + "\n")


def kernels_folder(lab: Lab) -> Path:
    """A Jupyter data folder holding the lab's `python3` kernelspec, written afresh; put first on
    JUPYTER_PATH, it takes the place of the environment's own. One folder per course."""
    digest = hashlib.sha256(str(lab.root).encode()).hexdigest()[:12]
    data = Path(sys.prefix) / "tfladder-lab" / digest
    spec = data / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "launch.py").write_text(LAUNCHER)
    argv = [
        sys.executable,
        "{resource_dir}/launch.py",
        str(lab.root / "source"),
        str(notebook_lib.build()),
        "-f",
        "{connection_file}",
    ]
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": argv,
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "metadata": {"debugger": True},
            },
            indent=1,
        )
        + "\n"
    )
    return data


def start(lab: Lab, *, log: IO[Any] | None = None, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the server (from the course directory); returns the process. Output goes to `log`.

    `env` adds environment variables (tests point JUPYTER_CONFIG_DIR and friends at a scratch
    folder so that a user's own settings and workspaces do not leak in).
    """
    env = dict(env or {})
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in [str(kernels_folder(lab)), env.get("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))] if p
    )
    return subprocess.Popen(
        lab.command(), cwd=lab.root, env=tool_env(env), stdout=log, stderr=subprocess.STDOUT if log else None
    )


def banner(lab: Lab) -> str:
    """What `make lab` prints before the server's own log."""
    return "\n".join(
        [
            "JupyterLab with nbgrader on this course (loopback only; the token is the password):",
            f"  students:    {lab.url(STUDENT_PAGE)}",
            f"  instructors: {lab.url(FORMGRADER_PAGE)}   (or the Nbgrader menu > Formgrader)",
            "Stop it with Ctrl-C.",
        ]
    )
