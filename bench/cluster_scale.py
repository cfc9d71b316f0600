"""How grading on a Dask cluster scales: the measured inputs of the model in docs/performance.md.

    .venv/bin/python bench/cluster_scale.py                          # all three parts
    .venv/bin/python bench/cluster_scale.py --part scheduler --slots 64 256
    .venv/bin/python bench/cluster_scale.py --part recorders --recorders 1 2

1. workers: a class (--students x the five assignments) graded by `tfladder grade --jobs J` for
   J = 1 and 2 on this machine, in one run each: notebooks per minute, scores checked identical;
   the sizes of a real task (notebook, files, test cells) and result (executed notebook, report);
2. recorders: nbgrader recording notebooks already executed (it replays the results of part 1
   and of copies of them under other students' names, executing nothing), as `tfladder grade`
   records them: with nbgrader's SQLite gradebook (one recorder), then with a PostgreSQL
   gradebook (a server of its own, tests/postgres_server.py) and 1, 2, ... recorders at once:
   notebooks per second, and the speedup over one recorder;
3. scheduler: tfladder's own client code (`tfladder.grading.cluster.Cluster`) against a TLS
   `dask scheduler` whose workers are stand-ins: processes of many threads, each thread a
   simulated slot whose task sleeps a notebook's measured time (part 1's, or --notebook-seconds)
   and carries and returns data of a real task's and result's size. For each number of slots,
   N = 4 x slots tasks: the makespan against the ideal N x t / slots, and the overhead per task
   it implies; then zero-sleep tasks: the scheduler's own throughput (tasks per second).

The model (printed last): grading N notebooks on S slots takes about
    startup + max(N x t / S + N x overhead / S, N / (R x recorders))
with t the notebook's time on one slot (part 1: 60 / (notebooks per minute per job)), overhead the
scheduler's per-task cost on a slot (part 3), R one recorder's rate on PostgreSQL (part 2); the
model takes recorders to scale as the measured speedup of 2 recorders on this machine's 2 cores,
one recorder per core of the grading machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]

import grade_class

from tfladder.course import ops
from tfladder.grading import scores

DASK = str(Path(sys.executable).parent / "dask")
THREADS_PER_PROCESS = 32


# -- 1. workers ------------------------------------------------------------------------------------
def workers(work, students, assignments):
    """Notebooks per minute at --jobs 1 and 2, scores compared; the task and result sizes; the course
    graded at --jobs 2 (for part 2)."""
    rows, tables, course2 = {}, {}, None
    for jobs in (1, 2):
        course, roster = grade_class.build_course(work / f"jobs{jobs}", assignments, students)
        seconds, _, code, log = grade_class.grade_tfladder(course, assignments, jobs)
        if code not in (0, 1):
            raise SystemExit(f"tfladder grade failed (exit status {code}):\n{log[-3000:]}")
        n = sum(len(roster[a]) for a in assignments)
        rows[jobs] = (n, seconds)
        tables[jobs] = {a: scores.cell_points(course, a, roster[a]) for a in assignments}
        if jobs == 2:
            course2 = course
    same = tables[1] == tables[2]
    print("1. workers: the class graded by tfladder grade on this machine")
    for jobs, (n, seconds) in rows.items():
        print(f"   --jobs {jobs}: {n} notebooks in {seconds:.1f} s: {60 * n / seconds:.1f} notebooks per minute")
    print(f"   scores {'identical' if same else 'DIFFERENT'} at --jobs 1 and 2")
    task_bytes, result_bytes = sizes(course2, assignments)
    print(f"   a task carries {task_bytes / 1024:.0f} KiB on average, a result {result_bytes / 1024:.0f} KiB")
    n, seconds = rows[1]
    return course2, seconds / n, task_bytes, result_bytes, same


def sizes(course, assignments):
    """Mean bytes of a task (the prepared notebook, its kernel files) and a result (executed/*.json)."""
    tasks, results = [], []
    for a in assignments:
        base = course / "build" / "grading" / a
        for notebook in (base / "run").glob(f"*/{a}.ipynb"):
            tasks.append(sum(p.stat().st_size for p in notebook.parent.rglob("*") if p.is_file()))
        results.extend(p.stat().st_size for p in (base / "executed").glob("*.json"))
    return statistics.mean(tasks), statistics.mean(results)


# -- 2. the recorders ------------------------------------------------------------------------------
def _copies(course, assignments, copies):
    """Every staged submission and its worker result again under COPIES other names: more notebooks
    to record, none to execute (a result's fingerprint depends on the notebook, not its student)."""
    for a in assignments:
        base = course / "build" / "grading" / a
        for result in sorted((base / "executed").glob("*.json")):
            student = result.stem
            if "-copy" in student:
                continue
            data = json.loads(result.read_text())
            for k in range(1, copies + 1):
                other = f"{student}-copy{k}"
                data["student"] = other
                (base / "executed" / f"{other}.json").write_text(json.dumps(data))
                target = base / "submitted" / other
                if not target.exists():
                    shutil.copytree(base / "submitted" / student, target)


def _record(course, assignments, recorders, slots):
    """Record every staged notebook as `tfladder grade` does with RECORDERS: each assignment's
    students in RECORDERS slices (every R-th one), that many nbgrader processes at once; seconds."""
    from concurrent.futures import ThreadPoolExecutor

    from tfladder.grading import grade

    units = []
    for a in assignments:
        base = course / "build" / "grading" / a
        students = sorted(p.stem for p in (base / "executed").glob("*.json"))
        units.extend((a, students, students[i::recorders]) for i in range(recorders))
    free = list(slots[:recorders])

    def record(unit):
        a, students, mine = unit
        slot = free.pop()
        base = course / "build" / "grading" / a
        try:
            with tempfile.TemporaryDirectory(prefix="tfladder-config-") as config_dir:
                grade._override_config(
                    Path(config_dir),
                    base / "submitted",
                    use_sandbox=True,
                    slot=slot,
                    results=base / "executed",
                    exclude=sorted(set(students) - set(mine)),
                )
                env = {"JUPYTER_CONFIG_DIR": config_dir, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
                done = ops.autograde(course, a, env=env)
        finally:
            free.append(slot)
        replayed = sum(
            1 for s in mine if grade.read_report(course, a, s, "tfladder-run.json").get("executed_by") == "worker"
        )
        if done.returncode != 0 or replayed != len(mine):
            raise SystemExit(f"{a}: a recorder replayed {replayed} of {len(mine)}:\n{done.stdout[-2000:]}")
        return len(mine)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=recorders) as pool:
        n = sum(pool.map(record, units))
    return n, time.monotonic() - started


def recorders(course, assignments, counts, copies):
    """nbgrader recording part 1's notebooks (and COPIES copies of each), executing none: notebooks
    per second with nbgrader's SQLite gradebook (one recorder) and with a PostgreSQL gradebook
    (COUNTS recorders at once); one recorder's rate on PostgreSQL, for the model."""
    sys.path.insert(0, str(REPO / "tests"))
    from postgres_server import PostgresServer

    from tfladder.sandbox import slots

    _copies(course, assignments, copies)
    held = [slots.take(90 + i) for i in range(max(counts))]
    config = course / "nbgrader_config.py"
    original = config.read_text()
    print(f"2. recorders: nbgrader recording notebooks already executed (part 1's, and {copies} copies of each)")
    rates = {}
    try:
        n, seconds = _record(course, assignments, 1, [slot for slot, _ in held])
        print(f"   SQLite, 1 recorder: {n} notebooks in {seconds:.1f} s: {n / seconds:.2f} per second")
        with PostgresServer() as server:
            for count in counts:
                url = server.create_database(f"gradebook{count}")
                config.write_text(original + f'\nc.CourseDirectory.db_url = "{url}"\n')
                for a in assignments:  # the assignments into this gradebook
                    ops.release(course, a, db=True)
                n, seconds = _record(course, assignments, count, [slot for slot, _ in held])
                rates[count] = n / seconds
                print(
                    f"   PostgreSQL, {count} recorder(s): {n} notebooks in {seconds:.1f} s: {n / seconds:.2f} per "
                    f"second ({rates[count] / rates[min(rates)]:.2f}x {min(rates)} recorder)"
                )
    finally:
        config.write_text(original)
        for _, fd in held:
            os.close(fd)
    return rates


# -- 3. the scheduler ------------------------------------------------------------------------------
def stand_in(task):
    """A simulated slot's task: hold the slot for the notebook's time, return a result's worth of data."""
    time.sleep(task["sleep"])
    return {"student": task["student"], "notebook": "x" * task["result_bytes"], "report": {}, "log": ""}


class StandInCluster:
    """A TLS `dask scheduler` and worker processes of THREADS_PER_PROCESS threads each (no preload)."""

    def __init__(self, folder, slots):
        from tfladder.grading import cluster

        ca, cert, key = cluster.make_certificates(folder / "certs")
        self.security = cluster.tls_security(str(ca), str(cert), str(key))
        tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
        scheduler_file = folder / "scheduler.json"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
        self.processes = [
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--protocol", "tls", "--no-dashboard"]
                + ["--scheduler-file", str(scheduler_file), *tls],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        while not scheduler_file.exists():
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        per = min(THREADS_PER_PROCESS, slots)
        for _ in range(slots // per):
            self.processes.append(
                subprocess.Popen(
                    [DASK, "worker", self.address, "--nthreads", str(per), "--memory-limit", "0", "--no-dashboard"]
                    + ["--local-directory", str(folder / "workers"), *tls],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(self.address, security=self.security, timeout=60) as client:
            client.wait_for_workers(slots // per, timeout=300)
        self.slots = slots

    def close(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait()


def run_tasks(stand_ins, n, sleep, task_bytes, result_bytes, results):
    """n stand-in tasks through tfladder's Cluster client code; the makespan in seconds."""
    from tfladder.grading import cluster

    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    grading = cluster.Cluster(
        stand_ins.slots,
        logs=results.parent / "logs",
        use_sandbox=False,
        scheduler=stand_ins.address,
        security=stand_ins.security,
        task_function=stand_in,
    )
    payload = "y" * int(task_bytes)
    started = time.monotonic()
    for i in range(n):
        grading.submit_task(
            {
                "student": f"s{i:05d}",
                "assignment": "a",
                "sleep": sleep,
                "result_bytes": int(result_bytes),
                "data": payload,
            },
            results,
        )
    grading.finish()
    seconds = time.monotonic() - started
    written = len(list(results.glob("*.json")))
    if written != n:
        raise SystemExit(f"{written} results of {n}")
    return seconds


def scheduler(work, slot_counts, notebook_seconds, task_bytes, result_bytes):
    print(
        f"3. scheduler: stand-in tasks of {notebook_seconds:.2f} s, {task_bytes / 1024:.0f} KiB in, "
        f"{result_bytes / 1024:.0f} KiB out, through tfladder's client (TLS)"
    )
    overheads = {}
    for slots in slot_counts:
        stand_ins = StandInCluster(work / f"scheduler-{slots}", slots)
        try:
            n = 4 * slots
            seconds = run_tasks(stand_ins, n, notebook_seconds, task_bytes, result_bytes, work / f"results-{slots}")
            ideal = n * notebook_seconds / slots
            overheads[slots] = (seconds - ideal) * slots / n
            zero_n = 2000
            zero = run_tasks(stand_ins, zero_n, 0.0, task_bytes, result_bytes, work / f"results-{slots}-zero")
        finally:
            stand_ins.close()
        print(
            f"   {slots} slots: {n} tasks in {seconds:.1f} s against {ideal:.1f} s ideal "
            f"({seconds / ideal:.3f}x): {overheads[slots]:.3f} s of overhead per task on its slot; "
            f"zero-sleep tasks: {zero_n / zero:.0f} per second"
        )
    return overheads


def model(per_notebook, overhead, rates, n=10_000, slots=256, recorders=(1, 2, 4, 8), target_minutes=15):
    """Minutes to grade N notebooks on SLOTS slots with R recorders on PostgreSQL (module docstring)."""
    rate = rates[1]
    efficiency = rates[max(rates)] / rate / max(rates)  # per recorder, measured with max(rates) at once
    compute = n * (per_notebook + overhead) / slots
    print(
        f"model: {n} notebooks on {slots} slots, {per_notebook:.2f} s per notebook on one slot, "
        f"{overhead:.3f} s scheduler overhead per task, {rate:.2f} notebooks per second for one recorder, "
        f"{efficiency:.2f} of that per recorder with {max(rates)} at once"
    )
    for r in recorders:
        record = n / (rate * (1 if r == 1 else r * efficiency))
        total = max(compute, record)
        bound = "the recorders" if record > compute else "the slots"
        print(
            f"   {r} recorder(s): executing {compute / 60:.1f} min, recording {record / 60:.1f} min: "
            f"about {total / 60:.1f} min, bound by {bound}"
        )
    needed = next(r for r in range(1, 1000) if n / (rate * (1 if r == 1 else r * efficiency)) <= target_minutes * 60)
    print(f"   under {target_minutes} min: {needed} recorders (a grading machine with {needed} cores)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "workers", "recorders", "scheduler"), default="all")
    parser.add_argument("--students", type=int, default=6, help="students per assignment in part 1")
    parser.add_argument("--recorders", type=int, nargs="*", default=[1, 2], help="recorders at once in part 2")
    parser.add_argument("--copies", type=int, default=3, help="copies of part 1's notebooks recorded in part 2")
    parser.add_argument("--slots", type=int, nargs="*", default=[64, 256], help="simulated slots in part 3")
    parser.add_argument("--notebook-seconds", type=float, default=None, help="part 3's task time (default: part 1's)")
    parser.add_argument("--task-kib", type=float, default=None, help="part 3's task size (default: part 1's)")
    parser.add_argument("--result-kib", type=float, default=None, help="part 3's result size (default: part 1's)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tfladder-scale-"))
    assignments = ops.assignments(REPO)
    print(f"{os.cpu_count()} CPUs; work in {work}")
    per_notebook, task_bytes, result_bytes, rates, same = args.notebook_seconds, None, None, None, True
    try:
        if args.part in ("all", "workers", "recorders"):
            course, measured, task_bytes, result_bytes, same = workers(work, args.students, assignments)
            per_notebook = per_notebook or measured
            if args.part in ("all", "recorders"):
                rates = recorders(course, assignments, sorted(set([1, *args.recorders])), args.copies)
        if args.part in ("all", "scheduler"):
            task_bytes = args.task_kib * 1024 if args.task_kib else task_bytes or 200 * 1024
            result_bytes = args.result_kib * 1024 if args.result_kib else result_bytes or 300 * 1024
            overheads = scheduler(work, args.slots, per_notebook or 3.5, task_bytes, result_bytes)
            if rates is not None:
                model(per_notebook, overheads[max(overheads)], rates, slots=max(overheads))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
