"""Does the sandbox hold on its own: another uid, no network, no course, a wall clock, usage measured?"""

import json
import subprocess
import sys
import time
from dataclasses import asdict, replace

import pytest

from conftest import REPO
from tfladder import sandbox

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
    folder = sandbox.prepare_kernel_dir(sandbox.uid_for(7))
    yield folder
    sandbox.remove_kernel_dir(folder)


def run(kernel_dir, command, limits, timeout=60):
    args = [sys.executable, "-m", "tfladder.sandbox", "--uid", str(sandbox.uid_for(7)), "--kernel-dir",
            str(kernel_dir), "--limits", json.dumps(asdict(limits)), "--", *command]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def test_does_code_run_as_another_uid_without_network_course_or_host_processes(kernel_dir):
    done = run(kernel_dir, [sys.executable, "-P", "-c", PROBE % {"course": str(REPO / "source")}], sandbox.Limits())
    seen = json.loads(done.stdout)
    assert seen == {"uid": sandbox.uid_for(7), "network": False, "course": False, "write_usr": False,
                    "write_tmp": True, "processes": seen["processes"]}
    assert seen["processes"] <= 3, "host processes are visible"


def test_does_the_wall_clock_stop_a_notebook_and_say_so(kernel_dir):
    start = time.monotonic()
    done = run(kernel_dir, ["/bin/sleep", "60"], replace(sandbox.Limits(), wall_seconds=2))
    assert time.monotonic() - start < 20
    assert done.returncode == 137 and "ran longer than 2 s" in done.stderr
    usage = sandbox.read_usage(kernel_dir)
    assert usage["wall_clock_exceeded"] is True
    assert sandbox.limits_hit(usage, replace(sandbox.Limits(), wall_seconds=2)) == [
        "the notebook ran longer than 2 s and was stopped"]


def test_is_a_full_scratch_space_measured_from_outside(kernel_dir):
    limits = sandbox.Limits()
    chunks = int(limits.scratch_bytes * 0.95) // (16 << 20)     # files of 16 MiB, under the file size limit
    fill = f"for i in range({chunks}):\n    open(f'/tmp/big{{i}}', 'wb').write(bytes(16 << 20))"
    run(kernel_dir, [sys.executable, "-P", "-c", fill], limits)
    usage = sandbox.read_usage(kernel_dir)
    assert usage["scratch_used_bytes"] >= 0.9 * limits.scratch_bytes
    assert any("scratch space" in r for r in sandbox.limits_hit(usage, limits))
