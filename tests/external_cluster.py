"""A grading cluster started as an instructor starts one across machines, on this machine's loopback.

`ExternalCluster`: `dask scheduler` and two `dask worker --preload tfladder.grading.node` processes
(each with its own nanny, sandbox slot, zygote and scratch folder: two nodes), TLS with
certificates in files made by `tfladder certificates`. `Killer`: kills, with SIGKILL, the worker
process that is executing a chosen student's notebook, while its kernel runs, and records what was
running then, to check afterwards that none of it survived; and, if asked, the scheduler as a
chosen student's notebook starts.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tfladder.course.config import tool_env
from tfladder.grading import cluster, node
from tfladder.sandbox import launcher

DASK = str(Path(sys.executable).parent / "dask")
START_SECONDS = 180
CLEANUP_SECONDS = 15  # what a killed worker left running has this long to stop
QUIET = {
    "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__TICK__LIMIT": "30s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "5s",
    # and no HTTP pages, health or metrics on loopback (docs/grading.md)
    "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "[]",
    "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "[]",
}


def processes_of_uid(uid):
    """PIDs of the processes running as `uid`."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(line.split()[1]) == uid:
            found.add(int(status.parent.name))
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class ExternalCluster:
    def __init__(self, folder, env, first_slot, workers=2):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        ca, cert, key = cluster.make_certificates(self.folder / "certs")
        self.security = cluster.tls_security(str(ca), str(cert), str(key))
        tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
        scheduler_file = self.folder / "scheduler.json"
        # housekeeping made quiet, as for a local cluster and as docs/grading.md suggests for a grading cluster
        full_env = tool_env({**env, **QUIET})
        self.logs = []
        self.scheduler = self._start(
            "scheduler",
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--protocol", "tls", "--no-dashboard"]
            + ["--scheduler-file", str(scheduler_file), *tls],
            full_env,
        )
        deadline = time.monotonic() + START_SECONDS
        while not scheduler_file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise RuntimeError(f"the scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers = [
            self._start(
                f"node{i}",
                [DASK, "worker", self.address, "--nthreads", "1", "--memory-limit", "0", "--no-dashboard"]
                + ["--name", f"node{i}", "--local-directory", str(self.folder / f"node{i}"), *tls]
                + ["--preload", node.PRELOAD, f"--tfladder-first-slot={first_slot}"],
                full_env,
            )
            for i in range(workers)
        ]

    def _start(self, name, command, env):
        log = open(self.folder / f"{name}.log", "w")
        self.logs.append(log)
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name):
        path = self.folder / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def client(self):
        from distributed import Client

        return Client(self.address, security=self.security, timeout=60)

    def kill_scheduler(self):
        os.killpg(self.scheduler.pid, signal.SIGKILL)

    def wait_for_workers(self, n):
        with self.client() as client:
            client.wait_for_workers(n, timeout=START_SECONDS)

    def close(self):
        for process in [*getattr(self, "workers", []), self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*getattr(self, "workers", []), self.scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self.logs:
            log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Killer:
    """Kill the worker executing `victims`' notebooks ({student: how many times}) once its kernel
    runs; kill the scheduler once `last`'s notebook starts."""

    def __init__(self, external, victims, last=None):
        self.external, self.last = external, last
        self.left = dict(victims)
        self.kills = []  # {"student", "worker_pid", "zygote_pid", "kernel_pids", "uid"}
        self.scheduler_killed = False
        self.errors = []
        self.threads = []
        self.lock = threading.Lock()
        self.client = external.client()
        self.client.subscribe_topic(node.STARTED, self._started)

    def _started(self, event):
        key, worker = event[1]["key"], event[1]["worker"]
        if self.last and f"-{self.last}-" in key and not self.scheduler_killed:
            self.scheduler_killed = True
            self.external.kill_scheduler()
            return
        with self.lock:
            student = next((s for s, n in self.left.items() if n > 0 and f"-{s}-" in key), None)
            if student is None:
                return
            self.left[student] -= 1
        thread = threading.Thread(target=self._kill, args=(student, worker), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _kill(self, student, worker):
        try:
            info = self.client.run(node.describe, workers=[worker])[worker]
            uid = launcher.uid_for(info["slot"])
            deadline = time.monotonic() + 60
            while not (kernel := processes_of_uid(uid)) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)  # well into the notebook
            kernel = processes_of_uid(uid)
            os.kill(info["pid"], signal.SIGKILL)
            killed = time.monotonic()
            watched = [p for p in [info["zygote_pid"], *kernel] if p]
            while (left := [p for p in watched if alive(p)]) and time.monotonic() < killed + CLEANUP_SECONDS:
                time.sleep(0.05)
            self.kills.append(
                {
                    "student": student,
                    "worker_pid": info["pid"],
                    "zygote_pid": info["zygote_pid"],
                    "kernel_pids": sorted(kernel),
                    "uid": uid,
                    "survivors": left,
                    "seconds_to_stop": round(time.monotonic() - killed, 2),
                }
            )
        except Exception as error:  # reported by the test
            self.errors.append(f"{student}: {type(error).__name__}: {error}")

    def close(self):
        for thread in self.threads:
            thread.join()
        self.client.close(timeout=10)
