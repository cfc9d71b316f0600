"""What does one active student cost the class's hub, in memory and CPU?

As root: makes N temporary student accounts, runs `tfladder hub` on a free loopback port with its
folders in a fresh /srv/tfladder-bench-*, and for each student, one after the other: logs in
through the hub's login form and opens their JupyterLab (measured idle), then opens the level's
notebook as a notebook tab does (a session through their JupyterLab's REST API, so the kernel runs
as the student, in the users' environment) and runs the reference answers cell by cell, as a
student who worked through the level (measured after). Memory is PSS (shared pages split between
the processes that share them) of every process of the account; CPU is what those processes used.
Then it says what a class of 30, 200 and 1,000 active students needs, from the mean.

    .venv/bin/python bench/hub_capacity.py [--students 3] [--assignment 03_keras_models]

The accounts and the folders are removed at the end.
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from jupyter_client import BlockingKernelClient

from tfladder.course import fixtures, notebooks, ops
from tfladder.hub import layout, serve

REPO = Path(__file__).resolve().parents[1]
CLASSES = (30, 200, 1000)
RUN_WITHIN_SECONDS = 600  # a class that runs the whole level within ten minutes of each other
HZ = os.sysconf("SC_CLK_TCK")


def pids_of(uid):
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if uid_of(p.name) == uid]


def pss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / HZ


def uid_of(pid):
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1])


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def login(base, name, password):
    session = requests.Session()
    session.get(f"{base}/hub/login")
    session.post(
        f"{base}/hub/login?next=",
        data={"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf", path="/hub/")},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = session.get(f"{base}/user/{name}/lab")
        if page.status_code == 200 and f"/user/{name}/lab" in page.url:
            session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path=f"/user/{name}/")
            return session
        time.sleep(1)
    raise RuntimeError(f"{name}'s JupyterLab did not start")


def work_through(session, base, name, assignment, code_cells):
    """Opens the level's notebook as a tab does and runs `code_cells` in its kernel; wall seconds."""
    created = session.post(
        f"{base}/user/{name}/api/sessions",
        data=json.dumps(
            {"path": f"{assignment}/{assignment}.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
        ),
    )
    created.raise_for_status()
    kernel_id = created.json()["kernel"]["id"]
    connection = Path(f"/home/{name}/.local/share/jupyter/runtime/kernel-{kernel_id}.json")
    deadline = time.monotonic() + 60
    while not connection.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    start = time.perf_counter()
    for code in code_cells:
        reply = client.execute_interactive(code, timeout=600, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{name}: a cell failed: {reply['content'].get('ename')}")
    client.stop_channels()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--assignment", default="03_keras_models")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("hub_capacity: run as root (it makes accounts and runs the hub)")
    assignment = args.assignment
    source = notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb")
    release = notebooks.read(REPO / "release" / assignment / f"{assignment}.ipynb")
    reference = fixtures.load_all(REPO, assignment)[f"{ops.level_prefix(assignment)}_reference"]
    answered = fixtures.build(reference, release, source)
    code_cells = [c.source for c in answered.cells if c.cell_type == "code"]

    run = secrets.token_hex(2)
    names = [f"tflb{run}s{i}" for i in range(args.students)]
    passwords = {n: secrets.token_urlsafe(12) for n in names}
    home = Path(tempfile.mkdtemp(prefix="tfladder-bench-", dir="/srv"))
    os.chmod(home, 0o755)
    roster = home / "class.csv"
    roster.write_text("".join(f"{n},{p}\n" for n, p in passwords.items()))
    tfladder = [sys.executable, "-m", "tfladder"]
    subprocess.run([*tfladder, "users", "add", "--passwords", str(roster)], cwd=REPO, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(home.parent / f"{home.name}.log", "wb")  # the hub writes to it until it stops
    process = subprocess.Popen(
        [*tfladder, "hub", "--home", str(home), "--port", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        folders = layout.Layout(home, home / "course")
        serve.wait_until_up(serve.Hub(folders, folders.state / "jupyterhub_config.py", base), process, 1500)
        for name in names:
            target = Path(f"/home/{name}") / assignment
            shutil.copytree(REPO / "release" / assignment, target)
            subprocess.run(["chown", "-R", f"{name}:{name}", str(target)], check=True)
            uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True).stdout)
            session = login(base, name, passwords[name])
            time.sleep(5)
            idle_cpu0 = cpu_seconds(pids_of(uid))
            time.sleep(20)
            idle = {"pss": pss_bytes(pids_of(uid)), "cpu_per_minute": (cpu_seconds(pids_of(uid)) - idle_cpu0) * 3}
            cpu0 = cpu_seconds(pids_of(uid))
            wall = work_through(session, base, name, assignment, code_cells)
            after = {"pss": pss_bytes(pids_of(uid)), "cpu": cpu_seconds(pids_of(uid)) - cpu0, "wall": wall}
            rows.append((name, idle, after))
            print(
                f"{name}: JupyterLab idle {idle['pss'] / 2**20:.0f} MiB "
                f"({idle['cpu_per_minute']:.2f} CPU s a minute); after {assignment} "
                f"{after['pss'] / 2**20:.0f} MiB, {after['cpu']:.1f} CPU s in {after['wall']:.1f} s",
                flush=True,
            )
        hub_pss = pss_bytes([p for p in tree(process.pid) if uid_of(p) == 0])  # not the users' servers
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        subprocess.run([*tfladder, "users", "remove", *names], cwd=REPO, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        (home.parent / f"{home.name}.log").unlink(missing_ok=True)

    memory = statistics.mean(r[2]["pss"] for r in rows)
    cpu = statistics.mean(r[2]["cpu"] for r in rows)
    idle_memory = statistics.mean(r[1]["pss"] for r in rows)
    print(
        f"\nhub_capacity: {len(rows)} students, {assignment}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}\n"
        f"  the hub, its proxy and `tfladder hub`: {hub_pss / 2**20:.0f} MiB\n"
        f"  per student: JupyterLab idle {idle_memory / 2**20:.0f} MiB; active (after the level, "
        f"kernel alive) {memory / 2**20:.0f} MiB; {cpu:.1f} CPU s to run the level"
    )
    for size in CLASSES:
        need_memory = (hub_pss + size * memory) / 2**30
        need_cores = size * cpu / RUN_WITHIN_SECONDS
        print(
            f"  a class of {size:>4} active students: {need_memory:6.1f} GiB of memory; "
            f"{need_cores:5.1f} cores if all run the level within {RUN_WITHIN_SECONDS // 60} minutes"
        )


if __name__ == "__main__":
    main()
