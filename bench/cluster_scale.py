"""How grading on a Dask cluster scales: the measured inputs of the model in docs/performance.md.

    .venv/bin/python bench/cluster_scale.py                          # all three parts
    .venv/bin/python bench/cluster_scale.py --part scheduler --slots 64 256

1. workers: a class (--students x the five assignments) graded by `tfladder grade --jobs J` for
   J = 1 and 2 on this machine, in one run each: notebooks per minute, scores checked identical;
   the sizes of a real task (notebook, files, test cells) and result (executed notebook, report);
2. recorder: nbgrader recording notebooks already executed (it replays the results of part 1,
   executing nothing), one assignment at a time: notebooks per second for one recorder;
3. scheduler: tfladder's own client code (`tfladder.grading.cluster.Cluster`) against a TLS
   `dask scheduler` whose workers are stand-ins: processes of many threads, each thread a
   simulated slot whose task sleeps a notebook's measured time (part 1's, or --notebook-seconds)
   and carries and returns data of a real task's and result's size. For each number of slots,
   N = 4 x slots tasks: the makespan against the ideal N x t / slots, and the overhead per task
   it implies; then zero-sleep tasks: the scheduler's own throughput (tasks per second).

The model (printed last): grading N notebooks on S slots takes about
    startup + max(N x t / S + N x overhead / S, N / (R x recorders))
with t the notebook's time on one slot (part 1: 60 / (notebooks per minute per job)), overhead the
scheduler's per-task cost on a slot (part 3), R one recorder's rate (part 2).
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


# -- 2. the recorder -------------------------------------------------------------------------------
def recorder(course, assignments):
    """nbgrader replaying part 1's results, one assignment at a time: notebooks per second."""
    from tfladder.grading import grade

    total_n, total_s = 0, 0.0
    print("2. recorder: nbgrader recording notebooks already executed (one recorder, SQLite)")
    for a in assignments:
        base = course / "build" / "grading" / a
        students = sorted(p.stem for p in (base / "executed").glob("*.json"))
        with tempfile.TemporaryDirectory(prefix="tfladder-config-") as config_dir:
            grade._override_config(
                Path(config_dir), base / "submitted", use_sandbox=True, slot=90, results=base / "executed"
            )
            env = {"JUPYTER_CONFIG_DIR": config_dir, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            started = time.monotonic()
            done = ops.autograde(course, a, env=env)
            seconds = time.monotonic() - started
        replayed = sum(
            1 for s in students if grade.read_report(course, a, s, "tfladder-run.json").get("executed_by") == "worker"
        )
        if done.returncode != 0 or replayed != len(students):
            raise SystemExit(f"{a}: the recorder replayed {replayed} of {len(students)}:\n{done.stdout[-2000:]}")
        print(f"   {a}: {len(students)} notebooks in {seconds:.1f} s: {len(students) / seconds:.2f} per second")
        total_n += len(students)
        total_s += seconds
    rate = total_n / total_s
    print(f"   all: {total_n} notebooks in {total_s:.1f} s: {rate:.2f} notebooks per second per recorder")
    return rate


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


def model(per_notebook, overhead, rate, n=10_000, slots=256, recorders=(1, 5)):
    compute = n * (per_notebook + overhead) / slots
    print(
        f"model: {n} notebooks on {slots} slots, {per_notebook:.2f} s per notebook on one slot, "
        f"{overhead:.3f} s scheduler overhead per task, {rate:.2f} notebooks per second per recorder"
    )
    for r in recorders:
        record = n / (rate * r)
        total = max(compute, record)
        bound = "the recorders" if record > compute else "the slots"
        print(
            f"   {r} recorder(s): executing {compute / 60:.1f} min, recording {record / 60:.1f} min: "
            f"about {total / 60:.1f} min, bound by {bound}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "workers", "recorder", "scheduler"), default="all")
    parser.add_argument("--students", type=int, default=6, help="students per assignment in part 1")
    parser.add_argument("--slots", type=int, nargs="*", default=[64, 256], help="simulated slots in part 3")
    parser.add_argument("--notebook-seconds", type=float, default=None, help="part 3's task time (default: part 1's)")
    parser.add_argument("--task-kib", type=float, default=None, help="part 3's task size (default: part 1's)")
    parser.add_argument("--result-kib", type=float, default=None, help="part 3's result size (default: part 1's)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tfladder-scale-"))
    assignments = ops.assignments(REPO)
    print(f"{os.cpu_count()} CPUs; work in {work}")
    per_notebook, task_bytes, result_bytes, rate, same = args.notebook_seconds, None, None, None, True
    try:
        if args.part in ("all", "workers", "recorder"):
            course, measured, task_bytes, result_bytes, same = workers(work, args.students, assignments)
            per_notebook = per_notebook or measured
            if args.part in ("all", "recorder"):
                rate = recorder(course, assignments)
        if args.part in ("all", "scheduler"):
            task_bytes = args.task_kib * 1024 if args.task_kib else task_bytes or 200 * 1024
            result_bytes = args.result_kib * 1024 if args.result_kib else result_bytes or 300 * 1024
            overheads = scheduler(work, args.slots, per_notebook or 3.5, task_bytes, result_bytes)
            if rate is not None:
                model(per_notebook, overheads[max(overheads)], rate, slots=max(overheads))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
