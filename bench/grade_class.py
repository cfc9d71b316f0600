"""Grade a class with plain serial `nbgrader autograde` and with `tfladder grade`, side by side.

    .venv/bin/python bench/grade_class.py                  # 20 students x the five assignments
    .venv/bin/python bench/grade_class.py --students 4 --assignments 01_low_level_ops

Builds a temporary course whose students are the test fixtures (student i of an assignment
submits its fixture i mod the number of fixtures: the reference, the blank release and every
known mistake), then, assignment by assignment and alternating which goes first, grades the
whole class with

- serial: stock `nbgrader autograde ASSIGNMENT` with the course's config, no sandbox, one kernel
  from scratch per notebook (what nbgrader does on its own), and
- tfladder: `tfladder grade ASSIGNMENT --jobs N`, sandbox on, kernels forked from the zygote,

checks that every student's points per graded cell are identical, and prints for each and in
total: wall time, the speed-up ratio, and the time per notebook against a floor (the notebook's
own execution time once TensorFlow is imported: the sum of its cells' execution times after the
setup cell, read from serial nbgrader's own timing records), and a kernel CPU bound: the CPU the
sandboxed kernels used in the tfladder run (the sandbox's usage records), divided by the cores
used, which is how long that run would take if nothing but the kernels ran and no core idled.
Then the whole class once more, each tool in one command for every assignment, as an instructor
grades a class after a deadline: `nbgrader autograde "*"` (nbgrader's own way to grade every
assignment in one run) against `tfladder grade` (one zygote and one set of workers for all the
assignments, every notebook queued up front), scores checked again. `--class-only` skips the
per-assignment table (about half the time).

Every `tfladder grade` run also reports the judge's own cost per notebook (the test cells run in
the grader, reaching into the kernel through the probe): requests, the probe's round trips beyond
the kernel's own compute, the judge's own time, and the data moved, read from each notebook's
`tfladder-run.json`, for the class and per assignment; `--judge-only` runs `tfladder grade` once
for that alone.

`--compare-with CHECKOUT` grades the class with this checkout's `tfladder grade` and with
another checkout's, each on a course made from its own checkout (source, release, config,
fixtures) and with its own environment (`CHECKOUT/.venv`, where that checkout is installed: a
sandboxed kernel imports the tfladder its environment maps), in one command each, alternating
which goes first, `--rounds` times: the two wall times, their ratio, and the scores compared.
An environment for the commit before a change, sharing this one's packages (seconds, no download):

    git worktree add /tmp/before HEAD~1 && cp -al .venv /tmp/before/.venv
    find /tmp/before/.venv/bin -type f -exec sed -i "1s|^#!$PWD/.venv|#!/tmp/before/.venv|" {} +
    /tmp/before/.venv/bin/python -m pip install --no-deps --no-build-isolation -e /tmp/before
The timed runs are not sampled.
Memory is measured in runs of its own: the peak resident memory (PSS) of every grader process,
sampled, sandboxed kernels counted apart, for `tfladder grade` at two class sizes (the grader's
memory must not grow with the class) and for serial nbgrader at the first.
Exit status 1 if any score differs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tfladder.course import fixtures, notebooks, ops
from tfladder.course.config import tool_env
from tfladder.grading import scores
from tfladder.sandbox import launcher

ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TFLADDER_GRADING_SEED": "2718"}


def build_course(root, assignments, students, repo=REPO):
    root = Path(root)
    root.mkdir(parents=True)
    shutil.copy(repo / "nbgrader_config.py", root)
    roster = {}
    for a in assignments:
        for part in ("source", "release", "tests/fixtures"):
            shutil.copytree(repo / part / a, root / part / a)
        found = fixtures.load_all(root, a)
        names = sorted(found)
        roster[a] = {}
        for i in range(students):
            student = f"s{i + 1:03d}"
            fixtures.submit(found[names[i % len(names)]], root, student=student)
            roster[a][student] = names[i % len(names)]
        ops.release(root, a, db=True)
    return root, roster


class Memory:
    """Peak resident memory of a process tree, sampled: grader processes and sandboxed kernels apart."""

    def __init__(self, pid):
        self.pid, self.grader, self.kernel, self.stop = pid, 0, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _table():
        """{pid: (ppid, uid, proportional resident memory)}: PSS, because kernels and the zygote's
        short-lived helpers share the zygote's pages, which RSS would count once per process."""
        rows = {}
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                rollup = (status.parent / "smaps_rollup").read_text()
                pss = next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
                rows[int(status.parent.name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]), pss * 1024)
            except (OSError, ValueError, KeyError):
                continue
        return rows

    def _run(self):
        while not self.stop.is_set():
            rows = self._table()
            tree, frontier = set(), {self.pid}
            while frontier:
                tree |= frontier
                frontier = {p for p, (ppid, _, _) in rows.items() if ppid in frontier} - tree
            grader = sum(rows[p][2] for p in tree if p in rows and rows[p][1] < launcher.FIRST_UID)
            # every sandboxed process on the machine (ours are the only ones while this runs)
            kernels = max((pss for _, uid, pss in rows.values() if uid >= launcher.FIRST_UID), default=0)
            self.grader, self.kernel = max(self.grader, grader), max(self.kernel, kernels)
            time.sleep(0.2)

    def done(self):
        self.stop.set()
        self.thread.join()


def timed(command, course, *, sample_memory=False, bindir=None):
    """(seconds, Memory or None, exit status, log). Timed runs are not sampled: reading
    smaps_rollup of TensorFlow processes five times a second costs about a tenth of a core and
    stalls the processes read, which slowed `tfladder grade` (both cores busy) by about 10%.
    `bindir`: another environment's bin folder, first on PATH (its tools run the command)."""
    env = tool_env(ENV)
    if bindir is not None:
        env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    memory = Memory(process.pid) if sample_memory else None
    log = process.communicate()[0]
    if memory:
        memory.done()
    return time.monotonic() - started, memory, process.returncode, log


def grade_serial(course, assignment, **kwargs):
    """`nbgrader autograde ASSIGNMENT`; "*" grades every assignment in one run."""
    return timed([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--force"], course, **kwargs)


def grade_tfladder(course, assignments, jobs, bindir=None, **kwargs):
    """`tfladder grade ASSIGNMENT...`: one assignment or several in one run (with the environment
    of `bindir`, this one's by default)."""
    if isinstance(assignments, str):
        assignments = [assignments]
    tool = Path(bindir or Path(sys.executable).parent) / "tfladder"
    return timed([str(tool), "grade", *assignments, "--jobs", str(jobs)], course, bindir=bindir, **kwargs)


def judge_cost(course, assignments, students):
    """The judge's own cost per notebook of the last tfladder run, from its reports, for the class
    and per assignment (lines to print); None when the reports have no judge (a checkout from
    before the judge)."""

    def line(label, found):
        count = len(found)
        mean = {key: sum(stats[key] for stats in found) / count for key in found[0]}
        overhead = mean["probe_seconds"] - mean["kernel_seconds"]
        return (
            f"{label} ({count} notebooks): {mean['requests']:.1f} requests, probe round trips "
            f"{overhead:.3f} s beyond the kernel's own {mean['kernel_seconds']:.2f} s, the judge's own code "
            f"{mean['judge_seconds']:.3f} s: {overhead + mean['judge_seconds']:.3f} s in all; "
            f"{mean['bytes_sent'] / 1024:.0f} KiB sent, {mean['bytes_received'] / 1024:.0f} KiB received"
        )

    per_assignment = {}
    for a in assignments:
        for student in students[a]:
            path = Path(course) / "autograded" / student / a / "tfladder-run.json"
            stats = json.loads(path.read_text()).get("judge") if path.exists() else None
            if stats:
                per_assignment.setdefault(a, []).append(stats)
    if not per_assignment:
        return None
    lines = [line("judge per notebook", [s for found in per_assignment.values() for s in found])]
    if len(per_assignment) > 1:
        lines += [line(f"  {a}", found) for a, found in per_assignment.items()]
    return "\n".join(lines)


def compare(checkout, assignments, students, jobs, rounds, work):
    """This checkout's tfladder grade against another's, each on its own course, side by side."""
    courses = {}
    other_bin = Path(checkout).resolve() / ".venv" / "bin"
    if not (other_bin / "tfladder").exists():
        raise SystemExit(
            f"{other_bin / 'tfladder'} does not exist: make an environment for {checkout} (see this script's docstring)"
        )
    for label, repo in (("this", REPO), ("other", Path(checkout).resolve())):
        courses[label] = build_course(work / f"compare-{label}", assignments, students, repo=repo)
    print(f"\nthis checkout ({REPO}) against {checkout}, the whole class in one command each, {rounds} rounds:")
    seconds = {"this": [], "other": []}
    points = {}
    for index in range(rounds):
        order = ["this", "other"] if index % 2 == 0 else ["other", "this"]
        for label in order:
            course, roster = courses[label]
            elapsed, _, code, log = grade_tfladder(
                course, assignments, jobs, bindir=None if label == "this" else other_bin
            )
            if code not in (0, 1):
                print(log[-3000:])
                raise SystemExit(f"tfladder grade ({label}) failed (exit status {code})")
            seconds[label].append(elapsed)
            points[label] = {a: scores.cell_points(course, a, sorted(roster[a])) for a in assignments}
        print(
            f"  round {index + 1}: this {seconds['this'][-1]:.1f} s, other {seconds['other'][-1]:.1f} s: "
            f"this/other {seconds['this'][-1] / seconds['other'][-1]:.3f}"
        )
    mean = {label: sum(values) / len(values) for label, values in seconds.items()}
    same = points["this"] == points["other"]
    for a in assignments:
        for s in sorted(courses["this"][1][a]):
            if points["this"][a][s] != points["other"][a][s]:
                changed = {
                    c: (points["other"][a][s].get(c), p)
                    for c, p in points["this"][a][s].items()
                    if points["other"][a][s].get(c) != p
                }
                print(f"  DIFFERENT {a} {s} ({courses['this'][1][a][s]}): (other, this) {changed}")
    print(
        f"mean: this {mean['this']:.1f} s, other {mean['other']:.1f} s: this/other {mean['this'] / mean['other']:.3f} "
        f"({(mean['this'] / mean['other'] - 1) * 100:+.1f}%); scores {'identical' if same else 'DIFFERENT'}"
    )
    course, roster = courses["this"]
    cost = judge_cost(course, assignments, roster)
    if cost:
        print(cost)
    return same


def whole_class(course, assignments, roster, jobs):
    """Every assignment in one command each: (serial seconds, tfladder seconds, identical)."""
    points, seconds = {}, {}
    for mode in ("serial", "tfladder"):
        if mode == "serial":
            seconds[mode], _, code, log = grade_serial(course, "*")
        else:
            seconds[mode], _, code, log = grade_tfladder(course, assignments, jobs)
            if code not in (0, 1):
                print(log[-3000:])
                raise SystemExit(f"tfladder grade failed (exit status {code})")
            cost = judge_cost(course, assignments, roster)
        points[mode] = {a: scores.cell_points(course, a, sorted(roster[a])) for a in assignments}
    if cost:
        print(cost)
    identical = True
    for a in assignments:
        for s in sorted(roster[a]):
            if points["serial"][a][s] != points["tfladder"][a][s]:
                identical = False
                print(
                    f"  DIFFERENT {a} {s} ({roster[a][s]}): serial {points['serial'][a][s]} "
                    f"tfladder {points['tfladder'][a][s]}"
                )
    return seconds["serial"], seconds["tfladder"], identical


def floor_seconds(course, assignment, students):
    """Per student: the execution time of its autograded cells after the setup cell."""
    result = {}
    for student in students:
        nb = notebooks.read(Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb")
        total, seen_setup = 0.0, False
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            timing = cell.get("metadata", {}).get("execution", {})
            start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
            if not (start and end):
                continue
            if not seen_setup:  # the setup cell imports TensorFlow
                seen_setup = True
                continue
            total += (
                datetime.fromisoformat(end.replace("Z", "+00:00"))
                - datetime.fromisoformat(start.replace("Z", "+00:00"))
            ).total_seconds()
        result[student] = total
    return result


def kernel_cpu_seconds(course, assignment, students):
    """CPU the sandboxed kernels used, summed over the students, as the sandbox recorded it:
    divided by the jobs, the least time `tfladder grade` could take with nothing else running."""
    total = 0.0
    for student in students:
        path = Path(course) / "autograded" / student / assignment / "tfladder-run.json"
        if path.exists():
            total += json.loads(path.read_text()).get("usage", {}).get("cpu_seconds", 0.0)
    return total


def per_assignment(course, assignments, roster, jobs, cores):
    """Assignment by assignment, alternating which tool goes first: the table and its totals.
    True if every score is identical."""
    identical = True
    totals = {"serial": 0.0, "tfladder": 0.0, "floor": 0.0, "notebooks": 0, "bound": 0.0}
    print(
        f"\n{'assignment':<20} {'serial s':>9} {'tfladder s':>11} {'ratio':>6} {'floor s/nb':>11} "
        f"{'serial s/nb':>12} {'tfladder s/nb':>14} {'kernel CPU bound s':>19}"
    )
    for index, assignment in enumerate(assignments):
        students = sorted(roster[assignment])
        order = ["serial", "tfladder"] if index % 2 == 0 else ["tfladder", "serial"]
        seconds, points, floors = {}, {}, None
        for mode in order:
            if mode == "serial":
                elapsed, _, code, log = grade_serial(course, assignment)
                floors = floor_seconds(course, assignment, students)
            else:
                elapsed, _, code, log = grade_tfladder(course, assignment, jobs)
                bound = kernel_cpu_seconds(course, assignment, students) / cores
            if mode == "tfladder" and code not in (0, 1):
                print(log[-3000:])
                raise SystemExit(f"tfladder grade failed (exit status {code})")
            seconds[mode] = elapsed
            points[mode] = scores.cell_points(course, assignment, students)
        same = points["serial"] == points["tfladder"]
        identical &= same
        if not same:
            for s in students:
                if points["serial"][s] != points["tfladder"][s]:
                    print(
                        f"  DIFFERENT {s} ({roster[assignment][s]}): serial {points['serial'][s]} "
                        f"tfladder {points['tfladder'][s]}"
                    )
        n = len(students)
        floor = sum(floors.values()) / n
        totals["serial"] += seconds["serial"]
        totals["tfladder"] += seconds["tfladder"]
        totals["floor"] += sum(floors.values())
        totals["bound"] += bound
        totals["notebooks"] += n
        print(
            f"{assignment:<20} {seconds['serial']:>9.1f} {seconds['tfladder']:>11.1f} "
            f"{seconds['serial'] / seconds['tfladder']:>5.2f}x {floor:>11.2f} {seconds['serial'] / n:>12.2f} "
            f"{seconds['tfladder'] / n:>14.2f} {bound:>19.1f}" + ("" if same else "  SCORES DIFFER")
        )
    n = totals["notebooks"]
    floor = totals["floor"] / n
    print(
        f"\n{'total':<20} {totals['serial']:>9.1f} {totals['tfladder']:>11.1f} "
        f"{totals['serial'] / totals['tfladder']:>5.2f}x {floor:>11.2f} {totals['serial'] / n:>12.2f} "
        f"{totals['tfladder'] / n:>14.2f} {totals['bound']:>19.1f}"
    )
    print(
        f"speed-up: {totals['serial'] / totals['tfladder']:.2f}x ({n} notebooks: serial nbgrader "
        f"{totals['serial']:.0f} s, tfladder grade {totals['tfladder']:.0f} s)"
    )
    if totals["bound"]:
        print(
            f"kernel CPU bound: the sandboxed kernels used {totals['bound'] * cores:.0f} s of CPU, so tfladder "
            f"grade needs at least {totals['bound']:.0f} s on {cores} cores with these kernels even if nothing "
            f"else ran: at most {totals['serial'] / totals['bound']:.2f}x"
        )
    else:
        print("kernel CPU bound: no sandbox usage records found in autograded/ (tfladder-run.json)")
    print(
        f"per notebook: floor {floor:.2f} s (own execution once TensorFlow is imported); serial nbgrader "
        f"{totals['serial'] / n:.2f} s (overhead {totals['serial'] / n - floor:.2f} s); tfladder grade "
        f"{totals['tfladder'] / n:.2f} s of wall time, {totals['tfladder'] * jobs / n:.2f} s of a {jobs}-job slot "
        f"(overhead {totals['tfladder'] * jobs / n - floor:.2f} s)"
    )
    print(f"scores: {'identical' if identical else 'DIFFERENT'} for every student and graded cell")
    return identical


def gib(value):
    return f"{value / 2**30:.2f} GiB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--assignments", nargs="*", default=None)
    parser.add_argument("--jobs", type=int, default=None, help="tfladder grade --jobs (default: its own)")
    parser.add_argument("--memory-sizes", default="5,20", help="class sizes for the memory check (level 1)")
    parser.add_argument(
        "--class-only",
        action="store_true",
        help="only the whole class in one command each, not the per-assignment table",
    )
    parser.add_argument(
        "--compare-with",
        metavar="CHECKOUT",
        help="another checkout of this repository: its tfladder grade against this one's, side by side",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-with (alternating who goes first)")
    parser.add_argument(
        "--judge-only",
        action="store_true",
        help="one tfladder grade of the class: the judge's cost per notebook, per assignment",
    )
    args = parser.parse_args(argv)
    from tfladder.grading.grade import default_jobs

    jobs = args.jobs or default_jobs()
    cores = min(jobs, os.cpu_count() or 1)  # what the kernel CPU bound divides by
    assignments = args.assignments or ops.assignments(REPO)
    work = Path(tempfile.mkdtemp(prefix="tfladder-bench-"))
    print(
        f"{args.students} students x {len(assignments)} assignments, tfladder grade --jobs {jobs}, "
        f"{os.cpu_count()} CPUs; course in {work}"
    )
    if args.compare_with:
        same = compare(args.compare_with, assignments, args.students, jobs, args.rounds, work)
        shutil.rmtree(work, ignore_errors=True)
        return 0 if same else 1
    if args.judge_only:
        course, roster = build_course(work / "course", assignments, args.students)
        elapsed, _, code, log = grade_tfladder(course, assignments, jobs)
        if code not in (0, 1):
            print(log[-3000:])
            raise SystemExit(f"tfladder grade failed (exit status {code})")
        print(f"tfladder grade: {elapsed:.1f} s\n{judge_cost(course, assignments, roster)}")
        shutil.rmtree(work, ignore_errors=True)
        return 0
    course, roster = build_course(work / "course", assignments, args.students)
    identical = True
    if not args.class_only:
        identical &= per_assignment(course, assignments, roster, jobs, cores)
    if len(assignments) > 1 or args.class_only:
        serial, tfl, same = whole_class(course, assignments, roster, jobs)
        identical &= same
        n = sum(len(roster[a]) for a in assignments)
        print(
            f'\nwhole class in one command each ({n} notebooks): serial `nbgrader autograde "*"` '
            f"{serial:.1f} s, `tfladder grade` {tfl:.1f} s: {serial / tfl:.2f}x; scores "
            f"{'identical' if same else 'DIFFERENT'}"
        )
    # Memory, in runs of their own (sampling slows what it samples): the grader's processes at
    # two class sizes, the largest sandboxed kernel, and serial nbgrader for comparison.
    sizes = [int(x) for x in args.memory_sizes.split(",") if x]
    if sizes:
        memory_assignment = "01_low_level_ops" if "01_low_level_ops" in assignments else assignments[0]
        print(f"\npeak memory by class size ({memory_assignment}, sampled in separate runs):")
        for size in sizes:
            small, _ = build_course(work / f"memory-{size}", [memory_assignment], size)
            elapsed, memory, code, _ = grade_tfladder(small, memory_assignment, jobs, sample_memory=True)
            line = (
                f"  {size:>3} students: tfladder grade's processes {gib(memory.grader)} "
                f"(largest sandboxed kernel {gib(memory.kernel)}) in {elapsed:.0f} s"
            )
            if size == sizes[0]:
                _, serial, _, _ = grade_serial(small, memory_assignment, sample_memory=True)
                line += f"; serial nbgrader with its kernel {gib(serial.grader)}"
            print(line)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
