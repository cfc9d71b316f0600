"""Grading a class in parallel, with nbgrader still the only writer of the gradebook.

`tfladder grade --jobs N` (`tfladder.grading.grade`) runs three things at once:

- N worker processes execute the staged notebooks with `JudgedExecute` (the same sandbox, the
  same judge), each on its own sandbox uid, kernels forked from one zygote that has
  TensorFlow imported (`tfladder.sandbox.zygote`). Each notebook is first prepared exactly as nbgrader's
  autograde prepares it (nbgrader's own sanitizing preprocessors, the gradebook only read; the
  submission's files and source/'s beside it), and the result lands in build/grading/<a>/executed/.
- One `nbgrader autograde` runs as in serial grading, its `JudgedExecute` told where the results
  are (`replay`): for each student it waits for the worker's result and takes the outputs only
  if the notebook nbgrader hands it, and the files the kernel would see, have the fingerprint of
  what the worker executed. Otherwise (a worker failed, anything differs) it executes the
  notebook itself, exactly as serial grading does. Every score, the gradebook and the feedback
  therefore come from nbgrader's own steps, in one process.
- The zygote, which forks kernels into their sandboxes.

Results are the same as serial grading because the same notebook runs in the same sandbox with
the same executor; only where and when it runs differ (tests/grading/test_parallel_grading.py).
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from tfladder.course.config import absolute_db_url, nbgrader_config
from tfladder.grading import execute, replay

if TYPE_CHECKING:  # traitlets is imported where a configuration is built
    from traitlets.config import Config

# nbgrader's sanitizing pass, in its order (nbgrader.converters.Autograde.sanitize_preprocessors)
SANITIZERS = ("ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata")


def _write_atomically(path: str | Path, text: str) -> None:
    tmp = Path(f"{path}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- preparing notebooks as nbgrader will ------------------------------------------------------------
def prepare(
    course: str | Path,
    assignment: str,
    staging: str | Path,
    work: str | Path,
    students: Iterable[str],
    config: "Config",
) -> Iterator[tuple[str, tuple[Path, Path, dict[str, Any]] | None]]:
    """For each student in turn, the notebook and folder nbgrader's autograde will execute.

    Yields (student, (notebook path, folder, nbgrader's resources)), or (student, None) when nbgrader's sanitizer
    refuses the notebook: that one is left to nbgrader itself (it fails the same way).
    """
    from nbgrader import preprocessors
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    coursedir = CourseDirectory(config=config)
    sanitizers = [getattr(preprocessors, name)(config=config) for name in SANITIZERS]
    source = Path(course) / "source" / assignment
    excluded = {str(source / x) for x in config.Autograde.get("exclude_overwriting", {}).get(assignment, [])}
    for student in students:
        submitted = Path(staging) / student / assignment
        folder = Path(work) / student
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        # as nbgrader's init_assignment: the submission's files, then source/'s over them
        for top, skip in ((submitted, set()), (source, excluded)):
            for name in find_all_files(str(top), coursedir.ignore + ["*.ipynb"]):
                if name in skip:
                    continue
                target = folder / os.path.relpath(name, top)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(name, target)
        try:
            nb = nbformat.read(str(submitted / f"{assignment}.ipynb"), as_version=4)
            resources = {
                "nbgrader": {
                    "student": student,
                    "assignment": assignment,
                    "notebook": assignment,
                    "db_url": absolute_db_url(coursedir.db_url, course),  # workers run elsewhere
                },
                "metadata": {"path": str(folder)},
            }
            for sanitizer in sanitizers:
                nb, resources = sanitizer.preprocess(nb, resources)
        except Exception:  # noqa: BLE001 - nbgrader will meet the same problem and report it
            yield student, None
            continue
        path = folder / f"{assignment}.ipynb"
        nbformat.write(nb, str(path))
        yield student, (path, folder, resources["nbgrader"])


# -- the workers ---------------------------------------------------------------------------------------
def execute_one(config: "Config", task: Mapping[str, Any]) -> None:
    """In a worker: execute one prepared notebook with JudgedExecute; write its result file."""
    from nbgrader.utils import setenv

    student, folder, results = task["student"], task["folder"], task["results"]
    nb = nbformat.read(str(task["notebook"]), as_version=4)
    result = {"student": student, "fingerprint": replay.fingerprint(nb, folder)}
    started = time.monotonic()
    try:
        executor = execute.JudgedExecute(config=config)
        with setenv(NBGRADER_EXECUTION="autograde"):
            nb, _ = executor.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": task["nbgrader"]})
        result["notebook"] = nbformat.writes(nb)
        result["report"] = json.loads((Path(folder) / execute.RUN_REPORT).read_text())
    except Exception as error:  # noqa: BLE001 - the grader executes this notebook itself
        result["error"] = f"{type(error).__name__}: {error}"
    result["seconds"] = time.monotonic() - started
    _write_atomically(replay.result_path(results, student), json.dumps(result))


def worker_main(argv: Sequence[str]) -> None:
    """`python -m tfladder.grading.parallel COURSE SETTINGS`: execute the tasks read from stdin, one JSON
    object per line, answering "done" for each."""
    from traitlets.config import Config

    settings = json.loads(argv[1])
    extra = Config()
    extra.JudgedExecute.sandbox = settings["sandbox"]
    extra.SandboxKernelManager.slot = settings["slot"]
    if settings["sandbox"]:  # held for this process's life: no other kernel gets its uid
        from tfladder.sandbox import slots

        extra.SandboxKernelManager.slot, _held = slots.take(settings["slot"])
    extra.SandboxKernelManager.zygote = settings["zygote"]
    config = nbgrader_config(Path(argv[0]), extra)
    # Answers go to a private copy of stdout; kernels inherit stdout and stderr, which become the
    # worker's log, so nothing a kernel prints can be taken for an answer.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        task = json.loads(line)
        execute_one(config, task)
        answers.write("done\n")
        answers.flush()


class Workers:
    """N worker processes, each with its own sandbox slot (uid), taking notebooks in order."""

    def __init__(
        self,
        jobs: int,
        course: str | Path,
        *,
        logs: str | Path,
        use_sandbox: bool,
        zygote: str = "",
        first_slot: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start the worker processes now (their imports overlap whatever comes next)."""
        self.tasks: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.command = [sys.executable, "-m", "tfladder.grading.parallel", str(course)]
        self.settings = {"sandbox": bool(use_sandbox), "zygote": zygote}
        self.env = env
        self.threads = [threading.Thread(target=self._feed, args=(first_slot + k,), daemon=True) for k in range(jobs)]
        for thread in self.threads:
            thread.start()

    def _start(self, slot: int, first: bool = False) -> subprocess.Popen[str]:
        log = open(Path(self.logs) / f"worker-{slot}.log", "w" if first else "a")  # one log per run
        try:
            return subprocess.Popen(
                [*self.command, json.dumps({**self.settings, "slot": slot})],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        finally:
            log.close()

    def _feed(self, slot: int) -> None:
        process = self._start(slot, first=True)
        while (task := self.tasks.get()) is not None:
            try:
                if process is None or process.poll() is not None:
                    process = self._start(slot)
                assert process.stdin is not None and process.stdout is not None  # started with pipes
                process.stdin.write(json.dumps(task) + "\n")
                process.stdin.flush()
                answer = process.stdout.readline()
            except OSError as error:
                answer = f"{error}"
            if answer.strip() != "done":
                path = replay.result_path(task["results"], task["student"])
                if not path.exists():
                    code = process.poll() if process else None
                    _write_atomically(
                        path,
                        json.dumps(
                            {"student": task["student"], "error": f"the worker process ended (exit status {code})"}
                        ),
                    )
        if process is not None and process.poll() is None:
            assert process.stdin is not None  # started with a pipe
            process.stdin.close()
            process.wait()

    def submit(
        self,
        student: str,
        prepared: tuple[Path, Path, dict[str, Any]] | None,
        results: str | Path,
        config: "Config | None" = None,
    ) -> None:
        """Queue one student's prepared notebook (notebook, folder); None: nothing to execute,
        which the result says at once (the grader executes that notebook itself)."""
        if prepared is None:
            _write_atomically(
                replay.result_path(results, student),
                json.dumps({"student": student, "error": "nbgrader's sanitizer refused the notebook"}),
            )
        else:
            notebook, folder, info = prepared
            self.tasks.put(
                {
                    "student": student,
                    "notebook": str(notebook),
                    "folder": str(folder),
                    "results": str(results),
                    "nbgrader": info,
                }
            )

    def finish(self) -> None:
        """Let every worker finish its queue and exit."""
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join()


if __name__ == "__main__":
    worker_main(sys.argv[1:])
