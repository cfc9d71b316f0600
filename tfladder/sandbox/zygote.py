"""Kernels forked from a process that has already imported TensorFlow, each inside its own sandbox.

`import tensorflow` costs about 2 s of CPU per kernel. The zygote pays it once per grading run: it
imports numpy, TensorFlow and ipykernel (no TensorFlow op runs, no file of the course is read)
and then forks one kernel per notebook. The sandbox itself is unchanged: the launcher
(`tfladder.sandbox.launcher`) starts bubblewrap exactly as for a plain kernel, with a placeholder process in
it; the forked kernel then enters that sandbox's namespaces (mount, PID, network, IPC, UTS,
cgroup), takes the same rlimits as `prlimit` gives, and drops to the slot's uid with no
capabilities and no new privileges, as `setpriv` does, before any submitted code exists in it.
It checks all of that (uid, groups, capability sets, namespaces) and refuses to run otherwise.

Process chain for one kernel:

    zygote (root, its own mount namespace with a private /tmp, TensorFlow imported)
      -> entrant (root): opens the placeholder's namespaces, checks they are that placeholder's,
         joins all but the mount namespace
        -> middle (root, the first process inside the PID namespace): forks the kernel, reports
           its pid, exits
          -> kernel: waits to be adopted by the sandbox's PID 1, joins the mount namespace,
             takes the limits, drops to the slot's uid with no capabilities, checks that it
             did, then runs `ipykernel_launcher`

The placeholder is the sandbox's PID 1 (a powerless root process, as bubblewrap's own init is for
a plain kernel): it adopts the kernel when the middle process exits, reaps whatever is orphaned,
and exits with the kernel's status when the kernel ends, which ends the sandbox. Inside, the
kernel sees the same processes as a plain kernel does: PID 1 and itself, so that killing its
parent or every process it may is refused exactly as before.

What differs from a kernel started from scratch, none of it a channel between students: the
kernel's memory starts as a copy of the zygote's (TensorFlow, numpy and ipykernel already
imported, the same address layout and hash seed in every kernel; numpy's global generator is
reseeded, Python's `random` reseeds itself on fork), and /proc shows the zygote's command line.

The launcher talks to the zygote over a Unix socket in a folder only root can enter, passing the
kernel's standard streams along; submitted code can reach neither (the sandbox has its own network
namespace and does not mount that folder).
"""

import ctypes
import json
import os
import resource
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn, Self

# Linux constants (x86_64 and aarch64 agree on these)
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# setns order as nsenter uses it; the mount namespace last but one, the PID namespace applies to
# the next fork only.
NAMESPACES = ("cgroup", "ipc", "uts", "net", "pid", "mnt")
REQUIRED = ("ipc", "uts", "net", "pid", "mnt")  # bubblewrap's --unshare-cgroup-try may not
LIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "processes": resource.RLIMIT_NPROC,
    "file_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
}
PRELOAD = ("numpy", "tensorflow", "ipykernel.kernelapp")
PREIMPORTED_ENV = "TFLADDER_TF_PREIMPORTED"
MAX_REQUEST = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


class ZygoteError(RuntimeError):
    """The zygote could not start a kernel; the message says why."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def _clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets of this process."""
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def _drop_bounding_and_ambient() -> None:
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)


def _status() -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


# -- the kernel side ------------------------------------------------------------------------------
def become_sandboxed(uid: int, limits: Mapping[str, int]) -> None:
    """In the kernel process: the rlimits `prlimit` sets, then what `setpriv` does, then a check.

    setpriv --reuid=U --regid=U --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all
    """
    for name, which in LIMITS.items():
        value = int(limits[name])
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    _drop_bounding_and_ambient()
    os.setresuid(uid, uid, uid)  # clears the permitted and effective sets
    _clear_capabilities()  # and the inheritable one
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    status = _status()
    expected = {"Uid": [str(uid)] * 4, "Gid": [str(uid)] * 4, "Groups": [], "NoNewPrivs": ["1"]}
    expected.update({cap: ["0" * 16] for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")})
    wrong = {k: status.get(k) for k, v in expected.items() if status.get(k) != v}
    if wrong:
        raise ZygoteError(f"the kernel did not drop its privileges: {wrong}")


def forget_the_grader() -> None:
    """Drop what the zygote (a grader's process) imported of tfladder, and the environment's
    finder that maps `tfladder` to the repository: the kernel imports its tfladder afresh, from
    the notebook library on its PYTHONPATH, as a kernel started from scratch would. (`make lab`'s
    kernel launcher runs this same function for students' notebooks: `tfladder.cli.lab`.)"""
    for name in [n for n in sys.modules if n == "tfladder" or n.startswith("tfladder.")]:
        del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "").lower()]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in getattr(h, "__module__", "").lower()]
    sys.path[:] = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [
        p for p in sys.path if "__editable__" not in p
    ]
    sys.path_importer_cache.clear()
    import importlib

    importlib.invalidate_caches()


def run_kernel(request: Mapping[str, Any]) -> NoReturn:
    """In the kernel process, once sandboxed: become `python -P ARGV` as the kernelspec says."""
    os.umask(0o077)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[PREIMPORTED_ENV] = "1"  # TensorFlow was imported here, quietly (tfladder.runtime)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    forget_the_grader()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # a fresh process would draw its own seed
    argv = list(request["argv"])
    if argv[:1] not in (["-m"], ["-c"]) or len(argv) < 2:
        raise ZygoteError(f"the kernel command must be `python -m MODULE ...` or `-c CODE`, not {argv}")
    sys.argv = [argv[1] if argv[0] == "-m" else "-c", *argv[2:]]
    code = 0
    try:
        if argv[0] == "-m":
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - the kernel's own crash, reported like Python would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
    os._exit(code)


# -- entering the sandbox -------------------------------------------------------------------------
def _open_namespaces(pid: int, token: str) -> dict[str, int]:
    """File descriptors of the placeholder's namespaces, checked to be that placeholder's."""
    fds: dict[str, int] = {}
    try:
        for name in NAMESPACES:
            fds[name] = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        # Opened first, checked after: had the placeholder died and its pid been reused, the
        # command line read now would not carry this kernel's token.
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f"tfladder-holder-{token}".encode() not in f.read().split(b"\0"):
                raise ZygoteError(f"process {pid} is not this kernel's sandbox")
        joined = {}
        for name, fd in fds.items():
            if os.fstat(fd).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                joined[name] = fd
            elif name in REQUIRED:
                raise ZygoteError(f"the sandbox shares the {name} namespace with the grader")
        return joined
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise


def _enter(namespaces: Mapping[str, int]) -> None:
    for name, fd in namespaces.items():
        _check(_libc.setns(fd, 0), f"setns({name})")
        os.close(fd)
    if os.uname().nodename != "sandbox":
        raise ZygoteError("entered the namespaces, but the host name is not the sandbox's")


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    try:
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass


def _adopted(timeout: float = 10) -> None:
    """Wait until the sandbox's PID 1 has adopted this process (its first parent has exited)."""
    deadline = time.monotonic() + timeout
    while os.getppid() != 1:
        if time.monotonic() > deadline:
            raise ZygoteError("the sandbox's PID 1 did not adopt the kernel")
        time.sleep(0.001)


def _spawn(conn: socket.socket, request: Mapping[str, Any], fds: Sequence[int]) -> NoReturn:
    """In the entrant (forked from the zygote): put the kernel into the sandbox and report it.

    The entrant joins every namespace but the mount namespace and forks a middle process, the
    first one inside the PID namespace. The middle process forks the kernel, tells the launcher the
    kernel's pid inside the sandbox and exits, so that the sandbox's PID 1 adopts the kernel
    (an orphan goes to the reaper of its dead parent's PID namespace). The kernel joins the mount
    namespace itself, then drops its privileges.
    """
    try:
        namespaces = _open_namespaces(int(request["holder_pid"]), request["token"])
        mount = namespaces.pop("mnt")
        _enter(namespaces)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        middle = os.fork()
    except BaseException as error:  # noqa: BLE001 - reported to the launcher
        _send(conn, {"error": f"{type(error).__name__}: {error}"})
        os._exit(1)
    if middle:
        os.waitpid(middle, 0)
        os._exit(0)
    try:
        kernel = os.fork()
        if kernel == 0:
            conn.close()
            try:
                _adopted()
                _check(_libc.setns(mount, 0), "setns(mnt)")
                os.close(mount)
                become_sandboxed(int(request["uid"]), request["limits"])
                run_kernel(request)
            except BaseException as error:  # noqa: BLE001
                sys.stderr.write(f"tfladder zygote: the kernel could not start: {type(error).__name__}: {error}\n")
                sys.stderr.flush()
                os._exit(70)
        _send(conn, {"started": kernel})
    except BaseException as error:  # noqa: BLE001
        _send(conn, {"error": f"{type(error).__name__}: {error}"})
    os._exit(0)


# -- the zygote ------------------------------------------------------------------------------------
def _private_tmp(home: str, keep: Iterable[str]) -> None:
    """A mount namespace of its own with an empty /tmp, so that importing TensorFlow and Keras
    here (Keras creates ~/.keras) sees what a sandboxed kernel sees: HOME=/tmp/home, nothing in it.

    `keep`: folders that must stay visible (the Python environment may live under /tmp, as a
    clone in /tmp/ci does); those under /tmp are bound back from the real /tmp.
    """
    _check(_libc.unshare(CLONE_NEWNS), "unshare(mount)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    real_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY)  # in this namespace, before it is covered
    try:
        _check(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=64m,mode=1777"), "mount tmpfs /tmp")
        for path in keep:
            if path.startswith("/tmp/"):
                os.makedirs(path, exist_ok=True)
                source = f"/proc/self/fd/{real_tmp}/{os.path.relpath(path, '/tmp')}"
                _check(_libc.mount(source.encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
    finally:
        os.close(real_tmp)
    os.makedirs(home, exist_ok=True)
    os.makedirs("/tmp/work", exist_ok=True)
    os.chdir("/tmp/work")


def serve(socket_path: str, ready_fd: int | None = None) -> NoReturn:
    """Import the heavy modules once, then fork a sandboxed kernel for each request."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the grader gone: so is the zygote
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    from tfladder.sandbox.paths import python_paths

    _private_tmp(os.environ.get("HOME", "/tmp/home"), python_paths(grader=True))
    started = time.monotonic()
    from tfladder import runtime

    runtime.quiet()
    for module in PRELOAD:
        __import__(module)
    if ready_fd is not None:
        os.write(ready_fd, json.dumps({"ready": True, "import_seconds": time.monotonic() - started}).encode() + b"\n")
        os.close(ready_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # entrants are reaped as they exit
    while True:
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(30)
            data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
            while chunk := conn.recv(MAX_REQUEST):  # the launcher shuts its side when done
                data += chunk
                if len(data) > MAX_REQUEST:
                    raise ZygoteError("the request is too long")
            conn.settimeout(None)
            request = json.loads(data.decode())
            if len(fds) != 3:
                raise ZygoteError("a request must carry the kernel's stdin, stdout and stderr")
        except (OSError, ValueError, ZygoteError) as error:
            _send(conn, {"error": f"bad request: {error}"})
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            _spawn(conn, request, fds)
        conn.close()
        for fd in fds:
            os.close(fd)


# -- the grader's side -----------------------------------------------------------------------------
class Zygote:
    """A running zygote process: `Zygote.start(env)`, `.socket_path`, `.stop()`."""

    import_seconds: float | None

    @classmethod
    def start(cls, env: Mapping[str, str], timeout: float = 300) -> Self:
        """Start a zygote whose imports see `env` (the sandbox's environment); wait until ready."""
        zygote = cls.launch(env)
        zygote.wait_ready(timeout)
        return zygote

    @classmethod
    def launch(cls, env: Mapping[str, str]) -> Self:
        """Start a zygote and return at once; `wait_ready()` before asking it for kernels."""
        folder = tempfile.mkdtemp(prefix="tfladder-zygote-")
        os.chmod(folder, 0o700)
        socket_path = os.path.join(folder, "zygote.sock")
        read_end, write_end = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "tfladder.sandbox.zygote", socket_path, str(write_end)],
            env=env,
            pass_fds=[write_end],
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
        os.close(write_end)
        return cls(process, folder, socket_path, read_end)

    def __init__(self, process: subprocess.Popen[bytes], folder: str, socket_path: str, ready_fd: int | None) -> None:
        self.process, self.folder, self.socket_path = process, folder, socket_path
        self._ready_fd, self.import_seconds = ready_fd, None

    def wait_ready(self, timeout: float = 300) -> Self:
        """Block until the zygote has imported everything (ZygoteError if it never does)."""
        if self._ready_fd is None:
            return self
        try:
            line = read_line(self._ready_fd, timeout)
        finally:
            os.close(self._ready_fd)
            self._ready_fd = None
        if not line:
            self.stop()
            raise ZygoteError(f"the zygote did not start (exit status {self.process.poll()})")
        self.import_seconds = json.loads(line)["import_seconds"]
        return self

    def stop(self) -> None:
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_line(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b""
        chunk = os.read(fd, 4096)
        if not chunk:
            return b""
        data += chunk
    return data.split(b"\n", 1)[0]


def read_all(fd: int, timeout: float) -> bytes:
    """Everything written to `fd` until its writer closes it, or b"" after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b""
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


def request_kernel(
    socket_path: str,
    *,
    holder_pid: int,
    token: str,
    uid: int,
    limits: dict[str, int],
    env: dict[str, str],
    argv: list[str],
    cwd: str = "/tmp/work",
    stdio: Sequence[int] = (0, 1, 2),
) -> socket.socket:
    """Ask the zygote for a kernel in the sandbox whose placeholder is `holder_pid`.

    Returns the connected socket, on which the zygote's side says {"started": pid} and later
    {"exited": wait status}, or {"error": ...}. The kernel's standard streams are `stdio`.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(socket_path)
    request = {
        "holder_pid": holder_pid,
        "token": token,
        "uid": uid,
        "limits": limits,
        "env": env,
        "argv": argv,
        "cwd": cwd,
    }
    socket.send_fds(conn, [json.dumps(request).encode()], list(stdio))
    conn.shutdown(socket.SHUT_WR)
    return conn


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    serve(argv[0], int(argv[1]) if len(argv) > 1 else None)


if __name__ == "__main__":
    main()
