"""Sandboxed kernels for untrusted notebooks, without Docker: bubblewrap, setpriv and prlimit.

Each kernel runs as an unprivileged uid (one per parallel slot), in its own process, IPC, UTS and
network namespaces (no network at all: only loopback, which is its own), with a size-capped
tmpfs as its only writable space, the grading environment mounted read-only, and limits on
memory, CPU time, processes, file size and open files. The course (source/, the gradebook,
other students) is simply not mounted. A wall clock kills the whole sandbox when a notebook runs
too long; `--unshare-pid` and `--die-with-parent` make sure nothing inside outlives it.

The grader talks to the kernel over Unix sockets (ZeroMQ "ipc" transport) in a directory that
only this kernel and the grader can reach; that directory also holds its connection file (the
key that drives the kernel), so no kernel can see another's.

`python -m tfladder.sandbox.launcher ... -- CMD` is the launcher that `tfladder.sandbox.kernel_manager`'s
`SandboxKernelManager` (the kernel manager of nbgrader's Execute step) runs for every kernel. It
starts once per notebook, on the way to the kernel's first cell, so this module imports only the
standard library (jupyter_client alone costs about 0.15 s of CPU).
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from tfladder.sandbox.paths import python_paths

FIRST_UID = 61000
NOTEBOOK_MOUNT = "/opt/tfladder-notebook"  # where the kernel finds its tfladder (tfladder.course.notebook_lib)
MAX_KERNEL_OUTPUT = 1 << 20  # of a kernel's own stdout and stderr, passed to the log
USAGE = "usage.json"  # written by the launcher into the kernel folder when the sandbox ends
# Environment passed into the sandbox (everything else is cleared).
PASSED_ENV = (
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_ENABLE_ONEDNN_OPTS",
    "TFLADDER_THREADS",
    "TFLADDER_GRADING_SEED",
    "KERAS_BACKEND",
    "LANG",
    "LC_ALL",
)
# Files a submission may bring into the kernel's working directory: no code that Python could
# import or run at start-up, no hidden files.
BLOCKED_SUFFIXES = (".py", ".pyc", ".pth", ".so", ".ipynb")


# Runs as the sandbox uid just before the kernel: its home and working folder on the tmpfs, and a
# copy of the submission's data files. A plain kernel is then exec'd in its place; a zygote
# kernel's sandbox runs it alone, before its placeholder.
SETUP = (
    "umask 077; mkdir -p /tmp/home /tmp/work && cd /tmp/work && "
    "{ [ ! -d /tmp/submission ] || cp -r /tmp/submission/. /tmp/work/; }"
)
SETUP_SCRIPT = SETUP + ' && exec "$@"'


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine; the message says what is missing."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one notebook's kernel."""

    memory_bytes: int = 8 << 30  # address space; TensorFlow reserves a lot it never touches
    cpu_seconds: int = 900
    processes: int = 256  # threads count too (RLIMIT_NPROC, per uid)
    file_bytes: int = 64 << 20
    open_files: int = 1024
    scratch_bytes: int = 256 << 20  # the tmpfs that is the only writable place
    wall_seconds: int = 600  # the whole notebook, on top of nbgrader's per-cell timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Limits":
        """Limits with overrides from TFLADDER_SANDBOX_<FIELD> environment variables."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            raw = env.get(f"TFLADDER_SANDBOX_{name.upper()}")
            if raw:
                values[name] = int(raw)
        return cls(**values)


def uid_for(slot: int) -> int:
    return FIRST_UID + int(slot)


def _parents(paths: Iterable[str]) -> list[str]:
    """Every parent folder of the given paths, shortest first (created 0755 in the sandbox)."""
    found: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        while str(parent) not in ("/", ""):
            found.add(str(parent))
            parent = parent.parent
    return sorted(found, key=lambda p: (p.count(os.sep), p))


def sandbox_env(env: Mapping[str, str], notebook_lib: bool = False) -> dict[str, str]:
    """The kernel's whole environment: fixed values plus the few grading settings passed on
    (with `notebook_lib`, the notebook library's mount point on the kernel's import path)."""
    values = {
        "HOME": "/tmp/home",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "TMPDIR": "/tmp",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "MPLCONFIGDIR": "/tmp/home/.matplotlib",
        "IPYTHONDIR": "/tmp/home/.ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/home/.runtime",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "FONTCONFIG_FILE": "/etc/fonts/fonts.conf",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    values.update({k: env[k] for k in PASSED_ENV if k in env})
    if notebook_lib:
        values["PYTHONPATH"] = NOTEBOOK_MOUNT
    return values


def _prlimit(limits: Limits) -> list[str]:
    return [
        "/usr/bin/prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _setpriv(uid: int | None = None) -> list[str]:
    """setpriv dropping every capability; as `uid` when given (else it stays uid 0, powerless)."""
    user = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else ["--clear-groups"]
    return ["/usr/bin/setpriv", *user, "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]


# PID 1 of a zygote kernel's sandbox (run as a powerless root): says "ready", learns the kernel's
# pid from the launcher on stdin, reaps every orphan, and exits with the kernel's status (128 + N
# for signal N, as bubblewrap reports a plain kernel's), which ends the sandbox.
HOLDER_INIT = """
import os, select, sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
kernel, ended, line = None, {}, b""
while True:
    if select.select([0], [], [], 0.05)[0]:
        chunk = os.read(0, 64)
        if not chunk:
            os._exit(137)
        line += chunk
        if kernel is None and b"\\n" in line:
            kernel = int(line.split(b"\\n")[0])
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        ended[pid] = status
    if kernel in ended:
        status = ended[kernel]
        os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
"""


def holder_script(uid: int, limits: Limits, token: str) -> str:
    """What a zygote kernel's sandbox runs instead of the kernel: the kernel's setup, as the kernel's
    uid under its limits, then HOLDER_INIT as PID 1, with every capability dropped."""
    setup = shlex.join([*_prlimit(limits), *_setpriv(uid), "/bin/sh", "-c", SETUP, "setup"])
    hold = shlex.join([*_setpriv(), sys.executable, "-P", "-c", HOLDER_INIT, f"tfladder-holder-{token}"])
    return f"{setup} && exec {hold}"


def bwrap_command(
    command: Iterable[str],
    *,
    uid: int,
    kernel_dir: str | Path,
    files_dir: str | Path | None,
    limits: Limits,
    env: Mapping[str, str],
    holder_token: str | None = None,
    notebook_lib: str | Path | None = None,
) -> list[str]:
    """The full command line that runs `command` inside the sandbox.

    With `holder_token`, the sandbox runs `holder_script` instead (named by the token, so that the
    zygote can tell it is the right process) and `command` is ignored. `notebook_lib`, the
    notebook library's folder, is mounted read-only at NOTEBOOK_MOUNT.
    """
    system = python_paths()
    args = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    for top in ("usr", "lib", "lib64", "bin", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.exists():
            args += ["--ro-bind", str(host), str(host)]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ("ld.so.cache", "localtime", "fonts", "ssl"):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    args += [
        "--ro-bind",
        str(Path(kernel_dir) / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(Path(kernel_dir) / "group"),
        "/etc/group",
    ]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # /tmp first: the environment or the kernel folder may live under /tmp (a clone in /tmp/ci).
    scratch = Path(kernel_dir) / "scratch"
    if os.path.ismount(scratch):  # mounted by the grader, so it can measure what was written
        args += ["--bind", str(scratch), "/tmp"]
    else:
        args += ["--perms", "1777", "--size", str(limits.scratch_bytes), "--tmpfs", "/tmp"]
    for parent in _parents(system + [str(kernel_dir)]):
        if parent not in ("/tmp",):
            args += ["--perms", "0755", "--dir", parent]
    for path in system:
        args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", str(kernel_dir)]
    sockets = Path(kernel_dir) / "sockets"
    args += ["--bind", str(sockets), str(sockets)]
    connection = Path(kernel_dir) / "kernel.json"
    if connection.exists():
        args += ["--ro-bind", str(connection), str(connection)]
    if files_dir and any(Path(files_dir).iterdir()):
        args += ["--ro-bind", str(files_dir), "/tmp/submission"]
    if notebook_lib:
        args += [
            "--perms",
            "0755",
            "--dir",
            str(Path(NOTEBOOK_MOUNT).parent),
            "--ro-bind",
            str(notebook_lib),
            NOTEBOOK_MOUNT,
        ]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in sandbox_env(env, notebook_lib=bool(notebook_lib)).items():
        args += ["--setenv", key, value]
    if holder_token is not None:
        return args + [
            "--as-pid-1",
            "--",
            "/bin/sh",
            "-c",
            holder_script(uid, limits, holder_token),
            f"tfladder-holder-{holder_token}",
        ]
    # Limits apply to the kernel and everything it starts; the uid switch drops every capability.
    args += ["--", *_prlimit(limits), *_setpriv(uid), "/bin/sh", "-c", SETUP_SCRIPT, "sandbox"]
    return args + list(command)


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir()
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0
    )


def prepare_kernel_dir(uid: int, limits: Limits | None = None) -> Path:
    """A fresh folder for one kernel: passwd/group files, its connection file, and two tmpfs.

    `sockets/` holds the Unix sockets the grader connects to: a 1 MiB tmpfs owned by the kernel's
    uid (a plain folder where tmpfs cannot be mounted). `scratch/` becomes the kernel's /tmp, its
    only writable space, size-capped; the launcher measures it when the kernel ends.
    """
    limits = limits or Limits.from_env()
    kernel_dir = Path(tempfile.mkdtemp(prefix="tfladder-kernel-"))
    os.chmod(kernel_dir, 0o711)
    (kernel_dir / "passwd").write_text(
        f"root:x:0:0::/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}::/tmp/home:/usr/sbin/nologin\n"
    )
    (kernel_dir / "group").write_text(f"root:x:0:\nsandbox:x:{uid}:\n")
    sockets = kernel_dir / "sockets"
    if not _mount_tmpfs(sockets, f"size=1m,mode=0700,uid={uid},gid={uid}"):
        os.chown(sockets, uid, uid)
        os.chmod(sockets, 0o700)
    _mount_tmpfs(kernel_dir / "scratch", f"size={limits.scratch_bytes},mode=1777")
    return kernel_dir


def remove_kernel_dir(kernel_dir: str | Path) -> None:
    for name in ("sockets", "scratch"):
        if os.path.ismount(Path(kernel_dir) / name):
            subprocess.run(["umount", "-l", str(Path(kernel_dir) / name)], capture_output=True)
    shutil.rmtree(kernel_dir, ignore_errors=True)


def read_usage(kernel_dir: str | Path) -> dict[str, Any]:
    """What the launcher measured when the sandbox ended (see `launch`), or {}."""
    try:
        return json.loads((Path(kernel_dir) / USAGE).read_text())
    except (OSError, ValueError):
        return {}


def limits_hit(usage: Mapping[str, Any], limits: Limits) -> list[str]:
    """Plain-words reasons from a usage record: which limits the notebook ran into."""
    reasons = []
    if usage.get("wall_clock_exceeded"):
        reasons.append(f"the notebook ran longer than {limits.wall_seconds} s and was stopped")
    signal_name = usage.get("signal")
    if signal_name == "SIGXCPU" or usage.get("cpu_seconds", 0) >= limits.cpu_seconds:
        reasons.append(f"the kernel used its {limits.cpu_seconds} s of CPU time and was stopped")
    elif signal_name and signal_name != "SIGKILL" and not usage.get("wall_clock_exceeded"):
        reasons.append(f"the kernel was ended by {signal_name}")
    if usage.get("max_rss_bytes", 0) >= limits.memory_bytes // 2:
        reasons.append(
            f"the kernel used {usage['max_rss_bytes'] / 2**30:.1f} GiB of memory "
            f"(limit {limits.memory_bytes / 2**30:.1f} GiB)"
        )
    if usage.get("scratch_used_bytes", 0) >= 0.9 * limits.scratch_bytes:
        reasons.append(f"the notebook filled its {limits.scratch_bytes >> 20} MiB scratch space")
    return reasons


def _submitted_files(source_dir: str | Path | None) -> list[tuple[Path, bool]]:
    """[(relative path, may reach the kernel)] for every file submitted in source_dir.

    Data files may; code Python could import or run, notebooks, symlinks and hidden files may not.
    """
    if not source_dir or not Path(source_dir).is_dir():
        return []
    found = []
    for path in sorted(Path(source_dir).rglob("*")):
        relative = path.relative_to(source_dir)
        if path.is_dir() and not path.is_symlink():
            continue
        hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
        blocked = hidden or path.is_symlink() or not path.is_file() or path.suffix.lower() in BLOCKED_SUFFIXES
        found.append((relative, not blocked))
    return found


def kernel_files(source_dir: str | Path | None) -> list[Path]:
    """The submitted files a kernel gets a copy of (relative paths)."""
    return [relative for relative, allowed in _submitted_files(source_dir) if allowed]


def left_out_files(source_dir: str | Path | None) -> list[str]:
    """Submitted files the kernel will not see (the graded notebook itself aside)."""
    return [
        str(relative)
        for relative, allowed in _submitted_files(source_dir)
        if not allowed and not (relative.suffix == ".ipynb" and len(relative.parts) == 1)
    ]


def copy_allowed_files(source_dir: str | Path | None, target_dir: str | Path) -> Path:
    """Copy a submission's data files (no code, no hidden files, no notebooks) to target_dir."""
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    for relative in kernel_files(source_dir):
        assert source_dir is not None  # kernel_files(None) is empty
        (target_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(source_dir) / relative, target_dir / relative)
    return target_dir


def startable() -> bool:
    """True when the sandbox's tools are here and this process may use them (root): a cheap test,
    `check_available` is the thorough one."""
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("bwrap", "prlimit", "setpriv"))


def check_available(slot: int = 0, limits: Limits | None = None) -> None:
    """Raise SandboxUnavailable with a clear message unless a sandbox really starts here."""
    missing = [tool for tool in ("bwrap", "prlimit", "setpriv") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"the grading sandbox needs {', '.join(missing)} (Debian: apt-get install bubblewrap "
            "util-linux); `make setup` installs them. To grade without a sandbox, pass --unsafe-no-sandbox."
        )
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the grading sandbox must start as root (it switches each kernel to its own unprivileged uid); "
            "run the grader as root, or pass --unsafe-no-sandbox."
        )
    uid = uid_for(slot)
    kernel_dir = prepare_kernel_dir(uid)
    try:
        command = bwrap_command(
            [sys.executable, "-P", "-c", "import os; print(os.getuid())"],
            uid=uid,
            kernel_dir=kernel_dir,
            files_dir=None,
            limits=limits or Limits(),
            env=os.environ,
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnavailable(f"the grading sandbox could not start: {error}") from None
    finally:
        remove_kernel_dir(kernel_dir)
    if done.returncode != 0 or done.stdout.strip() != str(uid):
        raise SandboxUnavailable(
            "the grading sandbox could not start a Python process as an unprivileged user:\n"
            + (done.stderr.strip() or done.stdout.strip())[-1500:]
        )


def launch(argv: Sequence[str] | None = None) -> int:
    """Run a command in the sandbox; kill it all when the wall clock runs out or we are stopped.

    With --zygote, the sandbox holds a placeholder and the kernel is forked into it by the zygote
    at that socket (`tfladder.sandbox.zygote`); everything else is the same.
    """
    parent = os.getppid()
    parser = argparse.ArgumentParser(prog="python -m tfladder.sandbox.launcher")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--kernel-dir", required=True)
    parser.add_argument("--files-dir")
    parser.add_argument("--limits", default="{}")
    parser.add_argument("--zygote", help="socket of a zygote that forks the kernel into the sandbox")
    parser.add_argument("--notebook-lib", help="the notebook library's folder (tfladder.course.notebook_lib)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    limits = Limits(**json.loads(args.limits))
    # The kernel's standard streams are pipes of its own, read here and passed on to this
    # launcher's (the worker's log): it holds no descriptor that other kernels or the grader share.
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    nothing = os.open(os.devnull, os.O_RDONLY)
    try:
        if args.zygote:
            child = _start_forked(args, command, limits, (nothing, out_write, err_write))
        else:
            full = bwrap_command(
                command,
                uid=args.uid,
                kernel_dir=args.kernel_dir,
                files_dir=args.files_dir,
                limits=limits,
                env=os.environ,
                notebook_lib=args.notebook_lib,
            )
            child = subprocess.Popen(full, start_new_session=True, stdin=nothing, stdout=out_write, stderr=err_write)
    finally:
        for fd in (out_write, err_write, nothing):
            os.close(fd)
    streams = _Streams({out_read: sys.stdout, err_read: sys.stderr})

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    peak = {"max_rss_bytes": 0, "cpu_seconds": 0.0}

    def terminated(signum: int, frame: FrameType | None) -> None:
        # jupyter_client sends SIGTERM when a kernel is slow to shut down (a busy machine, a big
        # heap to free): the usage measured so far is still the notebook's, and must be recorded.
        _sample(args.uid, peak)
        stop()
        child.wait()
        _write_usage(args.kernel_dir, None, False, peak, stopped_by_grader=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts arrive as messages
    exceeded = False
    deadline = time.monotonic() + limits.wall_seconds
    next_sample = 0.0
    while (code := child.poll()) is None:
        now = time.monotonic()
        if os.getppid() != parent:
            # The grader (a grading node's worker, say, killed mid-notebook) is gone: nobody will
            # stop this kernel or clean up after it. Stop it and leave nothing behind.
            stop()
            child.wait()
            remove_kernel_dir(args.kernel_dir)
            return 137
        if now > deadline:
            sys.stderr.write(f"tfladder sandbox: the notebook ran longer than {limits.wall_seconds} s; stopped\n")
            exceeded = True
            stop()
            child.wait()
            code = 137
            break
        if now >= next_sample:  # usage every 0.25 s; the end is noticed within 0.05 s
            _sample(args.uid, peak)
            next_sample = now + 0.25
        streams.pass_on(0.05)
    streams.drain()
    _write_usage(args.kernel_dir, code, exceeded, peak)
    return code


class _Streams:
    """A kernel's stdout and stderr pipes, passed on to this process's own, at most
    MAX_KERNEL_OUTPUT bytes in all (the rest is read and dropped, so the kernel never blocks)."""

    def __init__(self, targets: Mapping[int, TextIO]) -> None:
        self.targets, self.left = dict(targets), MAX_KERNEL_OUTPUT

    def pass_on(self, timeout: float) -> None:
        import select

        if not self.targets:
            time.sleep(timeout)
            return
        for fd in select.select(list(self.targets), [], [], timeout)[0]:
            self._read(fd)

    def _read(self, fd: int) -> bool:
        data = os.read(fd, 65536)
        if not data:
            os.close(fd)
            self.targets.pop(fd)
            return False
        kept = data[: max(0, self.left)]
        if self.left > 0 and len(kept) < len(data):
            kept += b"\n[tfladder sandbox: the kernel's further output was dropped]\n"
        self.left -= len(data)
        if kept:
            target = self.targets[fd]
            target.buffer.write(kept)
            target.flush()
        return True

    def drain(self, seconds: float = 2.0) -> None:
        """What is left in the pipes once the kernel ended (its sandbox, and so every writer, gone)."""
        import select

        deadline = time.monotonic() + seconds
        while self.targets and time.monotonic() < deadline:
            for fd in select.select(list(self.targets), [], [], 0.05)[0]:
                self._read(fd)


def _start_forked(
    args: argparse.Namespace, command: list[str], limits: Limits, stdio: tuple[int, int, int]
) -> subprocess.Popen[bytes]:
    """Start the sandbox with a placeholder, then have the zygote fork the kernel into it with
    `stdio` (stdin, stdout, stderr descriptors) as its standard streams."""
    import secrets

    from tfladder.sandbox import zygote

    if len(command) < 3 or not os.path.basename(command[0]).startswith("python"):
        raise SystemExit(f"tfladder sandbox: a zygote kernel must be `python -P -m MODULE ...`, not {command[:3]}")
    argv = command[2:] if command[1] == "-P" else command[1:]
    token = secrets.token_hex(16)
    info_read, info_write = os.pipe()
    full = bwrap_command(
        command,
        uid=args.uid,
        kernel_dir=args.kernel_dir,
        files_dir=args.files_dir,
        limits=limits,
        env=os.environ,
        holder_token=token,
        notebook_lib=args.notebook_lib,
    )
    full = [full[0], "--info-fd", str(info_write), *full[1:]]
    child = subprocess.Popen(
        full,
        start_new_session=True,
        pass_fds=[info_write],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stdio[2],
    )
    assert child.stdin is not None and child.stdout is not None  # both are pipes
    os.close(info_write)
    try:
        ready = zygote.read_line(child.stdout.fileno(), 60)
        info = zygote.read_all(info_read, 10) if ready == b"ready" else b""
    finally:
        os.close(info_read)
    if not info:
        child.kill()
        raise SystemExit(f"tfladder sandbox: the sandbox did not start (bwrap exit status {child.wait()})")
    with zygote.request_kernel(
        args.zygote,
        holder_pid=json.loads(info)["child-pid"],
        token=token,
        uid=args.uid,
        limits=asdict(limits),
        env=sandbox_env(os.environ, notebook_lib=bool(args.notebook_lib)),
        argv=argv,
        stdio=stdio,
    ) as conn:
        answer = json.loads(zygote.read_line(conn.fileno(), 60) or b'{"error": "no answer in 60 s"}')
    if "started" not in answer:
        child.kill()
        child.wait()
        raise SystemExit(f"tfladder sandbox: the zygote could not start the kernel: {answer.get('error')}")
    child.stdin.write(f"{answer['started']}\n".encode())  # PID 1 waits for this process
    child.stdin.flush()
    return child


def _sample(uid: int, peak: dict[str, float]) -> None:
    """Update the peak resident memory and the CPU time of the processes running as `uid`.

    Measured from outside through /proc: bubblewrap does not pass its children's resource usage on.
    """
    cpu = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) != uid:
                continue
            peak["max_rss_bytes"] = max(peak["max_rss_bytes"], int(fields.get("VmHWM", "0 kB").split()[0]) * 1024)
            stat = (status.parent / "stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / ticks
        except (OSError, ValueError, KeyError, IndexError):
            continue
    peak["cpu_seconds"] = max(peak["cpu_seconds"], cpu)


def _write_usage(
    kernel_dir: str | Path,
    code: int | None,
    exceeded: bool,
    peak: Mapping[str, float],
    stopped_by_grader: bool = False,
) -> None:
    """Record, from outside the sandbox, what the kernel used: memory, CPU, scratch, how it ended."""
    record: dict[str, object] = {"exit_code": code, "wall_clock_exceeded": exceeded, **peak}
    if stopped_by_grader:
        record["stopped_by_grader"] = True
    # bwrap reports a child killed by signal N as exit status 128 + N
    if code is not None and code > 128 and code - 128 < signal.NSIG:
        record["signal"] = signal.Signals(code - 128).name
    scratch = Path(kernel_dir) / "scratch"
    if os.path.ismount(scratch):
        stats = os.statvfs(scratch)
        record["scratch_used_bytes"] = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    try:
        (Path(kernel_dir) / USAGE).write_text(json.dumps(record))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(launch())
