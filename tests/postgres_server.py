"""A throwaway PostgreSQL server for the tests and bench/: Debian's `postgresql`, initialised in a
temporary folder of its own (/tmp/tfladder-postgres-*, removed when it stops) and listening on a
Unix socket there only (no TCP port).

PostgreSQL refuses to run as root: as root, the server is initialised and run as the `postgres`
user that Debian's package creates, in a folder it owns (not under pytest's folders, which only
root may enter); otherwise as this user. Connections are trusted, and the folder is one only the
server's user (and root) may enter.

    with PostgresServer() as server:
        url = server.create_database("gradebook")   # postgresql://postgres@/gradebook?host=...
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

START_SECONDS = 60
SERVER_USER = "postgres"


def server_binaries():
    """The folder of initdb and pg_ctl: Debian keeps them in /usr/lib/postgresql/<version>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: `make setup` installs Debian's postgresql (apt-get)")


class PostgresServer:
    def __init__(self):
        self.bin = server_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="tfladder-postgres-"))  # mode 0700
        self.data, self.socket, self.log = self.folder / "data", self.folder / "socket", self.folder / "server.log"
        self.socket.mkdir(mode=0o700)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            for path in (self.folder, self.socket):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _start(self):
        self._as_server(
            [self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        self._as_server(
            [self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", str(START_SECONDS), "start"]
            + ["-o", f"-k {self.socket} -c listen_addresses='' -c fsync=off -c max_connections=200"]
        )
        self.started = True

    def _as_server(self, command):
        command = [str(part) for part in command]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{log}")
        return done.stdout

    def url(self, database):
        return f"postgresql://postgres@/{database}?host={self.socket}"

    def create_database(self, name):
        """A new, empty database made by `createdb NAME`, as docs/grading.md says; its SQLAlchemy
        URL (what nbgrader's db_url takes)."""
        done = subprocess.run(
            [str(self.bin / "createdb"), "-h", str(self.socket), "-U", "postgres", name], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {done.stdout}{done.stderr}")
        return self.url(name)

    def close(self):
        try:
            if getattr(self, "started", False):
                self.started = False
                self._as_server([self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
