"""A grading node: a Dask worker that executes notebooks in its own sandbox, for any grader.

Started by `tfladder grade` (its LocalCluster) or by hand on any machine of a cluster:

    dask worker tls://scheduler:8786 --nthreads 1 --preload tfladder.grading.node \\
        --tls-ca-file ca.pem --tls-cert node.pem --tls-key node-key.pem

The preload (`dask_setup`) runs before the worker registers with the scheduler: it takes a
sandbox slot of its own (`tfladder.sandbox.slots`), checks that a sandbox really starts here, and
starts a zygote (a subprocess of the worker's main thread, never a fork of the worker, which has
threads) that has TensorFlow imported. A node where any of that fails raises, so the worker never
takes work, and says why in its log. The zygote dies with its worker (PR_SET_PDEATHSIG), and each
kernel's launcher stops its sandbox when its worker is gone, so a killed worker leaves no kernel.

`execute(task)` is the task: only plain data comes in (the prepared notebook, its files, their
fingerprint, the test cells and the settings) and goes out (the executed notebook with the judge's
outputs, the run report, a tail of the kernel's log). Nothing here reads the course or the gradebook.
"""

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tfladder.sandbox import launcher, slots

log = logging.getLogger("tfladder.node")
PRELOAD = "tfladder.grading.node"
STARTED = "tfladder-started"  # the event logged as a task begins (the client's retry policy reads it)
LOG_TAIL = 20_000
PROFILER_CALLBACKS = ("profile", "profile-cycle")  # characters of a kernel's log sent back with its result
# What the zygote's imports depend on: a task asking for other values gets kernels from scratch.
IMPORT_ENV = ("TF_ENABLE_ONEDNN_OPTS", "TFLADDER_THREADS", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")


class NodeUnavailable(RuntimeError):
    """This worker cannot grade; the message says why."""


@dataclass
class Node:
    """What one grading worker holds for its whole life."""

    sandbox: bool
    slot: int
    scratch: Path
    slot_fd: int | None = None
    zygote: Any = None  # tfladder.sandbox.zygote.Zygote, this node's own
    zygote_socket: str = ""  # its socket, or that of a zygote the grader shares with its local nodes
    zygote_env: Mapping[str, str] | None = None

    def stop(self) -> None:
        if self.zygote is not None:
            self.zygote.stop()
            self.zygote = None
        if self.slot_fd is not None:
            os.close(self.slot_fd)
            self.slot_fd = None
        shutil.rmtree(self.scratch, ignore_errors=True)


NODE: Node | None = None


async def start(
    local_directory: str | Path,
    *,
    sandbox: bool = True,
    prefork: bool = True,
    first_slot: int = 0,
    shared_zygote: str = "",
) -> Node:
    """Take a slot, check the sandbox, start the zygote (in this, the worker's main thread), or
    use the one at `shared_zygote` (a local cluster's grader started it with this environment)."""
    scratch = Path(local_directory) / "tfladder"
    scratch.mkdir(parents=True, exist_ok=True)
    if not sandbox:
        return Node(sandbox=False, slot=first_slot, scratch=scratch)
    try:
        slot, fd = slots.take(first_slot)
    except (slots.NoSlot, OSError) as error:
        raise NodeUnavailable(f"this node cannot grade: {error}") from None
    node = Node(sandbox=True, slot=slot, scratch=scratch, slot_fd=fd)
    try:
        await asyncio.to_thread(launcher.check_available, slot)
    except launcher.SandboxUnavailable as error:
        node.stop()
        raise NodeUnavailable(f"this node cannot grade: {error}") from None
    env = launcher.sandbox_env(os.environ)
    if prefork and shared_zygote:
        node.zygote_socket = shared_zygote
        node.zygote_env = {k: env.get(k, "") for k in IMPORT_ENV}
    elif prefork:
        from tfladder.sandbox import zygote

        try:
            node.zygote = zygote.Zygote.launch(env)
            await asyncio.to_thread(node.zygote.wait_ready)
            node.zygote_socket = node.zygote.socket_path
            node.zygote_env = {k: env.get(k, "") for k in IMPORT_ENV}
        except (OSError, zygote.ZygoteError) as error:
            log.warning("tfladder node: kernels will start from scratch: the zygote did not start (%s)", error)
            node.zygote = None
    return node


@click.command()
@click.option("--tfladder-sandbox/--tfladder-no-sandbox", default=True, help="run kernels in the sandbox")
@click.option("--tfladder-prefork/--tfladder-no-prefork", default=True, help="fork kernels from a zygote")
@click.option("--tfladder-first-slot", type=int, default=0, help="the first sandbox slot this node may take")
@click.option("--tfladder-zygote", default="", help="a zygote's socket to use instead of starting one (local nodes)")
async def dask_setup(
    worker: Any, tfladder_sandbox: bool, tfladder_prefork: bool, tfladder_first_slot: int, tfladder_zygote: str
) -> None:
    """Dask's preload hook: make this worker a grading node before it registers, or refuse."""
    global NODE
    if worker.state.nthreads != 1:
        raise NodeUnavailable("a grading worker executes one notebook at a time: start it with --nthreads 1")
    # Dask's statistical profiler samples the executing thread's stack 100 times a second: CPU taken
    # from the kernel beside it (a notebook took 7 % longer with it on two cores). Off, before the
    # worker starts its periodic callbacks.
    for name in PROFILER_CALLBACKS:
        worker.periodic_callbacks.pop(name, None)

    try:
        NODE = await start(
            worker.local_directory,
            sandbox=tfladder_sandbox,
            prefork=tfladder_prefork and tfladder_sandbox,
            first_slot=tfladder_first_slot,
            shared_zygote=tfladder_zygote,
        )
    except NodeUnavailable as error:
        log.error("tfladder node: %s", error)
        raise
    log.info("tfladder node: sandbox slot %s, zygote %s", NODE.slot, NODE.zygote_socket or "none")


def dask_teardown(worker: Any) -> None:
    global NODE
    if NODE is not None:
        NODE.stop()
        NODE = None


def describe() -> dict[str, Any]:
    """This node's slot and zygote (`client.run(node.describe)`)."""
    if NODE is None:
        return {"ready": False}
    zygote_pid = NODE.zygote.process.pid if NODE.zygote is not None else None
    return {"ready": True, "sandbox": NODE.sandbox, "slot": NODE.slot, "zygote_pid": zygote_pid, "pid": os.getpid()}


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """The task's settings (limits, seed, threads) in this process's environment, which the kernel
    manager and the launcher read; a worker runs one task at a time."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - LOG_TAIL))
        return f.read().decode("utf-8", "replace")


def _announce_start() -> None:
    """Tell the client this task began executing here (a worker that dies now dies with it)."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # called outside a worker (a test)
        return
    worker.log_event(STARTED, {"key": str(worker.get_current_task()), "worker": worker.address})


def execute(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task: execute one prepared notebook with JudgedExecute, in this node's sandbox."""
    import nbformat
    from nbgrader.utils import setenv
    from traitlets.config import Config

    from tfladder.grading import execute as judged
    from tfladder.grading import replay

    node = NODE
    if node is None:
        raise NodeUnavailable(f"this worker was not started with --preload {PRELOAD}")
    started = time.monotonic()
    _announce_start()
    folder = node.scratch / f"{task['student']}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    kernel_log = folder.parent / f"{folder.name}.log"
    result: dict[str, Any] = {"student": task["student"], "node": describe()}
    try:
        for relative, data in task["files"].items():
            target = (folder / relative).resolve()
            if folder.resolve() not in target.parents:
                raise ValueError(f"a file outside the notebook's folder: {relative}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        nb = nbformat.reads(task["notebook"], as_version=4)
        result["fingerprint"] = replay.fingerprint(nb, folder)
        if result["fingerprint"] != task["fingerprint"]:
            raise ValueError("the notebook or its files changed on the way to this node")
        env = dict(task["env"])
        config = Config(task["config"])
        config.JudgedExecute.sandbox = node.sandbox
        config.JudgedExecute.results = ""
        config.SandboxKernelManager.slot = node.slot
        config.SandboxKernelManager.log_path = str(kernel_log)
        wanted = {k: env.get(k, os.environ.get(k, "")) for k in IMPORT_ENV}
        if node.zygote_socket and wanted == node.zygote_env:
            config.SandboxKernelManager.zygote = node.zygote_socket
        elif node.zygote_socket:
            result["note"] = "kernels started from scratch: the node's zygote imported TensorFlow with other settings"
        with _environment(env), setenv(NBGRADER_EXECUTION="autograde"):
            executor = judged.JudgedExecute(config=config)
            nb, _ = executor.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": dict(task["nbgrader"])})
        result["notebook"] = nbformat.writes(nb)
        result["report"] = json.loads((folder / judged.RUN_REPORT).read_text())
    except Exception as error:  # noqa: BLE001 - reported in the result: the grader executes it itself
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        result["log"] = _tail(kernel_log)
        result["seconds"] = time.monotonic() - started
        shutil.rmtree(folder, ignore_errors=True)
        kernel_log.unlink(missing_ok=True)
    return result
