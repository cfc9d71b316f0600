"""nbgrader's Execute step with the judge: the kernel computes, the grader judges.

`JudgedExecute` replaces nbgrader's Execute in every autograde of the course (the course's
`nbgrader_config.py` puts it in; `tfladder grade` sets its options):

- the student's cells, and the locked setup cell, run in the kernel as nbgrader would run them;
- test cells never do: their source is taken from the gradebook (never from the submission) and
  run by the judge (`tfladder.grading.judge`) in this process, which reaches into the kernel only
  through the probe and writes the cell's outputs itself: what nbgrader then scores;
- kernels start in the sandbox (`tfladder.sandbox.launcher`) wherever it can (as root, with bubblewrap; so
  formgrader's Autograde button too), or as `tfladder grade` says; limits hit are flagged;
- a kernel that dies (a limit hit, os._exit, a killed sandbox) costs only the cells it kept from
  running: earlier cells keep their outputs and points, later ones get a "not run" error;
- each cell's output is capped, so a flood cannot exhaust the grader's memory;
- with `results` (parallel grading, `tfladder.grading.parallel`), a worker's execution of this very
  notebook is taken when its fingerprint matches, and the notebook is executed here otherwise.

What it saw (flags, the judge's own cost, the sandbox's usage) is written next to the autograded
notebook as `tfladder-run.json`.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager, KernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode

from tfladder import probe, wire
from tfladder.course import notebooks
from tfladder.grading import replay
from tfladder.grading.judge import Judge, KernelLost
from tfladder.sandbox.kernel_manager import SandboxKernelManager
from tfladder.sandbox.launcher import SandboxUnavailable, limits_hit, startable

RUN_REPORT = "tfladder-run.json"
PROBE_CELL = "pass  # a test's request: the kernel answers it in a user expression (tfladder.probe)"
NOT_RUN = (
    "not run: the kernel stopped in an earlier cell (a time, memory or process limit was hit, "
    "or the code ended the process)"
)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def gradebook_cells(resources: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """({grade id: source} of the notebook's test cells, hidden tests included; {grade id: source}
    of its code answer cells as released, the stubs), as the gradebook holds them, for the notebook
    nbgrader is grading (`resources["nbgrader"]`), or as a grading node's task carries them."""
    from nbgrader.api import Gradebook

    info = (resources or {}).get("nbgrader") or {}
    if "gradebook_cells" in info:  # a grading node's task brings them (tfladder.grading.node)
        return dict(info["gradebook_cells"]["tests"]), dict(info["gradebook_cells"]["stubs"])
    missing = [key for key in ("db_url", "assignment", "notebook") if not info.get(key)]
    if missing:
        raise RuntimeError(f"the judge needs the gradebook's tests, and nbgrader did not say its {', '.join(missing)}")
    with Gradebook(info["db_url"]) as gb:
        nb = gb.find_notebook(info["notebook"], info["assignment"])
        solutions = {cell.name for cell in nb.solution_cells}
        sources = {cell.name: (cell.cell_type, cell.source) for cell in nb.source_cells}
        tests = {
            cell.name: sources[cell.name][1]
            for cell in nb.grade_cells
            if cell.cell_type == "code" and cell.name not in solutions and cell.name in sources
        }
        stubs = {name: sources[name][1] for name in solutions if name in sources and sources[name][0] == "code"}
        return tests, stubs


class JudgedExecute(Execute):
    """nbgrader's Execute, with test cells judged outside the kernel (see the module docstring)."""

    sandbox = Bool(
        None,
        allow_none=True,
        help="start kernels in the sandbox; by default (None) wherever it can start: as root, with bubblewrap",
    ).tag(config=True)
    max_output_bytes = Integer(200_000, help="output kept per cell; the rest is dropped").tag(config=True)
    max_reply_bytes = Integer(256 << 20, help="largest reply a test's request may bring back").tag(config=True)
    results = Unicode("", help="folder of the parallel workers' results to replay (tfladder.grading.parallel)").tag(
        config=True
    )
    wait_seconds = Float(3600.0, help="longest wait for one worker result").tag(config=True)

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: KernelManager | None = None
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if self.results:
            report, why = replay.replay(self, nb, resources)
            if report is not None:
                Path(resources["metadata"]["path"], RUN_REPORT).write_text(json.dumps(report, indent=1))
                return nb, resources
            self.log.warning("tfladder: executing %s here: %s", resources["nbgrader"]["student"], why)
            self._executed_here = why
        else:
            self._executed_here = None
        return self._execute(nb, resources, km)

    def _execute(
        self, nb: NotebookNode, resources: Any, km: KernelManager | None
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if self.sandbox is None:
            self.sandbox = startable()
            if not self.sandbox:
                self.log.warning(
                    "tfladder: kernels run without the sandbox, as your own user (it needs root and "
                    "bubblewrap): grade untrusted notebooks with `tfladder grade` as root"
                )
        elif self.sandbox and not startable():
            # Configured to grade in the sandbox only (a hub's formgrader, run by an instructor,
            # who is not root): no student code runs unsandboxed, and the log says what to do.
            raise SandboxUnavailable(
                "this course grades only in the sandbox, which needs root and bubblewrap: "
                "grade with `tfladder grade` as root on the grading machine"
            )
        self.kernel_manager_class = SandboxKernelManager if self.sandbox else AsyncKernelManager
        self._dead_at: str | None = None
        self._flags: list[str] = []
        self._output_bytes: dict[int, int] = {}
        self._sandbox_km: KernelManager | None = None
        self._usage: dict[str, Any] = {}
        self._probing = False
        self._current: int | None = None
        tests, stubs = gradebook_cells(resources) if any(notebooks.is_test(c) for c in nb.cells) else ({}, {})
        self.judge = Judge(nb, tests, self._send, stubs=stubs, flag=self._flags.append, log=self.log)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            km = self._sandbox_km  # nbclient forgets its kernel manager once the kernel is gone
            self._usage = getattr(km, "sandbox_usage", None) or {}
            if self.sandbox and self._usage:
                assert km is not None  # it reported the usage
                self._flags.extend(limits_hit(self._usage, km.limits))
            self._write_report(resources)
        return nb, resources

    def create_kernel_manager(self) -> KernelManager:
        self._sandbox_km = super().create_kernel_manager()
        return self._sandbox_km

    # -- cells -------------------------------------------------------------------------------
    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code":
            return cell, resources
        if self._dead_at is not None:
            cell.outputs = [_error("NotRun", NOT_RUN)]
            return cell, resources
        gid = notebooks.grade_id(cell)
        if gid in self.judge.tests:
            self._current = index
            try:
                cell.outputs = self.judge.test(gid, index)
            except KernelLost as lost:
                self._kernel_lost(cell, index, lost.cause)
            return cell, resources
        if notebooks.is_test(cell):
            self._flags.append(
                f"{gid or f'cell {index}'}: a test cell the gradebook does not know; run as the student's own code"
            )
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as error:
            self._kernel_lost(cell, index, error)
        self._note_errors(cell, index)
        return cell, resources

    def _kernel_lost(self, cell: NotebookNode, index: int, error: BaseException) -> None:
        """The kernel is gone or stuck: this cell gets an error, the cells after it are not run."""
        self._dead_at = notebooks.grade_id(cell) or f"cell {index}"
        if isinstance(error, CellTimeoutError):
            self._flags.append(
                f"{self._dead_at}: ran longer than {self.timeout} s and ignored the interrupt; "
                "the kernel was given up, later cells were not run"
            )
            lost = _error(
                "CellTimeoutError", f"this cell ran longer than {self.timeout} s and could not be interrupted"
            )
        else:
            self._flags.append(f"the kernel stopped while running {self._dead_at}")
            lost = _error(
                "KernelDied",
                "the kernel stopped while running this cell (a time, memory or process "
                "limit was hit, or the code ended the process)",
            )
        cell.outputs = list(cell.get("outputs", [])) + [lost]

    def _note_errors(self, cell: NotebookNode, index: int) -> None:
        """Flag limits hit inside the kernel (a memory error, a cell interrupted at its time-out)."""
        if self._dead_at is not None:
            return
        where = notebooks.grade_id(cell) or f"cell {index}"
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if "MemoryError" in names:
            self._flags.append(f"{where}: ran out of memory (the sandbox's memory limit)")
        if "CellTimeoutError" in names:
            self._flags.append(f"{where}: ran longer than {self.timeout} s and was interrupted")

    # -- the probe: one request of a test, answered by the kernel --------------------------------
    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, as an execute request whose code is `pass` and whose one user expression
        asks the probe (`probe.request_code`). An expression is evaluated as it is, where a cell's
        code goes through IPython's transformers, the kernel's history and ipykernel's hash of the
        cell (pure Python: 0.2 s per MB of data sent), and is echoed back on IOPub."""
        index = self._current
        expression = probe.request_code(request)
        asked = new_code_cell(PROBE_CELL)
        self.judge.stats["bytes_sent"] += len(expression)
        real = self.nb.cells[index]
        execute = self.kc.execute

        def execute_with_expression(code: str, **options: Any) -> str:
            return execute(code, **options, user_expressions={"tfladder": expression})

        self._probing = True
        self.kc.execute = execute_with_expression
        try:
            self.execute_cell(asked, index, store_history=False)
        except (DeadKernelError, CellTimeoutError) as error:
            raise KernelLost(error) from None
        finally:
            del self.kc.execute
            self._probing = False
            self.nb.cells[index] = real
        where = notebooks.grade_id(real) or f"cell {index}"
        for output in asked.get("outputs", []):
            text = output.get("data", {}).get(wire.MIME) if output.get("output_type") == "display_data" else None
            if isinstance(text, str):
                self.judge.stats["bytes_received"] += len(text)
                try:
                    reply = json.loads(text)
                except ValueError:
                    break
                if isinstance(reply, dict):
                    if isinstance(reply.get("error"), dict) and reply["error"].get("type") == "KeyboardInterrupt":
                        self._flags.append(f"{where}: ran longer than {self.timeout} s and was interrupted")
                    return reply
                break
        names = [o.get("ename") for o in asked.get("outputs", []) if o.get("output_type") == "error"]
        if "CellTimeoutError" in names:
            self._flags.append(f"{where}: ran longer than {self.timeout} s and was interrupted")
            return {"error": {"type": "KeyboardInterrupt", "message": ""}}
        self._flags.append(
            f"{where}: the kernel did not answer the test's request (the notebook changed how its kernel runs code)"
        )
        return {"error": {"type": "ProbeFailed", "message": "the kernel did not answer the test's request"}}

    # -- outputs -----------------------------------------------------------------------------
    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        if self._probing:
            data = msg.get("content", {}).get("data", {})
            if msg.get("msg_type") == "display_data" and wire.MIME in data:
                if len(str(data[wire.MIME])) > self.max_reply_bytes:
                    return None
                return super().output(outs, msg, display_id, cell_index)
            if msg.get("msg_type") != "error":
                return None  # what the student's code printed meanwhile: not kept
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if used <= self.max_output_bytes:
                outs.append(
                    NotebookNode(
                        output_type="stream",
                        name="stdout",
                        text=f"\n[output truncated after {self.max_output_bytes} bytes]\n",
                    )
                )
                self._output_bytes[cell_index] = self.max_output_bytes + 1
                self._flags.append(f"cell {cell_index}: output truncated (more than {self.max_output_bytes} bytes)")
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- report ------------------------------------------------------------------------------
    def _write_report(self, resources: Mapping[str, Any] | None) -> None:
        folder = (resources or {}).get("metadata", {}).get("path")
        if not folder:
            return
        report = {
            "sandbox": self.sandbox,
            "kernel_stopped_in": self._dead_at,
            "usage": self._usage,
            "flags": list(dict.fromkeys(self._flags)),
            "judge": dict(self.judge.stats),
        }
        if self._executed_here:
            report.update(executed_by="grader", why=self._executed_here)
        Path(folder, RUN_REPORT).write_text(json.dumps(report, indent=1))
