"""The hub's people: system accounts in one of two groups, students and instructors.

JupyterHub logs them in with PAM (their system password) and lets in members of either group
only; the group decides what their JupyterLab gets (`layout`). Each home is readable by its owner
only, so that no student reads another's work. Adding an account needs root (useradd).
"""

import grp
import os
import pwd
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

STUDENTS = "tfladder-students"
INSTRUCTORS = "tfladder-instructors"
ROLES = {"student": STUDENTS, "instructor": INSTRUCTORS}
# What useradd accepts on Debian, and what nbgrader accepts as a student id.
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


class AccountError(Exception):
    """An account that cannot be made or found, said in words."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str  # "student" or "instructor"
    home: Path


def ensure_groups() -> None:
    """Both groups exist (groupadd --system, once)."""
    for group in ROLES.values():
        try:
            grp.getgrnam(group)
        except KeyError:
            _run(["groupadd", "--system", group])


def add(name: str, role: str, password: str) -> Account:
    """A system account `name` in the group of `role`, logging in with `password`.

    An account that exists already is put in the group and given the password (so the command
    can be run again), unless it is a system account (uid under 1000) or root."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not NAME.match(name):
        raise AccountError(
            f"{name!r} is not a usable account name: lower-case letters, digits, '-' and '_', "
            "starting with a letter, at most 31 characters"
        )
    if not password or "\n" in password or ":" in password:
        raise AccountError("the password must be one line, not empty, without ':'")
    ensure_groups()
    try:
        existing = pwd.getpwnam(name)
    except KeyError:
        # a group of its own (never a group students share, such as `users`): nbgrader's exchange
        # and the course give rights by group
        _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        existing = pwd.getpwnam(name)
    else:
        if existing.pw_uid < 1000:
            raise AccountError(f"{name!r} is a system account (uid {existing.pw_uid}); choose another name")
    other = ROLES["student" if role == "instructor" else "instructor"]
    if name in grp.getgrnam(other).gr_mem:
        _run(["gpasswd", "--delete", name, other])
    _run(["usermod", "--append", "--groups", ROLES[role], name])
    _run(["chpasswd"], stdin=f"{name}:{password}\n")
    home = Path(existing.pw_dir)
    os.chmod(home, 0o700)  # no one else reads a student's work
    return Account(name, role, home)


def remove(name: str) -> None:
    """The account and its home, gone (userdel --remove). Only an account of the hub's groups."""
    if role_of(name) is None:
        raise AccountError(f"{name!r} is not a hub account (in neither {STUDENTS} nor {INSTRUCTORS})")
    subprocess.run(["pkill", "--uid", name], capture_output=True)  # its JupyterLab, if running
    _run(["userdel", "--remove", name], ok=(0, 12))  # 12: the home could not be removed fully


def role_of(name: str) -> str | None:
    """'instructor', 'student' or None (not a hub account). An instructor who is also in the
    students' group is an instructor."""
    for role in ("instructor", "student"):
        try:
            if name in grp.getgrnam(ROLES[role]).gr_mem:
                return role
        except KeyError:
            continue
    return None


def members(role: str) -> list[str]:
    try:
        return sorted(grp.getgrnam(ROLES[role]).gr_mem)
    except KeyError:
        return []


def _run(command: list[str], stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if done.returncode not in ok:
        raise AccountError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
