"""The hub's tfladder service: hidden-test checks for students, grading and feedback for instructors.

JupyterHub runs it as a managed service named `tfladder`, as root like the hub itself (the grading
sandbox needs root), at /services/tfladder/ (hub_config.py). Two ways in:

- POST /services/tfladder/api/check, from a user's own Jupyter server (the Check button's relay,
  lab_check/tfladder_lab_check.py), with that server's hub token, which names the user: their
  notebook is graded against the hidden tests in the sandbox with a fresh seed (on_demand), at
  most the course's `per_hour` checks per student per assignment, and `slots` at once with
  `waiting` more queued; the answer is points and messages per exercise, never test code.
- GET /services/tfladder/, in the browser (JupyterHub's OAuth login): an instructor gets a page
  to grade an assignment's collected submissions (`tfladder grade`, sandboxed) and make the
  students' feedback pages (`tfladder feedback`), and the checks summary; a student gets their own
  checks. Instructors are ordinary accounts: this is how their clicks run what needs root.

    python -m tfladder.hub.service --course /srv/tfladder/course --port 8011
"""

import argparse
import asyncio
import html
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from tfladder import seeds
from tfladder.course import ops
from tfladder.grading import on_demand, results, selfcheck
from tfladder.hub import accounts
from tfladder.sandbox import launcher

NAME = "tfladder"
PREFIX = f"/services/{NAME}/"
MAX_NOTEBOOK = 25 * 2**20  # bytes: a course notebook with outputs is well under 5 MB
JOBS = ("grade", "feedback")  # the buttons: tfladder subcommands, run in the course


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def student_view(result: results.NotebookResult, seed: int) -> dict[str, Any]:
    """What a student sees of a check: points and messages per exercise, never the tests; only
    the first line of a grading error (nbgrader's log can quote a hidden test cell)."""
    exercises = []
    for exercise, points, maximum, cells in result.exercises():
        exercises.append(
            {
                "exercise": exercise,
                "points": None if points == results.MANUAL else points,
                "max_points": maximum,
                "messages": [f"{c.part}: {c.message}" for c in cells if c.message],
            }
        )
    return {
        "assignment": result.assignment,
        "points": round(result.auto_points, 2),
        "max_points": result.auto_max,
        "seed": seed,
        "error": result.error.splitlines()[0] if result.error else "",
        "flags": list(result.flags),
        "exercises": exercises,
    }


@dataclass
class Checks:
    """The checks of one course: who may check now, a queue of `slots` running and `waiting` more,
    and the record of each."""

    course: Path
    slots: int = 1
    waiting: int = 4
    under_way: int = 0
    running: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="check")

    def _refuse(self, student: str, assignment: str, status: int, why: str) -> Answer:
        on_demand.append(
            self.course,
            on_demand.Record(student, assignment, on_demand.now().isoformat(), "refused", reason=why),
        )
        return Answer(status, {"refused": why, "assignment": assignment})

    def remaining(self, settings: on_demand.Settings, student: str, assignment: str) -> str:
        now = on_demand.now()
        used = sum(
            1
            for r in on_demand.records(self.course)
            if r.student == student
            and r.assignment == assignment
            and r.outcome != "refused"
            and now - r.time < on_demand.WINDOW
        )
        left = max(0, settings.per_hour - used)
        return f"{left} of your {settings.per_hour} checks of {assignment} left for this hour."

    async def ask(self, student: str, assignment: str, notebook: Any) -> Answer:
        known = ops.assignments(self.course)
        if assignment not in known:
            return Answer(
                404,
                {
                    "refused": f"{assignment!r} is not an assignment of this course ({', '.join(known)}): "
                    "check a notebook in the folder the Assignment List fetched it into."
                },
            )
        if not isinstance(notebook, dict) or "cells" not in notebook:
            return Answer(400, {"refused": "That is not a notebook; save it and try again."})
        try:
            settings = on_demand.read_settings(self.course, known)
        except on_demand.SettingsError as error:
            print(f"tfladder service: {error}", file=sys.stderr, flush=True)
            return Answer(503, {"refused": "Checks are unavailable: the instructor's checks.toml has a mistake."})
        key = (student, assignment)
        why = on_demand.refusal(
            settings, assignment, student, on_demand.records(self.course), on_demand.now(), self.running[key]
        )
        if why:
            return self._refuse(student, assignment, 429 if "used your" in why or "running" in why else 403, why)
        if self.under_way >= self.slots + self.waiting:
            return self._refuse(
                student,
                assignment,
                503,
                f"The check service is busy ({self.under_way} checks running or waiting); "
                "try again in a few minutes. Nothing was counted.",
            )
        self.under_way += 1
        self.running[key] += 1
        seed = on_demand.fresh_seed()
        asked, started = on_demand.now(), time.monotonic()
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool, self._grade, assignment, notebook, seed
            )
        except launcher.SandboxUnavailable as error:
            print(f"tfladder service: {error}", file=sys.stderr, flush=True)
            return self._refuse(
                student, assignment, 503, "The grading sandbox cannot start on the hub; tell your instructor."
            )
        except selfcheck.CheckError as error:
            return self._refuse(student, assignment, 400, str(error))
        finally:
            self.under_way -= 1
            self.running[key] -= 1
        record = on_demand.Record(
            student,
            assignment,
            asked.isoformat(),
            "failed" if result.error else "graded",
            points=result.auto_points,
            max_points=result.auto_max,
            seed=seed,
            reason=result.error.splitlines()[0] if result.error else "",
            seconds=round(time.monotonic() - started, 1),
        )
        on_demand.append(self.course, record)
        body = student_view(result, seed)
        body["remaining_text"] = self.remaining(settings, student, assignment)
        return Answer(200, body)

    def _grade(self, assignment: str, notebook: dict, seed: int) -> results.NotebookResult:
        with tempfile.TemporaryDirectory(prefix="tfladder-check-") as tmp:
            path = Path(tmp) / f"{assignment}.ipynb"
            path.write_text(json.dumps(notebook), encoding="utf-8")
            return selfcheck.grade(
                path,
                course=self.course,
                assignment=assignment,
                env={seeds.SEED_ENV: str(seed)},
                require_sandbox=True,
            )


@dataclass
class Job:
    """A grading or feedback run an instructor started."""

    what: str
    assignment: str
    who: str
    log: Path
    process: subprocess.Popen
    started: datetime = field(default_factory=on_demand.now)

    @property
    def state(self) -> str:
        code = self.process.poll()
        return "running" if code is None else ("done" if code == 0 else f"finished with exit code {code}")


class Jobs:
    """Instructors' runs, one at a time (a grading run uses every core)."""

    def __init__(self, course: Path) -> None:
        self.course = course
        self.done: list[Job] = []
        self.folder = course / "hub-runs"

    def current(self) -> Job | None:
        return next((j for j in reversed(self.done) if j.state == "running"), None)

    def start(self, what: str, assignment: str, who: str) -> Job:
        self.folder.mkdir(exist_ok=True)
        stamp = on_demand.now().strftime("%Y%m%d-%H%M%S")
        log = self.folder / f"{stamp}-{what}-{assignment}.log"
        with open(log, "wb") as out:
            out.write(f"$ tfladder {what} {assignment}   (asked by {who})\n".encode())
            out.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", "tfladder", what, assignment],
                cwd=self.course,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # what it writes stays the instructors' group's to change, and readable by the
                # sandbox's kernels (other uids) and, once released, by students (feedback pages)
                umask=0o002,
            )
        job = Job(what, assignment, who, log, process)
        self.done.append(job)
        return job


# -- HTTP -----------------------------------------------------------------------------------------
class CheckAPI(web.RequestHandler):
    """POST api/check: {"assignment", "notebook"}, from a user's Jupyter server with its hub token."""

    def check_xsrf_cookie(self) -> None:  # a token in the header, never a browser's cookie
        pass

    async def post(self) -> None:
        header = self.request.headers.get("Authorization", "")
        token = header.split(None, 1)[1] if header.lower().startswith(("token ", "bearer ")) else ""
        user = await self.settings["hub_auth"].user_for_token(token, sync=False) if token else None
        if not user or accounts.role_of(user["name"]) is None:
            return self._send(Answer(403, {"refused": "Only the class's students and instructors can check."}))
        if len(self.request.body) > MAX_NOTEBOOK:
            return self._send(Answer(413, {"refused": "The notebook is too large to check (over 25 MB)."}))
        try:
            asked = json.loads(self.request.body)
            assignment, notebook = str(asked["assignment"]), asked["notebook"]
        except (ValueError, KeyError, TypeError):
            return self._send(Answer(400, {"refused": 'Send {"assignment": ..., "notebook": ...}.'}))
        self._send(await self.settings["checks"].ask(user["name"], assignment, notebook))

    def _send(self, answer: Answer) -> None:
        self.set_status(answer.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer.body))


def _page_class() -> type:
    from jupyterhub.services.auth import HubOAuthenticated

    class Page(HubOAuthenticated, web.RequestHandler):
        """The service's page: an instructor's runs and the checks summary; a student's checks."""

        def who(self) -> tuple[str, str | None]:
            user = self.get_current_user()
            return user["name"], accounts.role_of(user["name"])

        @web.authenticated
        def get(self) -> None:
            name, role = self.who()
            course: Path = self.settings["checks"].course
            if role == "instructor":
                body = instructor_page(course, self.settings["jobs"], self.xsrf_form_html())
            else:
                mine = [r for r in on_demand.records(course) if r.student == name]
                body = student_page(mine)
            self.finish(PAGE.format(title="tfladder", body=body))

        @web.authenticated
        def post(self) -> None:
            name, role = self.who()
            if role != "instructor":
                raise web.HTTPError(403, "instructors only")
            what, assignment = self.get_body_argument("what"), self.get_body_argument("assignment")
            course: Path = self.settings["checks"].course
            jobs: Jobs = self.settings["jobs"]
            if what not in JOBS or assignment not in ops.assignments(course):
                raise web.HTTPError(400, "no such run")
            if jobs.current() is None:
                jobs.start(what, assignment, name)
            self.redirect(PREFIX)

    return Page


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} td,th{{padding:.2em .8em;text-align:left}}
pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap}}</style></head><body>{body}</body></html>"""


def instructor_page(course: Path, jobs: Jobs, xsrf: str) -> str:
    e = html.escape
    running = jobs.current()
    rows = []
    for assignment in ops.assignments(course):
        submitted = len(list((course / "submitted").glob(f"*/{assignment}")))
        buttons = "".join(
            f'<form method="post" style="display:inline">{xsrf}<input type="hidden" name="assignment" '
            f'value="{e(assignment)}"><button name="what" value="{what}"{" disabled" if running else ""}>'
            f"{label}</button></form> "
            for what, label in (("grade", "Grade (sandboxed)"), ("feedback", "Make feedback"))
        )
        rows.append(f"<tr><td>{e(assignment)}</td><td>{submitted}</td><td>{buttons}</td></tr>")
    runs = []
    for job in reversed(jobs.done[-5:]):
        tail = "\n".join(job.log.read_text(errors="replace").splitlines()[-25:])
        runs.append(
            f'<h3 class="run">{e(job.what)} {e(job.assignment)}: <span class="state">{e(job.state)}</span> '
            f"(started {job.started:%H:%M:%S} UTC by {e(job.who)}; log {e(str(job.log))})</h3><pre>{e(tail)}</pre>"
        )
    summary = on_demand.summary(course)
    checks = "".join(
        f"<tr><td>{e(str(s['assignment']))}</td><td>{s['checks']}</td><td>{s['students']}</td>"
        f"<td>{s['mean_best']} / {s['top']}</td><td>{s['failed']}</td><td>{s['refused']}</td><td>{s['last']}</td></tr>"
        for s in summary
    )
    refresh = '<meta http-equiv="refresh" content="5">' if running else ""
    return (
        f"{refresh}<h1>tfladder: grading on the hub</h1>"
        "<p>Collect the submissions in Formgrader first; grade here (as root, in the sandbox), then "
        "make the feedback pages here and release them from Formgrader's Release Feedback.</p>"
        f"<table><tr><th>assignment</th><th>collected</th><th></th></tr>{''.join(rows)}</table>"
        f"<h2>Runs</h2>{''.join(runs) or '<p>None yet.</p>'}"
        "<h2>Hidden-test checks</h2><table><tr><th>assignment</th><th>checks</th><th>students</th>"
        "<th>mean best score</th><th>could not be graded</th><th>refused</th><th>last</th></tr>"
        f"{checks}</table><p>Settings: {e(str(course / on_demand.SETTINGS_FILE))}; every check: "
        f"{e(str(course / on_demand.RECORD_FILE))}.</p>"
    )


def student_page(mine: list[on_demand.Record]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r.asked[:19].replace('T', ' '))}</td><td>{e(r.assignment)}</td><td>"
        + (e(r.reason) if r.outcome == "refused" else f"{r.points:g} / {r.max_points:g}")
        + "</td></tr>"
        for r in reversed(mine)
    )
    return (
        "<h1>Your hidden-test checks</h1><p>Check a notebook with the <b>Check</b> button on its toolbar "
        "in JupyterLab.</p><table><tr><th>when (UTC)</th><th>assignment</th><th>result</th></tr>"
        f"{rows}</table>"
    )


def make_app(course: Path, slots: int = 1, waiting: int = 4) -> web.Application:
    from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler

    hub_auth = HubOAuth(api_token=os.environ.get("JUPYTERHUB_API_TOKEN", ""), cache_max_age=60)
    return web.Application(
        [
            (PREFIX + "api/check", CheckAPI),
            (PREFIX + "oauth_callback", HubOAuthCallbackHandler),
            (PREFIX, _page_class()),
        ],
        hub_auth=hub_auth,
        checks=Checks(course, slots=slots, waiting=waiting),
        jobs=Jobs(course),
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tfladder.hub.service", description=__doc__.split("\n")[0])
    parser.add_argument("--course", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, default=1, help="checks that run at once (each one a sandboxed kernel)")
    parser.add_argument("--waiting", type=int, default=4, help="checks that may wait for a slot before 'busy'")
    args = parser.parse_args(argv)
    app = make_app(args.course.resolve(), args.slots, args.waiting)
    app.listen(args.port, address="127.0.0.1")
    print(f"tfladder service: {PREFIX} on 127.0.0.1:{args.port}, course {args.course}", flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
