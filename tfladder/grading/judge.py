"""The judge: test cells run here, in the grader's own process, never in the student's kernel.

The student's kernel only computes. For each test cell, nbgrader's Execute step
(`tfladder.grading.execute.JudgedExecute`) hands the judge the cell's source as the gradebook holds it,
hidden tests included; the judge runs it with numpy, the checks, the oracles and a `probe`
(`RemoteProbe`) whose requests go into the student's kernel through the probe and come back as
plain data (`tfladder.probe`, `tfladder.wire`). The judge compares, words every message, and
returns the test cell's outputs: what the test printed, and an error when it failed, which is
what nbgrader scores. Nothing that knows an answer (hidden test code, oracles, expected values,
tolerances) enters the kernel; a stand-in (a correct earlier answer) enters it only while a test
of a later exercise runs, after every test of its own exercise was judged.

Messages that quote the student (an exception's text, a line of their code) are cut short, and a
message that quotes a line of the hidden tests is withheld and flagged.
"""

import ast
import builtins
import contextlib
import io
import logging
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from tfladder import checks, data, probe, seeds
from tfladder.checks import CheckFailed
from tfladder.course import notebooks
from tfladder.grading import api_reading
from tfladder.spies import Trace

MIN_SECRET_LINE = 16
MAX_MESSAGE_CHARS = 4000


class KernelLost(BaseException):
    """The kernel died or could not be stopped while answering (a BaseException, so that no test's
    `except Exception` can swallow it); carries the executor's own exception."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class GraderError(Exception):
    """A test could not be run as written: a problem of the course, not of the student."""


def secret_lines(sources: Iterable[str]) -> set[str]:
    """Lines of hidden tests that only the judge may know: stripped, long enough to mean something,
    not inside the code a test sends to the kernel (`probe.run("...")`), which is not secret."""
    found: set[str] = set()
    for source in sources:
        sent = _sent_lines(source)
        region = notebooks.region_lines(source, notebooks.BEGIN_HIDDEN, notebooks.END_HIDDEN)
        for line in region:
            text = line.strip()
            if len(text) >= MIN_SECRET_LINE and text not in sent and not text.startswith("#"):
                found.add(text)
    return found


def _sent_lines(source: str) -> set[str]:
    """Stripped lines of the string literals a test passes to probe.run / probe.trace."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    lines: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run", "trace", "register_standin")
            and node.args
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    lines.update(line.strip() for line in arg.value.splitlines())
    return lines


class RemoteProbe(probe.Client):
    """`probe` in the judge: each request goes to the student's kernel through `send`."""

    def __init__(self, judge: "Judge", send: Callable[[dict[str, Any]], Any]) -> None:
        self._judge, self._send = judge, send
        self._registered_by: dict[str, str | None] = {}
        super().__init__()

    def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._judge.exchange(self._send, request)

    def _seen(self, trace: Trace) -> api_reading.Seen:
        return api_reading.Seen(
            trace, self._judge.reading(), isolated=self._isolated, flag=self._judge.flag, test_id=self.test_id
        )

    def register_standin(self, name: str, source: str) -> None:
        super().register_standin(name, source)
        self._registered_by[name] = self.test_id

    def isolate(self, *names: str) -> None:
        for name in names:
            registered = self._registered_by.get(name)
            if registered is None or not self._judge.exercise_judged(registered, self.test_id):
                raise GraderError(
                    f"the stand-in for {name} is not available to {self.test_id}: only tests "
                    "of a later exercise, once every test of its own exercise was judged, may use it"
                )
        super().isolate(*names)


class Judge:
    """Runs the test cells of one notebook, in order, against one student's kernel."""

    def __init__(
        self,
        nb: Any,
        tests: Mapping[str, str],
        send: Callable[[dict[str, Any]], Any],
        *,
        stubs: Mapping[str, str] | None = None,
        flag: Callable[[str], None] | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        """`tests`: {grade id: source} of the test cells, from the gradebook (trusted); `send`:
        request -> reply, through the kernel; `stubs`: {answer's grade id: its released stub};
        `flag`: where reasons to look go."""
        self.nb, self.tests = nb, dict(tests)
        self.answer_names = {gid: api_reading.defined_names(source) for gid, source in (stubs or {}).items()}
        self._flag, self.log = flag, log
        solutions = notebooks.solution_ids(nb)
        self.order = [notebooks.grade_id(c) for c in nb.cells if notebooks.grade_id(c) in self.tests]
        self.exercise = {gid: notebooks.exercise_of(gid, solutions) or gid for gid in self.order}
        self.done: set[str] = set()
        self.index = 0
        self._parsed: dict[str, dict[str, list[ast.stmt]]] = {}  # each student cell's definitions, by source
        self.secrets = secret_lines(self.tests.values())
        self.probe = RemoteProbe(self, send)
        self.namespace = {
            "__builtins__": builtins,
            "__name__": "tfladder_judge",
            "np": np,
            "checks": checks,
            "seeds": seeds,
            "data": data,
            "probe": self.probe,
        }
        self.stats = {
            "requests": 0,
            "probe_seconds": 0.0,
            "judge_seconds": 0.0,
            "bytes_sent": 0,
            "bytes_received": 0,
            "kernel_seconds": 0.0,
        }

    # -- what the kernel and the API reading need ---------------------------------------------------
    def flag(self, reason: str) -> None:
        if self._flag is not None:
            self._flag(reason)

    def exchange(self, send: Callable[[dict[str, Any]], Any], request: dict[str, Any]) -> dict[str, Any]:
        """One request through `send`, timed (`send` may count the bytes it moves in `stats`)."""
        started = time.perf_counter()
        self.stats["requests"] += 1
        reply = send(request)
        if not isinstance(reply, dict):
            reply = {"error": {"type": "ProbeFailed", "message": "the kernel's reply was not readable"}}
        self.stats["probe_seconds"] += time.perf_counter() - started
        seconds = reply.get("seconds")
        if isinstance(seconds, (int, float)):
            self.stats["kernel_seconds"] += float(seconds)
        return reply

    def reading(self) -> api_reading.Reading:
        """The student's editable cells before the current test, read for API use."""
        return api_reading.notebook_reading(self.nb.cells[: self.index], self._parsed)

    def unwritten(self, grade_id: str) -> str | None:
        """Why the test's answer cannot have been written, or None: the student's cells never
        define its names, or only as released (`raise NotImplementedError()`). Then nothing the
        kernel might say about them counts: the test fails without asking it."""
        exercise = self.exercise.get(grade_id)
        names = self.answer_names.get(exercise, []) if exercise is not None else []
        reading = self.reading()
        missing = [name for name in names if not reading.definitions.get(name) or reading.is_stub(name)]
        if not names or len(missing) < len(names):
            return None
        name = missing[0]
        if reading.definitions.get(name) and not reading.is_class(name):
            return (
                f"{name} is not written yet: it still raises NotImplementedError. Replace "
                "`raise NotImplementedError()` with your code."
            )
        return checks.NOT_DEFINED.format(name=name)  # what the kernel says of a class cell that raised

    def exercise_judged(self, registered_by: str, current: str | None) -> bool:
        """True when every test of `registered_by`'s exercise was judged and `current` belongs to
        another exercise."""
        exercise = self.exercise.get(registered_by)
        if exercise is None or exercise == self.exercise.get(current):
            return False
        return all(gid in self.done for gid in self.order if self.exercise[gid] == exercise)

    # -- one test ------------------------------------------------------------------------------------
    def test(self, grade_id: str, index: int) -> list[Any]:
        """Run the test `grade_id` (the cell at `index`); its outputs as nbformat dicts."""
        from nbformat.notebooknode import NotebookNode

        self.index = index
        self.probe.begin_test(grade_id)
        printed = io.StringIO()
        started = time.perf_counter()
        probing = self.stats["probe_seconds"]
        error = None
        try:
            unwritten = self.unwritten(grade_id)
            if unwritten:
                raise CheckFailed(unwritten)
            code = compile(self.tests[grade_id], f"<test {grade_id}>", "exec")
            with contextlib.redirect_stdout(printed), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(code, self.namespace)  # noqa: S102 - the course's own test, from the gradebook
        except CheckFailed as failure:
            error = ("CheckFailed", self._clean(str(failure), grade_id))
        except KernelLost:
            raise
        except Exception as failure:  # noqa: BLE001 - a problem of the test, reported, never the student's
            detail = "".join(traceback.format_exception_only(type(failure), failure)).strip()
            self.flag(f"{grade_id}: the test could not judge this notebook ({detail[:300]})")
            if self.log is not None:
                self.log.error("tfladder: test %s failed in the judge:\n%s", grade_id, traceback.format_exc())
            error = (
                "GraderError",
                f"this test could not judge your answer ({type(failure).__name__}); your instructor has been told.",
            )
        finally:
            self.done.add(grade_id)
            self.stats["judge_seconds"] += (time.perf_counter() - started) - (self.stats["probe_seconds"] - probing)
        outputs: list[Any] = []
        if printed.getvalue():
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=printed.getvalue()[-20_000:]))
        if error:
            ename, message = error
            outputs.append(
                NotebookNode(
                    output_type="error",
                    ename=ename,
                    evalue=message,
                    traceback=[f"{ename}: {line}" if i == 0 else line for i, line in enumerate(message.splitlines())],
                )
            )
        return outputs

    def _clean(self, message: str, grade_id: str) -> str:
        """A failure message as the student may read it: no line of the hidden tests, not too long."""
        quoted = [line for line in self.secrets if line in message]
        if quoted:
            self.flag(f"{grade_id}: a failure message quoted the hidden tests; it was withheld")
            return (
                "this test failed, and its message was withheld because it quoted the grader's own "
                "tests; your instructor has been told."
            )
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + " [...]"
        return message
