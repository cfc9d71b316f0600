"""The `tfladder` command line: a thin layer over plain functions in the other modules."""

import argparse
import fnmatch
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tfladder import __version__
from tfladder.course import ops

if TYPE_CHECKING:
    from tfladder.grading.grade import Summary


def cmd_release(args: argparse.Namespace) -> int:
    """Regenerate release/ASSIGNMENT from source/ASSIGNMENT with nbgrader (all by default).

    The student versions are written without touching the gradebook. Commit release/ afterwards;
    a test fails while it is stale.

    Example:
      tfladder release
      tfladder release 01_low_level_ops
    """
    root = ops.find_root()
    for assignment in args.assignment or ops.assignments(root):
        ops.release(root, assignment, db=False)
        print(f"release/{assignment} regenerated")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    """Autograde the submissions in submitted/*/ASSIGNMENT with nbgrader, then print the scores.

    The gradebook is updated from source/ first. Exit status 1 if any submission failed.
    Student code runs unsandboxed, as your user: use only on trusted submissions.

    Example:
      tfladder autograde 01_low_level_ops
      tfladder autograde 01_low_level_ops --student alice
    """
    from tfladder.course import notebooks
    from tfladder.grading import scores
    from tfladder.grading.progress import Progress

    root = ops.find_root()
    students = ops.submitted_students(root, args.assignment, args.student)
    if not students:
        print(f"tfladder: no submissions in submitted/*/{args.assignment}", file=sys.stderr)
        return 1
    ops.release(root, args.assignment, db=True)
    bar = Progress(len(students), f"grading {args.assignment}")
    done = ops.autograde(root, args.assignment, student=args.student, progress=bar)
    bar.done()
    failed = ops.failed_students(root, args.assignment, done.stdout)
    source_nb = notebooks.read(root / "source" / args.assignment / f"{args.assignment}.ipynb")
    print(scores.table(args.assignment, source_nb, scores.cell_points(root, args.assignment, students)))
    for student in failed:
        print(f"FAILED: {student} could not be graded", file=sys.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:])
    return 1 if done.returncode != 0 else 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade untrusted submissions safely: sandboxed kernels, nothing lost, tampering flagged.

    Checks and stages every submission in submitted/*/ASSIGNMENT (a broken or missing notebook is
    recorded at zero with its reason), scans it for tampering, and autogrades it through nbgrader's
    own gradebook with each kernel in a sandbox: its own unprivileged uid, no network, no view of
    the course, limits on memory, CPU, processes, files and time. Flagged submissions are marked in
    the gradebook for review. Exit status 1 if any submission failed or was flagged, 2 if an
    assignment could not be graded.

    Limits can be changed with TFLADDER_SANDBOX_<NAME> environment variables (MEMORY_BYTES,
    CPU_SECONDS, PROCESSES, FILE_BYTES, OPEN_FILES, SCRATCH_BYTES, WALL_SECONDS).

    Notebooks execute JOBS at a time (default: one per CPU) in worker processes (--engine dask: on
    a Dask cluster started for the run on 127.0.0.1, TLS with temporary certificates), each kernel
    in its own sandbox and forked from a process that imported TensorFlow once; nbgrader alone
    writes the gradebook, and the scores are those of serial grading (--jobs 1 --no-prefork).
    --scheduler sends the same work to a running Dask cluster of grading nodes (docs/grading.md,
    "On a cluster of machines"), over TLS: the certificates are the --tls-* files, or dask's
    configuration (distributed.comm.tls.*). With a gradebook on PostgreSQL (db_url in
    nbgrader_config.py), RECORDERS nbgrader processes record at once (default: one per CPU). A
    run that loses its cluster's scheduler stops and says which submissions it did not record:
    run it again with --resume, which grades only those. Several assignments (by
    default every assignment with submissions) are graded in one run, which keeps the workers busy
    from one assignment to the next: faster than one command per assignment.

    Example:
      tfladder grade 01_low_level_ops
      tfladder grade 01_low_level_ops --student alice --student bob
      tfladder grade                                             # every assignment with submissions
      tfladder grade 01_low_level_ops --jobs 1 --no-prefork     # serial, as stock nbgrader runs
      tfladder grade --scheduler tls://10.0.0.5:8786 --tls-ca-file ca.pem --tls-cert me.pem --tls-key me-key.pem
      tfladder grade --scheduler tls://10.0.0.5:8786 --resume  # after a run that lost its scheduler
    """
    from tfladder.grading import cluster, grade
    from tfladder.sandbox import launcher

    root = ops.find_root()
    named = bool(args.assignment)
    assignments = args.assignment or [a for a in ops.assignments(root) if ops.submitted_students(root, a)]
    if not assignments:
        print("tfladder: no submissions in submitted/", file=sys.stderr)
        return 1
    if args.unsafe_no_sandbox:
        print("tfladder: WARNING: grading without the sandbox; submissions run as your own user", file=sys.stderr)
    try:
        options = grade.Options(
            students=tuple(args.student or ()),
            use_sandbox=not args.unsafe_no_sandbox,
            jobs=args.jobs,
            prefork=not args.no_prefork,
            engine=args.engine,
            scheduler=args.scheduler or "",
            security=cluster.tls_security(args.tls_ca_file, args.tls_cert, args.tls_key) if args.scheduler else None,
            recorders=args.recorders,
            resume=args.resume,
        )
        summaries = grade.grade_many(root, assignments, options)
    except (launcher.SandboxUnavailable, cluster.ClusterError) as error:
        print(f"tfladder: {error}", file=sys.stderr)
        return 2
    status = 0
    for summary in summaries:
        status = max(status, _print_grading(root, summary, named))
    if len(summaries) > 1:
        for summary in summaries:
            print(
                summary.line()
                if not summary.error
                else f"{summary.assignment}: not graded ({summary.error.splitlines()[0]})"
            )
    return status


def _print_grading(root: Path, summary: "Summary", named: bool) -> int:
    """One assignment's points table, failures, flags, notes and summary line; its exit status."""
    from tfladder.course import notebooks
    from tfladder.grading import scores

    if summary.error:
        print(f"tfladder: {summary.assignment}: {summary.error}", file=sys.stderr)
        return 2
    if not summary.submissions:
        print(f"tfladder: no submissions in submitted/*/{summary.assignment}", file=sys.stderr)
        return 1 if named else 0
    source_nb = notebooks.read(root / "source" / summary.assignment / f"{summary.assignment}.ipynb")
    students = sorted(summary.submissions)
    print(scores.table(summary.assignment, source_nb, scores.cell_points(root, summary.assignment, students)))
    for student in students:
        submission = summary.submissions[student]
        for reason in submission.reasons_failed:
            print(f"FAILED  {student}: {reason}")
        for reason in submission.flags:
            print(f"FLAGGED {student}: {reason}")
    for note in summary.notes:
        print(f"NOTE    {note}")
    print(summary.line())
    return 1 if summary.failed or summary.flagged else 0


def cmd_check(args: argparse.Namespace) -> int:
    """Grade one notebook exactly as the instructor would, and print what passed and failed.

    Grades it in a temporary course (your gradebook is not touched): your cells run in a fresh
    kernel, the tests (hidden ones from source/ included) in the grader, outside your kernel; prints
    points per exercise with the failure messages, never the hidden test
    code. Exit status 1 when points are missing, 2 when the notebook cannot be graded.

    Example:
      tfladder check release/01_low_level_ops/01_low_level_ops.ipynb
      tfladder check my_copy.ipynb --assignment 02_layers
    """
    from tfladder.grading import results, selfcheck

    try:
        result = selfcheck.grade(args.notebook, assignment=args.assignment)
    except selfcheck.CheckError as error:
        print(f"tfladder: {error}", file=sys.stderr)
        return 2
    print(results.text_report(result))
    if result.error:
        return 2
    return 0 if selfcheck.all_points(result) else 1


def cmd_solutions(args: argparse.Namespace) -> int:
    """Render the reference solutions of levels (executed, with outputs and plots) to HTML.

    Hidden tests are left out. Pages go to build/solutions/<assignment>.html by default.

    Example:
      tfladder solutions
      tfladder solutions 03_keras_models --out /tmp/solutions
    """
    from tfladder.grading.progress import Progress
    from tfladder.reports import solutions

    root = ops.find_root()
    chosen = args.assignment or ops.assignments(root)
    bar = Progress(len(chosen), "rendering solutions")
    for assignment in chosen:
        path = solutions.render(root, assignment, args.out or root / "build" / "solutions")
        bar.advance(assignment)
        print(f"\n{path}" if bar.interactive else path)
    bar.done()
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    """Write per-student feedback pages for an assignment, without hidden test code.

    Reads the gradebook and autograded/ (run `tfladder autograde` or `tfladder grade` first) and
    writes feedback/<student>/<assignment>/<assignment>.html: score per exercise, the student's
    code, every test's result and message, and the grading seed.

    Example:
      tfladder feedback 01_low_level_ops
      tfladder feedback 01_low_level_ops --student alice
    """
    from tfladder.grading.progress import Progress
    from tfladder.reports import feedback, report

    root = ops.find_root()
    students = [
        s for s in report.graded_students(root, args.assignment) if not args.student or fnmatch.fnmatch(s, args.student)
    ]
    if not students:
        print(f"tfladder: nobody has a graded submission of {args.assignment}", file=sys.stderr)
        return 1
    bar = Progress(len(students), f"feedback {args.assignment}")
    for student in students:
        feedback.write(root, args.assignment, student)
        bar.advance(student)
    bar.done()
    print(f"feedback written to {root / 'feedback'}/<student>/{args.assignment}/")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the instructor report: grades.csv and one HTML page with plots and common failures.

    Example:
      tfladder report
      tfladder report --out /tmp/report
    """
    from tfladder.reports import report

    index = report.build(ops.find_root(), args.out)
    print(f"report written to {index}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export the gradebook to CSV: nbgrader's own file, or the grade file an LMS imports.

    With --lms canvas|moodle and --roster (a CSV of student_id, then the LMS's identity columns:
    docs/grading.md, Grades into Canvas or Moodle), one row per student and one column per
    assignment; a cell is left empty, and said on stderr, when the student did not submit or a
    written answer waits for a human; a student missing from the roster is said and left out.

    Example:
      tfladder export --to grades.csv
      tfladder export --lms canvas --roster roster.csv --to canvas-grades.csv
    """
    from tfladder.reports import lms

    if not args.lms:
        path = ops.export(ops.find_root(), args.to)
        print(f"grades exported to {path}")
        return 0
    if not args.roster:
        raise ops.CourseError(f"--lms {args.lms} needs --roster: a CSV of student_id, then the LMS's identity columns")
    to = args.to if args.to != "grades.csv" else f"{args.lms}-grades.csv"
    try:
        export = lms.write(ops.find_root(), args.lms, Path(args.roster).resolve(), to)
    except lms.RosterError as error:
        raise ops.CourseError(str(error)) from error
    for line in export.problems():
        print(f"tfladder export: {line}", file=sys.stderr)
    print(f"{export.written} students written to {export.path.name} ({len(export.assignments)} assignments)")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    """Rank every pair of submissions of ASSIGNMENT by how alike their code is, in an HTML report.

    Compares the solution cells' code in submitted/, exercise by exercise (names, numbers and
    comments made alike; the starter code and the reference solution left out), and writes the
    pairs ranked, the matching code side by side and a histogram of the class. It never judges:
    it points at pairs worth reading. Progress goes to stderr.

    Example:
      tfladder similarity 01_low_level_ops
      tfladder similarity 01_low_level_ops --threshold 0.25 --out l1-similarity.html
    """
    from tfladder.reports import similarity

    if not 0.0 < args.threshold <= 1.0:
        raise ops.CourseError(f"--threshold must be above 0 and at most 1, not {args.threshold}")
    root = ops.find_root()
    if args.assignment not in ops.assignments(root):
        raise ops.CourseError(
            f"no assignment {args.assignment!r} in source/ (there are: {', '.join(ops.assignments(root))})"
        )
    try:
        result = similarity.compare(
            root,
            args.assignment,
            threshold=args.threshold,
            progress=lambda line: print(f"similarity: {line}", file=sys.stderr),
        )
    except similarity.SimilarityError as error:
        raise ops.CourseError(str(error)) from None
    for line in result.problems:
        print(f"tfladder similarity: {line}", file=sys.stderr)
    out = Path(args.out) if args.out else root / "similarity" / f"{args.assignment}.html"
    try:
        path = similarity.write_report(result, out)
    except OSError as error:
        raise ops.CourseError(
            f"cannot write the report to {out}: {error.strerror or error}; choose another --out"
        ) from None
    flagged, plural = result.over_threshold, "s" if result.over_threshold != 1 else ""
    print(f"{flagged} pair{plural} at or above {args.threshold:.2f} among {len(result.students)} submissions")
    for pair in result.flagged[:10]:
        print(f"  {pair.similarity:.2f}  {pair.a}  {pair.b}")
    print(f"report written to {path}")
    return 0


def cmd_certificates(args: argparse.Namespace) -> int:
    """Make the TLS certificate and key of a grading cluster (scheduler, nodes and graders).

    Writes ca.pem, cert.pem and key.pem (a self-signed certificate for every role, valid for a
    year) into FOLDER, readable by you only. Copy the three files to every machine of the cluster:
    whoever holds them can connect to it and run code there, so keep them as you keep the
    gradebook. How to start the cluster with them: docs/cluster.md.

    Example:
      tfladder certificates ~/tfladder-cluster
      dask scheduler --protocol tls --tls-ca-file ~/tfladder-cluster/ca.pem \\
          --tls-cert ~/tfladder-cluster/cert.pem --tls-key ~/tfladder-cluster/key.pem
    """
    from tfladder.grading import cluster

    for path in cluster.make_certificates(Path(args.folder).expanduser()):
        print(path)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Regenerate the release, grade a demo class made from fixtures, print a score table.

    Demo students (demo_perfect, demo_blank, demo_typical) are written to submitted/, graded
    into autograded/, and exported to grades.csv; other students are left alone.

    Example:
      tfladder demo
    """
    from tfladder.cli import demo

    demo.run(ops.find_root())
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    """Start JupyterLab with nbgrader on the course: loopback only, with a fresh token.

    Students land in release/; instructors open formgrader (Nbgrader menu, or the printed
    /formgrader address). Both addresses are printed with the token. Stop with Ctrl-C.

    Example:
      tfladder lab
      tfladder lab --port 8899
    """
    from tfladder.cli import lab

    server = lab.new(ops.find_root(), port=args.port)
    print(lab.banner(server), flush=True)
    process = lab.start(server)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


def cmd_hub(args: argparse.Namespace) -> int:
    """Serve the course to a class: JupyterHub, one system account per person (run as root).

    Sets up what the hub needs (the users' environment in /opt/tfladder, the course and
    nbgrader's exchange in /srv/tfladder, the proxy), then runs JupyterHub on 127.0.0.1 until
    Ctrl-C. People log in with the accounts `tfladder users add` made: students get the Assignment
    List, instructors formgrader on the course. docs/hub.md says how to run a class with it.

    Example:
      sudo .venv/bin/tfladder users add --role instructor teacher
      sudo .venv/bin/tfladder users add alice bob
      sudo .venv/bin/tfladder hub --port 8000
    """
    from tfladder.hub import accounts, serve

    try:
        hub = serve.prepare(
            ops.find_root(),
            home=Path(args.home),
            prefix=Path(args.prefix),
            course=Path(args.course) if args.course else None,
            ip=args.ip,
            port=args.port,
            check_slots=args.check_slots,
            check_queue=args.check_queue,
        )
    except (serve.HubError, accounts.AccountError) as error:
        raise ops.CourseError(str(error)) from error
    process = serve.start(hub)

    def stop(signum: int, frame: object) -> None:  # a service manager's stop: as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve.wait_until_up(hub, process, timeout=120)
        people = {role: accounts.members(role) for role in accounts.ROLES}
        print(f"tfladder hub: {hub.url}  (course {hub.layout.course})", flush=True)
        print(f"  grading and feedback (instructors), checks (students): {hub.url}/services/tfladder/", flush=True)
        for warning in hub.warnings:
            print(f"tfladder hub: warning: {warning}", flush=True)
        for role, names in people.items():
            print(f"  {role}s: {', '.join(names) or 'none yet (tfladder users add)'}", flush=True)
        return process.wait()
    except serve.HubError as error:
        process.terminate()
        raise ops.CourseError(str(error)) from error
    except KeyboardInterrupt:
        process.terminate()  # JupyterHub stops everyone's server and its proxy
        return process.wait()


def cmd_users(args: argparse.Namespace) -> int:
    """The hub's accounts: add students or instructors, remove them, list them (run as root).

    `add` makes a system account per name (or updates one made before) in the students' or the
    instructors' group, with a password: read one per line from --passwords (name,password
    lines), or made up and printed as `name password`, one per line, to hand out.

    Example:
      sudo .venv/bin/tfladder users add alice bob
      sudo .venv/bin/tfladder users add --role instructor teacher
      sudo .venv/bin/tfladder users add --passwords class.csv
      sudo .venv/bin/tfladder users list
      sudo .venv/bin/tfladder users remove bob
    """
    import csv
    import secrets

    from tfladder.hub import accounts

    try:
        if args.action == "list":
            for role in accounts.ROLES:
                for name in accounts.members(role):
                    print(f"{name} {role}")
            return 0
        if args.action == "remove":
            for name in args.names:
                accounts.remove(name)
                print(f"removed {name}")
            return 0
        given: dict[str, str] = {}
        if args.passwords:
            try:
                with open(args.passwords, newline="") as rows:
                    given = {row[0].strip(): row[1].strip() for row in csv.reader(rows) if len(row) >= 2}
            except (OSError, UnicodeDecodeError, csv.Error) as error:
                raise ops.CourseError(f"cannot read the passwords file {args.passwords}: {error}") from error
        names = list(args.names) + [n for n in given if n not in args.names]
        if not names:
            raise ops.CourseError("name at least one account (or give --passwords with name,password lines)")
        for name in names:
            password = given.get(name) or secrets.token_urlsafe(9)
            accounts.add(name, args.role, password)
            print(f"{name} {password}" if name not in given else f"{name} (password from {args.passwords})")
        return 0
    except accounts.AccountError as error:
        raise ops.CourseError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfladder",
        description="Course operations for the tfladder TensorFlow course (run in the course folder).",
    )
    parser.add_argument("--version", action="version", version=f"tfladder {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        doc = func.__doc__
        assert doc is not None  # every command has a docstring: its help text
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add("release", cmd_release)
    p.add_argument("assignment", nargs="*", help="assignment folder names (default: all in source/)")
    p = add("autograde", cmd_autograde)
    p.add_argument("assignment", help="assignment folder name, e.g. 01_low_level_ops")
    p.add_argument("--student", help="one student id (or a glob such as 'demo_*')")
    p = add("grade", cmd_grade)
    p.add_argument("assignment", nargs="*", help="assignment folder names (default: every assignment with submissions)")
    p.add_argument("--student", action="append", help="grade only this student (id or glob; repeatable)")
    p.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run submissions without the sandbox, as your own user (trusted code only)",
    )
    p.add_argument("--jobs", type=int, default=None, help="notebooks executed at once (default: one per CPU)")
    p.add_argument(
        "--no-prefork",
        action="store_true",
        help="start every kernel from scratch instead of forking it with TensorFlow imported",
    )
    p.add_argument(
        "--engine",
        choices=("pool", "dask"),
        default="pool",
        help="what executes the notebooks on this machine: worker processes (default) or a local Dask cluster",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running grading cluster's scheduler (tls://host:port)")
    p.add_argument("--tls-ca-file", default="", help="the cluster's certificate authority (PEM)")
    p.add_argument("--tls-cert", default="", help="this client's certificate (PEM)")
    p.add_argument("--tls-key", default="", help="this client's private key (PEM)")
    p.add_argument(
        "--recorders",
        type=int,
        default=None,
        help="nbgrader processes recording at once (a gradebook on PostgreSQL; default: one per CPU, one with SQLite)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="grade only the submissions not recorded yet (after a run that stopped, say on a lost scheduler)",
    )
    p = add("check", cmd_check)
    p.add_argument("notebook", help="the notebook file to check")
    p.add_argument("--assignment", help="the assignment it belongs to (default: from its name or grade ids)")
    p = add("solutions", cmd_solutions)
    p.add_argument("assignment", nargs="*", help="assignment folder names (default: all)")
    p.add_argument("--out", help="folder for the HTML pages (default: build/solutions)")
    p = add("feedback", cmd_feedback)
    p.add_argument("assignment", help="assignment folder name")
    p.add_argument("--student", help="one student id (or a glob)")
    p = add("report", cmd_report)
    p.add_argument("--out", help="folder for the report (default: report/)")
    p = add("export", cmd_export)
    p.add_argument("--to", default="grades.csv", help="CSV file to write (default: grades.csv, or <lms>-grades.csv)")
    p.add_argument("--lms", choices=("canvas", "moodle"), help="write the grade file this LMS imports")
    p.add_argument("--roster", help="with --lms: CSV of student_id, then the LMS's identity columns")
    p = add("similarity", cmd_similarity)
    p.add_argument("assignment", help="assignment folder name")
    p.add_argument(
        "--threshold", type=float, default=0.5, help="mark pairs at or above this similarity (0 to 1; default: 0.5)"
    )
    p.add_argument("--out", help="the HTML report to write (default: similarity/ASSIGNMENT.html)")
    p = add("certificates", cmd_certificates)
    p.add_argument("folder", help="where to write ca.pem, cert.pem and key.pem")
    add("demo", cmd_demo)
    p = add("lab", cmd_lab)
    p.add_argument("--port", type=int, default=8888, help="loopback port (default: 8888)")
    p = add("hub", cmd_hub)
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--ip", default="127.0.0.1", help="address to serve on (default: loopback only; see docs/hub.md)")
    p.add_argument("--home", default="/srv/tfladder", help="the hub's folders: course, exchange, state")
    p.add_argument("--prefix", default="/opt/tfladder", help="where the users' environment is built")
    p.add_argument("--course", help="an existing course folder to serve (default: HOME/course, made from here)")
    p.add_argument(
        "--check-slots", type=int, default=1, help="students' hidden-test checks that run at once (default: 1)"
    )
    p.add_argument(
        "--check-queue", type=int, default=4, help="checks that may wait for a slot before 'busy' (default: 4)"
    )
    p = add("users", cmd_users)
    p.add_argument("action", choices=("add", "remove", "list"))
    p.add_argument("names", nargs="*", help="account names (lower-case letters, digits, - and _)")
    p.add_argument("--role", choices=("student", "instructor"), default="student", help="for add (default: student)")
    p.add_argument("--passwords", help="for add: a CSV file of name,password lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ops.CourseError as error:
        print(f"tfladder: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
