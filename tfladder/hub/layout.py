"""The hub's folders and who may read them, and the Jupyter configuration of each role.

Under the hub's home (default /srv/tfladder):

    course/      the course the class works on (source/, release/, the gradebook, submitted/...,
                 checks.toml and checks.jsonl: the hidden-test checks' settings and record),
                 made from the repository the first time; the instructors' group's only (2770)
    exchange/    nbgrader's exchange: released assignments, submissions, feedback; its course
                 folders made by root with nbgrader's modes for a shared course (make_exchange)
    lib/         the whole `tfladder` package for instructors' kernels and nbgrader (oracles
                 included), the instructors' group's only (2750)
    jupyter/     each role's Jupyter configuration (JUPYTER_CONFIG_PATH): what nbgrader's
                 extensions a role gets, the course id, the exchange
    state/       JupyterHub's database, cookie secret and configuration, the term's grading seed:
                 root's only

Students' JupyterLab opens in their home, with the Assignment List and no formgrader; an
instructor's opens in the course, with formgrader. Formgrader's Autograde button refuses to run
student code outside the sandbox (which needs root): the grading is `tfladder grade`, as root.
"""

import grp
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from tfladder.course import ops
from tfladder.grading import on_demand
from tfladder.hub import accounts

DEFAULT_HOME = Path("/srv/tfladder")
COURSE_ID = "tfladder"
# What a new course is made of, from the repository.
COURSE_FILES = ("nbgrader_config.py", "source", "release")
# nbgrader's JupyterLab plugins and server extensions a student does not get.
STUDENT_HIDDEN_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)
CHECK_RELAY = "tfladder_lab_check"  # the server extension behind the Check button (lab_check/)
STUDENT_HIDDEN_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)


@dataclass(frozen=True)
class Layout:
    home: Path
    course: Path  # home/course unless the hub serves a course kept elsewhere

    @property
    def exchange(self) -> Path:
        return self.home / "exchange"

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def state(self) -> Path:
        return self.home / "state"

    def jupyter(self, role: str) -> Path:
        return self.home / "jupyter" / role


def prepare(home: str | Path, repo: Path, course: Path | None = None) -> Layout:
    """The hub's folders under `home`, made or brought up to date (run as root, again at will).

    `course` (default home/course) is made from the repository if it has no nbgrader_config.py
    yet; an existing course is never overwritten, only given to the instructors' group."""
    accounts.ensure_groups()
    home = Path(home).resolve()
    layout = Layout(home, Path(course).resolve() if course else home / "course")
    instructors = grp.getgrnam(accounts.INSTRUCTORS).gr_gid
    layout.home.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.home, 0o755)
    course_dir = layout.course
    if not (course_dir / "nbgrader_config.py").exists():
        course_dir.mkdir(parents=True, exist_ok=True)
        for name in COURSE_FILES:
            if (repo / name).is_dir():
                shutil.copytree(repo / name, course_dir / name, dirs_exist_ok=True)
            else:
                shutil.copy2(repo / name, course_dir / name)
    # which assignments students may check against the hidden tests (every one, until edited)
    on_demand.write_default_settings(course_dir, ops.assignments(course_dir))
    _give(course_dir, instructors, folder_mode=0o2770, file_mode=0o660)
    # the whole package, for instructors: their kernels import the oracles, nbgrader the judge
    lib = layout.lib / "tfladder"
    shutil.rmtree(lib, ignore_errors=True)
    shutil.copytree(repo / "tfladder", lib, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    _give(layout.lib, instructors, folder_mode=0o2750, file_mode=0o640)
    make_exchange(layout, instructors)
    layout.state.mkdir(exist_ok=True)
    os.chmod(layout.state, 0o700)
    term_seed(layout)
    for role in accounts.ROLES:
        write_jupyter_config(layout, role)
    return layout


def term_seed(layout: Layout) -> int:
    """The seed the term's grading draws hidden inputs from (state/grading_seed, root's only; drawn
    at random the first time). The hub's service grades with it; checks never use it."""
    path = layout.state / "grading_seed"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{secrets.randbelow(2**31 - 2) + 1}\n")
        os.chmod(path, 0o600)
    return int(path.read_text().strip())


# The course's folders in nbgrader's exchange, made by root before anyone logs in, with the modes
# nbgrader gives them for a course its instructors share (CourseDirectory.groupshared): instructors
# release into outbound and collect from inbound, a student lists outbound, drops a submission into
# inbound without seeing the others' and opens the feedback page named after their own submission.
EXCHANGE_FOLDERS = {"": 0o2775, "outbound": 0o2775, "inbound": 0o2773, "feedback": 0o2771}


def make_exchange(layout: Layout, instructors: int) -> None:
    """nbgrader's exchange, course folders included, owned by root.

    The exchange itself is writable by everyone, as nbgrader wants it, with the sticky bit: no
    student can rename the course's folder away, and since root makes that folder first, no
    student can make one of their own in its place and collect the class's submissions."""
    layout.exchange.mkdir(exist_ok=True)
    os.chown(layout.exchange, 0, 0)
    os.chmod(layout.exchange, 0o1777)
    for name, mode in EXCHANGE_FOLDERS.items():
        folder = layout.exchange / COURSE_ID / name if name else layout.exchange / COURSE_ID
        folder.mkdir(exist_ok=True)
        os.chown(folder, 0, instructors)
        os.chmod(folder, mode)


def write_jupyter_config(layout: Layout, role: str) -> Path:
    """The configuration folder a role's JupyterLab reads (its JUPYTER_CONFIG_PATH)."""
    folder = layout.jupyter(role)
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `tfladder hub` (tfladder/hub/layout.py); rewritten at every start.",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.Exchange.root = {str(layout.exchange)!r}",
    ]
    server: dict = {
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }
    hidden: dict[str, bool] = {}
    # the Check button's relay to the hub's check service (lab_check/), for every role
    extensions = {CHECK_RELAY: True}
    if role == "instructor":
        course = layout.course
        lines += [
            f"c.CourseDirectory.root = {str(course)!r}",
            "# the course's own configuration (the judge, the grading seed's tag...), then the hub's:",
            f"load_subconfig({str(course / 'nbgrader_config.py')!r})  # noqa: F821",
            f"c.CourseDirectory.root = {str(course)!r}",
            f"c.Exchange.root = {str(layout.exchange)!r}",
            "# Formgrader's Autograde runs as the instructor, who is not root: refuse rather than run",
            "# a student's code unsandboxed. Grade with `tfladder grade`, as root.",
            "c.JudgedExecute.sandbox = True",
            "# the course and its exchange folders belong to the instructors' group, not to one of them",
            "c.CourseDirectory.groupshared = True",
        ]
    else:
        extensions.update({name: False for name in STUDENT_HIDDEN_SERVER_EXTENSIONS})
        hidden = {name: True for name in STUDENT_HIDDEN_PLUGINS}
    server["ServerApp"] = {"jpserver_extensions": extensions}
    (folder / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1) + "\n")
    (folder / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": hidden}, indent=1) + "\n")
    for path in (folder, folder / "labconfig"):
        os.chmod(path, 0o755)
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o644)
    return folder


def _give(root: Path, gid: int, folder_mode: int, file_mode: int) -> None:
    """root and everything in it: group `gid`, the given modes (executables keep their x bits)."""
    for folder, _dirs, files in os.walk(root):
        os.chown(folder, -1, gid)
        os.chmod(folder, folder_mode)
        for name in files:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            os.chown(path, -1, gid)
            executable = path.stat().st_mode & 0o100
            os.chmod(path, file_mode | (0o110 if executable else 0))
