"""`tfladder grade`: grade untrusted submissions safely, lose nothing, flag tampering.

For one assignment:

0. the release and the gradebook's copy of the assignment are regenerated from source/ unless
   they are provably what that would write (`tfladder.course.release_stamp`);
1. every submission in submitted/<student>/<assignment>/ is checked and staged in
   build/grading/<assignment>/submitted/: the notebook must be readable UTF-8 JSON in nbformat 4
   belonging to this assignment (a lone notebook under another name is used and noted; a missing,
   empty, broken or foreign notebook is replaced by the blank release, so it is graded and
   recorded at zero, with its reason); only data files come along (no .py, .pth, .so, hidden
   files), so nothing submitted reaches the kernel's import path;
2. the staged notebooks are scanned for tampering (`tfladder.grading.tamper`) and put back into the
   assignment's shape (`tfladder.grading.restore`: test cells, answer cells' metadata), keeping every
   answer, so that nbgrader never rejects a whole notebook for a tampered cell;
3. `nbgrader autograde` grades them with the course's own config and gradebook, whose Execute step
   is `tfladder.grading.execute.JudgedExecute`: the student's cells run in a sandboxed kernel, every test
   cell in the judge outside it, a kernel death costs only what it kept from running. By default
   the notebooks are executed ahead of it, `jobs` at a time, by worker processes whose kernels
   are forked from a zygote with TensorFlow imported (`tfladder.grading.parallel`, `tfladder.sandbox.zygote`),
   and nbgrader replays their results, still the only writer of the gradebook;
4. every submission with a reason to look at it is flagged in the gradebook, its reasons are
   written to autograded/<student>/<assignment>/tfladder.json (with the fingerprints of the
   submission and the release it was graded against: `tfladder.grading.resume`), and a summary
   says how many submissions were graded, failed and flagged.

Several assignments (`grade_many`) are graded in one run, each exactly as above: the zygote and
the workers are shared, steps 0-2 run for every assignment first (every notebook queued), then
nbgrader records one assignment after another, so the workers never wait between assignments.

Recorders: with nbgrader's SQLite gradebook one nbgrader process records at a time. With a
gradebook on a database server (`db_url` = PostgreSQL) `recorders` nbgrader processes record at
once, each a slice of an assignment's students (every R-th one, so that all follow the workers'
order), each with its own sandbox slot for a notebook it must execute itself.

A run on a cluster that loses its scheduler stops: what had been executed is recorded, the rest of
the submissions are left unrecorded (`Summary.unrecorded`, no report) and each assignment's error
says so; `resume` then grades only the submissions not recorded yet.
"""

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfladder import runtime
from tfladder.course import ops
from tfladder.course.config import SQLITE, db_url, nbgrader_config, tool_env
from tfladder.grading.progress import Progress
from tfladder.grading.resume import REPORT  # the report each graded submission gets
from tfladder.sandbox import launcher

# nbformat, nbgrader and the modules built on them take about 2 s to import: they are imported
# where they are used, so that the zygote and the workers start first.
if TYPE_CHECKING:
    from nbformat import NotebookNode

    from tfladder.grading.cluster import Cluster
    from tfladder.grading.parallel import Workers
    from tfladder.sandbox.zygote import Zygote

# nbgrader's configuration for one assignment of a run, and the settings file it reads
RUN_CONFIG = Path(__file__).with_name("run_config.py")
RUN_SETTINGS = "tfladder-run-settings.json"
KEPT_FILES = ("timestamp.txt",)
ENGINES = ("pool", "dask")  # what executes a local run's notebooks (Options.engine)


@dataclass
class Submission:
    student: str
    reasons_failed: list[str] = field(default_factory=list)  # why it was graded as blank
    flags: list[str] = field(default_factory=list)  # why a human should look at it
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""  # of the submitted files (tfladder.grading.resume)


@dataclass
class Recording:
    """One recording process of a run (an nbgrader autograde): its students, when it ran (monotonic)."""

    students: list[str]
    started: float
    ended: float = 0.0


@dataclass
class Summary:
    assignment: str
    submissions: dict[str, Submission] = field(default_factory=dict)  # student -> Submission
    nbgrader_failed: list[str] = field(default_factory=list)
    log: str = ""
    executed_by: dict[str, str] = field(default_factory=dict)  # student -> "worker" or "grader" (parallel only)
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why the assignment could not be graded (or not all of it)
    skipped: list[str] = field(default_factory=list)  # recorded already, left alone (Options.resume)
    unrecorded: list[str] = field(default_factory=list)  # not recorded: the run stopped first
    recordings: list[Recording] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        failed = {s for s, sub in self.submissions.items() if sub.reasons_failed} | set(self.nbgrader_failed)
        return sorted(failed - set(self.unrecorded))

    @property
    def flagged(self) -> list[str]:
        return sorted(
            s for s, sub in self.submissions.items() if (sub.flags or sub.reasons_failed) and s not in self.unrecorded
        )

    @property
    def graded(self) -> list[str]:
        return sorted(s for s in self.submissions if s not in self.nbgrader_failed and s not in self.unrecorded)

    def line(self) -> str:
        extra = "".join(
            f", {len(students)} {what}"
            for students, what in ((self.unrecorded, "not recorded"), (self.skipped, "recorded already"))
            if students
        )
        return (
            f"{self.assignment}: {len(self.graded)} graded, {len(self.failed)} failed, "
            f"{len(self.flagged)} flagged for review{extra}"
        )


def _read_notebook(
    path: Path, assignment: str, release_nb: "NotebookNode"
) -> tuple["NotebookNode", None] | tuple[None, str]:
    """(notebook, None) or (None, reason) for a submitted file."""
    import nbformat

    from tfladder.course import notebooks

    data = path.read_bytes()
    if not data.strip():
        return None, f"{path.name} is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{path.name} is not UTF-8 text"
    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as error:  # noqa: BLE001 - any way a submission's JSON can be broken
        return None, f"{path.name} is not a valid notebook ({str(error).splitlines()[0][:200]})"
    if nb.get("nbformat") != 4:
        return None, f"{path.name} is nbformat {nb.get('nbformat')}, not 4"
    try:
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - any way it breaks the schema
        return None, f"{path.name} does not follow the notebook format ({str(error).splitlines()[0][:200]})"
    ours = set(notebooks.solution_ids(release_nb))
    theirs = {notebooks.grade_id(c) for c in nb.cells if notebooks.grade_id(c)}
    if ours and not ours & theirs:
        prefixes = sorted({i.split("_", 1)[0] for i in theirs if i and "_" in i})
        other = f" (its grade ids start with {', '.join(prefixes)})" if prefixes else ""
        return None, f"{path.name} is not a notebook of {assignment}{other}"
    return nb, None


def stage(source_dir: Path, target_dir: Path, assignment: str, release_nb: "NotebookNode") -> Submission:
    """Check one submission and copy what may be graded into target_dir; returns a Submission."""
    import nbformat

    from tfladder.grading import restore, resume, tamper

    submission = Submission(student=source_dir.parent.name, fingerprint=resume.submission_fingerprint(source_dir))
    target_dir.mkdir(parents=True, exist_ok=True)
    expected = source_dir / f"{assignment}.ipynb"
    found = [p for p in sorted(source_dir.glob("*.ipynb")) if p.is_file()]
    nb = None
    if expected.is_file():
        nb, reason = _read_notebook(expected, assignment, release_nb)
    elif len(found) == 1:
        submission.notes.append(f"graded {found[0].name} (the notebook was renamed)")
        submission.flags.append(f"the notebook was renamed to {found[0].name}")
        nb, reason = _read_notebook(found[0], assignment, release_nb)
    else:
        reason = (
            f"no {assignment}.ipynb was submitted"
            if not found
            else f"no {assignment}.ipynb, and {len(found)} other notebooks: cannot tell which to grade"
        )
    if nb is None:
        assert reason is not None  # _read_notebook gives a reason with every None
        submission.reasons_failed.append(reason + "; graded as the blank release (0 points)")
        nb = release_nb
    else:
        submission.flags.extend(tamper.scan(nb, release_nb))
        submission.flags.extend(restore.restore(nb, release_nb))
    nbformat.write(nb, str(target_dir / f"{assignment}.ipynb"))
    for name in KEPT_FILES:
        if (source_dir / name).is_file():
            shutil.copyfile(source_dir / name, target_dir / name)
    left_out = [name for name in launcher.left_out_files(source_dir) if name not in KEPT_FILES]
    if left_out:
        shown = ", ".join(left_out[:8]) + (" ..." if len(left_out) > 8 else "")
        submission.flags.append(f"submitted code or hidden files were kept away from the kernel: {shown}")
    launcher.copy_allowed_files(source_dir, target_dir)
    return submission


def _override_config(
    folder: Path,
    staging: Path,
    *,
    use_sandbox: bool,
    slot: int,
    zygote: str = "",
    results: str | Path = "",
    exclude: Iterable[str] = (),
) -> Path:
    """A Jupyter config folder that sets how the course's JudgedExecute runs for this assignment:
    sandboxed or not, which uid slot and zygote, the workers' results to replay, the students of
    the staged ones that this nbgrader leaves to another (`exclude`).

    Its nbgrader_config.py is the checked-in `run_config.py`; the settings are data beside it.
    nbgrader loads the course's own config after this one and ignores a file that fails to load:
    this one is loaded here first, and `check_course_config` checks the course's.
    """
    from traitlets.config.loader import PyFileConfigLoader

    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "JudgedExecute": {"sandbox": bool(use_sandbox), "results": str(results)},
        "SandboxKernelManager": {"slot": int(slot), "zygote": str(zygote)},
        "CourseDirectory": {"submitted_directory": str(staging), "student_id_exclude": ",".join(exclude)},
        "LimitOutput": {"max_lines": 2000, "max_traceback": 200},
    }
    (folder / RUN_SETTINGS).write_text(json.dumps(settings, indent=1))
    shutil.copyfile(RUN_CONFIG, folder / "nbgrader_config.py")
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    if loaded.JudgedExecute.sandbox != bool(use_sandbox):
        raise ops.CourseError("the grading configuration did not load; refusing to grade")
    return folder


def check_course_config(course: str | Path) -> None:
    """Stop unless the course's nbgrader_config.py loads and judges test cells outside the kernel."""
    from tfladder.grading.execute import JudgedExecute

    try:
        config = nbgrader_config(course)
    except Exception as error:  # noqa: BLE001 - any error in the course's config file
        raise ops.CourseError(f"the course's nbgrader_config.py does not load: {error}") from None
    if JudgedExecute not in list(config.Autograde.get("autograde_preprocessors", [])):
        raise ops.CourseError(
            "the course's nbgrader_config.py does not put tfladder.grading.execute.JudgedExecute in place of "
            "nbgrader's Execute: test cells would run in the student's kernel; refusing to grade"
        )


def flag_in_gradebook(course: str | Path, assignment: str, student: str, flagged: object) -> bool:
    from nbgrader.api import MissingEntry

    from tfladder.grading import scores

    with closing(scores.gradebook(course)) as gb:
        try:
            nb = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return False
        nb.flagged = bool(flagged)
        gb.db.commit()
        return True


def read_report(course: str | Path, assignment: str, student: str, name: str = REPORT) -> dict[str, Any]:
    path = Path(course) / "autograded" / student / assignment / name
    return json.loads(path.read_text()) if path.exists() else {}


def default_jobs() -> int:
    """Notebooks executed at once by default: one per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Options:
    """How a grading run grades, the same for every assignment in it.

    `jobs` notebooks execute at once (None: one per CPU), in worker processes, while one nbgrader
    autograde records them (`tfladder.grading.parallel`); with `prefork` their kernels are forked
    from a zygote that has TensorFlow imported (`tfladder.sandbox.zygote`, sandbox only).
    `jobs=1, prefork=False` is serial grading: nbgrader executes every notebook itself, one at a
    time. On one machine the workers are `engine`'s: "pool", worker processes of our own
    (`tfladder.grading.parallel`; the default: measured faster on two cores, docs/performance.md),
    or "dask", grading nodes of a LocalCluster started for the run (`tfladder.grading.cluster`).
    With `scheduler` (a tls:// address; `security`, a distributed Security, names its
    certificates; dask's configuration otherwise) they are the grading nodes of that running
    cluster, whatever `engine` says. Sandbox uids come from the first free slots from `slot` on
    (`tfladder.sandbox.slots`). `recorders` nbgrader processes record at once (None: one per CPU
    with a gradebook on a database server, one with SQLite, which takes no more: `recorders_for`).
    `students` are names or shell patterns (none: every student with a submission); with `resume`
    only those whose submission is not recorded yet (`tfladder.grading.resume`); `env` is added to
    the graders' environment.
    """

    students: tuple[str, ...] = ()
    use_sandbox: bool = True
    slot: int = 0
    env: Mapping[str, str] | None = None
    show_progress: bool = True
    jobs: int | None = None
    prefork: bool = True
    scheduler: str = ""
    security: Any = None
    engine: str = "pool"
    recorders: int | None = None
    resume: bool = False


def grade(course: str | Path, assignment: str, options: Options = Options()) -> Summary:
    """Grade every submission of ASSIGNMENT (or those of `options.students`); returns a Summary."""
    (summary,) = grade_many(course, [assignment], options)
    if summary.error:
        raise ops.CourseError(summary.error)
    return summary


def recorders_for(course: str | Path, asked: int | None) -> int:
    """How many nbgrader processes record at once: `asked`, or one per CPU, with a gradebook on a
    database server; one with nbgrader's SQLite file (it takes one writer at a time)."""
    if asked is not None and asked < 1:
        raise ops.CourseError(f"recorders must be at least 1, not {asked}")
    if db_url(course).startswith(SQLITE):
        if asked and asked > 1:
            raise ops.CourseError(
                f"{asked} recorders asked for, and the gradebook is nbgrader's SQLite file, which takes one "
                "writer at a time: several recorders need a gradebook on a database server "
                '(c.CourseDirectory.db_url = "postgresql://..." in nbgrader_config.py; docs/grading.md)'
            )
        return 1
    return asked or default_jobs()


def grade_many(course: str | Path, assignments: list[str], options: Options = Options()) -> list[Summary]:
    """Grade several assignments in one run, each as `grade` grades it alone; one Summary each.

    One zygote and one set of workers serve them all: every assignment's submissions are staged
    and queued first, so the workers go from one assignment's notebooks straight on to the next
    one's, while nbgrader records one assignment after the other (`recorders` at once, with a
    gradebook on a database server). An assignment that cannot be graded (say its source no
    longer releases) gets its Summary's `error`, and the others are graded all the same.
    """
    course = Path(course).resolve()
    missing = [a for a in assignments if not (course / "source" / a).is_dir()]
    if missing:
        raise ops.CourseError(f"no assignment {', '.join(map(repr, missing))} in {course / 'source'}")
    check_course_config(course)
    if options.engine not in ENGINES:
        raise ops.CourseError(f"no grading engine {options.engine!r}: {' or '.join(ENGINES)}")
    recorders = recorders_for(course, options.recorders)
    if options.use_sandbox:
        launcher.check_available(options.slot)
    jobs = default_jobs() if options.jobs is None else max(1, int(options.jobs))
    prefork = bool(options.prefork and options.use_sandbox)
    summaries = [Summary(assignment=a) for a in assignments]
    patterns: list[str | None] = list(options.students) or [None]
    chosen = {
        a: sorted({s for pattern in patterns for s in ops.submitted_students(course, a, pattern)}) for a in assignments
    }
    released = _leave_recorded_out(course, summaries, chosen) if options.resume else set()
    todo = [s for s in summaries if chosen[s.assignment]]
    if not todo:
        return summaries
    parallel_run = not (jobs == 1 and not prefork)
    run = _Run(course, options, jobs, _worker_env(options.env, jobs) if parallel_run else None)
    run.released = released
    with ExitStack() as stack:
        run.take_recorder_slots(stack, recorders)
        # The workers start (and their zygotes import TensorFlow) while the releases are checked
        # (and regenerated if need be) and the submissions are staged.
        logs = course / "build" / "grading"
        if prefork and not options.scheduler:  # a local run's workers share one zygote
            run.launch_zygote(stack, todo)
        if parallel_run and options.engine == "pool" and not options.scheduler:
            from tfladder.grading import parallel

            run.workers = parallel.Workers(
                jobs,
                course,
                logs=logs,
                use_sandbox=options.use_sandbox,
                zygote=run.socket_path,
                first_slot=run.slot + 1,
                env=run.worker_env,
            )
            stack.callback(run.workers.finish)
        elif parallel_run:
            from tfladder.grading import cluster

            assert run.worker_env is not None  # a parallel run has the workers' environment
            try:
                run.workers = cluster.Cluster(
                    jobs,
                    logs=logs,
                    use_sandbox=options.use_sandbox,
                    prefork=prefork,
                    first_slot=options.slot,
                    env=run.worker_env,
                    scheduler=options.scheduler,
                    security=options.security,
                    zygote=run.socket_path,
                )
            except cluster.ClusterError as error:
                raise ops.CourseError(str(error)) from None
            stack.callback(run.workers.finish)
        staged = []
        for summary in todo:
            try:
                staged.append(_stage_and_queue(run, summary, chosen[summary.assignment]))
            except ops.CourseError as error:
                summary.error = str(error)
        _record_all(run, [s for s in staged if s.summary.submissions])
    return summaries


def _leave_recorded_out(course: Path, summaries: list[Summary], chosen: dict[str, list[str]]) -> set[str]:
    """`resume`: every assignment's release made current first (its fingerprint is part of what is
    recorded), then the students whose submission is recorded already left out of `chosen` and
    named in `summary.skipped`, before any worker starts; the assignments released."""
    from tfladder.grading import resume

    released = set()
    for summary in summaries:
        assignment = summary.assignment
        if not chosen[assignment]:
            continue
        try:
            ops.release_unless_current(course, assignment)
        except ops.CourseError as error:
            summary.error, chosen[assignment] = str(error), []
            continue
        released.add(assignment)
        left = resume.unrecorded(course, assignment, chosen[assignment])
        summary.skipped = [s for s in chosen[assignment] if s not in left]
        chosen[assignment] = left
    return released


@dataclass
class _Staged:
    """An assignment staged for nbgrader: where its submissions and the workers' results are."""

    summary: Summary
    staging: Path
    results: Path | None  # None: nbgrader executes every notebook itself
    release: str  # the release's fingerprint (tfladder.grading.resume)


class _Run:
    """What the assignments of one grading run share: options, the zygote and the workers."""

    forks: "Zygote | None"
    workers: "Workers | Cluster | None"

    def __init__(self, course: Path, options: Options, jobs: int, worker_env: dict[str, str] | None) -> None:
        self.course, self.options, self.jobs, self.worker_env = course, options, jobs, worker_env
        self.forks = self.workers = None
        self.slot = options.slot  # the kernels nbgrader starts itself (a held slot, with the sandbox)
        self.recorder_slots: queue.Queue[int] = queue.Queue()  # one per recorder (the first is `slot`)
        self.recorders = 1
        self.released: set[str] = set()  # assignments whose release this run made current already
        self.lock = threading.Lock()  # the recorders' threads write the summaries under it
        self.socket_path = ""
        self.waited = False
        self.zygote_failed = ""  # why the workers cannot fork kernels, once that is known

    def take_recorder_slots(self, stack: ExitStack, recorders: int) -> None:
        """A sandbox slot for each recorder's own kernels, held for the run (numbers from `slot` on
        without the sandbox)."""
        from tfladder.sandbox import slots

        self.recorders = recorders
        taken: list[int] = []
        for _ in range(recorders):
            if not self.options.use_sandbox:
                taken.append(self.options.slot + len(taken))
                continue
            slot, fd = slots.take(taken[-1] + 1 if taken else self.options.slot)
            stack.callback(os.close, fd)
            taken.append(slot)
        self.slot = taken[0]
        for slot in taken:
            self.recorder_slots.put(slot)

    @property
    def lost(self) -> str:
        """Why the run's cluster was lost (its scheduler), or ""."""
        return str(getattr(self.workers, "lost", ""))

    def launch_zygote(self, stack: ExitStack, summaries: Iterable[Summary]) -> None:
        from tfladder.sandbox import zygote

        assert self.worker_env is not None  # a zygote only for a parallel run, which has the workers' env
        try:
            self.forks = zygote.Zygote.launch(launcher.sandbox_env(self.worker_env))
        except OSError as error:
            for summary in summaries:
                summary.notes.append(f"kernels start from scratch: the zygote did not start ({error})")
            return
        stack.callback(self.forks.stop)
        self.socket_path = self.forks.socket_path

    def wait_for_zygote(self) -> None:
        """Once per run, before the first kernel: the zygote's imports."""
        from tfladder.sandbox import zygote

        if self.forks is None or self.waited:
            return
        self.waited = True
        try:
            self.forks.wait_ready()
        except zygote.ZygoteError as error:
            self.zygote_failed = f"the workers could not fork kernels: {error}; the grader executed them"
            self.socket_path = ""


def _worker_env(env: Mapping[str, str] | None, jobs: int) -> dict[str, str]:
    """The workers' environment (and so the kernels'): TensorFlow threads shared out between the
    jobs, unless the grader chose a number (scores do not depend on it: tests/grading/test_determinism.py)."""
    worker_env = tool_env(env)
    if not worker_env.get(runtime.THREADS_ENV):
        worker_env[runtime.THREADS_ENV] = str(max(1, default_jobs() // jobs))
    return worker_env


def _stage_and_queue(run: _Run, summary: Summary, chosen: list[str]) -> _Staged:
    """Release check, staging and, in a parallel run, the notebooks handed to the workers."""
    from tfladder.course import notebooks
    from tfladder.grading import resume

    course, assignment = run.course, summary.assignment
    work = course / "build" / "grading" / assignment
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if assignment not in run.released:
        ops.release_unless_current(course, assignment)  # the gradebook and release/ from source/
    release = resume.release_fingerprint(course, assignment)
    release_nb = notebooks.read(course / "release" / assignment / f"{assignment}.ipynb")
    staging = work / "submitted"
    for student in chosen:
        summary.submissions[student] = stage(
            course / "submitted" / student / assignment, staging / student / assignment, assignment, release_nb
        )
    results = None
    if run.workers is not None and chosen:
        results = _queue(run, summary, chosen, work, staging)
    return _Staged(summary, staging, results, release)


def _queue(run: _Run, summary: Summary, chosen: list[str], work: Path, staging: Path) -> Path:
    """Hand every notebook to the workers as soon as it is prepared; the folder of their results."""
    from tfladder.grading import parallel

    assert run.workers is not None  # called only for a run with workers
    results = work / "executed"
    results.mkdir(parents=True)
    config = nbgrader_config(run.course)
    for student, prepared in parallel.prepare(run.course, summary.assignment, staging, work / "run", chosen, config):
        run.wait_for_zygote()
        run.workers.submit(student, prepared, results, config)
    if run.zygote_failed:  # said for every assignment of the run, not only the first
        summary.notes.append(run.zygote_failed)
    return results


def _record_all(run: _Run, staged: list[_Staged]) -> None:
    """nbgrader records every staged assignment, in order: `run.recorders` processes at once,
    each a slice of an assignment's students (every R-th one); then, if the run lost its cluster,
    each assignment with submissions left unrecorded says so."""
    units: list[tuple[_Staged, list[str]]] = []
    for item in staged:
        students = sorted(item.summary.submissions)
        count = max(1, min(run.recorders, len(students)))
        units.extend((item, students[i::count]) for i in range(count))
    bars: dict[str, list[Any]] = {}  # assignment -> [Progress, units left]
    for item, _ in units:
        bars.setdefault(item.summary.assignment, [None, 0])[1] += 1
    with ThreadPoolExecutor(max_workers=run.recorders, thread_name_prefix="tfladder-recorder") as pool:
        futures = [pool.submit(_record_slice, run, item, students, bars) for item, students in units]
        for future in futures:
            future.result()
    for item in staged:
        summary = item.summary
        if summary.unrecorded and not summary.error:
            summary.error = (
                f"{len(summary.unrecorded)} of {len(summary.submissions)} submissions were not recorded: {run.lost}. "
                "Once the cluster is back, run the same command with --resume: it grades only the "
                "submissions not recorded yet."
            )


def _record_slice(run: _Run, item: _Staged, students: list[str], bars: dict[str, list[Any]]) -> None:
    """One recorder: nbgrader autograde for some students of a staged assignment, then their flags
    and reports. After the run lost its cluster, it still records what came back before; the
    notebooks lost with it fail at once (`replay.ClusterLost`)."""
    summary = item.summary
    with run.lock:
        bar = bars[summary.assignment]
        if bar[0] is None and run.options.show_progress:
            bar[0] = Progress(len(summary.submissions), f"grading {summary.assignment}")
    slot = run.recorder_slots.get()
    try:
        with tempfile.TemporaryDirectory(prefix="tfladder-config-") as config_dir:
            _override_config(
                Path(config_dir),
                item.staging,
                use_sandbox=run.options.use_sandbox,
                slot=slot,
                zygote=run.socket_path if item.results else "",
                results=item.results or "",
                exclude=sorted(set(summary.submissions) - set(students)),
            )
            writer_env = {**(run.options.env or {}), "JUPYTER_CONFIG_DIR": config_dir}
            if run.workers is not None:  # a notebook nbgrader executes itself gets the workers' settings
                assert run.worker_env is not None  # set whenever there are workers
                writer_env[runtime.THREADS_ENV] = run.worker_env[runtime.THREADS_ENV]
            recording = Recording(students, time.monotonic())
            done = ops.autograde(run.course, summary.assignment, env=writer_env, progress=bar[0])
            recording.ended = time.monotonic()
    finally:
        run.recorder_slots.put(slot)
    with run.lock:
        bar[1] -= 1
        if bar[0] is not None and bar[1] == 0:
            bar[0].done()
        summary.recordings.append(recording)
        summary.log += done.stdout
        try:
            _after_recording(run, item, students, done.stdout)
        except ops.CourseError as error:
            summary.error = str(error)


def _after_recording(run: _Run, item: _Staged, students: list[str], log: str) -> None:
    """Flags and reports of the students one nbgrader just recorded (or did not: it failed them,
    or their notebooks were lost with the cluster)."""
    from tfladder.grading import execute, replay

    course, summary = run.course, item.summary
    assignment = summary.assignment
    failed = [s for s in ops.failed_students(course, assignment, log) if s in students]
    lost = []
    if run.lost and item.results is not None:
        lost = [s for s in failed if replay.was_lost(item.results, s)]
    summary.unrecorded.extend(lost)
    summary.nbgrader_failed.extend(s for s in failed if s not in lost)
    unguarded = [
        s
        for s in students
        if s not in failed
        and (course / "autograded" / s / assignment).is_dir()
        and not (course / "autograded" / s / assignment / execute.RUN_REPORT).exists()
    ]
    if unguarded:
        raise ops.CourseError(
            f"nbgrader graded {', '.join(unguarded)} without tfladder's judge (its log "
            "follows); these results are not trustworthy.\n" + log[-3000:]
        )
    for student in students:
        if student in lost:
            continue
        submission = summary.submissions[student]
        run_report = {} if student in failed else read_report(course, assignment, student, execute.RUN_REPORT)
        submission.flags.extend(run_report.get("flags", []))
        submission.reasons_failed.extend(run_report.get("failed", []))
        submission.notes.extend(getattr(run.workers, "notes", {}).get(student, []))
        if run_report.get("executed_by"):
            summary.executed_by[student] = run_report["executed_by"]
            if run_report["executed_by"] == "grader":
                summary.notes.append(f"{student}: executed by nbgrader itself, not a worker ({run_report.get('why')})")
        if student in failed:
            submission.reasons_failed.append("nbgrader could not grade this submission (see the grading log)")
        graded_dir = course / "autograded" / student / assignment
        if graded_dir.is_dir():
            (graded_dir / REPORT).write_text(
                json.dumps(
                    {
                        "failed": submission.reasons_failed,
                        "flags": submission.flags,
                        "notes": submission.notes,
                        "sandbox": run.options.use_sandbox,
                        "kernel_stopped_in": run_report.get("kernel_stopped_in"),
                        "submission": submission.fingerprint,
                        "release": item.release,
                    },
                    indent=1,
                )
            )
        flag_in_gradebook(course, assignment, student, submission.flags or submission.reasons_failed)
