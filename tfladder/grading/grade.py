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
   written to autograded/<student>/<assignment>/tfladder.json, and a summary says how many
   submissions were graded, failed and flagged.

Several assignments (`grade_many`) are graded in one run, each exactly as above: the zygote and
the workers are shared, steps 0-2 run for every assignment first (every notebook queued), then
nbgrader records one assignment after another, so the workers never wait between assignments.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfladder import runtime
from tfladder.course import ops
from tfladder.course.config import nbgrader_config, tool_env
from tfladder.grading.progress import Progress
from tfladder.sandbox import launcher

# nbformat, nbgrader and the modules built on them take about 2 s to import: they are imported
# where they are used, so that the zygote and the workers start first.
if TYPE_CHECKING:
    from nbformat import NotebookNode

    from tfladder.grading.cluster import Cluster
    from tfladder.grading.parallel import Workers
    from tfladder.sandbox.zygote import Zygote

REPORT = "tfladder.json"
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


@dataclass
class Summary:
    assignment: str
    submissions: dict[str, Submission] = field(default_factory=dict)  # student -> Submission
    nbgrader_failed: list[str] = field(default_factory=list)
    log: str = ""
    executed_by: dict[str, str] = field(default_factory=dict)  # student -> "worker" or "grader" (parallel only)
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why the assignment could not be graded

    @property
    def failed(self) -> list[str]:
        return sorted({s for s, sub in self.submissions.items() if sub.reasons_failed} | set(self.nbgrader_failed))

    @property
    def flagged(self) -> list[str]:
        return sorted(s for s, sub in self.submissions.items() if sub.flags or sub.reasons_failed)

    @property
    def graded(self) -> list[str]:
        return sorted(s for s in self.submissions if s not in self.nbgrader_failed)

    def line(self) -> str:
        return (
            f"{self.assignment}: {len(self.graded)} graded, {len(self.failed)} failed, "
            f"{len(self.flagged)} flagged for review"
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

    from tfladder.grading import restore, tamper

    submission = Submission(student=source_dir.parent.name)
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
    folder: Path, staging: Path, *, use_sandbox: bool, slot: int, zygote: str = "", results: str | Path = ""
) -> Path:
    """A Jupyter config folder that sets how the course's JudgedExecute runs for this assignment:
    sandboxed or not, which uid slot and zygote, the workers' results to replay.

    Its nbgrader_config.py is the checked-in `run_config.py`; the settings are data beside it.
    nbgrader loads the course's own config after this one and ignores a file that fails to load:
    this one is loaded here first, and `check_course_config` checks the course's.
    """
    from traitlets.config.loader import PyFileConfigLoader

    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "JudgedExecute": {"sandbox": bool(use_sandbox), "results": str(results)},
        "SandboxKernelManager": {"slot": int(slot), "zygote": str(zygote)},
        "CourseDirectory": {"submitted_directory": str(staging)},
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
    (`tfladder.sandbox.slots`). `students` are names or shell
    patterns (none: every student with a submission); `env` is added to the graders' environment.
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


def grade(course: str | Path, assignment: str, options: Options = Options()) -> Summary:
    """Grade every submission of ASSIGNMENT (or those of `options.students`); returns a Summary."""
    (summary,) = grade_many(course, [assignment], options)
    if summary.error:
        raise ops.CourseError(summary.error)
    return summary


def grade_many(course: str | Path, assignments: list[str], options: Options = Options()) -> list[Summary]:
    """Grade several assignments in one run, each as `grade` grades it alone; one Summary each.

    One zygote and one set of workers serve them all: every assignment's submissions are staged
    and queued first, so the workers go from one assignment's notebooks straight on to the next
    one's, while nbgrader records one assignment after the other (one writer of the gradebook at a
    time). An assignment that cannot be graded (say its source no longer releases) gets its
    Summary's `error`, and the others are graded all the same.
    """
    course = Path(course).resolve()
    missing = [a for a in assignments if not (course / "source" / a).is_dir()]
    if missing:
        raise ops.CourseError(f"no assignment {', '.join(map(repr, missing))} in {course / 'source'}")
    check_course_config(course)
    if options.engine not in ENGINES:
        raise ops.CourseError(f"no grading engine {options.engine!r}: {' or '.join(ENGINES)}")
    if options.use_sandbox:
        launcher.check_available(options.slot)
    jobs = default_jobs() if options.jobs is None else max(1, int(options.jobs))
    prefork = bool(options.prefork and options.use_sandbox)
    summaries = [Summary(assignment=a) for a in assignments]
    patterns: list[str | None] = list(options.students) or [None]
    chosen = {
        a: sorted({s for pattern in patterns for s in ops.submitted_students(course, a, pattern)}) for a in assignments
    }
    todo = [s for s in summaries if chosen[s.assignment]]
    if not todo:
        return summaries
    parallel_run = not (jobs == 1 and not prefork)
    run = _Run(course, options, jobs, _worker_env(options.env, jobs) if parallel_run else None)
    with ExitStack() as stack:
        if options.use_sandbox:  # the slot of the kernels nbgrader starts itself, held for the run
            from tfladder.sandbox import slots

            run.slot, slot_fd = slots.take(options.slot)
            stack.callback(os.close, slot_fd)
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
            config_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfladder-config-")))
            try:
                _stage_and_queue(run, summary, chosen[summary.assignment], config_dir)
            except ops.CourseError as error:
                summary.error = str(error)
                continue
            staged.append((summary, config_dir))
        for summary, config_dir in staged:
            try:
                _record(run, summary, config_dir)
            except ops.CourseError as error:
                summary.error = str(error)
    return summaries


class _Run:
    """What the assignments of one grading run share: options, the zygote and the workers."""

    forks: "Zygote | None"
    workers: "Workers | Cluster | None"

    def __init__(self, course: Path, options: Options, jobs: int, worker_env: dict[str, str] | None) -> None:
        self.course, self.options, self.jobs, self.worker_env = course, options, jobs, worker_env
        self.forks = self.workers = None
        self.slot = options.slot  # the kernels nbgrader starts itself (a held slot, with the sandbox)
        self.socket_path = ""
        self.waited = False
        self.zygote_failed = ""  # why the workers cannot fork kernels, once that is known

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


def _stage_and_queue(run: _Run, summary: Summary, chosen: list[str], config_dir: Path) -> None:
    """Release check, staging and, in a parallel run, the notebooks handed to the workers; writes
    the config nbgrader will grade this assignment with."""
    from tfladder.course import notebooks

    course, assignment = run.course, summary.assignment
    work = course / "build" / "grading" / assignment
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ops.release_unless_current(course, assignment)  # the gradebook and release/ from source/
    release_nb = notebooks.read(course / "release" / assignment / f"{assignment}.ipynb")
    staging = work / "submitted"
    for student in chosen:
        summary.submissions[student] = stage(
            course / "submitted" / student / assignment, staging / student / assignment, assignment, release_nb
        )
    if run.workers is None:
        _override_config(config_dir, staging, use_sandbox=run.options.use_sandbox, slot=run.slot)
    else:
        _queue_and_replay(run, summary, chosen, work, staging, config_dir)


def _record(run: _Run, summary: Summary, config_dir: Path) -> None:
    """nbgrader autograde for one staged assignment, then flags and reports from its results."""
    from tfladder.grading import execute

    course, assignment = run.course, summary.assignment
    bar = Progress(len(summary.submissions), f"grading {assignment}") if run.options.show_progress else None
    writer_env = {**(run.options.env or {}), "JUPYTER_CONFIG_DIR": str(config_dir)}
    if run.workers is not None:  # a notebook nbgrader executes itself gets the workers' settings
        assert run.worker_env is not None  # set whenever there are workers
        writer_env[runtime.THREADS_ENV] = run.worker_env[runtime.THREADS_ENV]
    done = ops.autograde(course, assignment, env=writer_env, progress=bar)
    if bar:
        bar.done()
    summary.log = done.stdout
    summary.nbgrader_failed = [
        s for s in ops.failed_students(course, assignment, done.stdout) if s in summary.submissions
    ]
    unguarded = [
        s
        for s in summary.submissions
        if s not in summary.nbgrader_failed
        and (course / "autograded" / s / assignment).is_dir()
        and not (course / "autograded" / s / assignment / execute.RUN_REPORT).exists()
    ]
    if unguarded:
        raise ops.CourseError(
            f"nbgrader graded {', '.join(unguarded)} without tfladder's judge (its log "
            "follows); these results are not trustworthy.\n" + done.stdout[-3000:]
        )
    for student, submission in summary.submissions.items():
        run_report = (
            {} if student in summary.nbgrader_failed else read_report(course, assignment, student, execute.RUN_REPORT)
        )
        submission.flags.extend(run_report.get("flags", []))
        submission.reasons_failed.extend(run_report.get("failed", []))
        submission.notes.extend(getattr(run.workers, "notes", {}).get(student, []))
        if run_report.get("executed_by"):
            summary.executed_by[student] = run_report["executed_by"]
            if run_report["executed_by"] == "grader":
                summary.notes.append(f"{student}: executed by nbgrader itself, not a worker ({run_report.get('why')})")
        if student in summary.nbgrader_failed:
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
                    },
                    indent=1,
                )
            )
        flag_in_gradebook(course, assignment, student, submission.flags or submission.reasons_failed)


def _queue_and_replay(
    run: _Run, summary: Summary, chosen: list[str], work: Path, staging: Path, config_dir: Path
) -> None:
    """Hand every notebook to the workers as soon as it is prepared, and write the config that
    makes nbgrader replay their results (its own fallback kernels use the slot after theirs)."""
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
    _override_config(
        config_dir,
        staging,
        use_sandbox=run.options.use_sandbox,
        slot=run.slot,
        zygote=run.socket_path,
        results=results,
    )
