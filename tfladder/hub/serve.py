"""Bring the class's hub up: what it needs made or brought up to date, then JupyterHub itself.

`prepare()` is everything but the start (as root): the proxy (npm ci in hub-proxy/, pinned by its
package-lock.json), the users' environment, the folders and the configuration. `start()` starts
JupyterHub (from the course's own environment, as root: PAM and starting servers as each user
need it) and `wait_until_up()` waits for its login page.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tfladder.hub import environment, hub_config, layout


class HubError(Exception):
    """The hub cannot be set up or started, said in words."""


@dataclass(frozen=True)
class Hub:
    layout: layout.Layout
    config: Path
    url: str
    warnings: tuple[str, ...] = ()


def exposed_answers(repo: Path) -> list[str]:
    """What of the repository's answers every account on this machine can read."""
    places = [repo / "source", repo / "tests" / "fixtures", repo / "tfladder" / "oracles"]
    return [str(p) for p in places if p.exists() and environment.readable_by_all(p)]


def proxy_command(repo: Path) -> Path:
    """configurable-http-proxy, installed from the npm registry as hub-proxy/package-lock.json pins it."""
    folder = repo / "hub-proxy"
    command = folder / "node_modules" / ".bin" / "configurable-http-proxy"
    if command.exists():
        return command
    if shutil.which("npm") is None:
        raise HubError("npm is not installed: `apt-get install -y nodejs npm` (Node.js 20 or newer), then again")
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True)
    if done.returncode != 0 or not command.exists():
        raise HubError(f"npm ci in {folder} failed:\n{done.stderr.strip()[-2000:]}")
    return command


def prepare(
    repo: Path,
    home: Path = layout.DEFAULT_HOME,
    prefix: Path = environment.DEFAULT_PREFIX,
    course: Path | None = None,
    ip: str = hub_config.LOOPBACK,
    port: int = 8000,
    check_slots: int = 1,
    check_queue: int = 4,
    log=print,
) -> Hub:
    if os.geteuid() != 0:
        raise HubError("the hub runs as root (it logs people in with PAM and starts their servers as them)")
    proxy = proxy_command(repo)
    env_bin = environment.ensure(repo, prefix, log=log)
    folders = layout.prepare(home, repo, course)
    settings = hub_config.Settings(
        home=str(folders.home),
        course=str(folders.course),
        env_bin=str(env_bin),
        proxy=str(proxy),
        ip=ip,
        port=port,
        check_slots=check_slots,
        check_queue=check_queue,
    )
    config = hub_config.write(settings)
    exposed = exposed_answers(repo)
    warnings = (
        (
            f"every account on this machine can read the answers in {', '.join(exposed)}: "
            f"close the repository to them (chmod o-rwx {repo}) before students log in",
        )
        if exposed
        else ()
    )
    return Hub(folders, config, f"http://{ip}:{port}", warnings)


def start(hub: Hub, log_file: Path | None = None) -> subprocess.Popen:
    """JupyterHub, started in the hub's state folder (its output to `log_file` if given)."""
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    env = dict(os.environ)
    env["PATH"] = f"{jupyterhub.parent}{os.pathsep}{env.get('PATH', '')}"
    out = open(log_file, "ab") if log_file else None
    try:
        return subprocess.Popen(
            [str(jupyterhub), "-f", str(hub.config)],
            cwd=hub.layout.state,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
    finally:
        if out:
            out.close()


def wait_until_up(hub: Hub, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HubError(f"JupyterHub exited ({process.returncode}) while starting")
        try:
            with urllib.request.urlopen(hub.url + "/hub/login", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise HubError(f"JupyterHub did not answer at {hub.url} within {timeout:.0f} s")
