"""Does a grading kernel start without waste: a client ready as soon as the kernel answers and IOPub
has caught up, and no needless imports in the processes on the way to it?"""

import asyncio
import subprocess
import sys
from queue import Empty

import pytest

from tfladder.sandbox import kernel_manager


class Channel:
    """A channel whose messages are already there (get_msg never waits)."""

    def __init__(self):
        self.messages = []

    async def get_msg(self, timeout=None):
        if not self.messages:
            raise Empty
        return self.messages.pop(0)


class Kernel(kernel_manager.SandboxKernelClient):
    """A client talking to a pretend kernel: each kernel_info request gets its reply on shell
    and, once IOPub is connected, busy and idle statuses on IOPub."""

    def __init__(self, iopub_connects_at=1):
        super().__init__()
        self.shell, self.iopub, self.requests = Channel(), Channel(), []
        self.iopub_connects_at = iopub_connects_at

    shell_channel = property(lambda self: self.shell)
    iopub_channel = property(lambda self: self.iopub)

    async def _async_is_alive(self):
        return True

    def kernel_info(self):
        msg_id = f"request-{len(self.requests) + 1}"
        self.requests.append(msg_id)
        parent = {"msg_id": msg_id}
        self.shell.messages.append(
            {"msg_type": "kernel_info_reply", "parent_header": parent, "content": {"protocol_version": "5.3"}}
        )
        if len(self.requests) >= self.iopub_connects_at:
            self.iopub.messages += [status(state, parent) for state in ("busy", "idle")]
        return msg_id


def status(state, parent):
    return {"msg_type": "status", "parent_header": parent, "content": {"execution_state": state}}


def ready(client):
    asyncio.run(client.wait_for_ready(timeout=5))
    return client


def test_is_the_client_ready_after_one_request_when_iopub_is_connected():
    client = ready(Kernel())
    assert client.requests == ["request-1"]
    assert client.iopub.messages == [], "IOPub should be drained"


def test_does_the_client_ask_again_when_iopub_missed_the_first_answer():
    client = ready(Kernel(iopub_connects_at=2))
    assert client.requests == ["request-1", "request-2"]
    assert client.iopub.messages == []


def test_does_another_requests_idle_status_not_count_as_ready():
    client = Kernel(iopub_connects_at=3)
    client.iopub.messages.append(status("idle", {"msg_id": "someone-else"}))
    ready(client)
    assert client.requests == ["request-1", "request-2", "request-3"]


def test_is_a_kernel_that_never_answers_reported():
    client = Kernel()
    client.kernel_info = lambda: "request"  # asks, but nothing ever comes back
    with pytest.raises(RuntimeError, match="didn't respond"):
        asyncio.run(client.wait_for_ready(timeout=0))


def test_does_the_sandbox_manager_give_its_kernels_this_client():
    assert kernel_manager.SandboxKernelManager().client_factory is kernel_manager.SandboxKernelClient


def loaded_after(imports, *modules):
    """Which of `modules` a fresh Python process holds after `import <imports>`."""
    probe = f"import sys, {imports}; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_does_the_sandbox_launcher_start_without_jupyter_client():
    # The launcher starts once per notebook, on the way to its first cell.
    assert (
        loaded_after(
            "tfladder.sandbox.launcher, tfladder.sandbox.zygote",
            "jupyter_client",
            "traitlets",
            "zmq",
            "nbformat",
            "numpy",
        )
        == []
    )


def test_does_importing_nbformat_build_no_iri_parsers():
    # jsonschema imports rfc3987-syntax when installed, which builds ~35 Lark parsers (1.1 s of CPU)
    # in every process that imports nbformat: the grader, each worker, nbgrader. make setup removes it.
    assert loaded_after("nbformat", "rfc3987_syntax", "lark") == [], (
        "run make setup again (it uninstalls rfc3987-syntax)"
    )


# -- the zygote's readiness, once per grading run ------------------------------------------------------
class FailingZygote:
    socket_path = "/run/tfladder/zygote.sock"

    def __init__(self):
        self.waits = 0

    def wait_ready(self):
        from tfladder.sandbox import zygote

        self.waits += 1
        raise zygote.ZygoteError("its imports failed")


def test_is_a_zygote_that_cannot_fork_waited_for_once_and_its_reason_kept_for_every_assignment():
    from tfladder.grading import grade

    run = grade._Run(None, grade.Options(), jobs=2, worker_env={})
    run.forks, run.socket_path = FailingZygote(), FailingZygote.socket_path
    for _ in range(3):  # once per notebook queued, over two assignments
        run.wait_for_zygote()
    assert run.forks.waits == 1
    assert run.socket_path == ""  # nbgrader's own kernels then start from scratch
    assert "could not fork kernels: its imports failed" in run.zygote_failed
