"""The jupyter_client kernel manager whose kernels run in the sandbox (`tfladder.sandbox.launcher`).

nbgrader's Execute step (`tfladder.grading.execute.JudgedExecute`) starts every kernel through it: the
kernel folder and its private Unix sockets are prepared here, the kernel command is wrapped in the
sandbox launcher (`python -m tfladder.sandbox.launcher`), and what the kernel used is read back when it ends.
Kept apart from `tfladder.sandbox.launcher` so that the launcher, which starts once per notebook, does not
import jupyter_client.
"""

import json
import os
import sys
import time
from dataclasses import asdict
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, Type, Unicode

from tfladder.course import notebook_lib
from tfladder.sandbox.launcher import (
    Limits,
    copy_allowed_files,
    prepare_kernel_dir,
    read_usage,
    remove_kernel_dir,
    uid_for,
)

SHUTDOWN_POLL_SECONDS = 0.02  # jupyter_client polls a stopping kernel every 0.1 s


class SandboxKernelClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel has answered `kernel_info` and IOPub
    has delivered that request's last message (its `idle` status).

    jupyter_client's own `wait_for_ready` takes a kernel_info reply plus any IOPub message as
    readiness and then drains IOPub until it has been silent for 0.2 s: a fixed 0.2 s per
    notebook. Waiting for the idle status of the very request that was answered is a stricter
    test that IOPub is connected, and leaves nothing of it to drain; a request whose messages
    IOPub missed (it was not connected yet) is simply asked again, as jupyter_client does.
    Messages not of that request are drained without waiting; nbclient ignores them anyway
    (it reads only the messages whose parent is the cell it executes).
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                if await self._saw_idle(reply["parent_header"].get("msg_id")):
                    self._handle_kernel_info_reply(reply)
                    while True:  # whatever else is already there, without waiting
                        try:
                            await self.iopub_channel.get_msg(timeout=0)
                        except Empty:
                            return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    async def _saw_idle(self, request_id: str | None, quiet_seconds: float = 0.1) -> bool:
        """True once IOPub shows the kernel idle after `request_id`; False after `quiet_seconds`
        without any message (IOPub is not connected yet: the caller asks again)."""
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=quiet_seconds)
            except Empty:
                return False
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == request_id
            ):
                return True


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the sandbox and talk over private Unix sockets."""

    client_factory = Type(SandboxKernelClient, klass=AsyncKernelClient, config=True)

    slot = Integer(0, help="parallel grading slot; picks the kernel's uid").tag(config=True)
    zygote = Unicode(
        "",
        help="socket of a zygote that forks kernels with TensorFlow imported "
        "(tfladder.sandbox.zygote); empty: every kernel starts from scratch",
    ).tag(config=True)
    log_path = Unicode(
        "", help="file for what the kernel writes to its stdout and stderr; empty: this process's own"
    ).tag(config=True)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        self.limits = Limits.from_env()
        self.sandbox_usage: dict[str, Any] = {}
        self._sandbox_dir = prepare_kernel_dir(uid_for(self.slot), self.limits)
        self.transport = "ipc"
        self.ip = str(self._sandbox_dir / "sockets" / "kernel")
        self.connection_file = str(self._sandbox_dir / "kernel.json")
        assert self.kernel_spec is not None  # as jupyter_client asserts before starting a kernel
        # jupyter_client interrupts with SIGINT to the process group, which would kill bwrap:
        # interrupt with a message on the control channel instead.
        self.kernel_spec.interrupt_mode = "message"
        self._files_dir = copy_allowed_files(kw.get("cwd"), self._sandbox_dir / "files")
        self._notebook_lib = notebook_lib.build()
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if not self.log_path:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(self.log_path, "ab") as log:  # the launcher gets its own copy of the descriptor
            return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": log, "stderr": log})

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        uid = uid_for(self.slot)
        if command and os.path.basename(command[0]).startswith("python"):
            command = [sys.executable, "-P", *command[1:]]
        command += ["--IPKernelApp.ignore_cwd=True"]
        launcher = [
            sys.executable,
            "-m",
            "tfladder.sandbox.launcher",
            "--uid",
            str(uid),
            "--kernel-dir",
            str(self._sandbox_dir),
            "--files-dir",
            str(self._files_dir),
            "--limits",
            json.dumps(asdict(self.limits)),
            "--notebook-lib",
            str(self._notebook_lib),
            *(["--zygote", self.zygote] if self.zygote else []),
            "--",
        ]
        return launcher + command

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if getattr(self, "_sandbox_dir", None):
            uid = uid_for(self.slot)
            os.chown(self.connection_file, uid, uid)
            os.chmod(self.connection_file, 0o400)

    async def _async_wait(self, pollinterval: float = SHUTDOWN_POLL_SECONDS) -> None:
        # the launcher notices the end of the sandbox within 0.05 s; look a little more often
        await super()._async_wait(pollinterval=min(pollinterval, SHUTDOWN_POLL_SECONDS))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and getattr(self, "_sandbox_dir", None):
            self.sandbox_usage = read_usage(self._sandbox_dir)
            remove_kernel_dir(self._sandbox_dir)
