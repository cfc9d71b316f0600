"""Executing an untrusted notebook inside nbgrader, with evidence gathered outside the kernel.

`GuardedExecute` replaces nbgrader's Execute step in `tfladder grade`:

- kernels start in the sandbox (`tfladder.sandbox`), unless grading was explicitly unsafe;
- every test cell is bracketed by markers carrying a per-notebook random nonce: a test cell whose
  start marker never printed did not run (skipped, blanked by an input transformer) and scores 0;
  a test cell that shows no error but never reached its end marker had its failure swallowed
  (custom exception handler, traceback suppression) and scores 0; values displayed inside a test
  cell (the "display a number before a failing assert" trick) are removed. Each is flagged;
- a prologue records the modules the tests rely on, and every test cell starts by restoring them
  (`tfladder.guard`): patched checks, numpy.testing or builtins earn nothing, and are flagged;
- canary cells at the end must fail and print as expected; if they do not, the kernel's error or
  output machinery was tampered with, and the notebook is flagged;
- a kernel that dies (a limit hit, os._exit, a killed sandbox) costs only the cells it kept from
  running: earlier cells keep their outputs and points, later ones get a "not run" error;
- each cell's output is capped, so a flood cannot exhaust the grader's memory.

What it saw is written next to the autograded notebook as `tfladder-run.json`.
"""

import json
import secrets
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from tfladder import notebooks
from tfladder.kernel_manager import SandboxKernelManager
from tfladder.sandbox import limits_hit

RUN_REPORT = "tfladder-run.json"
MARK = "tfladder-mark"
GUARD = '__import__("importlib").import_module("tfladder.guard")'


def _error(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute, sandboxed and with tamper evidence (see the module docstring)."""

    sandbox = Bool(True, help="start kernels in the sandbox").tag(config=True)
    max_output_bytes = Integer(200_000, help="output kept per cell; the rest is dropped").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.kernel_manager_class = SandboxKernelManager if self.sandbox else AsyncKernelManager
        self._nonce = secrets.token_hex(12)
        self._dead_at = None
        self._flags = []
        self._output_bytes = {}
        self._sandbox_km = None
        self._usage = {}
        canaries = [
            new_code_cell(f'raise AssertionError("tfladder canary {self._nonce}")'),
            new_code_cell(f'__import__("sys").stdout.write("tfladder canary {self._nonce}\\n");'),
        ]
        prologue = new_code_cell(f'{GUARD}.record()')
        for cell in [prologue, *canaries]:
            cell.metadata["tfladder"] = {"canary": True}
        nb.cells = [prologue, *nb.cells, *canaries]
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            self._check_canaries(nb, canaries)
            nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("tfladder", {}).get("canary")]
            km = self._sandbox_km          # nbclient forgets its kernel manager once the kernel is gone
            self._usage = getattr(km, "sandbox_usage", None) or {}
            if self.sandbox and self._usage:
                self._flags.extend(limits_hit(self._usage, km.limits))
            self._write_report(resources)
        return nb, resources

    def create_kernel_manager(self):
        self._sandbox_km = super().create_kernel_manager()
        return self._sandbox_km

    # -- cells -------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead_at is not None:
            cell.outputs = [_error("NotRun", "not run: the kernel stopped in an earlier cell "
                                   "(a time, memory or process limit was hit, or the code ended the process)")]
            return cell, resources
        test = notebooks.is_test(cell)
        original = cell.source
        if test:
            gid = notebooks.grade_id(cell)
            write = '__import__("sys").stdout.write'
            restored = f'" ".join({GUARD}.restore(globals()))'
            cell.source = (f'{write}("{MARK} start {self._nonce} {gid} " + {restored} + "\\n");\n{original}\n'
                           f'{write}("{MARK} end {self._nonce} {gid}\\n");')
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._give_up(cell, index, "the kernel stopped while running {where}", _error(
                "KernelDied", "the kernel stopped while running this cell (a time, memory or process "
                "limit was hit, or the code ended the process)"))
        except CellTimeoutError:
            # Interrupted at the time-out, and still busy after it: the interrupt was swallowed.
            self._give_up(cell, index, f"{{where}}: ran longer than {self.timeout} s and ignored the interrupt; "
                          "the kernel was given up, later cells were not run", _error(
                              "CellTimeoutError", f"this cell ran longer than {self.timeout} s and could not be "
                              "interrupted"))
        finally:
            cell.source = original
        self._note_errors(cell, index)
        if test:
            self._judge_test_cell(cell)
        return cell, resources

    def _give_up(self, cell, index, flag, error):
        """The kernel is gone or stuck: this cell gets `error`, the cells after it are not run."""
        self._dead_at = notebooks.grade_id(cell) or f"cell {index}"
        self._flags.append(flag.format(where=self._dead_at))
        cell.outputs = list(cell.get("outputs", [])) + [error]

    def _note_errors(self, cell, index):
        """Flag limits hit inside the kernel (a memory error, a cell interrupted at its time-out)."""
        if self._dead_at is not None:
            return
        where = notebooks.grade_id(cell) or f"cell {index}"
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if "MemoryError" in names:
            self._flags.append(f"{where}: ran out of memory (the sandbox's memory limit)")
        if "CellTimeoutError" in names:
            self._flags.append(f"{where}: ran longer than {self.timeout} s and was interrupted")

    def _judge_test_cell(self, cell):
        gid = notebooks.grade_id(cell)
        started = ended = False
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines = []
                for line in output.get("text", "").splitlines(keepends=True):
                    if line.startswith(f"{MARK} start {self._nonce} {gid}"):
                        started = True
                        restored = line.split()[4:]
                        if restored:
                            self._flags.append(f"{gid}: the grader had to restore what the notebook changed: "
                                               + ", ".join(restored[:12]) + (" ..." if len(restored) > 12 else ""))
                    elif line.startswith(f"{MARK} end {self._nonce} {gid}"):
                        ended = True
                    elif MARK not in line:
                        lines.append(line)
                if lines:
                    output["text"] = "".join(lines)
                    kept.append(output)
            elif output.get("output_type") == "execute_result":
                self._flags.append(f"{gid}: a value was displayed inside the test cell; it does not count")
            else:
                kept.append(output)
        failed = any(o.get("output_type") == "error" for o in kept)
        if self._dead_at is not None and not failed:
            return
        if not started:
            self._flags.append(f"{gid}: the test cell did not run (it was skipped or rewritten)")
            kept = [_error("TestNotRun", "this test did not run: the notebook skipped or rewrote it")]
        elif not failed and not ended:
            self._flags.append(f"{gid}: the test cell stopped without an error (a failure was hidden)")
            kept.append(_error("TestInterrupted", "this test stopped before its end without reporting an error"))
        cell.outputs = kept

    def on_cell_executed(self, **kwargs):
        cell = kwargs["cell"]
        if cell.get("metadata", {}).get("tfladder", {}).get("canary"):
            # Seen on the output channel, before nbgrader copies an error over from the reply.
            cell.metadata["tfladder"]["shown_error"] = any(
                o.get("output_type") == "error" and self._nonce in o.get("evalue", "") for o in cell.outputs)
        return super().on_cell_executed(**kwargs)

    def _check_canaries(self, nb, canaries):
        if self._dead_at is not None:
            return
        raised, printed = canaries
        if not raised.metadata["tfladder"].get("shown_error"):
            self._flags.append("a cell that must fail did not report its error: the kernel's error "
                               "handling was changed (custom exception handler or traceback suppression)")
        if not any(self._nonce in o.get("text", "") for o in printed.get("outputs", [])):
            self._flags.append("a cell that must print did not: the kernel's input or output was "
                               "changed (input transformers, patched stdout)")

    # -- outputs -----------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if used <= self.max_output_bytes:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output truncated after {self.max_output_bytes} bytes]\n"))
                self._output_bytes[cell_index] = self.max_output_bytes + 1
                self._flags.append(f"cell {cell_index}: output truncated (more than {self.max_output_bytes} bytes)")
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- report ------------------------------------------------------------------------------
    def _write_report(self, resources):
        folder = (resources or {}).get("metadata", {}).get("path")
        if not folder:
            return
        report = {"sandbox": self.sandbox, "kernel_stopped_in": self._dead_at, "usage": self._usage,
                  "flags": list(dict.fromkeys(self._flags))}
        Path(folder, RUN_REPORT).write_text(json.dumps(report, indent=1))
