"""JupyterHub's configuration for the class: PAM logins for the two groups, each user's JupyterLab
run as that user from the shared environment, configured by role.

`write()` puts a small jupyterhub_config.py in the hub's state folder; it calls `configure()`
with the settings it was written with, so that what the hub does is here, in plain Python.
"""

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tfladder import seeds
from tfladder.hub import accounts, service
from tfladder.hub import layout as layout_module
from tfladder.hub.layout import Layout

LOOPBACK = "127.0.0.1"
# Each role's file-creation mask: instructors share the course (group-writable files), a
# student's files are their own.
UMASK = {"instructor": "007", "student": "077"}
CONFIG = """# Written by `tfladder hub` (tfladder/hub/hub_config.py); rewritten at every start.
from tfladder.hub import hub_config

hub_config.configure(get_config(), hub_config.Settings(**{settings}))  # noqa: F821
"""


@dataclass(frozen=True)
class Settings:
    home: str  # the hub's home (layout)
    course: str  # the course it serves
    env_bin: str  # the users' environment's bin folder (environment.ensure)
    proxy: str  # configurable-http-proxy's command
    ip: str = LOOPBACK
    port: int = 8000
    hub_port: int = 0  # the hub's own API, for the proxy and the users' servers: loopback only
    proxy_api_port: int = 0
    service_port: int = 0  # tfladder's service (checks, grading): loopback only
    check_slots: int = 1  # checks that run at once, each a sandboxed kernel
    check_queue: int = 4  # checks that may wait for a slot; past them a student reads "busy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def write(settings: Settings) -> Path:
    """state/jupyterhub_config.py for these settings (the loopback ports chosen now if not given)."""
    chosen = asdict(settings)
    for key in ("hub_port", "proxy_api_port", "service_port"):
        chosen[key] = chosen[key] or free_port()
    path = Layout(Path(settings.home), Path(settings.course)).state / "jupyterhub_config.py"
    path.write_text(CONFIG.format(settings=json.dumps(chosen, indent=1)))
    os.chmod(path, 0o600)
    return path


def configure(c: Any, settings: Settings) -> None:
    """Set JupyterHub's configuration object `c` for the class."""
    layout = Layout(Path(settings.home), Path(settings.course))
    state = layout.state
    c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
    c.JupyterHub.hub_ip = LOOPBACK
    c.JupyterHub.hub_port = settings.hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://{LOOPBACK}:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [settings.proxy]
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True  # the users' servers stop with the hub
    # Who may log in: the system accounts of the two groups, with their system passwords.
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.allowed_groups = set(accounts.ROLES.values())
    c.PAMAuthenticator.open_sessions = False
    # Each user's JupyterLab: as that user (LocalProcessSpawner), from the shared environment,
    # with nothing of the hub's own environment (its PATH leads to the course's .venv).
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 180  # TensorFlow's import on a busy machine
    c.Spawner.http_timeout = 180
    c.Spawner.env_keep = ["LANG", "LC_ALL"]
    c.Spawner.environment = {"PATH": f"{settings.env_bin}:/usr/local/bin:/usr/bin:/bin"}
    c.Spawner.args = ["--ServerApp.ip=" + LOOPBACK]

    def by_role(spawner: Any) -> None:
        role = accounts.role_of(spawner.user.name)
        if role is None:  # left the groups after logging in
            raise RuntimeError(f"{spawner.user.name} is in neither {', '.join(accounts.ROLES.values())}")
        spawner.environment = {
            **spawner.environment,
            "JUPYTER_CONFIG_PATH": str(layout.jupyter(role)),
            "TFLADDER_HUB_ROLE": role,
        }
        if role == "instructor":
            # the whole package (the oracles for source/, the judge for nbgrader) and the course
            spawner.environment["PYTHONPATH"] = str(layout.lib)
            spawner.notebook_dir = str(layout.course)
        else:
            spawner.notebook_dir = "~"
        singleuser = str(Path(settings.env_bin) / "jupyterhub-singleuser")
        spawner.cmd = ["/bin/sh", "-c", f'umask {UMASK[role]} && exec "$0" "$@"', singleuser]

    c.Spawner.pre_spawn_hook = by_role

    # tfladder's service, as root like the hub: students' hidden-test checks (their servers relay
    # them with their own token, TFLADDER_CHECK_URL), instructors' grading and feedback runs.
    service_url = f"http://{LOOPBACK}:{settings.service_port}"
    c.JupyterHub.services = [
        {
            "name": service.NAME,
            "url": service_url,
            "command": [
                sys.executable,
                "-m",
                "tfladder.hub.service",
                "--course",
                settings.course,
                "--port",
                str(settings.service_port),
                "--slots",
                str(settings.check_slots),
                "--waiting",
                str(settings.check_queue),
            ],
            "cwd": settings.course,
            "environment": {
                "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                # the term's grading runs draw from the hub's secret seed, not the public default
                seeds.SEED_ENV: str(layout_module.term_seed(layout)),
            },
            "oauth_no_confirm": True,
            "display": True,
        }
    ]
    # every user may open the service's page (it shows each what their role may see)
    c.JupyterHub.extra_user_scopes = {f"access:services!service={service.NAME}"}
    c.Spawner.environment["TFLADDER_CHECK_URL"] = f"{service_url}{service.PREFIX}api/check"
