"""Does the sandbox hold on its own: another uid, no network, no course, a wall clock, usage measured?"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace

import pytest
from conftest import REPO

from tfladder.course import notebook_lib
from tfladder.sandbox import launcher

PROBE = r"""
import json, os, socket
def fails(action):
    try:
        action()
    except OSError:
        return True
    return False
print(json.dumps({
    "uid": os.getuid(),
    "network": not fails(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2)),
    "course": os.path.exists(%(course)r),
    "write_usr": not fails(lambda: open("/usr/planted", "w")),
    "write_tmp": not fails(lambda: open("/tmp/ok", "w")),
    "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
}))
"""


@pytest.fixture
def kernel_dir():
    folder = launcher.prepare_kernel_dir(launcher.uid_for(7))
    yield folder
    launcher.remove_kernel_dir(folder)


def launcher_args(kernel_dir, command, limits, zygote=None):
    """`python -m tfladder.sandbox.launcher ...` as the kernel manager builds it (slot 7's uid)."""
    return [
        sys.executable,
        "-m",
        "tfladder.sandbox.launcher",
        "--uid",
        str(launcher.uid_for(7)),
        "--kernel-dir",
        str(kernel_dir),
        "--limits",
        json.dumps(asdict(limits)),
        "--notebook-lib",
        str(notebook_lib.build()),
        *(["--zygote", zygote] if zygote else []),
        "--",
        *command,
    ]


def run(kernel_dir, command, limits, timeout=60, stdout=None):
    args = launcher_args(kernel_dir, command, limits)
    if stdout is not None:
        return subprocess.run(args, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


# What a kernel can learn of the answer key and of the grader through its own descriptors.
REACH = r"""
import json, os, sys
def importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
fds = {}
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:        # the descriptor listdir itself used
        pass
print(json.dumps({
    "tfladder": __import__("tfladder").__file__,
    "probe": importable("tfladder.probe"),
    "oracles": importable("tfladder.oracles"),
    "grader": importable("tfladder.grading.judge") or importable("tfladder.grading.grade"),
    "package_on_disk": os.path.exists(%(package)r),
    "streams": sorted({fds.get(fd, "closed").split(":")[0] for fd in (0, 1, 2)}),
    "files_held": sorted(target for fd, target in fds.items() if target.startswith("/") and fd > 2),
}))
"""


def test_does_code_run_as_another_uid_without_network_course_or_host_processes(kernel_dir):
    done = run(kernel_dir, [sys.executable, "-P", "-c", PROBE % {"course": str(REPO / "source")}], launcher.Limits())
    seen = json.loads(done.stdout)
    assert seen == {
        "uid": launcher.uid_for(7),
        "network": False,
        "course": False,
        "write_usr": False,
        "write_tmp": True,
        "processes": seen["processes"],
    }
    assert seen["processes"] <= 3, "host processes are visible"


def test_is_the_answer_key_out_of_a_graded_kernels_reach(kernel_dir, tmp_path):
    with open(tmp_path / "log", "w") as log:  # the launcher's stdout: a worker's log, shared
        run(
            kernel_dir,
            [sys.executable, "-P", "-c", REACH % {"package": str(REPO / "tfladder")}],
            launcher.Limits(),
            stdout=log,
        )
    seen = json.loads((tmp_path / "log").read_text())
    assert seen["tfladder"] == f"{launcher.NOTEBOOK_MOUNT}/tfladder/__init__.py" and seen["probe"]
    assert not seen["oracles"] and not seen["grader"] and not seen["package_on_disk"]
    assert seen["streams"] == ["/dev/null", "pipe"] and not any("log" in f for f in seen["files_held"]), seen


def test_does_the_wall_clock_stop_a_notebook_and_say_so(kernel_dir):
    start = time.monotonic()
    done = run(kernel_dir, ["/bin/sleep", "60"], replace(launcher.Limits(), wall_seconds=2))
    assert time.monotonic() - start < 20
    assert done.returncode == 137 and "ran longer than 2 s" in done.stderr
    usage = launcher.read_usage(kernel_dir)
    assert usage["wall_clock_exceeded"] is True
    assert launcher.limits_hit(usage, replace(launcher.Limits(), wall_seconds=2)) == [
        "the notebook ran longer than 2 s and was stopped"
    ]


def test_is_a_full_scratch_space_measured_from_outside(kernel_dir):
    limits = launcher.Limits()
    chunks = int(limits.scratch_bytes * 0.95) // (16 << 20)  # files of 16 MiB, under the file size limit
    fill = f"for i in range({chunks}):\n    open(f'/tmp/big{{i}}', 'wb').write(bytes(16 << 20))"
    run(kernel_dir, [sys.executable, "-P", "-c", fill], limits)
    usage = launcher.read_usage(kernel_dir)
    assert usage["scratch_used_bytes"] >= 0.9 * limits.scratch_bytes
    assert any("scratch space" in r for r in launcher.limits_hit(usage, limits))


def test_is_usage_recorded_when_the_grader_stops_a_slow_kernel(kernel_dir):
    """jupyter_client sends SIGTERM to a kernel slow to shut down; what it used must still count."""
    limits = launcher.Limits()
    chunks = int(limits.scratch_bytes * 0.95) // (16 << 20)
    fill = (
        f"import time\nfor i in range({chunks}):\n    open(f'/tmp/big{{i}}', 'wb').write(bytes(16 << 20))\n"
        "print('full', flush=True)\ntime.sleep(120)"
    )
    args = launcher_args(kernel_dir, [sys.executable, "-P", "-c", fill], limits)
    started = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert started.stdout.readline().strip() == b"full"
        os.killpg(started.pid, signal.SIGTERM)  # as jupyter_client's provisioner does
        assert started.wait(timeout=30) == 143
    finally:
        started.kill()
        started.wait()
    usage = launcher.read_usage(kernel_dir)
    assert usage["stopped_by_grader"] is True and usage["scratch_used_bytes"] >= 0.9 * limits.scratch_bytes
    assert launcher.limits_hit(usage, limits) == [
        f"the notebook filled its {limits.scratch_bytes >> 20} MiB scratch space"
    ], "a kernel the grader stopped is not flagged for the signal"


# -- kernels forked from the zygote -------------------------------------------------------------------
# What a kernel can see of its parent and neighbours: the same for a plain and a forked kernel.
NEIGHBOURS = r"""
import json, os, resource, signal
def outcome(action):
    try:
        action()
    except OSError as error:
        return type(error).__name__
    return "allowed"
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "ppid": os.getppid(),
    "others": sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())),
    "kill_parent": outcome(lambda: os.kill(os.getppid(), signal.SIGKILL)),
    "kill_all": outcome(lambda: os.kill(-1, signal.SIGKILL)),
    "caps": sorted({status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "groups": status["Groups"].strip(),
    "hostname": os.uname().nodename,
    "cwd": os.getcwd(),
    "limits": [resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
               for name in ("AS", "CPU", "NPROC", "FSIZE", "NOFILE", "CORE")],
}))
"""


@pytest.fixture(scope="module")
def forks():
    from tfladder.sandbox import zygote

    with zygote.Zygote.start(launcher.sandbox_env(__import__("os").environ)) as started:
        yield started


def run_forked(kernel_dir, command, limits, forks, timeout=60):
    args = launcher_args(kernel_dir, command, limits, zygote=forks.socket_path)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_does_a_forked_kernel_hold_like_a_plain_one(kernel_dir, forks):
    probe = [sys.executable, "-P", "-c", PROBE % {"course": str(REPO / "source")}]
    plain = json.loads(run(kernel_dir, probe, launcher.Limits()).stdout)
    forked = json.loads(run_forked(kernel_dir, probe, launcher.Limits(), forks).stdout)
    del plain["processes"], forked["processes"]
    assert (
        forked
        == plain
        == {"uid": launcher.uid_for(7), "network": False, "course": False, "write_usr": False, "write_tmp": True}
    )


@pytest.mark.slow
def test_does_a_forked_kernel_reach_no_more_than_a_plain_one(kernel_dir, forks):
    command = [sys.executable, "-P", "-c", REACH % {"package": str(REPO / "tfladder")}]
    plain = json.loads(run(kernel_dir, command, launcher.Limits()).stdout)
    forked = json.loads(run_forked(kernel_dir, command, launcher.Limits(), forks).stdout)
    assert forked == plain
    assert not plain["oracles"] and not plain["grader"] and plain["streams"] == ["/dev/null", "pipe"]


@pytest.mark.slow
def test_does_a_forked_kernel_see_the_same_neighbours_and_privileges(kernel_dir, forks):
    command = [sys.executable, "-P", "-c", NEIGHBOURS]
    plain = json.loads(run(kernel_dir, command, launcher.Limits()).stdout)
    forked = json.loads(run_forked(kernel_dir, command, launcher.Limits(), forks).stdout)
    assert forked == plain
    assert plain["ppid"] == 1 and plain["others"] == []
    assert plain["kill_parent"] == "PermissionError" and plain["kill_all"] == "ProcessLookupError"
    assert plain["caps"] == ["0000000000000000"] and plain["no_new_privs"] == "1" and plain["groups"] == ""


@pytest.mark.slow
def test_does_a_forked_kernel_have_tensorflow_imported_and_its_own_exit_status(kernel_dir, forks):
    code = (
        "import sys; print('tensorflow' in sys.modules, 'numpy' in sys.modules); "
        "import tensorflow as tf; print(float(tf.reduce_sum(tf.ones((2, 3))))); sys.exit(3)"
    )
    done = run_forked(kernel_dir, [sys.executable, "-P", "-c", code], launcher.Limits(), forks)
    assert done.returncode == 3
    assert done.stdout.split() == ["True", "True", "6.0"]


@pytest.mark.slow
def test_does_the_wall_clock_stop_a_forked_kernel(kernel_dir, forks):
    start = time.monotonic()
    done = run_forked(
        kernel_dir,
        [sys.executable, "-P", "-c", "import time; time.sleep(60)"],
        replace(launcher.Limits(), wall_seconds=2),
        forks,
    )
    assert time.monotonic() - start < 20
    assert done.returncode == 137 and "ran longer than 2 s" in done.stderr
    assert launcher.read_usage(kernel_dir)["wall_clock_exceeded"] is True


@pytest.mark.slow
def test_does_the_zygote_refuse_a_process_that_is_not_the_kernels_sandbox(forks):
    import os

    from tfladder.sandbox import zygote

    with zygote.request_kernel(
        forks.socket_path,
        holder_pid=os.getpid(),
        token="not-this-one",
        uid=launcher.uid_for(7),
        limits=asdict(launcher.Limits()),
        env={},
        argv=["-c", "print('escaped')"],
    ) as conn:
        answer = json.loads(zygote.read_line(conn.fileno(), 30))
    assert "is not this kernel's sandbox" in answer["error"]
