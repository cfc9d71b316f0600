"""Executing a grading run's notebooks on a Dask cluster whose workers are grading nodes.

`tfladder grade` hands every prepared notebook to `Cluster.submit` and nbgrader replays the
results (`tfladder.grading.replay`), as with any executor. Where the notebooks run is an address:

- by default a `LocalCluster` on 127.0.0.1, one single-threaded worker process per job, each a
  grading node (`tfladder.grading.node`: its own sandbox slot and zygote);
- `--scheduler ADDRESS`: a running cluster (`dask scheduler`, and `dask worker --nthreads 1
  --preload tfladder.grading.node` on every machine, by hand, SSH, SLURM or Kubernetes).

Every connection is TLS with certificates, the local cluster's too (temporary ones, made for the
run; its dashboard is off): a scheduler runs code for whoever connects, and the tasks carry hidden
tests. Only plain data crosses: a task is the notebook's JSON, its files' bytes, their fingerprint,
the gradebook's test cells and the settings; a result is the executed notebook, the run report and
a tail of the kernel's log, written atomically here as it arrives.

The retry policy is ours, whatever the cluster's own settings: the scheduler is told not to
re-run on its own a task whose worker died (allowed-failures 0). A notebook whose worker died while
executing it is retried once, on another worker if there is one; a notebook that was executing
when two workers died is graded as failed with that reason. A task that lost its worker before it
started (queued there) is simply sent again.

A lost scheduler ends the run's use of the cluster: every notebook whose result had not come back
gets a "lost" result, which nbgrader does not record (`replay.ClusterLost`); the grading run says
so and `tfladder grade --resume` grades them once the cluster is back. (Any other failure of the
cluster as a whole: nbgrader executes the notebooks itself, as when a worker errs.)
"""

import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from tfladder.grading import node, replay
from tfladder.sandbox import launcher

if TYPE_CHECKING:
    from distributed import Client, Future
    from distributed.security import Security
    from traitlets.config import Config

DEATHS_ALLOWED = 1  # a notebook executing when its worker died is retried this many times
REQUEUES_ALLOWED = 10  # a task lost from a dead worker's queue (never started) is sent again
# The parts of the course's nbgrader configuration a node's JudgedExecute reads.
NODE_SECTIONS = (
    "Execute",
    "JudgedExecute",
    "ExecutePreprocessor",
    "NotebookClient",
    "SandboxKernelManager",
    "KernelManager",
)
CONNECT_SECONDS = 60
# A local cluster's housekeeping, made quiet: it shares the cores with the kernels it serves.
# Tasks all cost about the same and queue on the scheduler, so there is nothing to steal; the
# event loops' health checks and the system monitor run every second or five instead of 50 and 2
# times a second. (The nodes turn Dask's profiler off themselves, on any cluster: node.py.)
LOCAL_DASK_CONFIG = {
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.tick.limit": "30s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.deploy.cluster-repr-interval": "60s",
    "distributed.worker.profile.enabled": False,
    # The scheduler and the workers serve plain HTTP on loopback even with the dashboard off:
    # pages of workers and tasks (whose keys name students), health and metrics, to anyone on
    # the machine. A grading cluster serves none of them.
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
}


class ClusterError(RuntimeError):
    """The cluster cannot be used; the message says why."""


def node_config(config: "Config") -> dict[str, dict[str, Any]]:
    """What a grading node needs of the course's configuration, as plain JSON data."""
    plain: dict[str, dict[str, Any]] = {}
    for section in NODE_SECTIONS:
        for key, value in dict(config.get(section, {})).items():
            try:
                json.dumps(value)
            except TypeError:
                continue
            plain.setdefault(section, {})[key] = value
    return plain


def task_env(env: Mapping[str, str]) -> dict[str, str]:
    """The settings a task carries to its node: limits, seed, threads, TensorFlow's switches."""
    return {k: v for k, v in env.items() if k in launcher.PASSED_ENV or k.startswith("TFLADDER_")}


def tls_security(ca_file: str = "", cert: str = "", key: str = "") -> "Security":
    """A client's Security for a running cluster: these files, or dask's configuration
    (distributed.comm.tls.*) for those not given; encryption required."""
    from distributed.security import Security

    given = {"tls_ca_file": ca_file, "tls_client_cert": cert, "tls_client_key": key}
    return Security(require_encryption=True, **{k: v for k, v in given.items() if v})


def make_certificates(folder: str | Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate and its key for every role of a cluster (scheduler, workers,
    graders), valid for a year, written as (ca.pem, cert.pem, key.pem) into `folder`, readable by
    this user only. Copy the three files to every machine of the cluster; whoever has them can
    connect, so keep them as you keep the gradebook."""
    from distributed.security import Security

    made = Security.temporary()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    contents = (made.tls_ca_file, made.tls_client_cert, made.tls_client_key)
    for path, text in zip(paths, contents):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(text))
    return paths


def configure_scheduler(dask_scheduler: Any) -> None:
    """On the scheduler: never re-run a task whose worker died (our retry policy decides), and
    hand each worker one task at a time."""
    dask_scheduler.allowed_failures = 0
    dask_scheduler.WORKER_SATURATION = 1.0


@dataclass
class _Job:
    task: dict[str, Any]
    results: Path
    deaths: int = 0
    requeues: int = 0
    last_worker: str | None = None


class Cluster:
    """The executor of a grading run: tasks in, results written as they arrive (see the module docstring).

    A local cluster's nodes share the grader's zygote (`zygote`, its socket), which the grader
    starts and waits for before the first notebook, as it does for its own kernels: one
    `import tensorflow` per run, not one per node.

    `Cluster(jobs, ...)` returns at once with a local cluster, which starts in a thread of its own
    while the grader prepares notebooks; a running cluster is connected to first, and one that
    cannot be reached raises ClusterError. `submit` queues, `finish` waits for every result.
    """

    def __init__(
        self,
        jobs: int,
        *,
        logs: str | Path,
        use_sandbox: bool,
        prefork: bool = True,
        first_slot: int = 0,
        env: Mapping[str, str] | None = None,
        scheduler: str = "",
        security: "Security | None" = None,
        zygote: str = "",
        task_function: Callable[[Mapping[str, Any]], dict[str, Any]] = node.execute,
    ) -> None:
        self.jobs, self.logs, self.zygote = jobs, Path(logs), zygote
        self.task_function = task_function  # what runs a task on a node (bench/: a stand-in)
        self.use_sandbox, self.prefork, self.first_slot = use_sandbox, prefork, first_slot
        self.env = dict(env or os.environ)
        self.scheduler, self.security = scheduler, security
        self.client: Client | None = None
        self.local: Any = None  # the LocalCluster, when this run started one
        self.error = ""  # why the cluster could not be used: every result says so
        self.lost = ""  # why the scheduler was lost, once it was: the results not back say so
        self.notes: dict[str, list[str]] = {}  # student -> what happened to its notebook here
        self.started: set[str] = set()  # keys of tasks a node began
        self._cells: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        self._config: dict[str, dict[str, Any]] | None = None
        self._tasks: queue.Queue[tuple[dict[str, Any], Path] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._backlog: list[_Job] = []
        self._pending: "dict[Future, _Job]" = {}
        self._closing = False  # the grader has queued everything
        if scheduler:
            try:
                self.client = self._connect()
            except ClusterError:
                raise
            except Exception as error:  # noqa: BLE001 - any way a connection fails
                why = f"{type(error).__name__}: {error}"
                raise ClusterError(f"cannot use the grading cluster at {scheduler}: {why}") from None
        self._thread = threading.Thread(target=self._run, name="tfladder-cluster", daemon=True)
        self._thread.start()

    # -- the grader's side ------------------------------------------------------------------------
    def submit(
        self, student: str, prepared: tuple[Path, Path, dict[str, Any]] | None, results: str | Path, config: "Config"
    ) -> None:
        """Queue one student's prepared notebook (notebook, folder, nbgrader's info); None:
        nothing to execute, which the result says at once (the grader executes it itself)."""
        if prepared is None:
            _write_result(results, {"student": student, "error": "nbgrader's sanitizer refused the notebook"})
            return
        path, folder, info = prepared
        nb = nbformat.read(str(path), as_version=4)
        with self._lock:
            if self._config is None:
                self._config = node_config(config)
        task = {
            "student": student,
            "assignment": info["assignment"],
            "notebook": nbformat.writes(nb),
            "files": {str(p): (Path(folder) / p).read_bytes() for p in launcher.kernel_files(folder)},
            "fingerprint": replay.fingerprint(nb, folder),
            "nbgrader": {
                "student": student,
                "assignment": info["assignment"],
                "notebook": info["notebook"],
                "gradebook_cells": self._gradebook_cells(info),
            },
            "config": self._config,
            "env": task_env(self.env),
        }
        self.submit_task(task, results)

    def submit_task(self, task: dict[str, Any], results: str | Path) -> None:
        """Queue a task as it is (its "student" names the result file)."""
        self._tasks.put((task, Path(results)))

    def _gradebook_cells(self, info: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        from tfladder.grading.execute import gradebook_cells

        key = (info["db_url"], info["assignment"])
        if key not in self._cells:
            tests, stubs = gradebook_cells({"nbgrader": info})
            self._cells[key] = {"tests": tests, "stubs": stubs}
        return self._cells[key]

    def finish(self) -> None:
        """Wait for every queued notebook's result, then let the cluster go."""
        self._tasks.put(None)
        self._thread.join()

    # -- the cluster's side, in this object's thread -----------------------------------------------
    def _connect(self) -> "Client":
        import dask
        from distributed import Client

        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.scheduler:
            if not self.scheduler.startswith("tls://"):
                raise ClusterError(f"refusing {self.scheduler}: a grading cluster must be reached over tls://")
            client = Client(
                self.scheduler, security=self.security or tls_security(), timeout=CONNECT_SECONDS, set_as_default=False
            )
        else:
            argv = [
                "--tfladder-sandbox" if self.use_sandbox else "--tfladder-no-sandbox",
                "--tfladder-prefork" if self.prefork else "--tfladder-no-prefork",
                f"--tfladder-first-slot={self.first_slot}",
                *([f"--tfladder-zygote={self.zygote}"] if self.zygote else []),
            ]
            self.logs.mkdir(parents=True, exist_ok=True)
            with dask.config.set(LOCAL_DASK_CONFIG):  # the nannies hand it on to their workers
                self.local = self._local_cluster(argv)
            client = Client(self.local, set_as_default=False)
        client.run_on_scheduler(configure_scheduler)
        client.subscribe_topic(node.STARTED, self._on_started)
        return client

    def _local_cluster(self, argv: list[str]) -> Any:
        from distributed import LocalCluster
        from distributed.security import Security

        return LocalCluster(
            n_workers=self.jobs,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls://",
            security=self.security or Security.temporary(),
            dashboard_address=None,
            memory_limit=0,
            preload=[node.PRELOAD],
            preload_argv=argv,
            env=self.env,
            local_directory=str(self.logs / "dask"),
            silence_logs=logging.ERROR,
        )

    def _on_started(self, event: tuple[float, Mapping[str, Any]]) -> None:
        with self._lock:
            self.started.add(str(event[1]["key"]))

    def _run(self) -> None:
        try:
            if self.client is None:
                self.client = self._connect()
        except Exception as error:  # noqa: BLE001 - every result says why; the grader executes them
            self.error = f"the grading cluster could not be used: {type(error).__name__}: {error}"
            self._fail_all("error", self.error)
            return
        try:
            self._serve(self.client)
        except Exception as error:  # noqa: BLE001 - whatever failed, every notebook gets a result
            why = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"
            if isinstance(error, CancelledError) or self.client.status != "running":
                where = f" at {self.scheduler}" if self.scheduler else ""
                self.lost = f"the grading cluster's scheduler{where} was lost ({why})"
                self._fail_all("lost", self.lost)
            else:  # the grader executes the rest itself
                self.error = f"the grading cluster failed: {why}"
                self._fail_all("error", self.error)
        finally:
            self._close()

    def _fail_all(self, key: str, reason: str) -> None:
        """Every notebook not yet settled gets a result that says `reason` under `key`: "error"
        (nbgrader executes it itself) or "lost" (not recorded)."""
        for job in [*self._pending.values(), *self._backlog]:
            _write_result(job.results, {"student": job.task["student"], key: reason})
        self._pending.clear()
        self._backlog.clear()
        if self._closing:
            return
        while (item := self._tasks.get()) is not None:
            task, results = item
            _write_result(results, {"student": task["student"], key: reason})

    def _serve(self, client: "Client") -> None:
        from distributed import wait

        window = 2 * max(1, self.jobs if self.local else sum(client.nthreads().values()))
        backlog, pending = self._backlog, self._pending
        while not (self._closing and not backlog and not pending):
            while not self._closing:
                try:
                    item = self._tasks.get(timeout=0 if (pending or backlog) else None)
                except queue.Empty:
                    break
                if item is None:
                    self._closing = True
                else:
                    backlog.append(_Job(task=item[0], results=item[1]))
            while backlog and len(pending) < window:
                job = backlog.pop(0)
                pending[self._send(client, job)] = job
            if pending:
                try:
                    # `wait` runs on the default client's event loop: this run's client, not another
                    # grading run's in the same process (two clients' loops: "bound to a different
                    # event loop")
                    with client.as_current():
                        done, _ = wait(list(pending), timeout=0.2, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                if any(future.status == "cancelled" for future in done):
                    raise CancelledError(f"tasks were cancelled; the client is {client.status}")
                for future in done:
                    job = pending[future]
                    retry = self._settle(future, job)  # a lost scheduler raises: the job stays pending
                    del pending[future]
                    if retry:
                        backlog.insert(0, job)

    def _send(self, client: "Client", job: _Job) -> "Future":
        key = f"tfladder-{job.task['assignment']}-{job.task['student']}-{uuid.uuid4().hex[:12]}"
        others = [w for w in client.scheduler_info(n_workers=-1)["workers"] if w != job.last_worker]
        if job.last_worker and others:  # retried: on another worker, if one is free first
            return client.submit(
                self.task_function, job.task, key=key, pure=False, retries=0, workers=others, allow_other_workers=True
            )
        return client.submit(self.task_function, job.task, key=key, pure=False, retries=0)

    def _settle(self, future: "Future", job: _Job) -> bool:
        """Write the result of a finished task; True when it is to be sent again."""
        from distributed import KilledWorker

        student = job.task["student"]
        if future.status == "finished":
            result = future.result()
            _write_log(job.results, student, result.pop("log", ""))
            if result.get("note"):
                self.notes.setdefault(student, []).append(result["note"])
            _write_result(job.results, result)
            return False
        error = future.exception() if future.status == "error" else None
        if isinstance(error, KilledWorker):
            job.last_worker = getattr(getattr(error, "last_worker", None), "address", None)
            with self._lock:
                was_running = future.key in self.started
            if was_running:
                job.deaths += 1
                if job.deaths > DEATHS_ALLOWED:
                    reason = (
                        f"the grading worker executing this notebook died {job.deaths} times "
                        "(killed, or out of memory); not graded"
                    )
                    fatal = {"student": student, "fatal": reason, "fingerprint": job.task["fingerprint"]}
                    _write_result(job.results, fatal)
                    return False
                self.notes.setdefault(student, []).append("its grading worker died while executing it; executed again")
                return True
            job.requeues += 1
            return job.requeues <= REQUEUES_ALLOWED
        why = f"{type(error).__name__}: {error}" if error is not None else f"the task was {future.status}"
        _write_result(job.results, {"student": student, "error": f"the cluster could not execute it ({why})"})
        return False

    def _close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            if self.local is not None:
                self.local.close()


def _write_result(results: str | Path, result: Mapping[str, Any]) -> None:
    path = replay.result_path(results, result["student"])
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def _write_log(results: Path, student: str, text: str) -> None:
    if text:
        folder = results.parent / "logs"
        folder.mkdir(exist_ok=True)
        (folder / f"{student}.log").write_text(text)
