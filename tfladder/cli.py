"""The `tfladder` command line: a thin layer over plain functions in the other modules."""

import argparse
import fnmatch
import sys

from tfladder import __version__
from tfladder import course as ops


def cmd_release(args):
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


def cmd_autograde(args):
    """Autograde the submissions in submitted/*/ASSIGNMENT with nbgrader, then print the scores.

    The gradebook is updated from source/ first. Exit status 1 if any submission failed.

    Example:
      tfladder autograde 01_low_level_ops
      tfladder autograde 01_low_level_ops --student alice
    """
    from tfladder import notebooks, scores

    root = ops.find_root()
    ops.release(root, args.assignment, db=True)
    done = ops.autograde(root, args.assignment, student=args.student)
    failed = ops.failed_students(done.stdout + done.stderr)
    submitted = sorted(p.parent.name for p in (root / "submitted").glob(f"*/{args.assignment}"))
    if args.student:
        submitted = [s for s in submitted if fnmatch.fnmatch(s, args.student)]
    source_nb = notebooks.read(root / "source" / args.assignment / f"{args.assignment}.ipynb")
    print(scores.table(args.assignment, source_nb, scores.cell_points(root, args.assignment, submitted)))
    for student in failed:
        print(f"FAILED: {student} could not be graded (see `nbgrader autograde` output above)", file=sys.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
    return 1 if done.returncode != 0 else 0


def cmd_export(args):
    """Export the gradebook to CSV with nbgrader's exporter.

    Example:
      tfladder export --to grades.csv
    """
    path = ops.export(ops.find_root(), args.to)
    print(f"grades exported to {path}")
    return 0


def cmd_demo(args):
    """Regenerate the release, grade a demo class made from fixtures, print a score table.

    Demo students (demo_perfect, demo_blank, demo_typical) are written to submitted/, graded
    into autograded/, and exported to grades.csv; other students are left alone.

    Example:
      tfladder demo
    """
    from tfladder import demo

    demo.run(ops.find_root())
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tfladder",
        description="Course operations for the tfladder TensorFlow course (run in the course folder).",
    )
    parser.add_argument("--version", action="version", version=f"tfladder {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func):
        doc = func.__doc__
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
    p = add("export", cmd_export)
    p.add_argument("--to", default="grades.csv", help="CSV file to write (default: grades.csv)")
    add("demo", cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ops.CourseError as error:
        print(f"tfladder: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
