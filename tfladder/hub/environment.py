"""The environment every hub user's JupyterLab runs from, readable by every account.

The course's own environment (`.venv`) cannot be it: it is made from a Python that often lives
under root's home (pyenv's /root/.pyenv, mode 700, where no student may look), and it holds the
whole `tfladder` package, oracles included, as an editable install of the repository. So the hub
gets one of its own, under /opt/tfladder by default:

- `python/`: the course's Python, copied without its site-packages and test suite (about 100 MB),
  its library path set relative to itself (patchelf), so that it runs from anywhere; a Python
  every account can read already (Debian's /usr/bin/python3.11, when the pins fit it) is used as
  it is;
- `env/`: a virtual environment with every package of requirements.lock and the notebook library
  (`tfladder.course.notebook_lib`), the one a graded kernel gets: no oracle, no hidden test, no
  answer. Instructors add the whole package on top (`layout`).

`ensure()` rebuilds only what changed: a stamp holds the digest of the lock and of the library.
"""

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tfladder.course import notebook_lib

DEFAULT_PREFIX = Path("/opt/tfladder")
STAMP = ".tfladder-env"


class EnvironmentFailed(Exception):
    """The environment could not be made, said in words."""


def readable_by_all(path: str | Path) -> bool:
    """Every account can reach and read `path`: each parent folder is world-executable and the
    path itself world-readable."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def python_for_all(prefix: Path, base: Path | None = None) -> Path:
    """A Python 3.11 every account can run: the course's own (`base`, default this one's base
    prefix) if they can read it, else a copy of it under prefix/python."""
    base = Path(base or sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if readable_by_all(base / "bin" / version) and readable_by_all(base / "lib" / version):
        return base / "bin" / version
    target = prefix / "python"
    executable = target / "bin" / version
    if not executable.exists():
        partial = prefix / "python.partial"
        shutil.rmtree(partial, ignore_errors=True)
        (partial / "bin").mkdir(parents=True)
        (partial / "lib").mkdir()
        shutil.copy2(base / "bin" / version, partial / "bin" / version)
        for library in (base / "lib").glob("libpython3*.so*"):
            shutil.copy2(library, partial / "lib" / library.name, follow_symlinks=False)
        skip = {"site-packages", "test", "__pycache__", "idlelib", "tkinter", "turtledemo"}
        shutil.copytree(
            base / "lib" / version,
            partial / "lib" / version,
            symlinks=True,
            ignore=lambda folder, names: [n for n in names if n in skip],
        )
        (partial / "lib" / version / "site-packages").mkdir()
        patchelf = Path(sys.executable).parent / "patchelf"
        _run([str(patchelf), "--set-rpath", "$ORIGIN/../lib", str(partial / "bin" / version)])
        _make_readable(partial)
        partial.rename(target)
    return executable


def digest(lock: Path) -> str:
    """What the environment is made from: the lock and the notebook library's files."""
    h = hashlib.sha256(lock.read_bytes())
    for name, text in sorted(notebook_lib.files().items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def ensure(repo: Path, prefix: Path = DEFAULT_PREFIX, log: Callable[[str], object] = print) -> Path:
    """prefix/env, made or brought up to date; its bin folder is returned."""
    prefix = Path(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    os.chmod(prefix, 0o755)
    lock = repo / "requirements.lock"
    env = prefix / "env"
    wanted = digest(lock)
    stamp = env / STAMP
    with open(prefix / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # two hubs (or a hub and the tests) setting up at once
        if not (stamp.exists() and stamp.read_text().strip() == wanted):
            _build(repo, prefix, env, stamp, wanted, log)
        write_lab_defaults(env)
        install_check_button(env)
    return env / "bin"


# JupyterLab settings every user of the environment starts from (they can change them): no
# "get notified about Jupyter news?" pop-up, no calls to the internet for news.
LAB_DEFAULTS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}


def write_lab_defaults(env: Path) -> Path:
    """env/share/jupyter/lab/settings/overrides.json, JupyterLab's defaults for the environment."""
    path = env / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(LAB_DEFAULTS, indent=1) + "\n")
    os.chmod(path, 0o644)
    return path


CHECK_BUTTON = Path(__file__).parent / "lab_check"


def install_check_button(env: Path) -> None:
    """The Check button (a JupyterLab extension) and its relay (a Jupyter server extension) in
    the environment, as they are in lab_check/; every start brings them up to date."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    relay = env / "lib" / version / "site-packages" / "tfladder_lab_check.py"
    shutil.copy(CHECK_BUTTON / "tfladder_lab_check.py", relay)
    button = env / "share" / "jupyter" / "labextensions" / "@tfladder" / "check"
    shutil.rmtree(button, ignore_errors=True)
    shutil.copytree(CHECK_BUTTON / "labextension", button)
    _make_readable(relay.parent / "tfladder_lab_check.py")
    _make_readable(button.parent)


def _build(repo: Path, prefix: Path, env: Path, stamp: Path, wanted: str, log: Callable[[str], object]) -> None:
    lock = repo / "requirements.lock"
    python = python_for_all(prefix)
    log(f"tfladder hub: building the users' environment in {env} (from {python}; a few minutes the first time)")
    if not (env / "bin" / "python").exists():
        _run([str(python), "-m", "venv", str(env)])
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", str(lock)])
    # what setup does to .venv too: jsonschema is slow to import with it, and no schema needs it
    _run([str(env / "bin" / "python"), "-m", "pip", "uninstall", "--quiet", "--yes", "rfc3987-syntax"])
    library = notebook_lib.build(prefix / "tfladder-notebook")
    _run([*pip, "--no-deps", "--no-build-isolation", "--force-reinstall", str(library)])
    _make_readable(env)
    stamp.write_text(wanted + "\n")


def _make_readable(root: Path) -> None:
    """Every file readable by all, folders and executables enterable/runnable by all."""
    if root.is_file():
        os.chmod(root, root.stat().st_mode | 0o444)
        return
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, os.stat(folder).st_mode | 0o755)
        for name in files:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise EnvironmentFailed(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{tail}")
